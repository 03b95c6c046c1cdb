//! Who is calling: bearer credentials and the extractors that check them.
//!
//! The checks themselves are `assent_app::credentials`, shared with every front end; this
//! module finds the token in the request (bearer header, session cookie, or a stream's query)
//! and holds the HTTP-only rules: the same-origin check for cookies, and the cookie itself.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, ORIGIN, REFERER};
use actix_web::{FromRequest, HttpRequest, web};
use assent_app::credentials;
use assent_auth::TokenHash;
use assent_store::{Account, Actor, SessionOrigin};

use crate::error::{ApiError, code};
use crate::state::{AppState, HttpSettings};

/// The cookie that carries an owner's session token.
pub const SESSION_COOKIE: &str = "assent_session";

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"AppState is not registered"))
}

/// An operator holding an active admin token. A valid credential of another kind (a service
/// API key) is 403 `AUTH_INSUFFICIENT_PERMISSIONS`; anything else is 401 `AUTH_INVALID_TOKEN`.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub token_id: String,
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let hash = bearer_token(req).map(TokenHash::of);
        let state = state(req);
        Box::pin(async move {
            let hash = hash
                .ok_or_else(|| ApiError::unauthenticated("An admin bearer token is required."))?;
            let token = credentials::admin(&state?.app, hash).await?;
            Ok(Self { token_id: token.id })
        })
    }
}

/// A namespace owner with a live session, from the `assent_session` cookie or an
/// `Authorization: Bearer` session token. A state-changing request authenticated by the
/// cookie must come from the server's own origin (403 `CSRF_REJECTED`; [`StreamOwner`] for
/// any request); bearer requests are exempt, since a browser never adds that header on its
/// own.
#[derive(Debug, Clone)]
pub struct Owner {
    pub account: Account,
    pub session_id: String,
}

impl Owner {
    pub fn actor(&self) -> Actor {
        Actor::Account(self.account.id.clone())
    }

    pub fn namespace(&self) -> &str {
        &self.account.namespace
    }
}

impl FromRequest for Owner {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate_owner(req, false)
    }
}

/// [`Owner`] for the dashboard's event stream: a session cookie must come from this server's
/// own pages even though the request is a GET, since the stream reads the owner's changes.
#[derive(Debug, Clone)]
pub struct StreamOwner(pub Owner);

impl FromRequest for StreamOwner {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let owner = authenticate_owner(req, true);
        Box::pin(async move { owner.await.map(StreamOwner) })
    }
}

fn authenticate_owner(
    req: &HttpRequest,
    streaming: bool,
) -> Pin<Box<dyn Future<Output = Result<Owner, ApiError>>>> {
    let state = state(req);
    let token = presented_token(req, &state, streaming);
    Box::pin(async move {
        let token = token?.ok_or_else(|| ApiError::unauthenticated("Log in first."))?;
        let hash = TokenHash::of(&token);
        let session = credentials::session(&state?.app, hash).await?;
        let session = session.ok_or_else(|| {
            ApiError::unauthenticated("The session is invalid or has expired; log in again.")
        })?;
        Ok(Owner {
            account: session.account,
            session_id: session.id,
        })
    })
}

/// The token a human presents: a bearer token, else the session cookie, else none. The
/// cookie of a state-changing request, or of any request when `streaming` (a stream reads
/// what a page should not), must come from this server's own origin.
fn presented_token(
    req: &HttpRequest,
    state: &Result<web::Data<AppState>, ApiError>,
    streaming: bool,
) -> Result<Option<String>, ApiError> {
    if let Some(token) = bearer_token(req) {
        return Ok(Some(token.to_owned()));
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let state = state.as_ref().map_err(Clone::clone)?;
    if streaming {
        require_same_origin(req, &state.settings)?;
    } else {
        check_same_origin(req, &state.settings)?;
    }
    Ok(Some(cookie.value().to_owned()))
}

/// Refuses a state-changing, cookie-authenticated request unless it comes from this server's
/// own origin ([`require_same_origin`]).
pub(crate) fn check_same_origin(
    req: &HttpRequest,
    settings: &HttpSettings,
) -> Result<(), ApiError> {
    if req.method().is_safe() {
        return Ok(());
    }
    require_same_origin(req, settings)
}

/// Refuses a request (403 `CSRF_REJECTED`) unless its `Origin` (or, lacking one, its
/// `Referer`) is this server's origin.
fn require_same_origin(req: &HttpRequest, settings: &HttpSettings) -> Result<(), ApiError> {
    let expected = own_origin(req, settings);
    if presented_origin(req).as_deref() == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(csrf_rejected())
    }
}

/// Refuses a request that sets a session cookie (login, signup) when a browser says it comes
/// from another origin. A request naming no origin at all is an API client's, not a page's:
/// browsers send `Origin` with every cross-origin POST.
pub(crate) fn refuse_foreign_origin(
    req: &HttpRequest,
    settings: &HttpSettings,
) -> Result<(), ApiError> {
    match presented_origin(req) {
        Some(origin) if origin != own_origin(req, settings) => Err(csrf_rejected()),
        _ => Ok(()),
    }
}

/// This server's origin: the configured public URL's, else the one the request was
/// addressed to.
fn own_origin(req: &HttpRequest, settings: &HttpSettings) -> String {
    match &settings.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// The origin a request says it comes from: its `Origin` header, else its `Referer`'s.
fn presented_origin(req: &HttpRequest) -> Option<String> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    header(ORIGIN).map(str::to_owned).or_else(|| {
        header(REFERER)
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.origin().ascii_serialization())
    })
}

fn csrf_rejected() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        code::CSRF_REJECTED,
        "A cookie-authenticated request must come from this server's own pages.",
    )
}

/// An AI service holding an active API key. A valid credential of another kind (an admin
/// token) is 403; anything else is 401.
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub key_id: String,
    pub service_id: String,
    pub namespace: String,
    /// The ATP `service_id`.
    pub slug: String,
    /// The service's display name and icon, as notifications show them.
    pub name: String,
    pub icon: Option<String>,
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let hash = bearer_token(req).map(TokenHash::of);
        let state = state(req);
        Box::pin(async move {
            let hash =
                hash.ok_or_else(|| ApiError::unauthenticated("A service API key is required."))?;
            let owner = credentials::service(&state?.app, hash).await?;
            Ok(Self {
                key_id: owner.key_id,
                service_id: owner.service_id,
                namespace: owner.namespace,
                slug: owner.slug,
                name: owner.service_name,
                icon: owner.service_icon,
            })
        })
    }
}

/// A human on the ATP client API: a user token (`ut_…`) or an owner's session token as a
/// bearer, or the session cookie (state-changing cookie requests must come from this
/// server's own origin). A service API key or admin token is 403; anything else 401.
#[derive(Debug, Clone)]
pub struct UserCaller {
    pub account: Account,
}

impl UserCaller {
    pub fn namespace(&self) -> &str {
        &self.account.namespace
    }
}

impl FromRequest for UserCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate_user(req, false)
    }
}

/// [`UserCaller`] for the streaming endpoints, which also take the token as the `token` query
/// parameter (browsers cannot set headers on `EventSource` or WebSocket). The query string is
/// never logged. A session cookie must come from this server's own origin even though the
/// request is a GET: a stream reads every pending notification, and a WebSocket can
/// acknowledge them.
#[derive(Debug, Clone)]
pub struct StreamUser(pub UserCaller);

impl FromRequest for StreamUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate_user(req, true);
        Box::pin(async move { user.await.map(StreamUser) })
    }
}

/// The `token` query parameter, if there is one.
fn query_token(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

fn authenticate_user(
    req: &HttpRequest,
    query: bool,
) -> Pin<Box<dyn Future<Output = Result<UserCaller, ApiError>>>> {
    let state = state(req);
    let token = presented_token(req, &state, query)
        .map(|token| token.or_else(|| query.then(|| query_token(req)).flatten()));
    Box::pin(async move {
        let token = token?.ok_or_else(|| ApiError::unauthenticated("A user token is required."))?;
        let hash = TokenHash::of(&token);
        let account = credentials::human(&state?.app, hash).await?;
        Ok(UserCaller { account })
    })
}

/// The most characters of a `User-Agent` a session keeps.
const USER_AGENT_MAX_CHARS: usize = 256;

/// Where a login or signup came from: the client address (as trusted proxies forward it) for
/// login throttling and the owner's list of sessions, and the user agent for that list.
pub fn session_origin(req: &HttpRequest) -> SessionOrigin {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect::<String>())
        .filter(|ua| !ua.trim().is_empty());
    SessionOrigin {
        user_agent,
        address: Some(crate::client_addr::ClientAddr::of(req).to_string()),
    }
}

/// The `assent_session` cookie carrying `token` for `max_age`: HTTP-only, `SameSite=Lax`,
/// `Secure` when the server's public URL is https.
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

/// The `assent_session` cookie that clears the session cookie (logging out).
pub(crate) fn session_cookie_removal(settings: &HttpSettings) -> Cookie<'static> {
    let mut removal = session_cookie(settings, String::new(), Duration::ZERO);
    removal.make_removal();
    removal
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn parses_bearer_headers() {
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer abc"))
            .to_http_request();
        assert_eq!(bearer_token(&req), Some("abc"));
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "bearer   abc "))
            .to_http_request();
        assert_eq!(bearer_token(&req), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            let req = TestRequest::default()
                .insert_header((AUTHORIZATION, bad))
                .to_http_request();
            assert_eq!(bearer_token(&req), None, "{bad}");
        }
        assert_eq!(
            bearer_token(&TestRequest::default().to_http_request()),
            None
        );
    }
}
