//! Owners' accounts and sessions (`/v1/auth/*`), and their user tokens for the ATP client API.

use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_auth::{MintedToken, TokenKind, hash_password, random, verify_login};
use assent_core::{FieldError, SignupInput, Timestamp};
use assent_store::{Account, NewAccount, NewUserToken, Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Owner, SESSION_COOKIE};
use crate::error::{ApiError, code};
use crate::json::{JsonBody, OptionalJsonBody};
use crate::openapi::SigilumError;
use crate::state::{AppState, HttpSettings};

pub const INVALID_CREDENTIALS: &str = "INVALID_CREDENTIALS";
pub const EMAIL_ALREADY_REGISTERED: &str = "EMAIL_ALREADY_REGISTERED";
pub const NAMESPACE_ALREADY_REGISTERED: &str = "NAMESPACE_ALREADY_REGISTERED";

const TOKEN_NAME_MAX_CHARS: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "ada")]
    pub namespace: String,
    /// The namespace's DID.
    #[schema(example = "did:sigilum:ada")]
    pub did: String,
    #[schema(value_type = String, example = "2026-11-22T10:00:00.000Z")]
    pub created_at: Timestamp,
}

impl From<Account> for User {
    fn from(a: Account) -> Self {
        Self {
            did: format!("did:sigilum:{}", a.namespace),
            id: a.id,
            email: a.email,
            namespace: a.namespace,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

/// A new session. The token is also set as the `assent_session` cookie; API clients send it as
/// `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionGrant {
    pub token: String,
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: User,
    pub session: SessionGrant,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    #[schema(required = true, nullable = false, example = "ada@example.com")]
    pub email: Option<String>,
    /// 3 to 64 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
    #[schema(required = true, nullable = false, example = "ada")]
    pub namespace: Option<String>,
    /// 8 to 256 characters.
    #[schema(required = true, nullable = false, min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(required = true, nullable = false, example = "ada@example.com")]
    pub email: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
}

/// Sign up: create an account that owns a namespace, and log in.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "owners", request_body = SignupRequest,
    responses(
        (status = 201, description = "Created and logged in; sets the `assent_session` cookie",
            body = LoginResponse),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 409, description = "`EMAIL_ALREADY_REGISTERED` or `NAMESPACE_ALREADY_REGISTERED`",
            body = SigilumError),
    ))]
pub async fn signup(
    state: web::Data<AppState>,
    body: JsonBody<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let signup = SignupInput {
        email: body.email,
        namespace: body.namespace,
        password: body.password,
    };
    let (account, grant) = create_account(&state, signup).await?;
    Ok(logged_in(
        StatusCode::CREATED,
        &state.settings,
        account,
        grant,
    ))
}

/// Validates a signup, creates the account and opens its first session (the API's signup
/// and the dashboard's).
pub(crate) async fn create_account(
    state: &AppState,
    signup: SignupInput,
) -> Result<(Account, SessionGrant), ApiError> {
    let signup = signup.validate().map_err(|e| ApiError::validation(&e))?;
    let store = state.store.clone();
    let ttl = state.settings.session_ttl;
    let (account, grant) = web::block(move || {
        let password_hash = hash_password(&signup.password).map_err(|e| ApiError::internal(&e))?;
        let new = NewAccount {
            email: signup.email,
            namespace: signup.namespace.as_str().to_owned(),
            password_hash,
        };
        let account = store.create_account(new, None).map_err(|e| match e {
            StoreError::Conflict("namespace") => ApiError::new(
                StatusCode::CONFLICT,
                NAMESPACE_ALREADY_REGISTERED,
                "This namespace is taken.",
            ),
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                EMAIL_ALREADY_REGISTERED,
                "An account with this email exists; log in instead.",
            ),
            other => other.into(),
        })?;
        let grant = open_session(&store, &account, ttl)?;
        Ok::<_, ApiError>((account, grant))
    })
    .await??;
    tracing::info!(namespace = %account.namespace, "account created");
    Ok((account, grant))
}

/// Log in with email and password.
///
/// An unknown email and a wrong password give the same 401 in about the same time. After 5
/// failures for one email (or 20 from one address) within 15 minutes, attempts are refused
/// with 429 and `Retry-After` until the window ends.
#[utoipa::path(post, path = "/v1/auth/login", tag = "owners", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the `assent_session` cookie", body = LoginResponse),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`INVALID_CREDENTIALS`", body = SigilumError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`, with `Retry-After` in seconds", body = SigilumError),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (account, grant) = authenticate(&req, &state, body.email, body.password).await?;
    Ok(logged_in(StatusCode::OK, &state.settings, account, grant))
}

/// Checks an email and a password under the failed-login throttle and opens a session (the
/// API's login and the dashboard's). 400 for a missing field, 401 `INVALID_CREDENTIALS`, 429.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    email: Option<String>,
    password: Option<String>,
) -> Result<(Account, SessionGrant), ApiError> {
    let email = email.unwrap_or_default().trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::validation(&FieldError::Missing {
            field: "email",
        }));
    }
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Err(ApiError::validation(&FieldError::Missing {
            field: "password",
        }));
    };
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let throttle = state
        .settings
        .rate_limits
        .then(|| state.login_throttle.clone());
    if let Some(wait) = throttle
        .as_ref()
        .and_then(|t| t.retry_after(&email, &ip, Instant::now()))
    {
        return Err(too_many_attempts(wait));
    }

    let store = state.store.clone();
    let ttl = state.settings.session_ttl;
    let lookup_email = email.clone();
    let outcome = web::block(move || {
        let found = store.find_login(&lookup_email)?;
        let stored = found.as_ref().map(|(_, hash)| hash.as_str());
        if !verify_login(&password, stored) {
            return Ok(None);
        }
        let Some((account, _)) = found else {
            return Ok(None);
        };
        let grant = open_session(&store, &account, ttl)?;
        Ok::<_, ApiError>(Some((account, grant)))
    })
    .await??;

    match outcome {
        Some((account, grant)) => {
            if let Some(t) = &throttle {
                t.record_success(&email);
            }
            Ok((account, grant))
        }
        None => {
            if let Some(t) = &throttle {
                t.record_failure(&email, &ip, Instant::now());
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                INVALID_CREDENTIALS,
                "The email or the password is wrong.",
            ))
        }
    }
}

/// Log out: ends the session on the server and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "owners",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn logout(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    web::block(move || store.delete_session(&owner.session_id)).await??;
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie_removal(&state.settings))
        .finish())
}

/// The logged-in owner.
#[utoipa::path(get, path = "/v1/auth/me", tag = "owners",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The owner", body = UserResponse),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn me(owner: Owner) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse {
        user: owner.account.into(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// What the token is for, e.g. the client app; default `default`.
    #[schema(nullable = false, max_length = 100, example = "phone")]
    pub name: Option<String>,
}

/// A user token as listed: never the token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserTokenView {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    #[schema(example = "ut_3f9a0c1d2")]
    pub prefix: String,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserTokenList {
    pub tokens: Vec<UserTokenView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserToken {
    pub id: String,
    pub name: String,
    /// The token (`ut_` + 48 hex). Shown only in this response.
    pub token: String,
    pub prefix: String,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<assent_store::UserToken> for UserTokenView {
    fn from(t: assent_store::UserToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// Create a user token for an ATP client app. The token is shown once.
#[utoipa::path(post, path = "/v1/auth/tokens", tag = "owners", request_body = CreateTokenRequest,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedUserToken),
        (status = 400, description = "`VALIDATION_ERROR`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn create_token(
    owner: Owner,
    state: web::Data<AppState>,
    body: OptionalJsonBody<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().and_then(|b| b.name);
    let created = mint_user_token(&state, &owner, name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Mints a user token named `name` (`default` if absent) for the owner: the rules of
/// `POST /v1/auth/tokens`, shared with the dashboard. The answer holds the token itself, to
/// show once.
pub(crate) async fn mint_user_token(
    state: &AppState,
    owner: &Owner,
    name: Option<String>,
) -> Result<CreatedUserToken, ApiError> {
    let name = optional_name(name)?;
    let minted = MintedToken::new(TokenKind::User);
    let new = NewUserToken {
        id: random::id("tok_"),
        name,
        prefix: minted.display_prefix(),
        hash: minted.hash.clone(),
    };
    let store = state.store.clone();
    let account = owner.account.clone();
    let actor = owner.actor();
    let created = web::block(move || store.create_user_token(&account, &new, &actor)).await??;
    Ok(CreatedUserToken {
        id: created.id,
        name: created.name,
        token: minted.plaintext.expose().to_owned(),
        prefix: created.prefix,
        created_at: created.created_at,
    })
}

/// The owner's active user tokens, newest first.
#[utoipa::path(get, path = "/v1/auth/tokens", tag = "owners",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = UserTokenList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list_tokens(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let tokens = web::block(move || store.list_user_tokens(&owner.account.id)).await??;
    Ok(HttpResponse::Ok().json(UserTokenList {
        tokens: tokens.into_iter().map(UserTokenView::from).collect(),
    }))
}

/// Revoke a user token; it stops working on the next request.
#[utoipa::path(delete, path = "/v1/auth/tokens/{token_id}", tag = "owners",
    params(("token_id" = String, Path, description = "The token's id")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`: no such active token of this owner", body = SigilumError),
    ))]
pub async fn revoke_token(
    owner: Owner,
    state: web::Data<AppState>,
    token_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let actor = owner.actor();
    web::block(move || store.revoke_user_token(&owner.account, &token_id, &actor)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// A credential's optional display name: trimmed, at most 100 characters, `default` if absent.
pub fn optional_name(name: Option<String>) -> Result<String, ApiError> {
    let name =
        assent_core::field::optional(name.as_deref()).unwrap_or_else(|| "default".to_owned());
    assent_core::field::max_chars("name", &name, TOKEN_NAME_MAX_CHARS)
        .map_err(|e| ApiError::validation(&e))?;
    Ok(name)
}

fn open_session(store: &Store, account: &Account, ttl: Duration) -> Result<SessionGrant, ApiError> {
    let token = MintedToken::new(TokenKind::Session);
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = Timestamp::from_millis(Timestamp::now().as_millis().saturating_add(ttl_ms));
    let id = random::id("sid_");
    store.create_session(&id, &token.hash, &account.id, expires_at)?;
    Ok(SessionGrant {
        token: token.plaintext.expose().to_owned(),
        expires_at,
    })
}

fn logged_in(
    status: StatusCode,
    settings: &HttpSettings,
    account: Account,
    grant: SessionGrant,
) -> HttpResponse {
    let cookie = session_cookie(settings, grant.token.clone(), settings.session_ttl);
    HttpResponse::build(status)
        .cookie(cookie)
        .json(LoginResponse {
            user: account.into(),
            session: grant,
        })
}

/// The `assent_session` cookie that clears the session cookie (logging out).
pub(crate) fn session_cookie_removal(settings: &HttpSettings) -> Cookie<'static> {
    let mut removal = session_cookie(settings, String::new(), Duration::ZERO);
    removal.make_removal();
    removal
}

/// The `assent_session` cookie carrying `token` for `max_age`.
pub(crate) fn session_cookie(
    settings: &HttpSettings,
    token: String,
    max_age: Duration,
) -> Cookie<'static> {
    let secure = settings
        .public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

fn too_many_attempts(wait: Duration) -> ApiError {
    let seconds = wait.as_secs().max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        code::RATE_LIMIT_EXCEEDED,
        format!("Too many failed logins; try again in {seconds} seconds."),
    )
    .with_retry_after(seconds)
}
