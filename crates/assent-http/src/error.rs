//! One error type at the HTTP edge, rendered in the dialect of the route.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// The two wire dialects. They differ only in the error envelope (and the name of the
/// "who are you?" code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/api/v1/...`: `{"code", "message", "details"?, "request_id"}`.
    Atp,
    /// Everything else: `{"error", "code", "details"?, "request_id"}`.
    Sigilum,
}

impl Dialect {
    pub fn for_path(path: &str) -> Self {
        if path == "/api" || path.starts_with("/api/") {
            Self::Atp
        } else {
            Self::Sigilum
        }
    }
}

/// Every stable error code (the catalogue lives with the operations that answer with them).
pub use assent_app::code;

// The two envelopes as the OpenAPI document describes them (`ApiError::to_body` writes them).

/// An error in the ATP dialect (`/api/v1/...`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AtpError {
    /// Stable machine-readable code, e.g. `MISSING_REQUIRED_FIELD`.
    #[schema(example = "MISSING_REQUIRED_FIELD")]
    pub code: String,
    #[schema(example = "The field `name` is required.")]
    pub message: String,
    /// Context for the error, such as `{"field": "name"}`.
    #[schema(nullable = false)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Also sent as the `X-Request-ID` response header.
    #[schema(example = "req_3f9a0c1d2e4b5a6978695a4b")]
    pub request_id: String,
}

/// An error in the Sigilum dialect (every other path).
#[derive(Debug, Serialize, ToSchema)]
pub struct SigilumError {
    /// A message for humans.
    pub error: String,
    /// Stable machine-readable code, e.g. `UNAUTHORIZED`.
    pub code: String,
    #[schema(nullable = false)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    pub request_id: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Map<String, Value>>,
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds one entry to `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.to_owned(), value.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::AUTH_INVALID_TOKEN, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::AUTH_INSUFFICIENT_PERMISSIONS,
            message,
        )
    }

    /// A failure that is not the caller's fault. The cause is logged here, once, and never
    /// sent to the caller.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL_ERROR,
            "An internal error occurred; it has been logged.",
        )
    }

    /// The generic error for a status the framework produced itself (unknown route, wrong
    /// method, unreadable body).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            404 => (code::NOT_FOUND, "No such resource."),
            405 => (code::METHOD_NOT_ALLOWED, "This method is not allowed here."),
            413 => (code::PAYLOAD_TOO_LARGE, "The request body is too large."),
            400..=499 => (code::INVALID_PARAMETER, "The request is invalid."),
            503 => (
                code::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable.",
            ),
            _ => (
                code::INTERNAL_ERROR,
                "An internal error occurred; it has been logged.",
            ),
        };
        Self::new(status, code, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Seconds of the `Retry-After` header, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The body in `dialect`, with the request id.
    pub fn to_body(&self, dialect: Dialect, request_id: &str) -> Value {
        let mut body = match dialect {
            Dialect::Atp => json!({ "code": self.code, "message": self.message }),
            Dialect::Sigilum => {
                let code = match self.code {
                    code::AUTH_INVALID_TOKEN => code::UNAUTHORIZED,
                    other => other,
                };
                json!({ "error": self.message, "code": code })
            }
        };
        if let Some(object) = body.as_object_mut() {
            if let Some(details) = &self.details {
                object.insert("details".to_owned(), Value::Object(details.clone()));
            }
            object.insert("request_id".to_owned(), Value::from(request_id));
        }
        body
    }

    pub(crate) fn to_response(&self, dialect: Dialect, request_id: &str) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(self.to_body(dialect, request_id))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// The framework turns an `ApiError` into this bare response; the request-context middleware
/// replaces it with the full envelope once the dialect and request id are known.
impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response(Dialect::Atp, "")
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(&e)
    }
}

/// Storage errors a handler did not turn into something more specific: as the application
/// layer maps them (a missing row is a 404, a used-up quota its own 409, anything else a 500).
impl From<assent_store::StoreError> for ApiError {
    fn from(e: assent_store::StoreError) -> Self {
        assent_app::Error::from(e).into()
    }
}

/// An operation's failure, as HTTP says it: the kind picks the status, the code and the
/// message pass through, the details become `details`.
impl From<assent_app::Error> for ApiError {
    fn from(e: assent_app::Error) -> Self {
        let mut error = Self::new(status_of(e.kind()), e.code(), e.message());
        for (key, value) in e.details() {
            error = error.with_detail(key, value.as_str());
        }
        if let Some(wait) = e.retry_after() {
            error = error.with_retry_after(wait.as_secs().max(1));
        }
        error
    }
}

/// An error whose answer is a page rendered already (a dashboard extractor's refusal: the
/// login redirect, the 403 page of a form without its token). The envelope leaves it alone.
#[derive(Debug)]
pub struct RenderedPage(std::cell::RefCell<Option<HttpResponse>>);

impl RenderedPage {
    pub fn new(page: HttpResponse) -> Self {
        Self(std::cell::RefCell::new(Some(page)))
    }
}

impl fmt::Display for RenderedPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rendered page")
    }
}

impl ResponseError for RenderedPage {
    fn status_code(&self) -> StatusCode {
        self.0
            .borrow()
            .as_ref()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, HttpResponse::status)
    }

    /// The page, the first time; actix asks once per response.
    fn error_response(&self) -> HttpResponse {
        self.0
            .borrow_mut()
            .take()
            .unwrap_or_else(|| HttpResponse::InternalServerError().finish())
    }
}

/// The HTTP status of each kind of operation failure, for the JSON API and the dashboard.
pub fn status_of(kind: assent_app::Kind) -> StatusCode {
    use assent_app::Kind;
    match kind {
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// A field problem in the Sigilum dialect: 400 `VALIDATION_ERROR` naming the field.
    pub fn validation(e: &assent_core::FieldError) -> Self {
        assent_app::Error::validation(e).into()
    }
}

pub use assent_app::sentence;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atp_envelope_is_top_level_code_and_message() {
        let e = ApiError::bad_request(code::MISSING_REQUIRED_FIELD, "name is required")
            .with_detail("field", "name");
        assert_eq!(
            e.to_body(Dialect::Atp, "req_1"),
            json!({"code": "MISSING_REQUIRED_FIELD", "message": "name is required",
                   "details": {"field": "name"}, "request_id": "req_1"})
        );
    }

    #[test]
    fn sigilum_envelope_puts_the_message_in_error_and_renames_auth() {
        let e = ApiError::unauthenticated("missing bearer token");
        assert_eq!(
            e.to_body(Dialect::Sigilum, "req_2"),
            json!({"error": "missing bearer token", "code": "UNAUTHORIZED", "request_id": "req_2"})
        );
    }

    #[test]
    fn dialect_follows_the_path() {
        assert_eq!(Dialect::for_path("/api/v1/services"), Dialect::Atp);
        assert_eq!(Dialect::for_path("/v1/services"), Dialect::Sigilum);
        assert_eq!(Dialect::for_path("/apiary"), Dialect::Sigilum);
        assert_eq!(Dialect::for_path("/health"), Dialect::Sigilum);
    }
}
