//! Owners' accounts and sessions (`/v1/auth/*`), and their user tokens for the ATP client API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::accounts;
use assent_core::{SignupInput, Timestamp};
use assent_store::Account;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret_response;
use crate::auth::{
    AdminCaller, Owner, refuse_foreign_origin, session_cookie, session_cookie_removal,
    session_origin,
};
use crate::error::ApiError;
use crate::error::SigilumError;
use crate::json::{JsonBody, OptionalJsonBody};
use crate::state::{AppState, HttpSettings};

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

impl From<accounts::SessionGrant> for SessionGrant {
    fn from(g: accounts::SessionGrant) -> Self {
        Self {
            token: g.token,
            expires_at: g.expires_at,
        }
    }
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
    #[schema(
        required = true,
        nullable = false,
        example = "ada",
        pattern = "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
    )]
    pub namespace: Option<String>,
    /// 8 to 256 characters.
    #[schema(required = true, nullable = false, min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// An invite token (`inv_…`, from `assent account invite`) for the same email: required
    /// when the server's signup policy is `invite`.
    #[schema(nullable = false)]
    pub invite: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(required = true, nullable = false, example = "ada@example.com")]
    pub email: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
}

/// Sign up: create an account that owns a namespace, and log in.
///
/// Open to anyone unless the server's signup policy (`ASSENT_SIGNUP`) is `invite` (then an
/// invite for the same email is required, and used up) or `closed`.
#[utoipa::path(post, path = "/v1/auth/signup", operation_id = "signUp", tag = "owners", request_body = SignupRequest,
    responses(
        (status = 201, description = "Created and logged in; sets the `assent_session` cookie",
            body = LoginResponse),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `NAMESPACE_RESERVED`, `INVALID_JSON`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`: a browser page of another origin; `SIGNUP_CLOSED`, `INVITE_INVALID`", body = SigilumError),
        (status = 409, description = "`EMAIL_ALREADY_REGISTERED` or `NAMESPACE_ALREADY_REGISTERED`",
            body = SigilumError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body that is not `application/json`", body = SigilumError),
    ))]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    refuse_foreign_origin(&req, &state.settings)?;
    let body = body.into_inner();
    let signup = SignupInput {
        email: body.email,
        namespace: body.namespace,
        password: body.password,
        invite: body.invite,
    };
    let (account, grant) = accounts::sign_up(&state.app, signup, session_origin(&req)).await?;
    Ok(logged_in(
        StatusCode::CREATED,
        &state.settings,
        account,
        grant,
    ))
}

/// Log in with email and password.
///
/// An unknown email and a wrong password give the same 401 in about the same time. After 5
/// failures for one email (or 20 from one address) within 15 minutes, attempts are refused
/// with 429 and `Retry-After` until the window ends.
#[utoipa::path(post, path = "/v1/auth/login", operation_id = "logIn", tag = "owners", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the `assent_session` cookie", body = LoginResponse),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`INVALID_CREDENTIALS`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`: a browser page of another origin", body = SigilumError),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body that is not `application/json`", body = SigilumError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`, with `Retry-After` in seconds", body = SigilumError),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    refuse_foreign_origin(&req, &state.settings)?;
    let body = body.into_inner();
    let origin = session_origin(&req);
    let (account, grant) = accounts::log_in(&state.app, body.email, body.password, origin).await?;
    Ok(logged_in(StatusCode::OK, &state.settings, account, grant))
}

/// Log out: ends the session on the server and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", operation_id = "logOut", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn logout(owner: Owner, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    accounts::log_out(&state.app, owner.session_id).await?;
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie_removal(&state.settings))
        .finish())
}

/// The logged-in owner.
#[utoipa::path(get, path = "/v1/auth/me", operation_id = "getCurrentOwner", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
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

impl From<accounts::MintedUserToken> for CreatedUserToken {
    fn from(m: accounts::MintedUserToken) -> Self {
        Self {
            id: m.record.id,
            name: m.record.name,
            token: m.token,
            prefix: m.record.prefix,
            created_at: m.record.created_at,
        }
    }
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
#[utoipa::path(post, path = "/v1/auth/tokens", operation_id = "createUserToken", tag = "owners", request_body = Option<CreateTokenRequest>,
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    let minted = accounts::mint_user_token(&state.app, &owner.account, name).await?;
    Ok(secret_response(StatusCode::CREATED).json(CreatedUserToken::from(minted)))
}

/// The owner's active user tokens, newest first.
#[utoipa::path(get, path = "/v1/auth/tokens", operation_id = "listUserTokens", tag = "owners",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The tokens", body = UserTokenList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list_tokens(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = accounts::user_tokens(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(UserTokenList {
        tokens: tokens.into_iter().map(UserTokenView::from).collect(),
    }))
}

/// Revoke a user token; it stops working on the next request.
#[utoipa::path(delete, path = "/v1/auth/tokens/{token_id}", operation_id = "revokeUserToken", tag = "owners",
    params(("token_id" = String, Path, description = "The token's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
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
    accounts::revoke_user_token(&state.app, &owner.account, token_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    /// 8 to 256 characters.
    #[schema(required = true, nullable = false, min_length = 8, max_length = 256)]
    pub new_password: Option<String>,
}

/// Change the password. Every other session of the owner ends; this one stays. User tokens
/// keep working (revoke them separately).
#[utoipa::path(post, path = "/v1/auth/password", tag = "owners", operation_id = "changePassword",
    request_body = ChangePasswordRequest,
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "`VALIDATION_ERROR` naming the field, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CURRENT_PASSWORD_INCORRECT`, `CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn change_password(
    owner: Owner,
    state: web::Data<AppState>,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    accounts::change_password(
        &state.app,
        &owner.account,
        Some(owner.session_id),
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One of the owner's sessions (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[schema(example = "sid_3f9a0c1d2e4b5a6978c0d1e2")]
    pub id: String,
    /// Whether this is the session making the request.
    pub current: bool,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub last_seen_at: Option<Timestamp>,
    /// The `User-Agent` of the login, when it sent one.
    pub user_agent: Option<String>,
    /// The client address of the login.
    pub address: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    /// How many sessions ended.
    pub ended: usize,
}

/// The owner's live sessions, most recently used first.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "owners", operation_id = "listSessions",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The sessions", body = SessionList),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
    ))]
pub async fn list_sessions(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sessions = accounts::sessions(&state.app, &owner.account).await?;
    Ok(HttpResponse::Ok().json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == owner.session_id,
                id: s.id,
                created_at: s.created_at,
                expires_at: s.expires_at,
                last_seen_at: s.last_seen_at,
                user_agent: s.user_agent,
                address: s.address,
            })
            .collect(),
    }))
}

/// End every session of the owner but the one making the request.
#[utoipa::path(delete, path = "/v1/auth/sessions", tag = "owners", operation_id = "endOtherSessions",
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "Ended", body = SessionsEnded),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
    ))]
pub async fn end_other_sessions(
    owner: Owner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ended = accounts::end_other_sessions(&state.app, &owner.account, owner.session_id).await?;
    Ok(HttpResponse::Ok().json(SessionsEnded { ended }))
}

/// End one of the owner's sessions (ending the current one logs out).
#[utoipa::path(delete, path = "/v1/auth/sessions/{session_id}", tag = "owners",
    operation_id = "endSession",
    params(("session_id" = String, Path, description = "The session's id")),
    security(("sessionToken" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`CSRF_REJECTED`", body = SigilumError),
        (status = 404, description = "`NOT_FOUND`: no such session of this owner", body = SigilumError),
    ))]
pub async fn end_session(
    owner: Owner,
    state: web::Data<AppState>,
    session_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    accounts::end_session(&state.app, &owner.account, session_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    /// The only email the invite signs up (compared after normalising).
    #[schema(required = true, nullable = false, example = "grace@example.com")]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    #[schema(example = "grace@example.com")]
    pub email: String,
    /// The invite (`inv_` + 48 hex), single use. Shown only in this response.
    pub invite: String,
    /// Where the invited owner signs up with it (relative to the server's URL).
    #[schema(example = "/dashboard/signup?invite=inv_3f9a…")]
    pub signup_path: String,
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
}

/// Invite someone to sign up (admin token): a single-use invite for one email, valid for 7
/// days; needed when the signup policy is `invite`.
#[utoipa::path(post, path = "/v1/invites", tag = "owners", operation_id = "createInvite",
    request_body = InviteRequest,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Created; the invite is shown only here", body = CreatedInvite),
        (status = 400, description = "`VALIDATION_ERROR`, `INVALID_JSON`", body = SigilumError),
        (status = 401, description = "`UNAUTHORIZED`", body = SigilumError),
        (status = 403, description = "`AUTH_INSUFFICIENT_PERMISSIONS`: not an admin token", body = SigilumError),
    ))]
pub async fn create_invite(
    admin: AdminCaller,
    state: web::Data<AppState>,
    body: JsonBody<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = assent_store::Actor::AdminToken(admin.token_id);
    let invite = accounts::invite(&state.app, body.into_inner().email, actor).await?;
    Ok(secret_response(StatusCode::CREATED).json(CreatedInvite {
        signup_path: format!("/dashboard/signup?invite={}", invite.token),
        email: invite.email,
        invite: invite.token,
        expires_at: invite.expires_at,
    }))
}

fn logged_in(
    status: StatusCode,
    settings: &HttpSettings,
    account: Account,
    grant: accounts::SessionGrant,
) -> HttpResponse {
    let cookie = session_cookie(settings, grant.token.clone(), settings.session_ttl);
    secret_response(status).cookie(cookie).json(LoginResponse {
        user: account.into(),
        session: grant.into(),
    })
}
