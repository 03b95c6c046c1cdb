//! Who is calling: bearer credentials and the extractors that check them.
//!
//! Every check is a SHA-256 of the presented token and an indexed lookup (never a password
//! hash), run on a blocking thread.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, ORIGIN, REFERER};
use actix_web::{FromRequest, HttpRequest, web};
use assent_auth::TokenHash;
use assent_core::Timestamp;
use assent_store::{Account, Actor};

use crate::error::{ApiError, code};
use crate::state::{AppState, HttpSettings};

/// The cookie that carries an owner's session token.
pub const SESSION_COOKIE: &str = "assent_session";

/// How stale `last_used_at` may get before a request refreshes it: one write a minute per
/// key at most, instead of one per request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

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
            let store = state?.store.clone();
            web::block(move || match store.find_admin_token(&hash)? {
                Some(token) => Ok(Self { token_id: token.id }),
                None => Err(refusal(&store, &hash, Credential::AdminToken)?),
            })
            .await?
        })
    }
}

/// The bearer credentials that may stand for each other by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    AdminToken,
    ApiKey,
    /// A user token or an owner's session token: a human's credential.
    User,
}

/// Why a bearer token that is not the `wanted` credential is refused: 403 when it is a valid
/// credential of another kind (a caller who mixed up their tokens learns exactly that), 401
/// otherwise. Only failures pay for the extra lookups.
fn refusal(
    store: &assent_store::Store,
    hash: &TokenHash,
    wanted: Credential,
) -> Result<ApiError, assent_store::StoreError> {
    let is_admin = || store.find_admin_token(hash).map(|t| t.is_some());
    let is_key = || store.find_api_key(hash).map(|k| k.is_some());
    let is_user = || -> Result<bool, assent_store::StoreError> {
        Ok(store.find_user_token(hash)?.is_some() || store.find_session(hash)?.is_some())
    };
    Ok(match wanted {
        Credential::AdminToken if is_key()? || is_user()? => {
            ApiError::forbidden("This credential is not an admin token.")
        }
        Credential::AdminToken => {
            ApiError::unauthenticated("The admin token is invalid or revoked.")
        }
        Credential::ApiKey if is_admin()? || is_user()? => {
            ApiError::forbidden("This credential is not a service API key.")
        }
        Credential::ApiKey => ApiError::unauthenticated("The API key is invalid or revoked."),
        Credential::User if is_admin()? || is_key()? => {
            ApiError::forbidden("This credential is not a user token.")
        }
        Credential::User => {
            ApiError::unauthenticated("The user token is invalid, revoked or expired.")
        }
    })
}

/// A namespace owner with a live session, from the `assent_session` cookie or an
/// `Authorization: Bearer` session token. A state-changing request authenticated by the
/// cookie must come from the server's own origin (403 `CSRF_REJECTED`); bearer requests are
/// exempt, since a browser never adds that header on its own.
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
        let state = state(req);
        let token = presented_token(req, &state);
        Box::pin(async move {
            let token = token?.ok_or_else(|| ApiError::unauthenticated("Log in first."))?;
            let hash = TokenHash::of(&token);
            let store = state?.store.clone();
            let session = web::block(move || store.find_session(&hash)).await??;
            let session = session.ok_or_else(|| {
                ApiError::unauthenticated("The session is invalid or has expired; log in again.")
            })?;
            Ok(Self {
                account: session.account,
                session_id: session.id,
            })
        })
    }
}

/// The token a human presents: a bearer token, else the session cookie (refused for a
/// state-changing request from another origin), else none.
fn presented_token(
    req: &HttpRequest,
    state: &Result<web::Data<AppState>, ApiError>,
) -> Result<Option<String>, ApiError> {
    if let Some(token) = bearer_token(req) {
        return Ok(Some(token.to_owned()));
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let state = state.as_ref().map_err(Clone::clone)?;
    check_same_origin(req, &state.settings)?;
    Ok(Some(cookie.value().to_owned()))
}

/// Refuses a state-changing, cookie-authenticated request unless its `Origin` (or, lacking
/// one, its `Referer`) is this server's origin: the configured public URL's, else the one the
/// request was addressed to.
pub(crate) fn check_same_origin(
    req: &HttpRequest,
    settings: &HttpSettings,
) -> Result<(), ApiError> {
    if req.method().is_safe() {
        return Ok(());
    }
    let expected = match &settings.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let presented = header(ORIGIN).map(str::to_owned).or_else(|| {
        header(REFERER)
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.origin().ascii_serialization())
    });
    if presented.as_deref() == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code::CSRF_REJECTED,
            "A cookie-authenticated change must come from this server's own pages.",
        ))
    }
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
            let store = state?.store.clone();
            web::block(move || {
                let Some(owner) = store.find_api_key(&hash)? else {
                    return Err(refusal(&store, &hash, Credential::ApiKey)?);
                };
                let now = Timestamp::now();
                let stale = owner
                    .last_used_at
                    .is_none_or(|at| now.as_millis() - at.as_millis() >= LAST_USED_GRANULARITY_MS);
                if stale {
                    store.touch_api_key(&owner.key_id, now)?;
                }
                Ok(Self {
                    key_id: owner.key_id,
                    service_id: owner.service_id,
                    namespace: owner.namespace,
                    slug: owner.slug,
                    name: owner.service_name,
                    icon: owner.service_icon,
                })
            })
            .await?
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
/// never logged.
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
    let token = presented_token(req, &state)
        .map(|token| token.or_else(|| query.then(|| query_token(req)).flatten()));
    Box::pin(async move {
        let token = token?.ok_or_else(|| ApiError::unauthenticated("A user token is required."))?;
        let hash = TokenHash::of(&token);
        let store = state?.store.clone();
        web::block(move || {
            if let Some(account) = store.find_user_token(&hash)? {
                return Ok(UserCaller { account });
            }
            if let Some(session) = store.find_session(&hash)? {
                return Ok(UserCaller {
                    account: session.account,
                });
            }
            Err(refusal(&store, &hash, Credential::User)?)
        })
        .await?
    })
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
