//! MCP over Streamable HTTP at `/mcp` (service API key as the bearer). Stateless: no
//! `Mcp-Session-Id`, nothing kept between requests, so any replica serves any message. A
//! `tools/call` (or `tasks/result`) is answered as an event stream, its progress
//! notifications first, then the response; every other request as JSON. There is no
//! standalone stream (`GET` is 405): this server never asks the client anything.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{ACCEPT, CACHE_CONTROL, ORIGIN};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::notifications::Sender;
use assent_mcp::{Mcp, Options, SUPPORTED_VERSIONS, Updates, Watch};
use assent_store::ChangeKind;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::auth::ServiceCaller;
use crate::error::SigilumError;
use crate::feed::{ChangeFeed, Subscription};
use crate::rate_limit::Operation;
use crate::state::AppState;

/// How often an open call's stream carries a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A waiting call learns of decisions from the change feed of the SSE and WebSocket streams.
#[derive(Debug)]
struct FeedWatch(Arc<ChangeFeed>);

struct FeedUpdates(Subscription);

impl Watch for FeedWatch {
    fn status_updates(&self, namespace: &str) -> Box<dyn Updates> {
        Box::new(FeedUpdates(self.0.subscribe(
            namespace,
            &[ChangeKind::StatusUpdate],
            false,
        )))
    }
}

impl Updates for FeedUpdates {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Option<String>> + Send + '_>> {
        Box::pin(async move {
            self.0
                .changes
                .recv()
                .await
                .map(|change| change.subject_id.clone())
        })
    }
}

/// The MCP server of this process's state.
pub fn server(state: &AppState) -> Mcp {
    Mcp::new(
        state.app.clone(),
        Arc::new(FeedWatch(Arc::clone(&state.feed))),
        Options::default(),
    )
}

fn rpc_error(status: actix_web::http::StatusCode, code: i32, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } }),
    )
}

/// Whether a request's `Origin`, when it has one, is this server's public origin or one of
/// the allowed CORS origins: a web page elsewhere (DNS rebinding included) is refused.
fn origin_allowed(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let public = state
        .settings
        .public_url
        .as_ref()
        .map(|url| url.origin().ascii_serialization());
    public.as_deref() == Some(origin) || state.settings.cors_origins.iter().any(|o| o == origin)
}

/// A JSON-RPC 2.0 response (documentation only: the MCP crate writes it).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the response body in the OpenAPI document"
)]
pub struct JsonRpcResponse {
    #[schema(example = "2.0")]
    jsonrpc: String,
    /// The request's id, a string or a number (`null` when the request could not be read).
    #[schema(value_type = Value)]
    id: Value,
    /// The method's result (`tools/call`: a `CallToolResult` whose `structuredContent` is the
    /// decision); absent on error.
    #[schema(nullable = false, value_type = Option<Object>)]
    result: Option<Value>,
    /// `{code, message, data?}`; absent on success.
    #[schema(nullable = false, value_type = Option<Object>)]
    error: Option<Value>,
}

/// One MCP message (JSON-RPC 2.0) from an agent.
#[utoipa::path(post, path = "/mcp", operation_id = "mcpMessage", tag = "MCP",
    request_body(content = Object, description = "One JSON-RPC 2.0 message of the Model Context \
        Protocol (2025-11-25): `initialize`, `tools/list`, `tools/call`, `tasks/get`, \
        `tasks/result`, `tasks/cancel`, `ping`, or a notification. See docs/mcp.md."),
    params(("MCP-Protocol-Version" = Option<String>, Header, description = "The negotiated version")),
    security(("serviceApiKey" = [])),
    responses(
        (status = 200, description = "The JSON-RPC response (`application/json`), or for \
            `tools/call` and `tasks/result` a `text/event-stream` of progress notifications \
            and then the response", body = JsonRpcResponse),
        (status = 202, description = "A notification or response: accepted, no body"),
        (status = 400, description = "Not JSON (`-32700`), or an unsupported `MCP-Protocol-Version`", body = JsonRpcResponse),
        (status = 401, description = "`AUTH_INVALID_TOKEN`: no or a wrong service API key", body = SigilumError),
        (status = 403, description = "An `Origin` that is not this server's (JSON-RPC error), or not a service API key", body = JsonRpcResponse),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = SigilumError),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`: a `tools/call` that asks a human counts as a \
            notification (100 a minute per service), with `Retry-After`", body = SigilumError),
    ))]
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, crate::error::ApiError> {
    use actix_web::FromRequest;
    use actix_web::http::StatusCode;
    if !origin_allowed(&req, &state) {
        return Ok(rpc_error(
            StatusCode::FORBIDDEN,
            -32600,
            "This Origin may not call the MCP endpoint.",
        ));
    }
    if let Some(version) = req.headers().get("mcp-protocol-version")
        && !version
            .to_str()
            .is_ok_and(|v| SUPPORTED_VERSIONS.contains(&v))
    {
        return Ok(rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            &format!(
                "Unsupported MCP-Protocol-Version; this server speaks {}.",
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    let caller = ServiceCaller::from_request(&req, &mut actix_web::dev::Payload::None).await?;
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return Ok(rpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            "The body is not JSON.",
        ));
    };
    // A tool that asks a human sends a notification: the same limit as
    // `POST /api/v1/notifications` applies.
    if message.get("method").and_then(Value::as_str) == Some("tools/call")
        && message
            .pointer("/params/name")
            .and_then(Value::as_str)
            .is_some_and(|name| name != "get_decision")
    {
        state
            .limiter
            .check(Operation::Submission, &caller.service_id)
            .await?;
    }
    let sender = Sender {
        service_id: caller.service_id,
        namespace: caller.namespace,
        slug: caller.slug,
        name: caller.name,
        icon: caller.icon,
    };
    let mcp = server(&state);
    let streams = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if !(streams && Mcp::may_wait(&message)) {
        // Kept open while the call runs: a closed queue would tell a waiting call that its
        // client went away.
        let (out, _progress) = mpsc::channel(16);
        return Ok(match mcp.handle(&sender, message, &out).await {
            Some(response) => HttpResponse::Ok().json(response),
            None => HttpResponse::Accepted().finish(),
        });
    }
    let (out, messages) = mpsc::channel::<Value>(64);
    actix_web::rt::spawn(async move {
        if let Some(response) = mcp.handle(&sender, message, &out).await {
            let _ = out.send(response).await;
        }
    });
    let keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    // Ends when the call has answered (its queue closes); dropped when the client goes away,
    // which the waiting call sees as its queue closing.
    let body = futures_util::stream::unfold(
        (messages, keep_alive),
        |(mut messages, mut keep_alive)| async move {
            let frame = tokio::select! {
                message = messages.recv() => {
                    message.map(|m| Bytes::from(format!("event: message\ndata: {m}\n\n")))
                }
                _ = keep_alive.tick() => Some(Bytes::from_static(b": keep-alive\n\n")),
            };
            frame.map(|frame| (Ok::<_, Infallible>(frame), (messages, keep_alive)))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
