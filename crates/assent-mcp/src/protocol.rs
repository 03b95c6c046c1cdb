//! JSON-RPC for MCP: one message in, its response out. No session: every message carries all
//! it needs (the caller is the API key of its HTTP request), so any replica can answer it.

use std::sync::Arc;
use std::time::Duration;

use assent_app::App;
use assent_app::notifications::{self, Sender};
use assent_core::notification::{Notification, NotificationStatus};
use rmcp::model::{ErrorCode, ProtocolVersion};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::decision::{Progress, Watch, decision};
use crate::tools::{self, ToolError};

/// The protocol versions of the `initialize` handshake this server speaks, newest first.
/// (The 2026-07-28 per-request envelope is not offered: `server/discover` is unknown here,
/// and clients fall back to the handshake.)
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// How often a task's client should ask for its status, in milliseconds.
const TASK_POLL_MS: u64 = 2000;

/// Tunables.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often a waiting call reports progress.
    pub progress_every: Duration,
    /// The longest a tool call waits for a human (a longer `wait_seconds` is refused).
    pub max_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            progress_every: Duration::from_secs(10),
            max_wait: Duration::from_secs(900),
        }
    }
}

/// The MCP server: the application, and where waiting calls learn of decisions. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Mcp {
    pub(crate) app: App,
    pub(crate) watch: Arc<dyn Watch>,
    pub(crate) options: Options,
}

/// A JSON-RPC error.
#[derive(Debug)]
pub(crate) struct RpcError {
    code: ErrorCode,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl From<assent_app::Error> for RpcError {
    fn from(e: assent_app::Error) -> Self {
        match e.kind() {
            assent_app::Kind::Internal => {
                RpcError::new(ErrorCode::INTERNAL_ERROR, "Internal error.")
            }
            _ => RpcError::invalid_params(e.to_string()).with_data(json!({ "code": e.code() })),
        }
    }
}

/// An error response without a request id (the request could not be read).
pub fn error_response(code: ErrorCode, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code.0, "message": message } })
}

impl Mcp {
    pub fn new(app: App, watch: Arc<dyn Watch>, options: Options) -> Self {
        Self {
            app,
            watch,
            options,
        }
    }

    /// Whether `message` is a request whose answer may wait for a human (a transport streams
    /// those, with their progress notifications).
    pub fn may_wait(message: &Value) -> bool {
        matches!(
            message.get("method").and_then(Value::as_str),
            Some("tools/call" | "tasks/result")
        ) && message.get("id").is_some()
    }

    /// Handles one JSON-RPC message of `caller`: the response to a request, `None` for a
    /// notification or a response. Progress notifications go to `out` while it runs.
    pub async fn handle(
        &self,
        caller: &Sender,
        message: Value,
        out: &mpsc::Sender<Value>,
    ) -> Option<Value> {
        let Value::Object(mut message) = message else {
            return Some(error_response(
                ErrorCode::INVALID_REQUEST,
                "A message must be one JSON-RPC object (batches are not supported).",
            ));
        };
        let id = message.remove("id");
        let method = match message.get("method") {
            Some(Value::String(method)) => method.clone(),
            // A response from the client (to nothing this server asked): nothing to do.
            None if id.is_some() => return None,
            _ => {
                return Some(error_response(
                    ErrorCode::INVALID_REQUEST,
                    "The message has no `method`.",
                ));
            }
        };
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(reply(
                id.unwrap_or(Value::Null),
                Err(RpcError::new(
                    ErrorCode::INVALID_REQUEST,
                    "`jsonrpc` must be \"2.0\".",
                )),
            ));
        }
        let id = match id {
            // A notification (`notifications/initialized`, `notifications/cancelled`): the
            // transport's closing connection cancels a call, so nothing is kept for them.
            None => return None,
            Some(id @ (Value::String(_) | Value::Number(_))) => id,
            Some(_) => {
                return Some(error_response(
                    ErrorCode::INVALID_REQUEST,
                    "`id` must be a string or a number.",
                ));
            }
        };
        let params = match message.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params,
            Some(_) => {
                return Some(reply(
                    id,
                    Err(RpcError::invalid_params("`params` must be an object.")),
                ));
            }
        };
        let result = self.dispatch(caller, &method, params, out).await;
        Some(reply(id, result))
    }

    async fn dispatch(
        &self,
        caller: &Sender,
        method: &str,
        params: Map<String, Value>,
        out: &mpsc::Sender<Value>,
    ) -> Result<Value, RpcError> {
        match method {
            "initialize" => Ok(initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": tools::definitions() })),
            "tools/call" => self.call_tool(caller, params, out).await,
            "tasks/get" => {
                let row = self.task_notification(caller, &params).await?;
                Ok(task(&row))
            }
            "tasks/result" => {
                let row = self.task_notification(caller, &params).await?;
                let progress = Progress {
                    token: progress_token(&params),
                    out,
                    message: "Waiting for a human decision.".to_owned(),
                };
                // A task's result waits for as long as the task lives.
                let row = match row.deadline {
                    Some(deadline) if row.status.is_pending() => {
                        let left = deadline.as_millis() - assent_core::Timestamp::now().as_millis();
                        let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0) + 1000);
                        self.wait(caller, &row.id, wait, &progress).await?
                    }
                    _ => row,
                };
                if row.status.is_pending() {
                    // The wait ended without an answer (the client left or the server stops).
                    return Err(RpcError::new(
                        ErrorCode::INTERNAL_ERROR,
                        "The task is still working; ask again.",
                    ));
                }
                let mut result = tools::result_of(&row);
                result["_meta"] =
                    json!({ "io.modelcontextprotocol/related-task": { "taskId": row.id } });
                Ok(result)
            }
            "tasks/cancel" => {
                let row = self.task_notification(caller, &params).await?;
                if !row.status.is_pending() {
                    return Err(RpcError::invalid_params(format!(
                        "The task is already {}; it cannot be cancelled.",
                        task_status(&row)
                    )));
                }
                let row = notifications::invalidate(
                    &self.app,
                    caller.service_id.clone(),
                    row.id,
                    Some("Cancelled by the agent".to_owned()),
                )
                .await?;
                Ok(task(&row))
            }
            _ => Err(RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("Unknown method `{method}`."),
            )),
        }
    }

    async fn call_tool(
        &self,
        caller: &Sender,
        params: Map<String, Value>,
        out: &mpsc::Sender<Value>,
    ) -> Result<Value, RpcError> {
        let name = match params.get("name") {
            Some(Value::String(name)) => name.clone(),
            _ => return Err(RpcError::invalid_params("`name` must be a tool's name.")),
        };
        if !tools::NAMES.contains(&name.as_str()) {
            return Err(RpcError::invalid_params(format!("Unknown tool: {name}.")));
        }
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) => arguments.clone(),
            Some(_) => return Err(RpcError::invalid_params("`arguments` must be an object.")),
        };
        let as_task = match params.get("task") {
            None | Some(Value::Null) => false,
            Some(Value::Object(_)) if tools::TASK_TOOLS.contains(&name.as_str()) => true,
            Some(Value::Object(_)) => {
                return Err(RpcError::invalid_params(format!(
                    "The tool {name} does not run as a task."
                )));
            }
            Some(_) => return Err(RpcError::invalid_params("`task` must be an object.")),
        };
        let token = progress_token(&params);
        let outcome = tools::call(self, caller, &name, arguments, as_task, token, out).await;
        match outcome {
            Ok(tools::Outcome::Result(result)) => Ok(result),
            Ok(tools::Outcome::Task(row)) => Ok(json!({ "task": task_object(&row) })),
            // The model can read and correct a tool error (the specification's advice for
            // input that breaks the schema); the call still changed nothing.
            Err(ToolError::Input(message)) => Ok(tools::error_result(&message)),
            Err(ToolError::App(e)) if e.kind() != assent_app::Kind::Internal => {
                Ok(tools::error_result(&format!("{} ({})", e, e.code())))
            }
            Err(ToolError::App(e)) => {
                tracing::error!(error = %e, "an MCP tool failed");
                Err(RpcError::new(ErrorCode::INTERNAL_ERROR, "Internal error."))
            }
        }
    }

    /// The notification a `taskId` names, the caller's own only.
    async fn task_notification(
        &self,
        caller: &Sender,
        params: &Map<String, Value>,
    ) -> Result<Notification, RpcError> {
        let Some(Value::String(id)) = params.get("taskId") else {
            return Err(RpcError::invalid_params("`taskId` must be a string."));
        };
        let row = notifications::get_for_service(&self.app, caller.service_id.clone(), id.clone())
            .await
            .map_err(|e| {
                if e.kind() == assent_app::Kind::Internal {
                    RpcError::from(e)
                } else {
                    RpcError::invalid_params("No task has this id.")
                        .with_data(json!({ "code": e.code() }))
                }
            })?;
        if !tools::made_by_mcp(&row) {
            return Err(RpcError::invalid_params("No task has this id."));
        }
        Ok(row)
    }
}

fn reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => {
            let mut error = json!({ "code": e.code.0, "message": e.message });
            if let Some(data) = e.data {
                error["data"] = data;
            }
            json!({ "jsonrpc": "2.0", "id": id, "error": error })
        }
    }
}

fn progress_token(params: &Map<String, Value>) -> Option<Value> {
    params
        .get("_meta")
        .and_then(|meta| meta.get("progressToken"))
        .filter(|token| token.is_string() || token.is_number())
        .cloned()
}

fn initialize(params: &Map<String, Value>) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    // The client's version if this server speaks it, else the newest (the client decides
    // whether it can go on).
    let version = asked
        .filter(|asked| SUPPORTED_VERSIONS.contains(asked))
        .map_or_else(
            || ProtocolVersion::V_2025_11_25.to_string(),
            ToOwned::to_owned,
        );
    json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": false },
            "tasks": { "cancel": {}, "requests": { "tools": { "call": {} } } },
        },
        "serverInfo": { "name": "assent", "title": "assent", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Ask the human who owns this service before acting: request_approval \
            for an exact action (only `approved` means go ahead; a timeout is never an \
            approval), ask_human for an answer, get_decision to look again later.",
    })
}

fn task_status(row: &Notification) -> &'static str {
    match row.status {
        NotificationStatus::Invalidated => "cancelled",
        status if status.is_pending() => "working",
        _ => "completed",
    }
}

/// The 2025-11-25 `Task` of a decision. (rmcp's `Task` is the later shape, `ttlMs` and
/// `pollIntervalMs`, which clients of this version do not read.)
fn task_object(row: &Notification) -> Value {
    let decision = decision(row);
    json!({
        "taskId": row.id,
        "status": task_status(row),
        "statusMessage": format!("The decision is {}.", decision["status"].as_str().unwrap_or("pending")),
        "createdAt": row.created_at,
        "lastUpdatedAt": row.updated_at,
        // Decisions are kept for good: no time-to-live.
        "ttl": null,
        "pollInterval": TASK_POLL_MS,
    })
}

fn task(row: &Notification) -> Value {
    task_object(row)
}
