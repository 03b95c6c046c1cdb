//! One action of a notification: its id, label and response type, and the options and
//! constraints that type requires, checked when the notification is created (a broken
//! definition is `MALFORMED_ACTION`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{NotificationError, malformed};
use super::fields::get;
use super::{ACTION_ID_MAX_CHARS, LABEL_MAX_CHARS, MAX_OPTIONS, ResponseType};

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

/// The flag of an action that cannot be undone: the dashboard asks for an explicit
/// confirmation before sending it.
pub const IRREVERSIBLE: &str = "irreversible";

impl Action {
    /// Whether the service flagged the action `irreversible`.
    pub fn is_irreversible(&self) -> bool {
        self.flags.iter().any(|f| f == IRREVERSIBLE)
    }

    /// The answers a single link or push button can give with this action: a `simple` one
    /// (`response_data` `null`), or each side of a `binary` one (`true`, `false`). Other
    /// types need a value typed in the dashboard, so they have none.
    pub fn one_click(&self) -> Vec<OneClick> {
        match self.response_type {
            ResponseType::Simple => vec![OneClick {
                key: self.id.clone(),
                label: self.label.clone(),
                data: Value::Null,
            }],
            ResponseType::Binary => [(true, "true_label"), (false, "false_label")]
                .into_iter()
                .map(|(value, option)| {
                    let option = self
                        .options
                        .as_ref()
                        .and_then(|o| o.get(option))
                        .and_then(Value::as_str)
                        .unwrap_or(if value { "Yes" } else { "No" });
                    OneClick {
                        key: format!("{}#{value}", self.id),
                        label: format!("{}: {option}", self.label),
                        data: Value::Bool(value),
                    }
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// One answer a single link (or push button) gives: an action with its data.
#[derive(Debug, Clone, PartialEq)]
pub struct OneClick {
    /// What the link stores: the action's id, with `#true` or `#false` for a binary one.
    pub key: String,
    /// The button's words: the action's label, and a binary one's option.
    pub label: String,
    /// The `response_data` it answers with.
    pub data: Value,
}

pub(super) fn validate_action(value: &Value, path: &str) -> Result<Action, NotificationError> {
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::OneClick;
    use crate::notification::NotificationError;
    use crate::notification::test_fixtures::*;

    #[test]
    fn simple_and_binary_actions_have_one_click_answers_and_others_none() {
        let action = |value: Value| super::validate_action(&value, "actions[0]");
        let simple = action(json!({"id": "ok", "label": "OK", "response_type": "simple"})).unwrap();
        assert_eq!(
            simple.one_click(),
            [OneClick {
                key: "ok".into(),
                label: "OK".into(),
                data: Value::Null
            }]
        );
        let binary = action(
            json!({"id": "go", "label": "Ship?", "response_type": "binary",
            "options": {"true_label": "Yes", "false_label": "Not now"}}),
        )
        .unwrap();
        let answers = binary.one_click();
        assert_eq!(
            answers
                .iter()
                .map(|a| (a.key.as_str(), a.label.as_str(), &a.data))
                .collect::<Vec<_>>(),
            [
                ("go#true", "Ship?: Yes", &Value::Bool(true)),
                ("go#false", "Ship?: Not now", &Value::Bool(false))
            ]
        );
        for answer in &answers {
            assert!(binary.check_response(&answer.data).is_ok());
        }
        let text = action(json!({"id": "why", "label": "Why?", "response_type": "text"})).unwrap();
        assert!(text.one_click().is_empty());
    }

    #[test]
    fn only_an_action_flagged_irreversible_is_irreversible() {
        let flagged = |flags: Value| {
            super::validate_action(
                &json!({"id": "a", "label": "A", "response_type": "simple", "flags": flags}),
                "actions[0]",
            )
            .unwrap()
            .is_irreversible()
        };
        assert!(flagged(json!(["urgent", "irreversible"])));
        assert!(!flagged(json!(["urgent"])));
        assert!(!flagged(json!([])));
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
}
