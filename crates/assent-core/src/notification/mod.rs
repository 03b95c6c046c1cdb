//! ATP notifications: a service asks the owner of its namespace which of some actions to take.
//! The notification's shape and its validation, the response types and how a response is
//! checked, and the lifecycle between the states.
//!
//! Validation reads the request body as a JSON value, not a typed struct, so that every
//! problem can be named by its path (`actions[1].options`) and classified into the ATP error
//! codes: a missing top-level field, an unknown response type, a malformed action, a value of
//! the wrong type, or a broken constraint.
//!
//! [`validate_notification`] below reads a body top to bottom; the files beside it hold what it
//! calls: `fields.rs` reads one field of a JSON object, `attachments.rs` and `action.rs` check
//! the context's attachments and each action, and `error.rs` names what was wrong. `response.rs`
//! holds the response types and checks a user's answer; `status.rs` the lifecycle; `record.rs` a
//! stored notification and the payloads made of it.

mod action;
mod attachments;
mod error;
mod fields;
#[cfg(test)]
mod properties;
mod record;
mod response;
mod status;
#[cfg(test)]
mod test_fixtures;

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::Timestamp;

pub use action::{Action, OneClick};
pub use error::NotificationError;
pub use fields::parse_uuid;
pub use record::{Notification, responded_payload, status_update};
pub use response::{ResponseError, ResponseType};
pub use status::{NotificationStatus, parse_status_filter};

use action::validate_action;
use attachments::validate_attachments;
use error::{constraint, invalid, malformed};
use fields::{get, max_chars, optional_text, required_text, time_field};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_fixtures::*;
    use super::*;

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
}
