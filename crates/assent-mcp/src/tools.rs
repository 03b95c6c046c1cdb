//! The tools: their definitions (JSON Schema for every input and output), the checks of
//! their arguments, and what they do.

use std::time::Duration;

use assent_app::notifications::{self, Sender};
use assent_core::Timestamp;
use assent_core::canonical::{canonical_json, digest};
use assent_core::notification::{Notification, validate_notification};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::decision::{Progress, TOOL_KEY, decision};
use crate::protocol::Mcp;

pub(crate) const NAMES: [&str; 4] = [
    "request_approval",
    "get_decision",
    "ask_human",
    "permission_prompt",
];

/// The tools that may run as an MCP task (the client polls instead of holding the call).
pub(crate) const TASK_TOOLS: [&str; 2] = ["request_approval", "ask_human"];

/// The largest action (its canonical JSON) an approval carries: the human must be able to
/// read what they approve, and the notification stores it.
const MAX_ACTION_BYTES: usize = 16 * 1024;
const DEFAULT_WAIT_SECONDS: u64 = 120;
const DEFAULT_EXPIRES_IN: u64 = 3600;
const MAX_EXPIRES_IN: u64 = 30 * 24 * 3600;
/// How long `permission_prompt` waits: Claude Code holds the tool use until it answers.
const PERMISSION_WAIT: Duration = Duration::from_secs(600);
const MAX_CHOICES: usize = 20;
/// `permission_prompt`'s third answer: allow, with the input the owner wrote.
pub(crate) const EDIT_ACTION: &str = "edit";

/// What a call produced.
pub(crate) enum Outcome {
    /// A `CallToolResult`.
    Result(Value),
    /// The notification behind a new task.
    Task(Box<Notification>),
}

/// Why a call did nothing.
#[derive(Debug)]
pub(crate) enum ToolError {
    /// The arguments break the tool's input schema.
    Input(String),
    App(assent_app::Error),
}

impl From<assent_app::Error> for ToolError {
    fn from(e: assent_app::Error) -> Self {
        Self::App(e)
    }
}

fn input(message: impl Into<String>) -> ToolError {
    ToolError::Input(message.into())
}

/// The decision every waiting tool returns.
fn decision_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {
                "type": "string",
                "enum": ["approved", "rejected", "expired", "pending", "answered"],
                "description": "Only `approved` allows the action. `pending`: nobody decided \
                    yet (ask again with get_decision); `expired`: nobody decided in time."
            },
            "decision_id": { "type": "string" },
            "kind": { "type": "string", "enum": ["approval", "question"] },
            "decided_by": { "type": ["string", "null"], "description": "The deciding account's id." },
            "decided_at": { "type": ["string", "null"], "format": "date-time" },
            "comment": { "type": ["string", "null"] },
            "expires_at": { "type": ["string", "null"], "format": "date-time" },
            "action": {
                "type": "object",
                "properties": { "name": { "type": "string" }, "args": {} },
                "description": "The exact action the decision is about."
            },
            "action_digest": {
                "type": "string",
                "description": "sha256 of the RFC 8785 canonical JSON of {name, args}: an \
                    approval is for these exact arguments only."
            },
            "answer": { "description": "ask_human: the human's answer." }
        },
        "required": ["status", "decision_id", "kind", "decided_by", "decided_at", "comment", "expires_at"]
    })
}

fn wait_schema(default: u64) -> Value {
    json!({
        "type": "integer", "minimum": 0, "maximum": 900, "default": default,
        "description": "How long to wait for the human, in seconds (0: do not wait)."
    })
}

fn expires_schema() -> Value {
    json!({
        "type": "integer", "minimum": 60, "maximum": MAX_EXPIRES_IN, "default": DEFAULT_EXPIRES_IN,
        "description": "After this many seconds the request expires undecided."
    })
}

/// The tool list, as `tools/list` returns it. Each definition goes through the SDK's `Tool`,
/// so a shape the protocol does not know fails the unit test.
pub(crate) fn definitions() -> Vec<Value> {
    let tools = [
        json!({
            "name": "request_approval",
            "title": "Request a human's approval",
            "description": "Ask the human who owns this service to approve one exact action \
                before you take it, and wait for the decision. Only status `approved` allows \
                the action, and only with these exact arguments (see action_digest). A \
                timeout is NEVER an approval: `pending` or `expired` means do not act.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "title": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "description": { "type": "string", "minLength": 1, "maxLength": 2000 },
                    "action": {
                        "type": "object",
                        "properties": {
                            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
                            "args": { "description": "The action's arguments, any JSON." }
                        },
                        "required": ["name"],
                        "additionalProperties": false
                    },
                    "risk": { "type": "string", "enum": ["low", "medium", "high", "critical"], "default": "medium" },
                    "irreversible": { "type": "boolean", "default": false },
                    "wait_seconds": wait_schema(DEFAULT_WAIT_SECONDS),
                    "expires_in": expires_schema()
                },
                "required": ["title", "description", "action"],
                "additionalProperties": false
            },
            "outputSchema": decision_schema(),
            "annotations": { "readOnlyHint": false, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true },
            "execution": { "taskSupport": "optional" }
        }),
        json!({
            "name": "get_decision",
            "title": "Look up a decision",
            "description": "The current state of a decision this service asked for (from \
                request_approval or ask_human). Only `approved` allows the action.",
            "inputSchema": {
                "type": "object",
                "properties": { "decision_id": { "type": "string", "minLength": 1, "maxLength": 100 } },
                "required": ["decision_id"],
                "additionalProperties": false
            },
            "outputSchema": decision_schema(),
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        }),
        json!({
            "name": "ask_human",
            "title": "Ask the human a question",
            "description": "Ask the human who owns this service a question and wait for the \
                answer: one of `choices` (several with `multiple`), a number, a yes/no, or a \
                text. `pending` or `expired` means there is no answer.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "question": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "details": { "type": "string", "maxLength": 2000 },
                    "choices": {
                        "type": "array", "items": { "type": "string", "minLength": 1, "maxLength": 100 },
                        "minItems": 2, "maxItems": MAX_CHOICES, "uniqueItems": true
                    },
                    "multiple": { "type": "boolean", "default": false },
                    "answer_type": { "type": "string", "enum": ["choice", "text", "number", "yes_no"],
                        "description": "Defaults to `choice` with choices, else `text`." },
                    "wait_seconds": wait_schema(DEFAULT_WAIT_SECONDS),
                    "expires_in": expires_schema()
                },
                "required": ["question"],
                "additionalProperties": false
            },
            "outputSchema": decision_schema(),
            "annotations": { "readOnlyHint": false, "destructiveHint": false, "openWorldHint": true },
            "execution": { "taskSupport": "optional" }
        }),
        json!({
            "name": "permission_prompt",
            "title": "Permission prompt for Claude Code",
            "description": "For Claude Code's --permission-prompt-tool: asks the owner to \
                allow or deny one tool use and answers in the shape Claude Code expects. \
                Anything but an approval is a deny.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "tool_name": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "input": { "type": "object" },
                    "tool_use_id": { "type": "string", "maxLength": 200 }
                },
                "required": ["tool_name", "input"]
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "behavior": { "type": "string", "enum": ["allow", "deny"] },
                    "updatedInput": { "type": "object" },
                    "message": { "type": "string" }
                },
                "required": ["behavior"]
            },
            "annotations": { "readOnlyHint": false, "destructiveHint": false, "openWorldHint": true }
        }),
    ];
    tools
        .into_iter()
        .inspect(|tool| {
            // The SDK's model drops fields it does not know (`execution`, from 2025-11-25):
            // check the shape through it, and send the definition as written.
            debug_assert!(serde_json::from_value::<Tool>(tool.clone()).is_ok());
        })
        .collect()
}

/// A `CallToolResult` with `structured` as its structured content and text.
fn structured(value: Value) -> Value {
    let mut result = CallToolResult::structured(value);
    // The result-type field belongs to the 2026-07-28 envelope, not to the versions spoken here.
    result.result_type = None;
    serde_json::to_value(result).unwrap_or_else(|_| json!({}))
}

/// A tool error the model can read.
pub(crate) fn error_result(message: &str) -> Value {
    let mut result = CallToolResult::error(vec![ContentBlock::text(message.to_owned())]);
    result.result_type = None;
    serde_json::to_value(result).unwrap_or_else(|_| json!({}))
}

/// The result of a decision's tool call as it now stands.
pub(crate) fn result_of(row: &Notification) -> Value {
    structured(decision(row))
}

/// Whether a tool of this server made the notification.
pub(crate) fn made_by_mcp(row: &Notification) -> bool {
    row.context
        .get("metadata")
        .and_then(|m| m.get(TOOL_KEY))
        .is_some()
}

pub(crate) async fn call(
    mcp: &Mcp,
    caller: &Sender,
    name: &str,
    args: Map<String, Value>,
    as_task: bool,
    token: Option<Value>,
    out: &mpsc::Sender<Value>,
) -> Result<Outcome, ToolError> {
    match name {
        "request_approval" => {
            let request = approval(&args, mcp.options.max_wait)?;
            let row = create(mcp, caller, request.body).await?;
            if as_task {
                return Ok(Outcome::Task(Box::new(row)));
            }
            let progress = Progress {
                token,
                out,
                message: format!("Waiting for a human to approve {}.", request.name),
            };
            let row = mcp.wait(caller, &row.id, request.wait, &progress).await?;
            Ok(Outcome::Result(result_of(&row)))
        }
        "ask_human" => {
            let (body, wait) = question(&args, mcp.options.max_wait)?;
            let row = create(mcp, caller, body).await?;
            if as_task {
                return Ok(Outcome::Task(Box::new(row)));
            }
            let progress = Progress {
                token,
                out,
                message: "Waiting for the human's answer.".to_owned(),
            };
            let row = mcp.wait(caller, &row.id, wait, &progress).await?;
            Ok(Outcome::Result(result_of(&row)))
        }
        "get_decision" => {
            only(&args, &["decision_id"])?;
            let id = text(&args, "decision_id", 1, 100)?
                .ok_or_else(|| input("`decision_id` is required."))?;
            let row =
                notifications::get_for_service(&mcp.app, caller.service_id.clone(), id).await?;
            if !made_by_mcp(&row) {
                return Err(input(
                    "`decision_id` names a notification no MCP tool made; read it with the ATP API.",
                ));
            }
            Ok(Outcome::Result(result_of(&row)))
        }
        "permission_prompt" => {
            let tool_name = text(&args, "tool_name", 1, 200)?
                .ok_or_else(|| input("`tool_name` is required."))?;
            let tool_input = match args.get("input") {
                Some(Value::Object(tool_input)) => Value::Object(tool_input.clone()),
                None => return Err(input("`input` is required.")),
                Some(_) => return Err(input("`input` must be an object.")),
            };
            let tool_use_id = text(&args, "tool_use_id", 0, 200)?;
            let mut approval_args = Map::new();
            approval_args.insert("title".into(), format!("Allow {tool_name}?").into());
            approval_args.insert(
                "description".into(),
                match &tool_use_id {
                    Some(id) => format!("A coding agent wants to use {tool_name} (tool use {id})."),
                    None => format!("A coding agent wants to use {tool_name}."),
                }
                .into(),
            );
            approval_args.insert(
                "action".into(),
                json!({ "name": tool_name, "args": tool_input }),
            );
            let mut request = approval(&approval_args, mcp.options.max_wait)?;
            // Claude Code takes an edited input back: the owner may paste one.
            if let Some(Value::Array(actions)) = request.body.get_mut("actions") {
                actions.insert(
                    1,
                    json!({
                        "id": EDIT_ACTION, "label": "Allow with edited input",
                        "response_type": "text",
                        "constraints": { "placeholder": "The tool's input as a JSON object" },
                    }),
                );
            }
            let row = create(mcp, caller, request.body).await?;
            let progress = Progress {
                token,
                out,
                message: format!("Waiting for the owner to allow {tool_name}."),
            };
            let wait = PERMISSION_WAIT.min(mcp.options.max_wait);
            let row = mcp.wait(caller, &row.id, wait, &progress).await?;
            let decided = decision(&row);
            let edited = row
                .response
                .as_ref()
                .filter(|r| r["action_id"] == EDIT_ACTION)
                .map(|r| {
                    r["response_data"]
                        .as_str()
                        .and_then(|text| serde_json::from_str::<Value>(text).ok())
                        .filter(Value::is_object)
                });
            let answer = if let Some(edited) = edited {
                match edited {
                    Some(input) => json!({ "behavior": "allow", "updatedInput": input }),
                    None => json!({
                        "behavior": "deny",
                        "message": format!(
                            "The owner's edited input for {tool_name} is not a JSON object (decision {}).",
                            row.id
                        ),
                    }),
                }
            } else if decided["status"] == "approved" {
                json!({ "behavior": "allow", "updatedInput": tool_input })
            } else {
                let status = decided["status"].as_str().unwrap_or("pending");
                json!({
                    "behavior": "deny",
                    "message": format!(
                        "The owner did not allow {tool_name} (decision {}: {status}).",
                        row.id
                    ),
                })
            };
            Ok(Outcome::Result(structured(answer)))
        }
        _ => Err(input(format!("Unknown tool: {name}."))),
    }
}

async fn create(
    mcp: &Mcp,
    caller: &Sender,
    body: Map<String, Value>,
) -> Result<Notification, ToolError> {
    let now = Timestamp::now();
    // The ATP checks every notification gets (lengths, deadline, actions).
    let new = validate_notification(&body, now).map_err(|e| input(e.to_string()))?;
    Ok(notifications::send(&mcp.app, caller.clone(), new, now).await?)
}

struct Approval {
    name: String,
    wait: Duration,
    body: Map<String, Value>,
}

/// Checks `request_approval`'s arguments and builds the notification: the action, its
/// canonical JSON and its digest in the metadata the human sees.
fn approval(args: &Map<String, Value>, max_wait: Duration) -> Result<Approval, ToolError> {
    only(
        args,
        &[
            "title",
            "description",
            "action",
            "risk",
            "irreversible",
            "wait_seconds",
            "expires_in",
        ],
    )?;
    let title = text(args, "title", 1, 200)?.ok_or_else(|| input("`title` is required."))?;
    let description =
        text(args, "description", 1, 2000)?.ok_or_else(|| input("`description` is required."))?;
    let action = match args.get("action") {
        Some(Value::Object(action)) => action,
        None => return Err(input("`action` is required.")),
        Some(_) => return Err(input("`action` must be an object {name, args}.")),
    };
    only(action, &["name", "args"]).map_err(|_| input("`action` takes only `name` and `args`."))?;
    let name = text(action, "name", 1, 200)
        .map_err(|_| input("`action.name` must be a string of 1 to 200 characters."))?
        .ok_or_else(|| input("`action.name` is required."))?;
    let action_args = action.get("args").cloned().unwrap_or_else(|| json!({}));
    let bound = json!({ "name": name, "args": action_args });
    let arguments = canonical_json(&action_args);
    if canonical_json(&bound).len() > MAX_ACTION_BYTES {
        return Err(input(format!(
            "`action` is too large: at most {MAX_ACTION_BYTES} bytes of canonical JSON."
        )));
    }
    let risk = match args.get("risk") {
        None | Some(Value::Null) => "medium",
        Some(Value::String(risk))
            if ["low", "medium", "high", "critical"].contains(&risk.as_str()) =>
        {
            risk.as_str()
        }
        Some(_) => return Err(input("`risk` must be one of low, medium, high, critical.")),
    };
    let irreversible = match args.get("irreversible") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(input("`irreversible` must be a boolean.")),
    };
    let wait = wait_seconds(args, max_wait)?;
    let expires_in = expires_in(args)?;
    let mut approve = json!({ "id": "approve", "label": "Approve", "response_type": "simple" });
    if irreversible {
        approve["flags"] = json!(["irreversible"]);
    }
    let body = json!({
        "deadline": Timestamp::now().plus_millis(expires_in as i64 * 1000).to_rfc3339(),
        "context": {
            "title": title,
            "description": description,
            "metadata": {
                TOOL_KEY: "request_approval",
                "action": name,
                "arguments": arguments,
                "action_digest": digest(&bound),
                "risk": risk,
                "irreversible": irreversible,
            },
        },
        "actions": [approve, { "id": "reject", "label": "Reject", "response_type": "simple" }],
    });
    let Value::Object(body) = body else {
        unreachable!("a JSON object literal")
    };
    Ok(Approval { name, wait, body })
}

/// Checks `ask_human`'s arguments and builds the notification.
fn question(
    args: &Map<String, Value>,
    max_wait: Duration,
) -> Result<(Map<String, Value>, Duration), ToolError> {
    only(
        args,
        &[
            "question",
            "details",
            "choices",
            "multiple",
            "answer_type",
            "wait_seconds",
            "expires_in",
        ],
    )?;
    let question =
        text(args, "question", 1, 200)?.ok_or_else(|| input("`question` is required."))?;
    let details = text(args, "details", 0, 2000)?.unwrap_or_else(|| question.clone());
    let choices = match args.get("choices") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut choices: Vec<String> = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() && s.chars().count() <= 100 => {
                        if choices.contains(s) {
                            return Err(input("`choices` must be unique."));
                        }
                        choices.push(s.clone());
                    }
                    _ => {
                        return Err(input("`choices` must be strings of 1 to 100 characters."));
                    }
                }
            }
            if !(2..=MAX_CHOICES).contains(&choices.len()) {
                return Err(input(format!(
                    "`choices` must have 2 to {MAX_CHOICES} items."
                )));
            }
            Some(choices)
        }
        Some(_) => return Err(input("`choices` must be an array of strings.")),
    };
    let multiple = match args.get("multiple") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(input("`multiple` must be a boolean.")),
    };
    let answer_type = match args.get("answer_type") {
        None | Some(Value::Null) => {
            if choices.is_some() {
                "choice"
            } else {
                "text"
            }
        }
        Some(Value::String(t)) if ["choice", "text", "number", "yes_no"].contains(&t.as_str()) => {
            t.as_str()
        }
        Some(_) => {
            return Err(input(
                "`answer_type` must be one of choice, text, number, yes_no.",
            ));
        }
    };
    let mut action = json!({ "id": "answer", "label": "Answer" });
    match (answer_type, &choices) {
        ("choice", Some(choices)) => {
            let options: Vec<Value> = choices
                .iter()
                .map(|c| json!({ "value": c, "label": c }))
                .collect();
            action["response_type"] = if multiple { "multi_choice" } else { "choice" }.into();
            action["options"] = options.into();
            if multiple {
                action["constraints"] =
                    json!({ "min_selections": 1, "max_selections": choices.len() });
            }
        }
        ("choice", None) => return Err(input("`answer_type` choice needs `choices`.")),
        (_, Some(_)) => return Err(input("`choices` go with `answer_type` choice only.")),
        ("number", None) => action["response_type"] = "number".into(),
        ("yes_no", None) => {
            action["response_type"] = "binary".into();
            action["options"] = json!({ "true_label": "Yes", "false_label": "No" });
        }
        _ => action["response_type"] = "text".into(),
    }
    let wait = wait_seconds(args, max_wait)?;
    let expires_in = expires_in(args)?;
    let body = json!({
        "deadline": Timestamp::now().plus_millis(expires_in as i64 * 1000).to_rfc3339(),
        "context": {
            "title": question,
            "description": details,
            "metadata": { TOOL_KEY: "ask_human" },
        },
        "actions": [action],
    });
    let Value::Object(body) = body else {
        unreachable!("a JSON object literal")
    };
    Ok((body, wait))
}

/// Refuses arguments the schema does not name (`additionalProperties: false`).
fn only(args: &Map<String, Value>, known: &[&str]) -> Result<(), ToolError> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(input(format!(
            "Unknown argument `{unknown}`; the arguments are: {}.",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// An optional string argument of `min..=max` characters (trimmed).
fn text(
    args: &Map<String, Value>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>, ToolError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            let count = s.chars().count();
            if count < min.max(1) && min > 0 {
                return Err(input(format!("`{field}` must not be empty.")));
            }
            if count > max {
                return Err(input(format!(
                    "`{field}` must be at most {max} characters."
                )));
            }
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
        Some(_) => Err(input(format!("`{field}` must be a string."))),
    }
}

fn integer(args: &Map<String, Value>, field: &str) -> Result<Option<u64>, ToolError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| input(format!("`{field}` must be a whole number of seconds."))),
    }
}

fn wait_seconds(args: &Map<String, Value>, max_wait: Duration) -> Result<Duration, ToolError> {
    let seconds = integer(args, "wait_seconds")?.unwrap_or(DEFAULT_WAIT_SECONDS);
    if seconds > max_wait.as_secs() {
        return Err(input(format!(
            "`wait_seconds` must be at most {}.",
            max_wait.as_secs()
        )));
    }
    Ok(Duration::from_secs(seconds))
}

fn expires_in(args: &Map<String, Value>) -> Result<u64, ToolError> {
    let seconds = integer(args, "expires_in")?.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(60..=MAX_EXPIRES_IN).contains(&seconds) {
        return Err(input(format!(
            "`expires_in` must be between 60 and {MAX_EXPIRES_IN} seconds."
        )));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_a_tool_of_the_sdk_model() {
        for tool in definitions() {
            let parsed: Tool = serde_json::from_value(tool.clone()).unwrap();
            assert!(NAMES.contains(&parsed.name.as_ref()));
            assert!(parsed.output_schema.is_some(), "{}", parsed.name);
        }
    }

    #[test]
    fn an_approval_is_bound_to_the_canonical_json_of_its_action() {
        let args = |a: Value| {
            let Value::Object(map) = json!({
                "title": "Deploy", "description": "Deploy to production", "action": a,
            }) else {
                unreachable!()
            };
            map
        };
        let one = approval(
            &args(json!({"name": "deploy", "args": {"b": 1, "a": [1, 2]}})),
            Duration::from_secs(900),
        )
        .unwrap();
        let same = approval(
            &args(json!({"name": "deploy", "args": {"a": [1, 2], "b": 1}})),
            Duration::from_secs(900),
        )
        .unwrap();
        let other = approval(
            &args(json!({"name": "deploy", "args": {"a": [1, 2], "b": 2}})),
            Duration::from_secs(900),
        )
        .unwrap();
        let digest_of = |a: &Approval| a.body["context"]["metadata"]["action_digest"].clone();
        assert_eq!(digest_of(&one), digest_of(&same));
        assert_ne!(digest_of(&one), digest_of(&other));
        assert_eq!(
            digest_of(&one),
            json!(digest(
                &json!({"name": "deploy", "args": {"a": [1, 2], "b": 1}})
            ))
        );
        assert_eq!(
            one.body["context"]["metadata"]["arguments"],
            json!(r#"{"a":[1,2],"b":1}"#)
        );
    }

    #[test]
    fn arguments_outside_the_schema_are_refused() {
        let refuse = |a: Value| {
            let Value::Object(map) = a else {
                unreachable!()
            };
            approval(&map, Duration::from_secs(900))
                .err()
                .map(|e| format!("{e:?}"))
        };
        let base = json!({"title": "t", "description": "d", "action": {"name": "x"}});
        assert!(refuse(base.clone()).is_none());
        for (field, value) in [
            ("title", json!(3)),
            ("action", json!("deploy")),
            ("risk", json!("extreme")),
            ("irreversible", json!("yes")),
            ("wait_seconds", json!(-1)),
            ("wait_seconds", json!(901)),
            ("expires_in", json!(5)),
            ("surprise", json!(true)),
        ] {
            let mut bad = base.clone();
            bad[field] = value;
            assert!(refuse(bad).is_some(), "{field}");
        }
        let mut huge = base.clone();
        huge["action"]["args"] = json!("x".repeat(MAX_ACTION_BYTES));
        assert!(refuse(huge).unwrap().contains("too large"));
    }
}
