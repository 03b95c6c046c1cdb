//! Namespace owners: signing up, logging in and out, and the user tokens client apps use.

use std::time::Duration;

use assent_auth::{
    MintedToken, TokenHash, TokenKind, hash_password, random, verify_login, verify_password,
};
use assent_core::account::{INVITE_TTL, check_password, normalize_email, parse_email};
use assent_core::{FieldError, SignupInput, SignupPolicy, Timestamp};
use assent_store::{
    Account, Actor, NewAccount, NewUserToken, SessionInfo, SessionOrigin, Store, StoreError,
    UserToken,
};

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

/// Validates a signup under the signup policy, creates the account (using up its invite, if
/// any) and opens its first session. `SIGNUP_CLOSED`, `INVITE_INVALID`, `VALIDATION_ERROR`,
/// `NAMESPACE_RESERVED`, `EMAIL_ALREADY_REGISTERED`, `NAMESPACE_ALREADY_REGISTERED`.
pub async fn sign_up(
    app: &App,
    signup: SignupInput,
    origin: SessionOrigin,
) -> Result<(Account, SessionGrant), Error> {
    let policy = app.settings.signup;
    if policy == SignupPolicy::Closed {
        return Err(signup_closed(policy));
    }
    let signup = signup.validate()?;
    if signup.invite.is_none() && policy == SignupPolicy::Invite {
        return Err(signup_closed(policy));
    }
    if signup.namespace.is_reserved() {
        return Err(Error::invalid(
            code::NAMESPACE_RESERVED,
            format!(
                "The namespace `{}` is reserved; choose another.",
                signup.namespace
            ),
        )
        .for_field("namespace"));
    }
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
            let created = match &signup.invite {
                Some(invite) => store.create_account_with_invite(new, &TokenHash::of(invite)),
                None => store.create_account(new, None),
            };
            let account = created.map_err(|e| match e {
                StoreError::NotFound => Error::new(
                    Kind::Forbidden,
                    code::INVITE_INVALID,
                    "This invite is unknown, used, expired or for another email.",
                ),
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
            let grant = open_session(store, &account, ttl, &origin)?;
            Ok::<_, Error>((account, grant))
        })
        .await?;
    tracing::info!(namespace = %account.namespace, "account created");
    Ok((account, grant))
}

/// Signing up is not open: `SIGNUP_CLOSED`, saying how to get an account.
fn signup_closed(policy: SignupPolicy) -> Error {
    let message = match policy {
        SignupPolicy::Invite => "Signing up needs an invite; ask this server's operator for one.",
        _ => "Signing up is closed on this server; ask its operator for an account.",
    };
    Error::new(Kind::Forbidden, code::SIGNUP_CLOSED, message)
}

/// Checks an email and a password under the failed-login throttle (per email, and per client
/// address, the origin's) and opens a session, recording its origin. `VALIDATION_ERROR` for a missing field,
/// `INVALID_CREDENTIALS`, `RATE_LIMIT_EXCEEDED` with the wait.
///
/// An unknown email and a wrong password take about the same time and give the same answer.
pub async fn log_in(
    app: &App,
    email: Option<String>,
    password: Option<String>,
    origin: SessionOrigin,
) -> Result<(Account, SessionGrant), Error> {
    let email = normalize_email(&email.unwrap_or_default());
    let client = origin.address.clone().unwrap_or_default();
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
    let ttl = app.settings.session_ttl;
    let outcome = app
        .run(move |store| {
            // Counted before the password is checked (and given back on success), so that
            // concurrent guesses cannot all pass.
            if let Some(t) = &throttle
                && let Some(wait) = t.begin(store, &email, &client, Timestamp::now())?
            {
                return Ok(Err(wait));
            }
            let found = store.find_login(&email)?;
            let stored = found.as_ref().map(|(_, hash)| hash.as_str());
            if !verify_login(&password, stored) {
                return Ok(Ok(None));
            }
            let Some((account, _)) = found else {
                return Ok(Ok(None));
            };
            let grant = open_session(store, &account, ttl, &origin)?;
            if let Some(t) = &throttle {
                t.succeeded(store, &email, &client)?;
            }
            Ok::<_, Error>(Ok(Some((account, grant))))
        })
        .await?;

    match outcome {
        Err(wait) => Err(too_many_attempts(wait)),
        Ok(Some(logged_in)) => Ok(logged_in),
        Ok(None) => Err(Error::new(
            Kind::Unauthenticated,
            code::INVALID_CREDENTIALS,
            "The email or the password is wrong.",
        )),
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

/// Changes the owner's password: the current one must be given (`CURRENT_PASSWORD_INCORRECT`
/// otherwise), the new one follows the signup rules (`VALIDATION_ERROR`). Every other session
/// of the owner ends; `session_id`, the one asking, stays.
pub async fn change_password(
    app: &App,
    owner: &Account,
    session_id: Option<String>,
    current: Option<String>,
    new: Option<String>,
) -> Result<(), Error> {
    let Some(current) = current.filter(|p| !p.is_empty()) else {
        return Err(FieldError::Missing {
            field: "current_password",
        }
        .into());
    };
    let new = new_password(new)?;
    let account = owner.clone();
    app.run(move |store| {
        let stored = store.password_hash(&account.id)?;
        if !verify_password(&current, &stored) {
            return Err(Error::new(
                Kind::Forbidden,
                code::CURRENT_PASSWORD_INCORRECT,
                "The current password is wrong.",
            ));
        }
        let hash = hash_password(&new).map_err(|e| Error::internal(&e))?;
        store.set_password(&account, &hash, session_id.as_deref(), &actor(&account))?;
        Ok(())
    })
    .await
}

/// The account a password reset token is for, while it is usable: `RESET_TOKEN_INVALID`
/// otherwise.
pub async fn password_reset_account(app: &App, token: String) -> Result<Account, Error> {
    app.run(move |store| {
        store
            .find_password_reset(&TokenHash::of(&token))?
            .ok_or_else(reset_token_invalid)
    })
    .await
}

/// Sets a new password with a reset token, which is used up (once, even under concurrent
/// use), and ends every session of the account. `VALIDATION_ERROR` for the password (the token
/// stays usable), `RESET_TOKEN_INVALID` for an unknown, used or expired token.
pub async fn reset_password(
    app: &App,
    token: String,
    new: Option<String>,
) -> Result<Account, Error> {
    let new = new_password(new)?;
    app.run(move |store| {
        let hash = hash_password(&new).map_err(|e| Error::internal(&e))?;
        store
            .reset_password(&TokenHash::of(&token), &hash)
            .map_err(|e| match e {
                StoreError::NotFound => reset_token_invalid(),
                other => other.into(),
            })
    })
    .await
}

/// A new password, under the signup rules, as the field `new_password`.
fn new_password(new: Option<String>) -> Result<String, Error> {
    let new = new.unwrap_or_default();
    check_password(&new).map_err(|e| match new.is_empty() {
        true => FieldError::Missing {
            field: "new_password",
        },
        false => match e {
            FieldError::Invalid { reason, .. } => FieldError::invalid("new_password", reason),
            FieldError::Missing { .. } => FieldError::Missing {
                field: "new_password",
            },
        },
    })?;
    Ok(new)
}

fn reset_token_invalid() -> Error {
    Error::invalid(
        code::RESET_TOKEN_INVALID,
        "This password reset link is unknown, used or expired; ask the operator for a new one.",
    )
}

/// A signup invite just made: the token (shown once, stored as SHA-256) and its end.
#[derive(Debug, Clone)]
pub struct Invite {
    pub email: String,
    pub token: String,
    pub expires_at: Timestamp,
}

/// Makes a single-use invite for `email`, usable for [`INVITE_TTL`]. `VALIDATION_ERROR` for an
/// email the signup would refuse.
pub async fn invite(app: &App, email: Option<String>, actor: Actor) -> Result<Invite, Error> {
    let email = assent_core::field::required("email", email.as_deref())?;
    let email = parse_email(&email)?;
    let minted = MintedToken::new(TokenKind::Invite);
    let expires_at = Timestamp::now().after(INVITE_TTL);
    let (hash, stored_email) = (minted.hash.clone(), email.clone());
    app.run(move |store| store.create_invite(&hash, &stored_email, expires_at, &actor))
        .await?;
    Ok(Invite {
        email,
        token: minted.plaintext.expose().to_owned(),
        expires_at,
    })
}

/// The owner's live sessions, most recently used first.
pub async fn sessions(app: &App, owner: &Account) -> Result<Vec<SessionInfo>, Error> {
    let account_id = owner.id.clone();
    app.run(move |store| store.list_sessions(&account_id)).await
}

/// Ends one of the owner's sessions; `NOT_FOUND` for any other id, and nothing changes.
pub async fn end_session(app: &App, owner: &Account, session_id: String) -> Result<(), Error> {
    let account_id = owner.id.clone();
    app.run(move |store| store.end_session(&account_id, &session_id))
        .await
}

/// Ends every session of the owner but `keep`; returns how many ended.
pub async fn end_other_sessions(app: &App, owner: &Account, keep: String) -> Result<usize, Error> {
    let account_id = owner.id.clone();
    app.run(move |store| store.end_other_sessions(&account_id, &keep))
        .await
}

/// A credential's optional display name: trimmed, at most 100 characters, `default` if absent.
pub fn credential_name(name: Option<String>) -> Result<String, Error> {
    let name =
        assent_core::field::optional(name.as_deref()).unwrap_or_else(|| "default".to_owned());
    assent_core::field::max_chars("name", &name, CREDENTIAL_NAME_MAX_CHARS)?;
    Ok(name)
}

fn open_session(
    store: &Store,
    account: &Account,
    ttl: Duration,
    origin: &SessionOrigin,
) -> Result<SessionGrant, Error> {
    let token = MintedToken::new(TokenKind::Session);
    let expires_at = Timestamp::now().after(ttl);
    let id = random::Id::Session.mint();
    store.create_session_from(&id, &token.hash, &account.id, expires_at, origin)?;
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
