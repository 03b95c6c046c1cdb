//! The events assent emits and the webhook formats that carry them (`docs/webhooks.md`).

use std::fmt;

use serde::Serialize;

/// Every event type a webhook endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    #[serde(rename = "request.submitted")]
    RequestSubmitted,
    #[serde(rename = "request.approved")]
    RequestApproved,
    #[serde(rename = "request.rejected")]
    RequestRejected,
    #[serde(rename = "request.revoked")]
    RequestRevoked,
    #[serde(rename = "request.expired")]
    RequestExpired,
    #[serde(rename = "notification.responded")]
    NotificationResponded,
    /// Sent only to the endpoint under test, on the owner's request; never subscribed to.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const ALL: [Self; 7] = [
        Self::RequestSubmitted,
        Self::RequestApproved,
        Self::RequestRejected,
        Self::RequestRevoked,
        Self::RequestExpired,
        Self::NotificationResponded,
        Self::WebhookTest,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RequestSubmitted => "request.submitted",
            Self::RequestApproved => "request.approved",
            Self::RequestRejected => "request.rejected",
            Self::RequestRevoked => "request.revoked",
            Self::RequestExpired => "request.expired",
            Self::NotificationResponded => "notification.responded",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The decision-request (claim) events a Sigilum-style endpoint can subscribe to.
    pub const REQUEST_EVENTS: [Self; 5] = [
        Self::RequestSubmitted,
        Self::RequestApproved,
        Self::RequestRejected,
        Self::RequestRevoked,
        Self::RequestExpired,
    ];
}

/// The events a Sigilum-style webhook subscribes to: every request event when `names` is
/// absent, else exactly the named ones (deduplicated, in the order given). An empty list or a
/// name that is not a request event is refused with that name.
pub fn request_subscription(names: Option<Vec<String>>) -> Result<Vec<EventType>, String> {
    let Some(names) = names else {
        return Ok(EventType::REQUEST_EVENTS.to_vec());
    };
    if names.is_empty() {
        return Err(String::new());
    }
    let mut events = Vec::with_capacity(names.len());
    for name in names {
        let event = EventType::parse(&name)
            .filter(|e| EventType::REQUEST_EVENTS.contains(e))
            .ok_or(name)?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payload and header family an endpoint receives: Sigilum-style (`X-Sigilum-*`), ATP
/// (`X-ATP-*`) or Standard Webhooks (`webhook-*`). An ATP service's `callback_url` is an
/// endpoint in the ATP format; an owner chooses between Sigilum and Standard for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointFormat {
    Sigilum,
    Atp,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`).
    Standard,
}

impl EndpointFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sigilum => "sigilum",
            Self::Atp => "atp",
            Self::Standard => "standard",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sigilum" => Some(Self::Sigilum),
            "atp" => Some(Self::Atp),
            "standard" => Some(Self::Standard),
            _ => None,
        }
    }
}

/// The body of a `webhook.test` event for one endpoint of a service (`docs/webhooks.md`).
pub fn test_event_payload(
    webhook_id: &str,
    service_slug: &str,
    namespace: &str,
    event_id: &str,
    now: crate::Timestamp,
) -> String {
    serde_json::json!({
        "event": EventType::WebhookTest.as_str(),
        "timestamp": now,
        "data": {
            "webhook_id": webhook_id,
            "service": service_slug,
            "namespace": namespace,
            "event_id": event_id,
            "message": "This is a test event from assent.",
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_event_names_its_webhook_service_and_event() {
        let now = crate::Timestamp::from_millis(1_700_000_000_000);
        let payload: serde_json::Value =
            serde_json::from_str(&test_event_payload("wh_1", "api", "ada", "evt_1", now))
                .unwrap_or_default();
        assert_eq!(payload["event"], "webhook.test");
        assert_eq!(payload["timestamp"], serde_json::json!(now));
        assert_eq!(payload["data"]["webhook_id"], "wh_1");
        assert_eq!(payload["data"]["service"], "api");
        assert_eq!(payload["data"]["namespace"], "ada");
        assert_eq!(payload["data"]["event_id"], "evt_1");
    }

    #[test]
    fn subscriptions_default_to_every_request_event() {
        assert_eq!(
            request_subscription(None),
            Ok(EventType::REQUEST_EVENTS.to_vec())
        );
        let named = request_subscription(Some(vec![
            "request.approved".into(),
            "request.revoked".into(),
            "request.approved".into(),
        ]));
        assert_eq!(
            named,
            Ok(vec![EventType::RequestApproved, EventType::RequestRevoked])
        );
        assert_eq!(request_subscription(Some(vec![])), Err(String::new()));
        assert_eq!(
            request_subscription(Some(vec!["request.approved".into(), "request.nope".into()])),
            Err("request.nope".to_owned())
        );
        assert_eq!(
            request_subscription(Some(vec!["notification.responded".into()])),
            Err("notification.responded".to_owned())
        );
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            assert_eq!(
                serde_json::to_string(&event).unwrap(),
                format!("\"{}\"", event.as_str())
            );
        }
        assert_eq!(EventType::parse("request.unknown"), None);
        for format in [EndpointFormat::Sigilum, EndpointFormat::Atp] {
            assert_eq!(EndpointFormat::parse(format.as_str()), Some(format));
        }
    }
}
