//! A notification as the inbox and history show it: its context (title, description,
//! metadata, attachments), its status, the forms of its actions while it is pending, and once
//! answered, the answer in words.

use assent_core::notification::Notification;
use assent_core::notification::{Action, ResponseType};
use serde_json::Value;

use super::When;
use super::action_form::ActionView;

/// One `metadata` entry; non-string values are shown as compact JSON.
#[derive(Debug)]
pub(in crate::dashboard) struct Entry {
    pub key: String,
    pub value: String,
}

#[derive(Debug)]
pub(in crate::dashboard) struct Attachment {
    /// Its `type`.
    pub kind: String,
    pub description: Option<String>,
    /// An http(s) link; `None` for inline `data`, which is never rendered.
    pub uri: Option<String>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct NotificationView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub service: String,
    pub service_slug: String,
    pub project: Option<String>,
    pub metadata: Vec<Entry>,
    pub attachments: Vec<Attachment>,
    pub status: String,
    pub pending: bool,
    pub created: When,
    pub deadline: Option<When>,
    pub changed: When,
    pub status_reason: Option<String>,
    pub actions: Vec<ActionView>,
    /// Once answered: which action, and the answer as text.
    pub answer: Option<Answer>,
    /// What answered it, when no person did: `grant:<id>` or `policy:<rule id>`.
    pub decided_by: Option<String>,
    /// Answered with an action that needs no data: the same answer can be granted again.
    pub grantable: bool,
    pub(super) created_at: i64,
    pub(super) changed_at: i64,
}

#[derive(Debug)]
pub(in crate::dashboard) struct Answer {
    pub action: String,
    pub value: Option<String>,
}

impl NotificationView {
    pub fn new(row: Notification) -> Self {
        let context = &row.context;
        let text = |key: &str| {
            context
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let metadata = context
            .get("metadata")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(key, value)| Entry {
                        key: key.clone(),
                        value: match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let attachments = context
            .get("attachments")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(attachment).collect())
            .unwrap_or_default();
        let actions = &row.actions;
        let answer = row.response.as_ref().map(|r| answer(r, actions));
        let status = row.status;
        let decided_by = row
            .response
            .as_ref()
            .and_then(|r| r["decided_by"].as_str())
            .map(str::to_owned);
        let answered_with = row
            .response
            .as_ref()
            .and_then(|r| r["action_id"].as_str())
            .map(str::to_owned);
        let grantable = status == assent_core::notification::NotificationStatus::Responded
            && answered_with.is_some_and(|id| {
                actions
                    .iter()
                    .any(|a| a.id == id && a.response_type == ResponseType::Simple)
            });
        Self {
            title: text("title"),
            description: text("description"),
            service: row.service_name.clone(),
            project: row.project.clone(),
            metadata,
            attachments,
            pending: status.is_pending(),
            // Created, delivered and acknowledged are all one thing to the owner.
            status: if status.is_pending() {
                "pending".to_owned()
            } else {
                status.as_str().to_owned()
            },
            created: When::from(row.created_at),
            deadline: row.deadline.map(When::from),
            changed: When::from(row.updated_at),
            status_reason: row.status_reason.clone(),
            actions: if status.is_pending() {
                actions.iter().map(ActionView::new).collect()
            } else {
                Vec::new()
            },
            answer,
            decided_by,
            grantable,
            created_at: row.created_at.as_millis(),
            changed_at: row.updated_at.as_millis(),
            service_slug: row.service_slug,
            id: row.id,
        }
    }
}

fn attachment(item: &Value) -> Attachment {
    let field = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    Attachment {
        kind: field("type").unwrap_or_default(),
        description: field("description"),
        // Validated as http(s) on the way in; checked again, since this becomes a link.
        uri: field("uri").filter(|u| {
            let lower = u.to_ascii_lowercase();
            lower.starts_with("https://") || lower.starts_with("http://")
        }),
    }
}

fn answer(response: &Value, actions: &[Action]) -> Answer {
    let action_id = response
        .get("action_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let action = actions.iter().find(|a| a.id == action_id);
    let label = |value: &str| {
        action
            .and_then(|a| a.options.as_ref())
            .and_then(Value::as_array)
            .and_then(|options| {
                options
                    .iter()
                    .find(|o| o.get("value").and_then(Value::as_str) == Some(value))
            })
            .and_then(|o| o.get("label").and_then(Value::as_str))
            .unwrap_or(value)
            .to_owned()
    };
    let value = match response.get("response_data") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => {
            let key = if *b { "true_label" } else { "false_label" };
            Some(
                action
                    .and_then(|a| a.options.as_ref())
                    .and_then(|o| o.get(key))
                    .and_then(Value::as_str)
                    .map_or_else(|| b.to_string(), str::to_owned),
            )
        }
        Some(Value::String(s)) if action.is_some_and(|a| a.response_type == ResponseType::Text) => {
            Some(s.clone())
        }
        Some(Value::String(s)) => Some(label(s)),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(label)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(other) => Some(other.to_string()),
    };
    Answer {
        action: action.map_or_else(|| action_id.to_owned(), |a| a.label.clone()),
        value,
    }
}
