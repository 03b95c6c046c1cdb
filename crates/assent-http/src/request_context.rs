//! Per-request context: the request id (`X-Request-ID` on every response), the client address
//! (worked out once, kept in the request's extensions for [`ClientAddr`]), a tracing span, one
//! access-log line (target `assent_http::access`: errors at INFO, successes at DEBUG), and the
//! rendering of every error in the route's dialect.

use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, USER_AGENT};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use crate::client_addr::ClientAddr;
use crate::error::{ApiError, Dialect, RenderedPage, code};

/// Most bytes of a user agent the access log keeps.
const USER_AGENT_LOGGED: usize = 200;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's id is echoed when it is a short token of safe characters; anything else
/// (empty, long, or able to forge log lines) is replaced.
fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> String {
    assent_auth::random::Id::Request.mint()
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map_or_else(new_request_id, str::to_owned);
    let dialect = Dialect::for_path(req.path());
    let client = ClientAddr::in_app(req.app_data(), req.peer_addr(), req.headers());
    req.extensions_mut().insert(client);
    // Neither the path nor the query: the access line names the route template instead
    // (ids would make every request's name unique), and query strings may carry tokens
    // (`?token=` on the ATP streams).
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        client = %client,
    );
    let user_agent = req.headers().get(USER_AGENT).cloned();
    let started = Instant::now();

    let response = if has_nul(req.uri().path()) || has_nul(req.query_string()) {
        // No text this server stores or looks up may hold NUL (PostgreSQL refuses it).
        let error = ApiError::bad_request(
            code::INVALID_PARAMETER,
            "The path and query may not contain the NUL character (%00).",
        );
        req.into_response(error.to_response(dialect, &request_id))
    } else {
        assent_app::as_client(client.0, next.call(req))
            .instrument(span.clone())
            .await?
            .map_into_boxed_body()
    };
    let mut response = render_error(response, dialect, &request_id);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    // The route template (`/v1/claims/{id}`), not the path: one name per route, however
    // many ids; absent when no route matched.
    let status = response.status();
    // A success is logged at DEBUG, an error at INFO: at the default level (`info`) a busy
    // server writes a line only for what went wrong, and the hot paths (verify, the DID
    // document) do not pay for formatting and writing a line each. `ASSENT_LOG=info,
    // assent_http::access=debug` logs every request again (docs/operations.md).
    let level_enabled = if status.is_client_error() || status.is_server_error() {
        tracing::enabled!(target: ACCESS, tracing::Level::INFO)
    } else {
        tracing::enabled!(target: ACCESS, tracing::Level::DEBUG)
    };
    if level_enabled {
        let route = response.request().match_pattern();
        let user_agent = user_agent.map(|value| loggable_user_agent(value.as_bytes()));
        span.in_scope(|| {
            access_line(
                status.is_client_error() || status.is_server_error(),
                route.as_deref(),
                status.as_u16(),
                milliseconds(started.elapsed()),
                user_agent.as_deref(),
            );
        });
    }
    Ok(response)
}

/// The access log's target, so that its level can be set apart from the rest of the crate.
const ACCESS: &str = "assent_http::access";

/// One access line: an error at INFO, a success at DEBUG.
fn access_line(
    error: bool,
    route: Option<&str>,
    status: u16,
    latency_ms: f64,
    user_agent: Option<&str>,
) {
    if error {
        tracing::info!(target: ACCESS, route, status, latency_ms, user_agent, "handled");
    } else {
        tracing::debug!(target: ACCESS, route, status, latency_ms, user_agent, "handled");
    }
}

/// Gives every error response the dialect's envelope. Handler errors are [`ApiError`]s;
/// other errors, and empty error answers, came from the framework (no route, wrong method,
/// unreadable path) and get the generic error for their status.
fn render_error(
    response: ServiceResponse<BoxBody>,
    dialect: Dialect,
    request_id: &str,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // A handler that answers an error status with a body of its own (the DID-resolution
    // envelope) keeps it; what gets the envelope is an error, or an empty framework answer.
    let error = response.response().error();
    if error.is_some_and(|e| e.as_error::<RenderedPage>().is_some()) {
        return response;
    }
    let has_error = error.is_some();
    let empty = matches!(
        response.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if !has_error && !empty {
        return response;
    }
    let error = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>().cloned())
        .unwrap_or_else(|| ApiError::from_status(status));
    let mut rendered = error.to_response(dialect, request_id);
    // Keep headers the framework set for this error (Allow on a 405, for instance).
    for (name, value) in response.headers() {
        if !rendered.headers().contains_key(name) {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response.into_response(rendered)
}

/// Milliseconds rounded to the microsecond: `1.235`, not `1.234567891`.
fn milliseconds(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 1e6).round() / 1e3
}

/// A user agent as the log shows it: visible ASCII and spaces only (anything else, which
/// could forge a log line, becomes `?`), at most [`USER_AGENT_LOGGED`] bytes.
fn loggable_user_agent(value: &[u8]) -> String {
    value
        .iter()
        .take(USER_AGENT_LOGGED)
        .map(|&b| {
            if b == b' ' || b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// Whether percent-encoded (or raw) text holds a NUL character.
fn has_nul(text: &str) -> bool {
    text.contains('\0')
        || text
            .as_bytes()
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_encoded_nul_characters() {
        assert!(has_nul("/v1/services/%00"));
        assert!(has_nul("a=1&b=x%00y"));
        assert!(!has_nul("/v1/services/abc%20d"));
        assert!(!has_nul("a=%2500"));
    }

    #[test]
    fn latency_is_shown_to_the_microsecond() {
        use std::time::Duration;
        assert_eq!(
            format!("{}", milliseconds(Duration::from_nanos(1_234_567))),
            "1.235"
        );
        assert_eq!(format!("{}", milliseconds(Duration::from_millis(15))), "15");
        assert_eq!(
            format!("{}", milliseconds(Duration::from_nanos(999))),
            "0.001"
        );
        assert_eq!(format!("{}", milliseconds(Duration::from_nanos(400))), "0");
        assert_eq!(
            format!("{}", milliseconds(Duration::from_secs(5 * 3600))),
            "18000000"
        );
    }

    #[test]
    fn user_agents_are_logged_sanitised_and_bounded() {
        assert_eq!(loggable_user_agent(b"curl/8.5.0"), "curl/8.5.0");
        assert_eq!(
            loggable_user_agent(b"evil\nstatus=200\r\x1b[31m\xff"),
            "evil?status=200??[31m?"
        );
        assert_eq!(loggable_user_agent(&[b'a'; 500]).len(), USER_AGENT_LOGGED);
    }

    #[test]
    fn request_ids_from_callers_are_echoed_only_when_sane() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }
}
