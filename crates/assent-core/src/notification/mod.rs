//! ATP notifications: a service asks the owner of its namespace which of some actions to take.
//! The notification's shape and its validation, the response types and how a response is
//! checked, and the lifecycle between the states.
//!
//! Validation reads the request body as a JSON value, not a typed struct, so that every
//! problem can be named by its path (`actions[1].options`) and classified into the ATP error
//! codes: a missing top-level field, an unknown response type, a malformed action, a value of
//! the wrong type, or a broken constraint.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;

/// The protocol version every notification carries.
pub const PROTOCOL_VERSION: &str = "1.0";

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
pub const PROJECT_MAX_CHARS: usize = 100;
pub const ACTION_ID_MAX_CHARS: usize = 64;
pub const LABEL_MAX_CHARS: usize = 200;
pub const MAX_ACTIONS: usize = 20;
pub const MAX_OPTIONS: usize = 100;
pub const MAX_ATTACHMENTS: usize = 20;

/// Where a notification stands (ATP lifecycle). `created`, `delivered` and `acknowledged` are
/// *pending*: they await a response. The rest are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Accepted and stored.
    Created,
    /// Reached a client of its user (pushed or fetched).
    Delivered,
    /// The user has seen it.
    Acknowledged,
    /// The user answered.
    Responded,
    /// Reserved by ATP; assent never moves a notification here.
    Completed,
    /// Its deadline passed unanswered.
    Expired,
    /// Its service withdrew it.
    Invalidated,
}

impl NotificationStatus {
    pub const ALL: [Self; 7] = [
        Self::Created,
        Self::Delivered,
        Self::Acknowledged,
        Self::Responded,
        Self::Completed,
        Self::Expired,
        Self::Invalidated,
    ];

    /// The states that await a response (the `pending` filter).
    pub const PENDING: [Self; 3] = [Self::Created, Self::Delivered, Self::Acknowledged];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Delivered => "delivered",
            Self::Acknowledged => "acknowledged",
            Self::Responded => "responded",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Invalidated => "invalidated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub const fn is_pending(self) -> bool {
        matches!(self, Self::Created | Self::Delivered | Self::Acknowledged)
    }

    /// The states a move to `self` may start from. Forward moves may skip steps
    /// (`created → responded`); expiry and invalidation end only a pending notification.
    pub const fn reachable_from(self) -> &'static [Self] {
        match self {
            Self::Delivered => &[Self::Created],
            Self::Acknowledged => &[Self::Created, Self::Delivered],
            Self::Responded | Self::Expired | Self::Invalidated => &Self::PENDING,
            Self::Created | Self::Completed => &[],
        }
    }
}

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a `status` filter: a comma-separated list of states, where `pending` stands for
/// the three pending states. Returns the states (deduplicated) or the first unknown name.
pub fn parse_status_filter(text: &str) -> Result<Vec<NotificationStatus>, String> {
    let mut states = Vec::new();
    for name in text.split(',').map(str::trim) {
        let named = if name == "pending" {
            NotificationStatus::PENDING.to_vec()
        } else {
            vec![NotificationStatus::parse(name).ok_or_else(|| name.to_owned())?]
        };
        for status in named {
            if !states.contains(&status) {
                states.push(status);
            }
        }
    }
    Ok(states)
}

/// How the user answers an action, and what `response_data` must then be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// Choosing the action is the answer; `response_data` is `null`.
    Simple,
    /// A boolean; `options` holds `true_label` and `false_label`.
    Binary,
    /// One option's `value`.
    Choice,
    /// An array of option `value`s, within `min_selections`..=`max_selections`.
    MultiChoice,
    /// A string, within `min_length`..=`max_length` characters.
    Text,
    /// A number, within `min`..=`max`, whole when `integer` is true.
    Number,
}

impl ResponseType {
    pub const ALL: [Self; 6] = [
        Self::Simple,
        Self::Binary,
        Self::Choice,
        Self::MultiChoice,
        Self::Text,
        Self::Number,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Binary => "binary",
            Self::Choice => "choice",
            Self::MultiChoice => "multi_choice",
            Self::Text => "text",
            Self::Number => "number",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// One action of a notification, as validated and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    pub label: String,
    pub response_type: ResponseType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Value>,
}

/// A notification that passed every rule that needs no database.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The service's own id for it (a UUID, lowercased), if it sent one.
    pub id: Option<String>,
    pub timestamp: Timestamp,
    pub deadline: Option<Timestamp>,
    /// `title`, `description` and whichever of `project`, `metadata`, `attachments` were given.
    pub context: Map<String, Value>,
    pub project: Option<String>,
    pub actions: Vec<Action>,
}

/// Why a notification body is refused. Each variant is one ATP error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationError {
    /// 400 `MISSING_REQUIRED_FIELD`.
    Missing { field: String },
    /// 400 `INVALID_PARAMETER`: wrong JSON type or unreadable value.
    Invalid { field: String, reason: String },
    /// 400 `INVALID_RESPONSE_TYPE`.
    ResponseType { field: String, value: String },
    /// 400 `MALFORMED_ACTION`: an action definition is incomplete or invalid.
    MalformedAction { field: String, reason: String },
    /// 422 `CONSTRAINT_VIOLATION`: a well-formed value breaks a limit.
    Constraint { field: String, reason: String },
}

impl NotificationError {
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field }
            | Self::Invalid { field, .. }
            | Self::ResponseType { field, .. }
            | Self::MalformedAction { field, .. }
            | Self::Constraint { field, .. } => field,
        }
    }
}

impl fmt::Display for NotificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { field } => write!(f, "the field `{field}` is required"),
            Self::Invalid { field, reason }
            | Self::MalformedAction { field, reason }
            | Self::Constraint { field, reason } => write!(f, "the field `{field}` {reason}"),
            Self::ResponseType { field, value } => write!(
                f,
                "the field `{field}` names the unknown response type `{value}`; use one of \
                 simple, binary, choice, multi_choice, text, number"
            ),
        }
    }
}

impl std::error::Error for NotificationError {}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn malformed(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::MalformedAction {
        field: field.into(),
        reason: reason.into(),
    }
}

fn constraint(field: impl Into<String>, reason: impl Into<String>) -> NotificationError {
    NotificationError::Constraint {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A present, non-null value of `object[key]`.
fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A required, non-blank string, trimmed; `Missing` when absent, null or blank.
fn required_text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, NotificationError> {
    match get(object, key) {
        None => Err(NotificationError::Missing {
            field: path.to_owned(),
        }),
        Some(Value::String(s)) if s.trim().is_empty() => Err(NotificationError::Missing {
            field: path.to_owned(),
        }),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(_) => Err(invalid(path, "must be a string")),
    }
}

fn optional_text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, NotificationError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid(path, "must be a string")),
    }
}

fn max_chars(path: &str, text: &str, max: usize) -> Result<(), NotificationError> {
    if text.chars().count() > max {
        return Err(constraint(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn time_field(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<Timestamp>, NotificationError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Timestamp::parse_rfc3339(s.trim()).map(Some).ok_or_else(|| {
            invalid(
                key,
                "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z",
            )
        }),
        Some(_) => Err(invalid(key, "must be an RFC 3339 date-time string")),
    }
}

/// `8-4-4-4-12` hexadecimal digits, any version; returned lowercased.
pub fn parse_uuid(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then(|| text.to_ascii_lowercase())
}

/// Validates a notification body sent by a service at `now`.
pub fn validate_notification(
    body: &Map<String, Value>,
    now: Timestamp,
) -> Result<NewNotification, NotificationError> {
    // Required fields first, in the documented order, so the first missing one is named.
    let context = match get(body, "context") {
        None => {
            return Err(NotificationError::Missing {
                field: "context".into(),
            });
        }
        Some(Value::Object(context)) => context,
        Some(_) => return Err(invalid("context", "must be an object")),
    };
    let title = required_text(context, "title", "context.title")?;
    let description = required_text(context, "description", "context.description")?;
    let actions = match get(body, "actions") {
        None => {
            return Err(NotificationError::Missing {
                field: "actions".into(),
            });
        }
        Some(Value::Array(actions)) => actions,
        Some(_) => return Err(invalid("actions", "must be an array")),
    };

    let id = match get(body, "id") {
        None => None,
        Some(Value::String(s)) => {
            Some(parse_uuid(s.trim()).ok_or_else(|| invalid("id", "must be a UUID"))?)
        }
        Some(_) => return Err(invalid("id", "must be a UUID string")),
    };
    match get(body, "version") {
        None => {}
        Some(Value::String(v)) if v == PROTOCOL_VERSION => {}
        Some(_) => {
            return Err(invalid(
                "version",
                format!("must be \"{PROTOCOL_VERSION}\", the protocol version this server speaks"),
            ));
        }
    }
    let timestamp = time_field(body, "timestamp")?.unwrap_or(now);
    let deadline = time_field(body, "deadline")?;
    if let Some(deadline) = deadline {
        if deadline <= now {
            return Err(constraint("deadline", "is in the past"));
        }
        if deadline < timestamp {
            return Err(constraint("deadline", "is earlier than `timestamp`"));
        }
    }

    max_chars("context.title", &title, TITLE_MAX_CHARS)?;
    max_chars("context.description", &description, DESCRIPTION_MAX_CHARS)?;
    let mut checked = Map::new();
    checked.insert("title".into(), title.into());
    checked.insert("description".into(), description.into());
    let project = optional_text(context, "project", "context.project")?;
    if let Some(project) = &project {
        max_chars("context.project", project, PROJECT_MAX_CHARS)?;
        checked.insert("project".into(), project.clone().into());
    }
    match get(context, "metadata") {
        None => {}
        Some(metadata @ Value::Object(_)) => {
            checked.insert("metadata".into(), metadata.clone());
        }
        Some(_) => return Err(invalid("context.metadata", "must be an object")),
    }
    if let Some(attachments) = get(context, "attachments") {
        checked.insert("attachments".into(), validate_attachments(attachments)?);
    }

    if actions.is_empty() {
        return Err(malformed("actions", "must hold at least one action"));
    }
    if actions.len() > MAX_ACTIONS {
        return Err(constraint(
            "actions",
            format!("may hold at most {MAX_ACTIONS} actions"),
        ));
    }
    let mut seen = HashSet::new();
    let actions = actions
        .iter()
        .enumerate()
        .map(|(i, action)| {
            let path = format!("actions[{i}]");
            let action = validate_action(action, &path)?;
            if !seen.insert(action.id.clone()) {
                return Err(malformed(
                    format!("{path}.id"),
                    format!("repeats the action id `{}`", action.id),
                ));
            }
            Ok(action)
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(NewNotification {
        id,
        timestamp,
        deadline,
        context: checked,
        project,
        actions,
    })
}

fn validate_attachments(value: &Value) -> Result<Value, NotificationError> {
    let Value::Array(items) = value else {
        return Err(invalid("context.attachments", "must be an array"));
    };
    if items.len() > MAX_ATTACHMENTS {
        return Err(constraint(
            "context.attachments",
            format!("may hold at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("context.attachments[{i}]");
        let Value::Object(item) = item else {
            return Err(invalid(path, "must be an object"));
        };
        let mut out = Map::new();
        out.insert(
            "type".into(),
            required_text(item, "type", &format!("{path}.type"))?.into(),
        );
        if let Some(description) =
            optional_text(item, "description", &format!("{path}.description"))?
        {
            out.insert("description".into(), description.into());
        }
        let uri = optional_text(item, "uri", &format!("{path}.uri"))?;
        let data = optional_text(item, "data", &format!("{path}.data"))?;
        match (uri, data) {
            (Some(uri), None) => {
                let parsed = url::Url::parse(&uri)
                    .map_err(|_| invalid(format!("{path}.uri"), "must be an absolute URL"))?;
                if !matches!(parsed.scheme(), "https" | "http") {
                    return Err(invalid(
                        format!("{path}.uri"),
                        "must be an http or https URL",
                    ));
                }
                out.insert("uri".into(), uri.into());
            }
            (None, Some(data)) => {
                let base64 = data.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                });
                if !base64 {
                    return Err(invalid(format!("{path}.data"), "must be base64"));
                }
                out.insert("data".into(), data.into());
            }
            _ => {
                return Err(invalid(path, "must have exactly one of `uri` and `data`"));
            }
        }
        checked.push(Value::Object(out));
    }
    Ok(Value::Array(checked))
}

fn validate_action(value: &Value, path: &str) -> Result<Action, NotificationError> {
    let Value::Object(action) = value else {
        return Err(malformed(path, "must be an object"));
    };
    let text = |key: &str| -> Result<String, NotificationError> {
        let field = format!("{path}.{key}");
        match get(action, key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(Value::String(_)) | None => Err(malformed(field, "is required")),
            Some(_) => Err(malformed(field, "must be a string")),
        }
    };
    let id = text("id")?;
    if id.chars().count() > ACTION_ID_MAX_CHARS {
        return Err(malformed(
            format!("{path}.id"),
            format!("must be at most {ACTION_ID_MAX_CHARS} characters"),
        ));
    }
    let label = text("label")?;
    if label.chars().count() > LABEL_MAX_CHARS {
        return Err(malformed(
            format!("{path}.label"),
            format!("must be at most {LABEL_MAX_CHARS} characters"),
        ));
    }
    let type_name = text("response_type")?;
    let response_type =
        ResponseType::parse(&type_name).ok_or_else(|| NotificationError::ResponseType {
            field: format!("{path}.response_type"),
            value: type_name.clone(),
        })?;
    let flags = match get(action, "flags") {
        None => Vec::new(),
        Some(Value::Array(flags)) => flags
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed(format!("{path}.flags"), "must be an array of strings"))?,
        Some(_) => {
            return Err(malformed(
                format!("{path}.flags"),
                "must be an array of strings",
            ));
        }
    };
    let constraints = match get(action, "constraints") {
        None => None,
        Some(Value::Object(c)) => Some(c),
        Some(_) => {
            return Err(malformed(
                format!("{path}.constraints"),
                "must be an object",
            ));
        }
    };
    let options = get(action, "options");
    let options_path = format!("{path}.options");
    let constraints_path = format!("{path}.constraints");

    let options = match response_type {
        ResponseType::Binary => Some(binary_options(options, &options_path)?),
        ResponseType::Choice | ResponseType::MultiChoice => {
            Some(choice_options(options, &options_path)?)
        }
        ResponseType::Simple | ResponseType::Text | ResponseType::Number => None,
    };
    if let Some(constraints) = constraints {
        check_constraints(
            response_type,
            constraints,
            options.as_ref(),
            &constraints_path,
        )?;
    }
    Ok(Action {
        id,
        label,
        response_type,
        flags,
        options,
        constraints: constraints.map(|c| Value::Object(c.clone())),
    })
}

fn binary_options(options: Option<&Value>, path: &str) -> Result<Value, NotificationError> {
    let Some(Value::Object(options)) = options else {
        return Err(malformed(
            path,
            "must be an object with `true_label` and `false_label`",
        ));
    };
    let mut out = Map::new();
    for key in ["true_label", "false_label"] {
        match get(options, key) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                out.insert(key.into(), s.trim().into());
            }
            _ => return Err(malformed(format!("{path}.{key}"), "is required (a string)")),
        }
    }
    Ok(Value::Object(out))
}

fn choice_options(options: Option<&Value>, path: &str) -> Result<Value, NotificationError> {
    let Some(Value::Array(items)) = options else {
        return Err(malformed(
            path,
            "must be an array of `{value, label}` objects",
        ));
    };
    if items.is_empty() {
        return Err(malformed(path, "must hold at least one option"));
    }
    if items.len() > MAX_OPTIONS {
        return Err(malformed(
            path,
            format!("may hold at most {MAX_OPTIONS} options"),
        ));
    }
    let mut values = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Value::Object(item) = item else {
            return Err(malformed(
                item_path,
                "must be an object with `value` and `label`",
            ));
        };
        let mut option = Map::new();
        for key in ["value", "label"] {
            match get(item, key) {
                Some(Value::String(s)) if !s.is_empty() => {
                    option.insert(key.into(), s.clone().into());
                }
                _ => {
                    return Err(malformed(
                        format!("{item_path}.{key}"),
                        "is required (a string)",
                    ));
                }
            }
        }
        let value = option["value"].as_str().unwrap_or_default().to_owned();
        if !values.insert(value.clone()) {
            return Err(malformed(
                format!("{item_path}.value"),
                format!("repeats the option value `{value}`"),
            ));
        }
        out.push(Value::Object(option));
    }
    Ok(Value::Array(out))
}

/// A constraint that must be a whole number ≥ 0, if present.
fn count(
    constraints: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, NotificationError> {
    match get(constraints, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| malformed(format!("{path}.{key}"), "must be a whole number ≥ 0")),
    }
}

fn bound(
    constraints: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, NotificationError> {
    match get(constraints, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| malformed(format!("{path}.{key}"), "must be a number")),
    }
}

fn check_constraints(
    response_type: ResponseType,
    constraints: &Map<String, Value>,
    options: Option<&Value>,
    path: &str,
) -> Result<(), NotificationError> {
    match response_type {
        ResponseType::MultiChoice => {
            let min = count(constraints, "min_selections", path)?;
            let max = count(constraints, "max_selections", path)?;
            let available = options.and_then(Value::as_array).map_or(0, Vec::len) as u64;
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(malformed(
                    path,
                    "has `min_selections` above `max_selections`",
                ));
            }
            if min.is_some_and(|min| min > available) {
                return Err(malformed(
                    format!("{path}.min_selections"),
                    "is more than there are options",
                ));
            }
        }
        ResponseType::Text => {
            let min = count(constraints, "min_length", path)?;
            let max = count(constraints, "max_length", path)?;
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(malformed(path, "has `min_length` above `max_length`"));
            }
            if get(constraints, "placeholder").is_some_and(|p| !p.is_string()) {
                return Err(malformed(format!("{path}.placeholder"), "must be a string"));
            }
        }
        ResponseType::Number => {
            let min = bound(constraints, "min", path)?;
            let max = bound(constraints, "max", path)?;
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(malformed(path, "has `min` above `max`"));
            }
            if get(constraints, "integer").is_some_and(|i| !i.is_boolean()) {
                return Err(malformed(format!("{path}.integer"), "must be a boolean"));
            }
        }
        ResponseType::Simple | ResponseType::Binary | ResponseType::Choice => {}
    }
    Ok(())
}

/// Why a response's data does not fit its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// 400 `INVALID_RESPONSE_DATA`: the wrong JSON type for the response type.
    WrongType(String),
    /// 422 `CONSTRAINT_VIOLATION`: the right type, but outside the action's limits or options.
    Constraint(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongType(why) | Self::Constraint(why) => f.write_str(why),
        }
    }
}

impl Action {
    fn constraint(&self, key: &str) -> Option<&Value> {
        self.constraints
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|c| get(c, key))
    }

    fn option_values(&self) -> Vec<&str> {
        self.options
            .as_ref()
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|o| o.get("value").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks a user's `response_data` for this action (`null` when it was left out).
    pub fn check_response(&self, data: &Value) -> Result<(), ResponseError> {
        use ResponseError::{Constraint, WrongType};
        match self.response_type {
            ResponseType::Simple if data.is_null() => Ok(()),
            ResponseType::Simple => Err(WrongType(
                "a simple action takes no response_data: send null".into(),
            )),
            ResponseType::Binary if data.is_boolean() => Ok(()),
            ResponseType::Binary => Err(WrongType(
                "a binary action takes a boolean response_data".into(),
            )),
            ResponseType::Choice => {
                let Some(choice) = data.as_str() else {
                    return Err(WrongType(
                        "a choice action takes one option value (a string)".into(),
                    ));
                };
                if self.option_values().contains(&choice) {
                    Ok(())
                } else {
                    Err(Constraint(format!("`{choice}` is not one of the options")))
                }
            }
            ResponseType::MultiChoice => {
                let chosen = data
                    .as_array()
                    .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        WrongType(
                            "a multi_choice action takes an array of option values (strings)"
                                .into(),
                        )
                    })?;
                let options = self.option_values();
                if let Some(unknown) = chosen.iter().find(|c| !options.contains(c)) {
                    return Err(Constraint(format!("`{unknown}` is not one of the options")));
                }
                if chosen.iter().collect::<HashSet<_>>().len() != chosen.len() {
                    return Err(Constraint("an option is chosen more than once".into()));
                }
                let n = chosen.len() as u64;
                let min = self
                    .constraint("min_selections")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let max = self.constraint("max_selections").and_then(Value::as_u64);
                if n < min {
                    return Err(Constraint(format!("choose at least {min} options")));
                }
                if let Some(max) = max
                    && n > max
                {
                    return Err(Constraint(format!("choose at most {max} options")));
                }
                Ok(())
            }
            ResponseType::Text => {
                let Some(text) = data.as_str() else {
                    return Err(WrongType("a text action takes a string".into()));
                };
                let n = text.chars().count() as u64;
                if let Some(min) = self.constraint("min_length").and_then(Value::as_u64)
                    && n < min
                {
                    return Err(Constraint(format!(
                        "the text must be at least {min} characters"
                    )));
                }
                if let Some(max) = self.constraint("max_length").and_then(Value::as_u64)
                    && n > max
                {
                    return Err(Constraint(format!(
                        "the text must be at most {max} characters"
                    )));
                }
                Ok(())
            }
            ResponseType::Number => {
                let Some(number) = data.as_f64() else {
                    return Err(WrongType("a number action takes a JSON number".into()));
                };
                if let Some(min) = self.constraint("min").and_then(Value::as_f64)
                    && number < min
                {
                    return Err(Constraint(format!("the number must be at least {min}")));
                }
                if let Some(max) = self.constraint("max").and_then(Value::as_f64)
                    && number > max
                {
                    return Err(Constraint(format!("the number must be at most {max}")));
                }
                let integer = self
                    .constraint("integer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if integer && number.fract() != 0.0 {
                    return Err(Constraint("the number must be whole".into()));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_795_860_000_000); // 2026-11-28T10:00:00Z

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test bodies are objects"),
        }
    }

    fn minimal() -> Value {
        json!({
            "context": {"title": "Deploy?", "description": "Release 1.2 is ready."},
            "actions": [{"id": "go", "label": "Deploy", "response_type": "simple"}],
        })
    }

    /// `base` with the value at `pointer` set (the last step may be a new key).
    fn with(mut base: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
        match base.pointer_mut(parent).expect("the parent exists") {
            Value::Object(object) => {
                object.insert(key.to_owned(), value);
            }
            other => {
                *other
                    .get_mut(key.parse::<usize>().expect("an index"))
                    .expect("in range") = value
            }
        }
        base
    }

    fn error_of(value: Value) -> NotificationError {
        validate_notification(&body(value), NOW).expect_err("refused")
    }

    #[test]
    fn a_minimal_notification_gets_defaults() {
        let n = validate_notification(&body(minimal()), NOW).unwrap();
        assert_eq!(n.id, None);
        assert_eq!(n.timestamp, NOW);
        assert_eq!(n.deadline, None);
        assert_eq!(n.project, None);
        assert_eq!(n.actions[0].response_type, ResponseType::Simple);
        assert_eq!(
            Value::Object(n.context),
            json!({"title": "Deploy?", "description": "Release 1.2 is ready."})
        );
    }

    #[test]
    fn the_canonical_example_is_accepted_whole() {
        let example = json!({
            "id": "550E8400-E29B-41D4-A716-446655440000",
            "version": "1.0",
            "timestamp": "2026-11-28T09:59:00Z",
            "deadline": "2026-11-28T11:00:00Z",
            "priority": "high",
            "context": {
                "title": "Refactor?", "description": "d", "project": "lovelace",
                "metadata": {"files": 3, "branch": "main"},
                "attachments": [
                    {"type": "text/plain", "uri": "https://example.com/diff"},
                    {"type": "text/plain", "data": "aGVsbG8=", "description": "inline"}
                ]
            },
            "actions": [
                {"id": "approve", "label": "Approve", "response_type": "simple", "flags": ["irreversible"]},
                {"id": "ok", "label": "OK?", "response_type": "binary",
                 "options": {"true_label": "Yes", "false_label": "No"}},
                {"id": "pick", "label": "Pick", "response_type": "choice",
                 "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
                {"id": "many", "label": "Many", "response_type": "multi_choice",
                 "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
                 "constraints": {"min_selections": 1, "max_selections": 2}},
                {"id": "why", "label": "Why", "response_type": "text",
                 "constraints": {"placeholder": "…", "max_length": 20}},
                {"id": "n", "label": "How many", "response_type": "number",
                 "constraints": {"min": 1, "max": 10, "integer": true}}
            ]
        });
        let n = validate_notification(&body(example), NOW).unwrap();
        assert_eq!(
            n.id.as_deref(),
            Some("550e8400-e29b-41d4-a716-446655440000")
        );
        assert_eq!(n.deadline, Some(NOW.plus_millis(3_600_000)));
        assert_eq!(n.project.as_deref(), Some("lovelace"));
        assert_eq!(n.actions.len(), 6);
        assert_eq!(n.actions[0].flags, ["irreversible"]);
    }

    #[test]
    fn required_fields_are_named_in_order() {
        let cases = [
            (json!({"actions": []}), "context"),
            (
                with(minimal(), "/context/title", json!("  ")),
                "context.title",
            ),
            (
                with(minimal(), "/context/description", Value::Null),
                "context.description",
            ),
            (with(minimal(), "/actions", Value::Null), "actions"),
        ];
        for (value, field) in cases {
            assert_eq!(
                error_of(value),
                NotificationError::Missing {
                    field: field.into()
                }
            );
        }
    }

    #[test]
    fn wrong_types_are_invalid_parameters() {
        let cases = [
            (with(minimal(), "/context", json!("x")), "context"),
            (with(minimal(), "/actions", json!({})), "actions"),
            (with(minimal(), "/context/title", json!(5)), "context.title"),
            (
                with(minimal(), "/context/metadata", json!([1])),
                "context.metadata",
            ),
            (
                with(minimal(), "/context/project", json!(1)),
                "context.project",
            ),
        ];
        for (value, field) in cases {
            let e = error_of(value);
            assert!(matches!(e, NotificationError::Invalid { .. }), "{e:?}");
            assert_eq!(e.field(), field);
        }
        let mut b = minimal();
        b["id"] = json!("not-a-uuid");
        assert_eq!(error_of(b).field(), "id");
        let mut b = minimal();
        b["version"] = json!("2.0");
        assert_eq!(error_of(b).field(), "version");
        let mut b = minimal();
        b["deadline"] = json!("tomorrow");
        assert_eq!(error_of(b).field(), "deadline");
        let mut b = minimal();
        b["timestamp"] = json!(12);
        assert_eq!(error_of(b).field(), "timestamp");
    }

    #[test]
    fn deadlines_must_lie_ahead() {
        let mut b = minimal();
        b["deadline"] = json!("2026-11-28T09:00:00Z");
        assert!(matches!(error_of(b), NotificationError::Constraint { .. }));
        let mut b = minimal();
        b["timestamp"] = json!("2026-11-28T12:00:00Z");
        b["deadline"] = json!("2026-11-28T11:00:00Z");
        assert!(matches!(error_of(b), NotificationError::Constraint { .. }));
    }

    #[test]
    fn long_text_breaks_a_constraint() {
        let e = error_of(with(minimal(), "/context/title", json!("x".repeat(201))));
        assert!(matches!(e, NotificationError::Constraint { .. }));
    }

    #[test]
    fn unknown_response_types_are_their_own_error() {
        let e = error_of(with(minimal(), "/actions/0/response_type", json!("select")));
        assert_eq!(
            e,
            NotificationError::ResponseType {
                field: "actions[0].response_type".into(),
                value: "select".into()
            }
        );
    }

    #[test]
    fn broken_action_definitions_are_malformed() {
        let action = |a: Value| with(minimal(), "/actions", json!([a]));
        let cases = [
            action(json!("go")),
            action(json!({"label": "x", "response_type": "simple"})),
            action(json!({"id": "a", "response_type": "simple"})),
            action(json!({"id": "a", "label": "x"})),
            action(json!({"id": 5, "label": "x", "response_type": "simple"})),
            action(json!({"id": "a", "label": "x", "response_type": "binary"})),
            action(json!({"id": "a", "label": "x", "response_type": "binary",
                          "options": {"true_label": "y"}})),
            action(json!({"id": "a", "label": "x", "response_type": "choice", "options": []})),
            action(json!({"id": "a", "label": "x", "response_type": "choice",
                          "options": [{"value": "v"}]})),
            action(json!({"id": "a", "label": "x", "response_type": "choice",
                          "options": [{"value": "v", "label": "1"}, {"value": "v", "label": "2"}]})),
            action(
                json!({"id": "a", "label": "x", "response_type": "multi_choice",
                          "options": [{"value": "v", "label": "1"}],
                          "constraints": {"min_selections": 2}}),
            ),
            action(
                json!({"id": "a", "label": "x", "response_type": "multi_choice",
                          "options": [{"value": "v", "label": "1"}],
                          "constraints": {"min_selections": 1, "max_selections": 0}}),
            ),
            action(json!({"id": "a", "label": "x", "response_type": "number",
                          "constraints": {"min": 5, "max": 1}})),
            action(json!({"id": "a", "label": "x", "response_type": "number",
                          "constraints": {"min": "1"}})),
            action(json!({"id": "a", "label": "x", "response_type": "text",
                          "constraints": {"max_length": -1}})),
            action(json!({"id": "a", "label": "x", "response_type": "simple", "flags": "x"})),
            action(json!({"id": "a", "label": "x", "response_type": "simple", "constraints": 1})),
            with(minimal(), "/actions", json!([])),
            with(
                minimal(),
                "/actions",
                json!([{"id": "a", "label": "x", "response_type": "simple"},
                       {"id": "a", "label": "y", "response_type": "simple"}]),
            ),
        ];
        for value in cases {
            let e = error_of(value.clone());
            assert!(
                matches!(e, NotificationError::MalformedAction { .. }),
                "{e:?} for {value}"
            );
        }
    }

    #[test]
    fn attachments_hold_exactly_one_of_uri_and_data() {
        for attachment in [
            json!({"type": "text/plain"}),
            json!({"type": "text/plain", "uri": "https://a.example", "data": "aGk="}),
            json!({"uri": "https://a.example"}),
            json!({"type": "text/plain", "uri": "not a url"}),
            json!({"type": "text/plain", "uri": "file:///etc/passwd"}),
            json!({"type": "text/plain", "data": "not base64!"}),
        ] {
            let e = error_of(with(minimal(), "/context/attachments", json!([attachment])));
            assert!(e.field().starts_with("context.attachments[0]"), "{e:?}");
        }
    }

    fn action(value: Value) -> Action {
        let body = with(minimal(), "/actions", json!([value]));
        validate_notification(&self::body(body), NOW)
            .unwrap()
            .actions
            .remove(0)
    }

    #[test]
    fn responses_are_checked_by_type_then_by_constraint() {
        use ResponseError::{Constraint, WrongType};
        let simple = action(json!({"id": "a", "label": "x", "response_type": "simple"}));
        assert_eq!(simple.check_response(&Value::Null), Ok(()));
        assert!(matches!(
            simple.check_response(&json!(true)),
            Err(WrongType(_))
        ));

        let binary = action(json!({"id": "a", "label": "x", "response_type": "binary",
            "options": {"true_label": "y", "false_label": "n"}}));
        assert_eq!(binary.check_response(&json!(false)), Ok(()));
        assert!(matches!(
            binary.check_response(&json!("yes")),
            Err(WrongType(_))
        ));
        assert!(matches!(
            binary.check_response(&Value::Null),
            Err(WrongType(_))
        ));

        let choice = action(json!({"id": "a", "label": "x", "response_type": "choice",
            "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}));
        assert_eq!(choice.check_response(&json!("b")), Ok(()));
        assert!(matches!(
            choice.check_response(&json!("c")),
            Err(Constraint(_))
        ));
        assert!(matches!(
            choice.check_response(&json!(["a"])),
            Err(WrongType(_))
        ));

        let multi = action(
            json!({"id": "a", "label": "x", "response_type": "multi_choice",
            "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"},
                        {"value": "c", "label": "C"}],
            "constraints": {"min_selections": 1, "max_selections": 2}}),
        );
        assert_eq!(multi.check_response(&json!(["a", "c"])), Ok(()));
        assert!(matches!(
            multi.check_response(&json!([])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["a", "b", "c"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["a", "a"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["z"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!("a")),
            Err(WrongType(_))
        ));
        assert!(matches!(
            multi.check_response(&json!([1])),
            Err(WrongType(_))
        ));

        let text = action(json!({"id": "a", "label": "x", "response_type": "text",
            "constraints": {"min_length": 2, "max_length": 3}}));
        assert_eq!(text.check_response(&json!("héé")), Ok(()));
        assert!(matches!(
            text.check_response(&json!("h")),
            Err(Constraint(_))
        ));
        assert!(matches!(
            text.check_response(&json!("hello")),
            Err(Constraint(_))
        ));
        assert!(matches!(text.check_response(&json!(5)), Err(WrongType(_))));

        let number = action(json!({"id": "a", "label": "x", "response_type": "number",
            "constraints": {"min": 1, "max": 10, "integer": true}}));
        assert_eq!(number.check_response(&json!(10)), Ok(()));
        assert!(matches!(
            number.check_response(&json!(0)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!(11)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!(2.5)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!("5")),
            Err(WrongType(_))
        ));
        let unbounded = action(json!({"id": "a", "label": "x", "response_type": "number"}));
        assert_eq!(unbounded.check_response(&json!(-2.5)), Ok(()));
    }

    #[test]
    fn status_filters_expand_pending() {
        use NotificationStatus::*;
        assert_eq!(
            parse_status_filter("pending"),
            Ok(vec![Created, Delivered, Acknowledged])
        );
        assert_eq!(
            parse_status_filter("responded, expired,responded"),
            Ok(vec![Responded, Expired])
        );
        assert_eq!(parse_status_filter("created,nope"), Err("nope".into()));
        assert_eq!(parse_status_filter(""), Err(String::new()));
    }

    #[test]
    fn lifecycle_moves_forward_and_ends_only_pending_notifications() {
        use NotificationStatus::*;
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert_eq!(Delivered.reachable_from(), [Created]);
        assert_eq!(Acknowledged.reachable_from(), [Created, Delivered]);
        for end in [Responded, Expired, Invalidated] {
            assert_eq!(end.reachable_from(), NotificationStatus::PENDING);
        }
        assert!(Created.reachable_from().is_empty());
        assert!(Completed.reachable_from().is_empty());
        assert!(Created.is_pending() && Acknowledged.is_pending());
        assert!(!Responded.is_pending() && !Expired.is_pending() && !Invalidated.is_pending());
    }

    #[test]
    fn uuids_are_checked_by_shape() {
        assert_eq!(
            parse_uuid("550E8400-e29b-41d4-a716-446655440000").as_deref(),
            Some("550e8400-e29b-41d4-a716-446655440000")
        );
        for bad in [
            "",
            "550e8400e29b41d4a716446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }
}
