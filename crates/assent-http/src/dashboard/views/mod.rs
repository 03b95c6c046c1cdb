//! What the templates show: pages, and the claims and notifications as display-ready values.
//! Every string that came from a service or an agent is escaped by the templates (HTML
//! autoescaping is on for `.html` templates); nothing here marks text as safe.

use std::collections::HashMap;

use askama::Template;
use assent_core::claim::ClaimStatus;
use assent_core::notification::{Action, ResponseType};
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::{ClaimRow, NotificationRow};
use serde_json::{Map, Value};

/// The layout's header for a logged-in owner.
#[derive(Debug, Clone)]
pub(super) struct Nav {
    pub namespace: String,
    pub email: String,
    pub csrf: String,
    /// `inbox`, `history`, `services`, `tokens`, `audit`, or empty.
    pub current: &'static str,
}

#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage {
    pub nav: Option<Nav>,
    pub status: u16,
    pub title: String,
    pub message: String,
}

#[derive(Debug, Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub nav: Option<Nav>,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "signup.html")]
pub(super) struct SignupPage {
    pub nav: Option<Nav>,
    pub email: String,
    pub namespace: String,
    pub error: Option<String>,
}

/// The inbox; its `items` block alone is the fragment the live update fetches.
#[derive(Debug, Template)]
#[template(path = "inbox.html", blocks = ["items"])]
pub(super) struct InboxPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub notice: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Template)]
#[template(path = "history.html")]
pub(super) struct HistoryPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub notice: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Template)]
#[template(path = "services.html")]
pub(super) struct ServicesPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub services: Vec<ServiceItem>,
    /// The create form's values, kept on an error.
    pub slug: String,
    pub name: String,
    pub description: String,
    pub error: Option<String>,
}

#[derive(Debug)]
pub(super) struct ServiceItem {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub created: When,
}

impl From<assent_core::Service> for ServiceItem {
    fn from(s: assent_core::Service) -> Self {
        Self {
            created: When::from(s.created_at),
            id: s.id,
            slug: s.slug,
            name: s.name,
            description: s.description,
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "service.html")]
pub(super) struct ServicePage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub service: ServiceItem,
    /// The edit form's values (the service's own, or those submitted on an error).
    pub name: String,
    pub description: String,
    pub error: Option<String>,
    pub keys: Vec<Credential>,
    pub key_name: String,
    pub key_error: Option<String>,
    /// A key just created, shown this once.
    pub new_key: Option<Secret>,
    pub webhooks: Vec<WebhookItem>,
    /// The add-a-webhook form's values (kept on an error).
    pub webhook_url: String,
    pub webhook_events: Vec<EventChoice>,
    pub webhook_error: Option<String>,
}

/// A webhook as listed and shown: never its secret.
#[derive(Debug)]
pub(super) struct WebhookItem {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    /// An ATP service's callback: it receives `notification.responded` only.
    pub atp: bool,
    pub enabled: bool,
    /// Why it is disabled, in words; empty while enabled.
    pub disabled_because: &'static str,
    pub disabled_at: Option<When>,
    pub created: When,
}

impl From<assent_store::WebhookEndpoint> for WebhookItem {
    fn from(e: assent_store::WebhookEndpoint) -> Self {
        let disabled_because = match (e.enabled, e.disabled_reason.as_deref()) {
            (true, _) => "",
            (false, Some("gone")) => "its receiver answered 410 Gone",
            (false, Some("failing")) => "every delivery failed for too long",
            (false, _) => "its owner disabled it",
        };
        Self {
            id: e.id,
            url: e.url,
            events: e.events.iter().map(|t| t.as_str()).collect(),
            atp: e.format == EndpointFormat::Atp,
            enabled: e.enabled,
            disabled_because,
            disabled_at: e.disabled_at.map(When::from),
            created: When::from(e.created_at),
        }
    }
}

/// One checkbox of a webhook's events.
#[derive(Debug)]
pub(super) struct EventChoice {
    pub name: &'static str,
    pub checked: bool,
}

impl EventChoice {
    /// Every event a webhook can subscribe to, checked when in `chosen`.
    pub fn all(chosen: &[&str]) -> Vec<Self> {
        EventType::REQUEST_EVENTS
            .iter()
            .map(|t| Self {
                name: t.as_str(),
                checked: chosen.contains(&t.as_str()),
            })
            .collect()
    }
}

#[derive(Debug, Template)]
#[template(path = "webhook.html")]
pub(super) struct WebhookPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub service: ServiceItem,
    pub webhook: WebhookItem,
    /// A secret just made (the webhook created, or its secret rotated), shown this once.
    pub new_secret: Option<Secret>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_until: Option<When>,
    /// What the last action did.
    pub notice: Option<String>,
    /// Why the last action was refused.
    pub error: Option<String>,
    /// The edit form's values.
    pub url: String,
    pub events: Vec<EventChoice>,
    pub log: DeliveryLog,
}

/// One page of a webhook's delivery log.
#[derive(Debug)]
pub(super) struct DeliveryLog {
    pub deliveries: Vec<DeliveryItem>,
    /// The status shown (`""` for all), and the filter links.
    pub status: String,
    pub filters: Vec<Filter>,
    /// Whether this is a later page (it links back to the first).
    pub later: bool,
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
pub(super) struct Filter {
    pub value: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Filter {
    pub fn all(current: &str) -> Vec<Self> {
        [
            ("", "All"),
            ("pending", "Pending"),
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
            ("exhausted", "Exhausted"),
            ("skipped", "Skipped"),
        ]
        .into_iter()
        .map(|(value, label)| Self {
            value,
            label,
            current: value == current,
        })
        .collect()
    }
}

#[derive(Debug)]
pub(super) struct DeliveryItem {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: &'static str,
    pub attempt_count: u32,
    pub next_attempt: Option<When>,
    pub last_error: Option<String>,
    pub created: When,
    pub completed: Option<When>,
    pub attempts: Vec<AttemptItem>,
}

#[derive(Debug)]
pub(super) struct AttemptItem {
    pub at: When,
    /// The receiver's status code, or `no answer` when none came back.
    pub outcome: String,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_body: String,
}

impl From<assent_store::DeliveryRecord> for DeliveryItem {
    fn from(d: assent_store::DeliveryRecord) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str(),
            attempt_count: d.attempt_count,
            next_attempt: d.next_attempt_at.map(When::from),
            last_error: d.last_error,
            created: When::from(d.created_at),
            completed: d.completed_at.map(When::from),
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptItem {
                    at: When::from(a.attempted_at),
                    outcome: a
                        .status_code
                        .map_or_else(|| "no answer".to_owned(), |c| c.to_string()),
                    duration_ms: a.duration_ms,
                    error: a.error,
                    response_body: a.response_excerpt,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "tokens.html")]
pub(super) struct TokensPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub tokens: Vec<Credential>,
    pub name: String,
    pub error: Option<String>,
    /// A token just created, shown this once.
    pub new_token: Option<Secret>,
}

/// An API key or user token as listed: never the secret itself.
#[derive(Debug)]
pub(super) struct Credential {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: When,
    pub last_used: Option<When>,
}

impl From<assent_store::ApiKey> for Credential {
    fn from(k: assent_store::ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created: When::from(k.created_at),
            last_used: k.last_used_at.map(When::from),
        }
    }
}

impl From<assent_store::UserToken> for Credential {
    fn from(t: assent_store::UserToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: When::from(t.created_at),
            last_used: t.last_used_at.map(When::from),
        }
    }
}

/// A secret just minted, with its name.
#[derive(Debug)]
pub(super) struct Secret {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub(super) struct AuditPage {
    pub nav: Option<Nav>,
    pub entries: Vec<AuditItem>,
    /// Whether this is a later page (it links back to the first).
    pub later: bool,
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
pub(super) struct AuditItem {
    pub at: When,
    /// `You` for the visitor's own account, else the stored actor.
    pub actor: String,
    pub action: String,
    pub target_id: String,
    /// Compact JSON; empty for no details.
    pub details: String,
}

impl AuditItem {
    pub fn new(r: assent_store::AuditRecord, own_actor: &str) -> Self {
        let empty = r.details.is_null() || r.details.as_object().is_some_and(Map::is_empty);
        Self {
            at: When::from(r.created_at),
            actor: if r.actor == own_actor {
                "You".to_owned()
            } else {
                r.actor
            },
            action: r.action,
            target_id: r.target_id,
            details: if empty {
                String::new()
            } else {
                r.details.to_string()
            },
        }
    }
}

/// One entry of a list: a claim or a notification.
#[derive(Debug)]
pub(super) enum Item {
    Claim(ClaimView),
    Notification(NotificationView),
}

impl Item {
    /// What lists sort by: the time it was asked (inbox) or last changed (history).
    pub fn sort_key(&self, by_change: bool) -> (i64, &str) {
        match self {
            Self::Claim(c) if by_change => (c.changed_at, &c.id),
            Self::Claim(c) => (c.created_at, &c.id),
            Self::Notification(n) if by_change => (n.changed_at, &n.id),
            Self::Notification(n) => (n.created_at, &n.id),
        }
    }
}

/// A moment, for a `<time>` element.
#[derive(Debug, Clone)]
pub(super) struct When {
    /// RFC 3339.
    pub iso: String,
    /// `2026-11-22 10:00 UTC`.
    pub text: String,
}

impl From<Timestamp> for When {
    fn from(at: Timestamp) -> Self {
        Self::at(at.as_millis())
    }
}

impl When {
    /// The moment `millis` after the Unix epoch.
    pub fn at(millis: i64) -> Self {
        let iso = Timestamp::from_millis(millis).to_rfc3339();
        let text = format!(
            "{} UTC",
            iso.get(..16).unwrap_or(&iso).replacen('T', " ", 1)
        );
        Self { iso, text }
    }
}

#[derive(Debug)]
pub(super) struct ClaimView {
    pub id: String,
    /// Who asks: the agent's name, else its id, else a generic word.
    pub agent: String,
    pub agent_id: Option<String>,
    pub service: String,
    pub service_slug: String,
    pub public_key: String,
    pub subject: Option<String>,
    pub agent_ip: Option<String>,
    pub status: &'static str,
    pub pending: bool,
    pub approved: bool,
    pub created: When,
    pub expires: When,
    pub approved_at: Option<When>,
    pub decided_at: Option<When>,
    created_at: i64,
    changed_at: i64,
}

impl ClaimView {
    /// `names` maps service ids to their display names.
    pub fn new(row: ClaimRow, names: &HashMap<String, String>) -> Self {
        let status = row.status();
        let agent = row
            .agent_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| row.agent_id.clone())
            .unwrap_or_else(|| "An agent".to_owned());
        Self {
            service: names
                .get(&row.service_id)
                .cloned()
                .unwrap_or_else(|| row.service_slug.clone()),
            agent_id: row.agent_id.filter(|id| *id != agent),
            agent,
            id: row.id,
            service_slug: row.service_slug,
            public_key: row.public_key,
            subject: row.subject,
            agent_ip: row.agent_ip,
            status: status.as_str(),
            pending: status == ClaimStatus::Pending,
            approved: status == ClaimStatus::Approved,
            created: When::at(row.created_at),
            expires: When::at(row.expires_at),
            approved_at: row.approved_at.map(When::at),
            decided_at: row.decided_at.map(When::at),
            created_at: row.created_at,
            changed_at: row.updated_at,
        }
    }
}

/// One `metadata` entry; non-string values are shown as compact JSON.
#[derive(Debug)]
pub(super) struct Entry {
    pub key: String,
    pub value: String,
}

#[derive(Debug)]
pub(super) struct Attachment {
    /// Its `type`.
    pub kind: String,
    pub description: Option<String>,
    /// An http(s) link; `None` for inline `data`, which is never rendered.
    pub uri: Option<String>,
}

#[derive(Debug)]
pub(super) struct NotificationView {
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
    created_at: i64,
    changed_at: i64,
}

#[derive(Debug)]
pub(super) struct Answer {
    pub action: String,
    pub value: Option<String>,
}

impl NotificationView {
    pub fn new(row: NotificationRow) -> Self {
        let context: Map<String, Value> = serde_json::from_str(&row.context).unwrap_or_default();
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
        let actions = row.actions();
        let answer = row
            .response
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .map(|r| answer(&r, &actions));
        let status = row.status();
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
                row.status.clone()
            },
            created: When::at(row.created_at),
            deadline: row.deadline.map(When::at),
            changed: When::at(row.updated_at),
            status_reason: row.status_reason.clone(),
            actions: if status.is_pending() {
                actions.iter().map(ActionView::new).collect()
            } else {
                Vec::new()
            },
            answer,
            created_at: row.created_at,
            changed_at: row.updated_at,
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

/// One action of a pending notification, as a form.
#[derive(Debug)]
pub(super) struct ActionView {
    pub id: String,
    pub label: String,
    pub form: AnswerForm,
}

#[derive(Debug)]
pub(super) struct Choice {
    pub value: String,
    pub label: String,
}

/// The form fitting an action's response type.
#[derive(Debug)]
pub(super) enum AnswerForm {
    /// One button.
    Simple,
    /// Two buttons, `value=true` and `value=false`.
    Binary { yes: String, no: String },
    /// Radio buttons.
    Choice { options: Vec<Choice> },
    /// Checkboxes; `hint` tells the bounds.
    MultiChoice {
        options: Vec<Choice>,
        hint: Option<String>,
    },
    Text {
        placeholder: Option<String>,
        min: Option<u64>,
        max: Option<u64>,
        hint: Option<String>,
    },
    Number {
        min: Option<String>,
        max: Option<String>,
        step: &'static str,
        hint: Option<String>,
    },
}

impl ActionView {
    fn new(action: &Action) -> Self {
        let constraint = |key: &str| {
            action
                .constraints
                .as_ref()
                .and_then(|c| c.get(key))
                .filter(|v| !v.is_null())
        };
        let count = |key: &str| constraint(key).and_then(Value::as_u64);
        let choices = || {
            action
                .options
                .as_ref()
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|o| {
                            let field = |k: &str| {
                                o.get(k)
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned()
                            };
                            Choice {
                                value: field("value"),
                                label: field("label"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let form = match action.response_type {
            ResponseType::Simple => AnswerForm::Simple,
            ResponseType::Binary => {
                let option = |key: &str, fallback: &str| {
                    action
                        .options
                        .as_ref()
                        .and_then(|o| o.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or(fallback)
                        .to_owned()
                };
                AnswerForm::Binary {
                    yes: option("true_label", "Yes"),
                    no: option("false_label", "No"),
                }
            }
            ResponseType::Choice => AnswerForm::Choice { options: choices() },
            ResponseType::MultiChoice => {
                let (min, max) = (count("min_selections"), count("max_selections"));
                AnswerForm::MultiChoice {
                    options: choices(),
                    hint: bounds(min, max, "options", "option"),
                }
            }
            ResponseType::Text => {
                let (min, max) = (count("min_length"), count("max_length"));
                AnswerForm::Text {
                    placeholder: constraint("placeholder")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    min,
                    max,
                    hint: bounds(min, max, "characters", "character"),
                }
            }
            ResponseType::Number => {
                let number = |key: &str| {
                    constraint(key)
                        .filter(|v| v.is_number())
                        .map(Value::to_string)
                };
                let (min, max) = (number("min"), number("max"));
                let integer = constraint("integer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let hint = match (&min, &max) {
                    (Some(min), Some(max)) => Some(format!("From {min} to {max}")),
                    (Some(min), None) => Some(format!("At least {min}")),
                    (None, Some(max)) => Some(format!("At most {max}")),
                    (None, None) => None,
                };
                let hint = match (hint, integer) {
                    (Some(h), true) => Some(format!("{h}, a whole number.")),
                    (Some(h), false) => Some(format!("{h}.")),
                    (None, true) => Some("A whole number.".to_owned()),
                    (None, false) => None,
                };
                AnswerForm::Number {
                    min,
                    max,
                    step: if integer { "1" } else { "any" },
                    hint,
                }
            }
        };
        Self {
            id: action.id.clone(),
            label: action.label.clone(),
            form,
        }
    }
}

/// `Choose 1 to 3 options.`, `At least 2 characters.`, …
fn bounds(min: Option<u64>, max: Option<u64>, many: &str, one: &str) -> Option<String> {
    let noun = |n: u64| if n == 1 { one } else { many };
    let min = min.filter(|&m| m > 0);
    match (min, max) {
        (Some(min), Some(max)) if min == max => Some(format!("Exactly {min} {}.", noun(max))),
        (Some(min), Some(max)) => Some(format!("From {min} to {max} {}.", noun(max))),
        (Some(min), None) => Some(format!("At least {min} {}.", noun(min))),
        (None, Some(max)) => Some(format!("At most {max} {}.", noun(max))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_as_sentences() {
        assert_eq!(
            bounds(Some(1), Some(3), "options", "option").as_deref(),
            Some("From 1 to 3 options.")
        );
        assert_eq!(
            bounds(Some(2), None, "options", "option").as_deref(),
            Some("At least 2 options.")
        );
        assert_eq!(
            bounds(Some(0), Some(1), "options", "option").as_deref(),
            Some("At most 1 option.")
        );
        assert_eq!(bounds(None, None, "options", "option"), None);
    }

    #[test]
    fn times_read_in_utc_minutes() {
        let when = When::at(1_795_860_000_000);
        assert_eq!(when.text, "2026-11-28 10:00 UTC");
        assert!(when.iso.starts_with("2026-11-28T10:00:00"));
    }
}
