//! `Signed`: a request signed with the `sigilum-rfc9421-v1` profile (`docs/signing.md`),
//! verified and its nonce consumed.
//!
//! The extractor reads the body (the app's `PayloadConfig` limit applies: 413
//! `PAYLOAD_TOO_LARGE`), rebuilds what the client signed, and runs
//! [`assent_auth::rfc9421::verify_cached`] (an agent's certificate proof is checked once):
//! - `@method`: the method as received;
//! - `@target-uri`: the public absolute URL the client used. With `HttpSettings::public_url`
//!   set, its scheme, host and port plus the request's path and query as received (behind a
//!   proxy this is the only reliable choice); otherwise the scheme and host of
//!   `connection_info()` (which believes `Forwarded` / `X-Forwarded-*` headers: set
//!   `public_url` in production);
//! - the headers: every header line as received, in order. A value that is not visible ASCII
//!   is passed **lossily** (decoded as UTF-8, an invalid byte becoming U+FFFD), never skipped:
//!   skipping could hide a second copy of a profile header from the verifier's duplicate check,
//!   or turn a bad value into a misleading `SIGNATURE_MISSING`. A lossy profile header simply
//!   fails to verify (or is refused for its control characters).
//!
//! A refusal is a 401 with the verifier's `SIGNATURE_*` code and its text. Only once the
//! signature verifies is the nonce consumed, single-use per namespace for
//! [`NONCE_TTL_SECONDS`] in the shared database (so a forged request cannot burn someone
//! else's nonce): a replay is 409 `SIGNATURE_NONCE_REPLAY`, an unreachable store 503
//! `NONCE_STORE_UNAVAILABLE`.
//!
//! The route bindings (which namespace, which key the route expects) are the handler's:
//! [`Signed::require_namespace`] and [`Signed::require_public_key`] give their 403s. They run
//! after the nonce is consumed: a genuinely signed request for the wrong route still uses up
//! its nonce.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use assent_auth::rfc9421::{self, NONCE_TTL_SECONDS, SignedRequest, VerifiedRequest};
use assent_core::Timestamp;

use crate::error::{ApiError, code};
use crate::state::{AppState, HttpSettings};

/// A request whose `sigilum-rfc9421-v1` signature verified and whose nonce was unused.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Who signed: namespace, subject and key as the certificate binds them.
    pub agent: VerifiedRequest,
    /// The signed body. Empty on GET and HEAD whatever was sent: the profile never signs a
    /// GET or HEAD body, so it must not be acted on.
    pub body: Bytes,
}

impl Signed {
    /// The route's namespace binding: the certificate's namespace must be `namespace`, else
    /// 403 `SIGNATURE_NAMESPACE_MISMATCH`.
    pub fn require_namespace(&self, namespace: &str) -> Result<(), ApiError> {
        require_namespace(&self.agent, namespace)
    }

    /// The route's key binding: the signing key (`ed25519:<base64>`) must be `public_key`,
    /// compared as strings (a key has one canonical spelling), else 403
    /// `SIGNATURE_KEY_MISMATCH`.
    pub fn require_public_key(&self, public_key: &str) -> Result<(), ApiError> {
        if self.agent.public_key == public_key {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code::SIGNATURE_KEY_MISMATCH,
                "The signing key does not match the public key of this request.",
            ))
        }
    }
}

fn require_namespace(agent: &VerifiedRequest, namespace: &str) -> Result<(), ApiError> {
    if agent.namespace == namespace {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code::SIGNATURE_NAMESPACE_MISMATCH,
            "The signing certificate's namespace does not match the namespace of this request.",
        ))
    }
}

/// What the verifier needs from the request head, owned so that it outlives `from_request`.
struct Head {
    method: String,
    target_uri: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn of(req: &HttpRequest, settings: &HttpSettings) -> Self {
        let headers = req
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = match value.to_str() {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => String::from_utf8_lossy(value.as_bytes()),
                };
                (name.as_str().to_owned(), value.into_owned())
            })
            .collect();
        Self {
            method: req.method().as_str().to_owned(),
            target_uri: target_uri(req, settings),
            headers,
        }
    }
}

/// The absolute URL the client addressed: the public origin plus the path and query as
/// received (the verifier normalises it).
fn target_uri(req: &HttpRequest, settings: &HttpSettings) -> String {
    let origin = settings
        .public_url
        .as_ref()
        .map(url::Url::origin)
        .filter(url::Origin::is_tuple)
        .map_or_else(
            || {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            },
            |origin| origin.ascii_serialization(),
        );
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", actix_web::http::uri::PathAndQuery::as_str);
    format!("{origin}{path_and_query}")
}

fn read_error(e: &actix_web::Error) -> ApiError {
    if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            "The request body is larger than the server accepts.",
        )
    } else {
        ApiError::bad_request(
            code::INVALID_PARAMETER,
            "The request body could not be read.",
        )
    }
}

/// A request whose signature verified, its nonce not consumed yet. Routes take [`Signed`];
/// `GET /v1/verify` takes this and consumes the nonce together with its claim lookup
/// ([`crate::nonces::NonceBatcher::use_nonce_and_find`]), in one hand-off.
#[derive(Debug, Clone)]
pub struct SignatureChecked {
    pub agent: VerifiedRequest,
    /// As [`Signed::body`].
    pub body: Bytes,
    /// When the nonce may be used again.
    nonce_expires_at: Timestamp,
}

impl SignatureChecked {
    /// The nonce to consume: scope (single-use per namespace), value, and until when.
    pub fn nonce(&self) -> (String, String, Timestamp) {
        (
            format!("sig:{}", self.agent.namespace),
            self.agent.nonce.clone(),
            self.nonce_expires_at,
        )
    }

    /// As [`Signed::require_namespace`].
    pub fn require_namespace(&self, namespace: &str) -> Result<(), ApiError> {
        require_namespace(&self.agent, namespace)
    }

    /// Once its nonce was consumed fresh.
    pub fn into_signed(self) -> Signed {
        Signed {
            agent: self.agent,
            body: self.body,
        }
    }
}

/// 409 `SIGNATURE_NONCE_REPLAY`.
pub fn replay() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        code::SIGNATURE_NONCE_REPLAY,
        "Replay detected: signature nonce has already been used",
    )
}

/// 503 `NONCE_STORE_UNAVAILABLE`, the cause logged.
pub fn nonce_store_unavailable(cause: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %cause, "signature nonce store unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::NONCE_STORE_UNAVAILABLE,
        "Signature nonce store unavailable",
    )
}

impl FromRequest for SignatureChecked {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(async { Err(ApiError::internal(&"AppState is not registered")) });
        };
        let head = Head::of(req, &state.settings);
        // The limit comes from the `PayloadConfig` the app registers.
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| read_error(&e))?;
            let headers: Vec<(&str, &str)> = head
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let request = SignedRequest {
                method: &head.method,
                target_uri: &head.target_uri,
                headers: &headers,
                body: &body,
            };
            let now = Timestamp::now();
            let now_unix = now.as_millis().div_euclid(1000);
            let agent = rfc9421::verify_cached(&request, now_unix, &state.certificate_proofs)
                .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
            let body = if rfc9421::body_is_signed(&head.method, &body) {
                body
            } else {
                Bytes::new()
            };
            let nonce_expires_at = Timestamp::from_millis(
                now.as_millis()
                    .saturating_add(NONCE_TTL_SECONDS.saturating_mul(1000)),
            );
            Ok(Self {
                agent,
                body,
                nonce_expires_at,
            })
        })
    }
}

impl FromRequest for Signed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(async { Err(ApiError::internal(&"AppState is not registered")) });
        };
        let checked = SignatureChecked::from_request(req, payload);
        Box::pin(async move {
            let checked = checked.await?;
            // Only a verified signature may consume its nonce; concurrent requests' nonces
            // share a transaction (see `nonces.rs`).
            let (scope, value, expires_at) = checked.nonce();
            let fresh = state
                .nonces
                .use_nonce(state.store(), scope, value, expires_at)
                .await
                .map_err(|e| nonce_store_unavailable(&e))?;
            if !fresh {
                return Err(replay());
            }
            Ok(checked.into_signed())
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn signed(namespace: &str, public_key: &str) -> Signed {
        Signed {
            agent: VerifiedRequest {
                namespace: namespace.to_owned(),
                subject: "s".to_owned(),
                public_key: public_key.to_owned(),
                key_id: "k".to_owned(),
                nonce: "n".to_owned(),
                created: 1,
                agent_key_did: "did:key:z".to_owned(),
            },
            body: Bytes::new(),
        }
    }

    #[test]
    fn bindings_give_their_403s() {
        let s = signed("alice", "ed25519:AAAA");
        assert!(s.require_namespace("alice").is_ok());
        let e = s.require_namespace("bob").unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::FORBIDDEN, "SIGNATURE_NAMESPACE_MISMATCH")
        );
        assert!(s.require_namespace("Alice").is_err());
        assert!(s.require_public_key("ed25519:AAAA").is_ok());
        let e = s.require_public_key("ed25519:BBBB").unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::FORBIDDEN, "SIGNATURE_KEY_MISMATCH")
        );
    }

    #[test]
    fn the_target_uri_is_the_public_origin_plus_the_path_and_query() {
        let req = TestRequest::post()
            .uri("/v1/x%2Fy?b=%2F&a=1")
            .insert_header(("host", "internal:8080"))
            .to_http_request();
        let with = |public_url: Option<&str>| HttpSettings {
            public_url: public_url.map(|u| url::Url::parse(u).unwrap()),
            ..HttpSettings::default()
        };
        assert_eq!(
            target_uri(
                &req,
                &with(Some("https://api.example.com:8443/ignored/path"))
            ),
            "https://api.example.com:8443/v1/x%2Fy?b=%2F&a=1"
        );
        assert_eq!(
            target_uri(&req, &with(Some("https://api.example.com:443"))),
            "https://api.example.com/v1/x%2Fy?b=%2F&a=1"
        );
        assert_eq!(
            target_uri(&req, &with(None)),
            "http://internal:8080/v1/x%2Fy?b=%2F&a=1"
        );
        let bare = TestRequest::get()
            .insert_header(("host", "h"))
            .to_http_request();
        assert_eq!(target_uri(&bare, &with(None)), "http://h/");
    }

    #[test]
    fn header_values_that_are_not_visible_ascii_are_kept_lossily() {
        let req = TestRequest::get()
            .insert_header((
                "x-note",
                actix_web::http::header::HeaderValue::from_bytes(b"caf\xc3\xa9 \xff").unwrap(),
            ))
            .insert_header(("x-plain", "a\tb"))
            .to_http_request();
        let head = Head::of(&req, &HttpSettings::default());
        assert!(
            head.headers
                .contains(&("x-note".to_owned(), "caf\u{e9} \u{fffd}".to_owned()))
        );
        assert!(
            head.headers
                .contains(&("x-plain".to_owned(), "a\tb".to_owned()))
        );
        assert_eq!(head.method, "GET");
    }
}
