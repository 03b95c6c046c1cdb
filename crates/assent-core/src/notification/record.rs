//! A notification as it stands once stored: what it asks, of whom, where it is in its
//! lifecycle, and its answer; and the two wire payloads made of it, the ATP notification
//! object and the `status_update` clients are pushed.

use serde_json::{Map, Value, json};

use super::{Action, NotificationStatus, PROTOCOL_VERSION};
use crate::Timestamp;

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// A UUID, the service's own or one assent made.
    pub id: String,
    /// The namespace whose owner is asked.
    pub namespace: String,
    pub service_id: String,
    /// The service's slug (the ATP `service_id`), display name and icon when it was sent.
    pub service_slug: String,
    pub service_name: String,
    pub service_icon: Option<String>,
    pub project: Option<String>,
    /// `title`, `description` and whichever of `project`, `metadata`, `attachments` were given.
    pub context: Map<String, Value>,
    pub actions: Vec<Action>,
    pub status: NotificationStatus,
    /// The `timestamp` the service gave.
    pub sent_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deadline: Option<Timestamp>,
    /// Why the service invalidated it.
    pub status_reason: Option<String>,
    /// Once answered: the ATP webhook payload (`notification_id`, `action_id`,
    /// `response_data`, `responded_at`, `responder`).
    pub response: Option<Value>,
}

impl Notification {
    /// The action `id`, if the notification has it.
    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// Whether its deadline has passed at `now`.
    pub fn is_past_deadline(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// The ATP notification object (with the extensions `created_at`, `updated_at`,
    /// `response` once answered and `status_reason` once invalidated).
    pub fn to_json(&self) -> Value {
        let mut service = Map::new();
        service.insert("id".into(), self.service_slug.clone().into());
        service.insert("name".into(), self.service_name.clone().into());
        if let Some(icon) = &self.service_icon {
            service.insert("icon".into(), icon.clone().into());
        }
        let mut object = Map::new();
        object.insert("id".into(), self.id.clone().into());
        object.insert("version".into(), PROTOCOL_VERSION.into());
        object.insert("timestamp".into(), json!(self.sent_at));
        if let Some(deadline) = self.deadline {
            object.insert("deadline".into(), json!(deadline));
        }
        object.insert("service".into(), Value::Object(service));
        object.insert("context".into(), Value::Object(self.context.clone()));
        object.insert("actions".into(), json!(self.actions));
        object.insert("status".into(), self.status.as_str().into());
        object.insert("created_at".into(), json!(self.created_at));
        object.insert("updated_at".into(), json!(self.updated_at));
        if let Some(response) = &self.response {
            object.insert("response".into(), response.clone());
        }
        if let Some(reason) = &self.status_reason {
            object.insert("status_reason".into(), reason.clone().into());
        }
        Value::Object(object)
    }

    /// What a `status_update` tells clients.
    pub fn status_update(&self) -> Value {
        status_update(
            &self.id,
            self.status,
            self.updated_at,
            self.status_reason.as_deref(),
        )
    }
}

/// What a `status_update` tells clients of notification `id`. A function of the four fields
/// alone, so that a write that moves a notification need not read its whole body.
pub fn status_update(
    id: &str,
    status: NotificationStatus,
    updated_at: Timestamp,
    reason: Option<&str>,
) -> Value {
    let mut update = json!({
        "notification_id": id,
        "status": status.as_str(),
        "updated_at": updated_at,
    });
    if let (Some(reason), Some(object)) = (reason, update.as_object_mut()) {
        object.insert("reason".into(), reason.into());
    }
    update
}

/// The body of `notification.responded`, what the service's callback receives (and what reads
/// show as the notification's `response`).
pub fn responded_payload(
    notification_id: &str,
    action_id: &str,
    response_data: &Value,
    responded_at: Timestamp,
    responder_id: &str,
) -> Value {
    json!({
        "notification_id": notification_id,
        "action_id": action_id,
        "response_data": response_data,
        "responded_at": responded_at,
        "responder": { "id": responder_id, "type": "human" },
    })
}
