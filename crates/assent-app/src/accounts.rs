//! Namespace owners: signing up, logging in and out, and the user tokens client apps use.

use std::time::{Duration, Instant};

use assent_auth::{MintedToken, TokenKind, hash_password, random, verify_login};
use assent_core::{FieldError, SignupInput, Timestamp};
use assent_store::{Account, NewAccount, NewUserToken, Store, StoreError, UserToken};

use crate::{App, Error, Kind, actor, code};

/// The most characters a credential's display name may have.
const CREDENTIAL_NAME_MAX_CHARS: usize = 100;

/// A new session: the token (shown to its holder once, stored as a hash) and its end.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    pub token: String,
    pub expires_at: Timestamp,
}

/// A user token just minted, with the token itself to show once.
#[derive(Debug, Clone)]
pub struct MintedUserToken {
    pub token: String,
    pub record: UserToken,
}

/// Validates a signup, creates the account and opens its first session.
/// `VALIDATION_ERROR`, `EMAIL_ALREADY_REGISTERED`, `NAMESPACE_ALREADY_REGISTERED`.
pub async fn sign_up(app: &App, signup: SignupInput) -> Result<(Account, SessionGrant), Error> {
    let signup = signup.validate()?;
    let ttl = app.settings.session_ttl;
    let (account, grant) = app
        .run(move |store| {
            // argon2 runs here, on the blocking thread, like the store work.
            let password_hash = hash_password(&signup.password).map_err(|e| Error::internal(&e))?;
            let new = NewAccount {
                email: signup.email,
                namespace: signup.namespace.as_str().to_owned(),
                password_hash,
            };
            let account = store.create_account(new, None).map_err(|e| match e {
                StoreError::Conflict("namespace") => Error::conflict(
                    code::NAMESPACE_ALREADY_REGISTERED,
                    "This namespace is taken.",
                ),
                StoreError::Conflict(_) => Error::conflict(
                    code::EMAIL_ALREADY_REGISTERED,
                    "An account with this email exists; log in instead.",
                ),
                other => other.into(),
            })?;
            let grant = open_session(store, &account, ttl)?;
            Ok::<_, Error>((account, grant))
        })
        .await?;
    tracing::info!(namespace = %account.namespace, "account created");
    Ok((account, grant))
}

/// Checks an email and a password under the failed-login throttle (per email, and per client
/// address `client`) and opens a session. `VALIDATION_ERROR` for a missing field,
/// `INVALID_CREDENTIALS`, `RATE_LIMIT_EXCEEDED` with the wait.
///
/// An unknown email and a wrong password take about the same time and give the same answer.
pub async fn log_in(
    app: &App,
    email: Option<String>,
    password: Option<String>,
    client: &str,
) -> Result<(Account, SessionGrant), Error> {
    let email = email.unwrap_or_default().trim().to_lowercase();
    if email.is_empty() {
        return Err(FieldError::Missing { field: "email" }.into());
    }
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Err(FieldError::Missing { field: "password" }.into());
    };
    let throttle = app
        .settings
        .login_throttle
        .then(|| app.login_throttle.clone());
    if let Some(wait) = throttle
        .as_ref()
        .and_then(|t| t.retry_after(&email, client, Instant::now()))
    {
        return Err(too_many_attempts(wait));
    }

    let ttl = app.settings.session_ttl;
    let lookup_email = email.clone();
    let outcome = app
        .run(move |store| {
            let found = store.find_login(&lookup_email)?;
            let stored = found.as_ref().map(|(_, hash)| hash.as_str());
            if !verify_login(&password, stored) {
                return Ok(None);
            }
            let Some((account, _)) = found else {
                return Ok(None);
            };
            let grant = open_session(store, &account, ttl)?;
            Ok::<_, Error>(Some((account, grant)))
        })
        .await?;

    match outcome {
        Some(logged_in) => {
            if let Some(t) = &throttle {
                t.record_success(&email);
            }
            Ok(logged_in)
        }
        None => {
            if let Some(t) = &throttle {
                t.record_failure(&email, client, Instant::now());
            }
            Err(Error::new(
                Kind::Unauthenticated,
                code::INVALID_CREDENTIALS,
                "The email or the password is wrong.",
            ))
        }
    }
}

/// Ends a session on the server.
pub async fn log_out(app: &App, session_id: String) -> Result<(), Error> {
    app.run(move |store| store.delete_session(&session_id))
        .await
}

/// Mints a user token named `name` (`default` if absent) for the owner's client apps.
pub async fn mint_user_token(
    app: &App,
    owner: &Account,
    name: Option<String>,
) -> Result<MintedUserToken, Error> {
    let name = credential_name(name)?;
    let minted = MintedToken::new(TokenKind::User);
    let new = NewUserToken {
        id: random::Id::UserToken.mint(),
        name,
        prefix: minted.display_prefix(),
        hash: minted.hash.clone(),
    };
    let account = owner.clone();
    let actor = actor(owner);
    let record = app
        .run(move |store| store.create_user_token(&account, &new, &actor))
        .await?;
    Ok(MintedUserToken {
        token: minted.plaintext.expose().to_owned(),
        record,
    })
}

/// The owner's active user tokens, newest first (never the tokens themselves).
pub async fn user_tokens(app: &App, owner: &Account) -> Result<Vec<UserToken>, Error> {
    let account_id = owner.id.clone();
    app.run(move |store| store.list_user_tokens(&account_id))
        .await
}

/// Revokes one of the owner's user tokens; it stops working on the next request.
pub async fn revoke_user_token(app: &App, owner: &Account, token_id: String) -> Result<(), Error> {
    let account = owner.clone();
    let actor = actor(owner);
    app.run(move |store| store.revoke_user_token(&account, &token_id, &actor))
        .await
}

/// A credential's optional display name: trimmed, at most 100 characters, `default` if absent.
pub fn credential_name(name: Option<String>) -> Result<String, Error> {
    let name =
        assent_core::field::optional(name.as_deref()).unwrap_or_else(|| "default".to_owned());
    assent_core::field::max_chars("name", &name, CREDENTIAL_NAME_MAX_CHARS)?;
    Ok(name)
}

fn open_session(store: &Store, account: &Account, ttl: Duration) -> Result<SessionGrant, Error> {
    let token = MintedToken::new(TokenKind::Session);
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = Timestamp::from_millis(Timestamp::now().as_millis().saturating_add(ttl_ms));
    let id = random::Id::Session.mint();
    store.create_session(&id, &token.hash, &account.id, expires_at)?;
    Ok(SessionGrant {
        token: token.plaintext.expose().to_owned(),
        expires_at,
    })
}

fn too_many_attempts(wait: Duration) -> Error {
    let seconds = wait.as_secs().max(1);
    Error::new(
        Kind::TooManyRequests,
        code::RATE_LIMIT_EXCEEDED,
        format!("Too many failed logins; try again in {seconds} seconds."),
    )
    .with_retry_after(Duration::from_secs(seconds))
}
