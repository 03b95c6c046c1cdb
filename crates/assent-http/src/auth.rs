//! Who is calling: bearer credentials and the extractors that check them.
//!
//! Every check is a SHA-256 of the presented token and an indexed lookup (never a password
//! hash), run on a blocking thread.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use assent_auth::TokenHash;

use crate::error::ApiError;
use crate::state::AppState;

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
            web::block(move || {
                if let Some(token) = store.find_admin_token(&hash)? {
                    return Ok(Self { token_id: token.id });
                }
                // Only reached on failure, so the hot path stays one lookup.
                if store.find_api_key(&hash)?.is_some() {
                    return Err(ApiError::forbidden(
                        "This credential is not an admin token.",
                    ));
                }
                Err(ApiError::unauthenticated(
                    "The admin token is invalid or revoked.",
                ))
            })
            .await?
        })
    }
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
