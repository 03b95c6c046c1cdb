//! The Settings page: the owner's channels with their settings and the forms that change
//! them, the form that adds one, and the sent log ("Messages").

use askama::Template;
use assent_core::channel::{self, ChannelEvent, ChannelKind};
use assent_store::{Channel, MessageRecord};

use super::{Nav, When};

#[derive(Debug, Template)]
#[template(path = "settings.html")]
pub(in crate::dashboard) struct SettingsPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub channels: Vec<ChannelItem>,
    /// The add form, as written (again after a refusal).
    pub add: AddForm,
    pub messages: Vec<MessageItem>,
    pub notice: Option<String>,
    /// A refused change of the channel with this id: (id, message).
    pub channel_error: Option<(String, String)>,
    pub add_error: Option<String>,
    /// Whether this server sends Web Push (it has a VAPID key): the "This device" section.
    pub web_push: bool,
}

/// A channel as the page shows it, with its settings' form values.
#[derive(Debug)]
pub(in crate::dashboard) struct ChannelItem {
    pub id: String,
    /// `email`, `slack`, `discord`, `ntfy`, `web_push`.
    pub kind: &'static str,
    /// What it is, in words: `Email`, `Slack`…
    pub kind_name: &'static str,
    pub address: String,
    pub verified: bool,
    pub events: Vec<EventChoice>,
    /// `HH:MM-HH:MM` or empty.
    pub quiet_hours: String,
    pub throttle_seconds: u32,
    pub expiry_lead_seconds: u32,
    pub created: When,
    pub last_sent: Option<When>,
}

/// One checkbox of a channel's events.
#[derive(Debug)]
pub(in crate::dashboard) struct EventChoice {
    pub name: &'static str,
    /// What it means, in words.
    pub label: &'static str,
    pub checked: bool,
}

impl EventChoice {
    /// Every channel event, checked when `chosen` holds it.
    fn all(chosen: impl Fn(ChannelEvent) -> bool) -> Vec<Self> {
        ChannelEvent::ALL
            .into_iter()
            .map(|e| Self {
                name: e.as_str(),
                label: event_label(e),
                checked: chosen(e),
            })
            .collect()
    }
}

fn event_label(event: ChannelEvent) -> &'static str {
    match event {
        ChannelEvent::ClaimSubmitted => "an agent's claim waits",
        ChannelEvent::NotificationCreated => "a service's notification waits",
        ChannelEvent::ItemExpiring => "a waiting claim or notification is about to expire",
        ChannelEvent::EndpointFailing => "a webhook starts failing",
        ChannelEvent::EndpointDisabled => "a webhook is disabled",
        ChannelEvent::EndpointRecovered => "a webhook works again",
    }
}

fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Email => "Email",
        ChannelKind::Slack => "Slack",
        ChannelKind::Discord => "Discord",
        ChannelKind::Ntfy => "ntfy",
        ChannelKind::WebPush => "Web Push",
    }
}

impl From<Channel> for ChannelItem {
    fn from(c: Channel) -> Self {
        Self {
            kind: c.kind.as_str(),
            kind_name: kind_name(c.kind),
            verified: c.verified_at.is_some(),
            events: EventChoice::all(|e| c.events.contains(&e)),
            quiet_hours: c.quiet_hours.map(|q| q.to_text()).unwrap_or_default(),
            throttle_seconds: c.throttle_seconds,
            expiry_lead_seconds: c.expiry_lead_seconds,
            created: When::from(c.created_at),
            last_sent: c.last_sent_at.map(When::from),
            id: c.id,
            address: c.address,
        }
    }
}

/// The add form's values.
#[derive(Debug)]
pub(in crate::dashboard) struct AddForm {
    pub kinds: Vec<KindChoice>,
    pub address: String,
    pub events: Vec<EventChoice>,
    pub quiet_hours: String,
    pub throttle_seconds: String,
    pub expiry_lead_seconds: String,
}

#[derive(Debug)]
pub(in crate::dashboard) struct KindChoice {
    pub value: &'static str,
    pub name: &'static str,
    pub selected: bool,
}

impl AddForm {
    /// The form as written: `kind`, `address`, the checked `events`, `quiet_hours`,
    /// `throttle_seconds`, `expiry_lead_seconds`.
    pub fn new(
        kind: &str,
        address: &str,
        events: &[&str],
        quiet_hours: &str,
        throttle_seconds: &str,
        expiry_lead_seconds: &str,
    ) -> Self {
        Self {
            // A browser adds itself from the "This device" section: a push subscription is
            // nothing a person types.
            kinds: ChannelKind::ALL
                .into_iter()
                .filter(|k| *k != ChannelKind::WebPush)
                .map(|k| KindChoice {
                    value: k.as_str(),
                    name: kind_name(k),
                    selected: k.as_str() == kind,
                })
                .collect(),
            address: address.to_owned(),
            events: EventChoice::all(|e| events.contains(&e.as_str())),
            quiet_hours: quiet_hours.to_owned(),
            throttle_seconds: throttle_seconds.to_owned(),
            expiry_lead_seconds: expiry_lead_seconds.to_owned(),
        }
    }
}

impl Default for AddForm {
    /// Email, every event, no quiet hours, the default throttle and expiry lead.
    fn default() -> Self {
        let all: Vec<&str> = ChannelEvent::ALL.iter().map(|e| e.as_str()).collect();
        Self::new(
            ChannelKind::Email.as_str(),
            "",
            &all,
            "",
            &channel::DEFAULT_THROTTLE_SECONDS.to_string(),
            &channel::DEFAULT_EXPIRY_LEAD_SECONDS.to_string(),
        )
    }
}

/// One message of the sent log.
#[derive(Debug)]
pub(in crate::dashboard) struct MessageItem {
    pub id: String,
    /// The channel's kind and address (the log holds only existing channels' messages).
    pub channel: String,
    pub topic: String,
    /// What it was, in words.
    pub what: &'static str,
    /// `pending`, `sent`, `skipped`, `exhausted`.
    pub status: String,
    pub attempt_count: u32,
    pub item_count: u32,
    pub last_error: Option<String>,
    pub created: When,
    pub sent: Option<When>,
    pub next_attempt: Option<When>,
}

impl MessageItem {
    pub fn new(m: MessageRecord, channels: &[Channel]) -> Self {
        let channel = channels.iter().find(|c| c.id == m.channel_id).map_or_else(
            || m.channel_id.clone(),
            |c| format!("{}: {}", kind_name(c.kind), c.address),
        );
        let what = match channel::Topic::parse(&m.topic) {
            Some(channel::Topic::Verify) => "the confirmation link",
            Some(channel::Topic::Test) => "a test message",
            Some(channel::Topic::Event(ChannelEvent::ClaimSubmitted)) => "claims waiting",
            Some(channel::Topic::Event(ChannelEvent::NotificationCreated)) => {
                "notifications waiting"
            }
            Some(channel::Topic::Event(ChannelEvent::ItemExpiring)) => "a reminder before expiry",
            Some(channel::Topic::Event(ChannelEvent::EndpointFailing)) => "a webhook failing",
            Some(channel::Topic::Event(ChannelEvent::EndpointDisabled)) => "a webhook disabled",
            Some(channel::Topic::Event(ChannelEvent::EndpointRecovered)) => "a webhook recovered",
            None => "a message",
        };
        Self {
            channel,
            what,
            created: When::from(m.created_at),
            sent: m.sent_at.map(When::from),
            next_attempt: m.next_attempt_at.map(When::from),
            id: m.id,
            topic: m.topic,
            status: m.status,
            attempt_count: m.attempt_count,
            item_count: m.item_count,
            last_error: m.last_error,
        }
    }
}
