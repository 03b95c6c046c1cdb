//! A webhook as listed and shown (never its secret), the events it can subscribe to, its page,
//! and one page of its delivery log with each delivery's attempts.

use askama::Template;
use assent_core::{EndpointFormat, EventType};

use super::credentials::Secret;
use super::services::ServiceItem;
use super::{Nav, When};

/// A webhook as listed and shown: never its secret.
#[derive(Debug)]
pub(in crate::dashboard) struct WebhookItem {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    /// An ATP service's callback: it receives `notification.responded` only.
    pub atp: bool,
    /// In the Standard Webhooks format.
    pub standard: bool,
    /// With asymmetric signing: the Ed25519 public key (`whpk_…`).
    pub public_key: Option<String>,
    pub enabled: bool,
    /// `healthy`, `failing` or `disabled`: its badge.
    pub status: &'static str,
    /// While failing: since when, how many attempts in a row, and the last one's error.
    pub failing_since: Option<When>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
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
            status: e.status().as_str(),
            failing_since: e.failing_since.map(When::from),
            consecutive_failures: e.consecutive_failures,
            last_error: e.last_error,
            id: e.id,
            url: e.url,
            events: e.events.iter().map(|t| t.as_str()).collect(),
            atp: e.format == EndpointFormat::Atp,
            standard: e.format == EndpointFormat::Standard,
            public_key: e.signing_key.map(|k| k.public_key),
            enabled: e.enabled,
            disabled_because,
            disabled_at: e.disabled_at.map(When::from),
            created: When::from(e.created_at),
        }
    }
}

/// One checkbox of a webhook's events.
#[derive(Debug)]
pub(in crate::dashboard) struct EventChoice {
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
pub(in crate::dashboard) struct WebhookPage {
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
pub(in crate::dashboard) struct DeliveryLog {
    pub deliveries: Vec<DeliveryItem>,
    /// The status shown (`""` for all), and the filter links.
    pub status: String,
    pub filters: Vec<Filter>,
    /// Whether this is a later page (it links back to the first).
    pub later: bool,
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct Filter {
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
pub(in crate::dashboard) struct DeliveryItem {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// The body every attempt sent, pretty-printed when it is JSON.
    pub payload: String,
    pub status: &'static str,
    pub attempt_count: u32,
    pub next_attempt: Option<When>,
    pub last_error: Option<String>,
    pub created: When,
    pub completed: Option<When>,
    pub attempts: Vec<AttemptItem>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct AttemptItem {
    pub at: When,
    /// The receiver's status code, or `no answer` when none came back.
    pub outcome: String,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_body: String,
    /// The headers sent, as `Name: value` lines (signature headers included; never a secret).
    pub headers: Vec<String>,
}

impl From<assent_store::DeliveryRecord> for DeliveryItem {
    fn from(d: assent_store::DeliveryRecord) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            payload: shown_payload(&d.payload),
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
                    headers: a
                        .request_headers
                        .into_iter()
                        .map(|(name, value)| format!("{name}: {value}"))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Bytes of a payload the delivery log shows; a longer one is cut, saying its full size.
const PAYLOAD_SHOWN: usize = 16 * 1024;

/// A payload as the log shows it: pretty-printed when it is JSON, cut at [`PAYLOAD_SHOWN`].
fn shown_payload(payload: &str) -> String {
    let mut text = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| payload.to_owned());
    if text.len() > PAYLOAD_SHOWN {
        let mut end = PAYLOAD_SHOWN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(
            "\n… cut here: the payload is {} bytes",
            payload.len()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_pretty_printed_and_a_long_one_cut_on_a_character() {
        assert_eq!(shown_payload(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        let long = format!("\"{}\"", "é".repeat(PAYLOAD_SHOWN));
        let shown = shown_payload(&long);
        assert!(shown.len() < PAYLOAD_SHOWN + 100);
        assert!(shown.ends_with(&format!("the payload is {} bytes", long.len())));
    }
}
