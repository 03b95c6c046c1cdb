//! Owner channels: where an owner is reached, which events each channel gets, its quiet hours
//! and throttle, and the messages it is sent (composed here, sent by the delivery engine).
//!
//! A message is due at the first moment that is past the channel's throttle (one message a
//! period; whatever comes meanwhile is gathered into the next one: the digest) and outside its
//! quiet hours.

use std::fmt;

use crate::field::FieldError;
use crate::outbound::{self, WebhookUrlPolicy};

/// How a channel reaches its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Email over SMTP.
    Email,
    /// A Slack incoming webhook (Block Kit).
    Slack,
    /// A Discord webhook.
    Discord,
    /// An ntfy topic URL.
    Ntfy,
    /// A browser's Web Push subscription (RFC 8030): its endpoint URL, with its keys.
    WebPush,
}

impl ChannelKind {
    pub const ALL: [Self; 5] = [
        Self::Email,
        Self::Slack,
        Self::Discord,
        Self::Ntfy,
        Self::WebPush,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Ntfy => "ntfy",
            Self::WebPush => "web_push",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the address must be proven by a link sent to it. A chat webhook URL is a
    /// secret only its owner has: whoever adds it already controls where it posts; a push
    /// subscription likewise comes from the owner's own browser, with keys only it holds.
    pub const fn needs_verification(self) -> bool {
        matches!(self, Self::Email)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a channel can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChannelEvent {
    /// An agent's claim waits for the owner's decision.
    ClaimSubmitted,
    /// A service's notification waits for the owner's answer.
    NotificationCreated,
    /// A pending claim or notification expires within the channel's lead time (once per item).
    ItemExpiring,
    /// A webhook of the owner's started failing (once per streak, not per attempt).
    EndpointFailing,
    /// A webhook of the owner's was disabled by the rules.
    EndpointDisabled,
    /// A failing webhook of the owner's succeeded again.
    EndpointRecovered,
}

impl ChannelEvent {
    pub const ALL: [Self; 6] = [
        Self::ClaimSubmitted,
        Self::NotificationCreated,
        Self::ItemExpiring,
        Self::EndpointFailing,
        Self::EndpointDisabled,
        Self::EndpointRecovered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClaimSubmitted => "claim.submitted",
            Self::NotificationCreated => "notification.created",
            Self::ItemExpiring => "item.expiring",
            Self::EndpointFailing => "endpoint.failing",
            Self::EndpointDisabled => "endpoint.disabled",
            Self::EndpointRecovered => "endpoint.recovered",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// Why a message is sent: an event, the channel's verification, or the owner's test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Event(ChannelEvent),
    Verify,
    Test,
}

impl Topic {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Event(event) => event.as_str(),
            Self::Verify => "channel.verify",
            Self::Test => "channel.test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "channel.verify" => Some(Self::Verify),
            "channel.test" => Some(Self::Test),
            other => ChannelEvent::parse(other).map(Self::Event),
        }
    }
}

/// The events a channel subscribes to: every one when `None`. `Err` names the first unknown
/// one (`""` for an empty list).
pub fn subscription(names: Option<Vec<String>>) -> Result<Vec<ChannelEvent>, String> {
    let Some(names) = names else {
        return Ok(ChannelEvent::ALL.to_vec());
    };
    if names.is_empty() {
        return Err(String::new());
    }
    let mut events = names
        .iter()
        .map(|n| ChannelEvent::parse(n).ok_or_else(|| n.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    events.sort();
    events.dedup();
    Ok(events)
}

/// An email address as a channel takes it: one `@` between a local part and a domain, no
/// spaces, angle brackets or control characters, at most 254 characters. Deliverability is
/// proven by the verification link, not guessed here.
pub fn check_email(raw: &str) -> Result<String, FieldError> {
    let address = raw.trim();
    let bad = || {
        FieldError::invalid(
            "address",
            "must be an email address such as ada@example.com",
        )
    };
    if address.is_empty() || address.chars().count() > 254 {
        return Err(bad());
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return Err(bad());
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(bad());
    };
    if local.is_empty()
        || local.contains('@')
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(address.to_owned())
}

/// A channel's address checked for its kind: an email address, or a chat webhook URL under
/// the same rules as webhooks (`https`, no private or loopback address unless allowed).
pub fn check_address(
    kind: ChannelKind,
    raw: &str,
    policy: WebhookUrlPolicy,
) -> Result<String, FieldError> {
    match kind {
        ChannelKind::Email => check_email(raw),
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Ntfy | ChannelKind::WebPush => {
            outbound::check_webhook_url(raw.trim(), policy)
                .map(|url| url.to_string())
                .map_err(|why| FieldError::invalid("address", format!("the url {why}")))
        }
    }
}

/// Quiet hours: a daily span of UTC minutes during which nothing is sent (it waits for the
/// end). `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
}

const MINUTES_A_DAY: i64 = 24 * 60;
const MINUTE_MS: i64 = 60_000;

impl QuietHours {
    /// Parses `HH:MM-HH:MM` (UTC).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::invalid(
                "quiet_hours",
                "must be HH:MM-HH:MM in UTC, such as 22:00-07:00",
            )
        };
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (start, end) = (
            minutes(start).ok_or_else(bad)?,
            minutes(end).ok_or_else(bad)?,
        );
        if start == end {
            return Err(bad());
        }
        Ok(Self { start, end })
    }

    pub fn to_text(self) -> String {
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }

    fn contains(self, minute_of_day: i64) -> bool {
        let (start, end) = (i64::from(self.start), i64::from(self.end));
        if start < end {
            (start..end).contains(&minute_of_day)
        } else {
            minute_of_day >= start || minute_of_day < end
        }
    }

    /// `at` if it is outside the quiet hours, or the end of the quiet hours it falls in.
    pub fn next_allowed(self, at_ms: i64) -> i64 {
        let minute_of_day = at_ms.div_euclid(MINUTE_MS).rem_euclid(MINUTES_A_DAY);
        if !self.contains(minute_of_day) {
            return at_ms;
        }
        let day_start = at_ms - at_ms.rem_euclid(MINUTES_A_DAY * MINUTE_MS);
        let mut end = day_start + i64::from(self.end) * MINUTE_MS;
        if end <= at_ms {
            end += MINUTES_A_DAY * MINUTE_MS;
        }
        end
    }
}

/// When a channel's next message may go out: after its throttle period since the last one
/// sent, and outside its quiet hours. Verification and test messages ignore both (the owner
/// is waiting for them).
pub fn due_at(
    topic: Topic,
    now_ms: i64,
    last_sent_ms: Option<i64>,
    throttle_seconds: u32,
    quiet: Option<QuietHours>,
) -> i64 {
    if !matches!(topic, Topic::Event(_)) {
        return now_ms;
    }
    let throttled = last_sent_ms.map_or(now_ms, |last| {
        now_ms.max(last.saturating_add(i64::from(throttle_seconds) * 1000))
    });
    quiet.map_or(throttled, |q| q.next_allowed(throttled))
}

/// The default throttle: one message a minute per channel; a burst in between becomes one
/// digest.
pub const DEFAULT_THROTTLE_SECONDS: u32 = 60;
/// The longest throttle period: a day.
pub const MAX_THROTTLE_SECONDS: u32 = 86_400;

/// The default expiry lead: a reminder goes ten minutes before a pending item expires.
pub const DEFAULT_EXPIRY_LEAD_SECONDS: u32 = 600;
/// The shortest expiry lead: a minute.
pub const MIN_EXPIRY_LEAD_SECONDS: u32 = 60;
/// The longest expiry lead: a day.
pub const MAX_EXPIRY_LEAD_SECONDS: u32 = 86_400;

/// When an item expiring at `expires_ms` is recalled on a channel with `lead_seconds`: the
/// lead before its expiry, or the end of the quiet hours that time falls in. `None` when that
/// is not in the future and before the expiry: a reminder after the item expired is useless,
/// and one due at once would repeat the message about the item just created.
pub fn reminder_due_at(
    now_ms: i64,
    expires_ms: i64,
    lead_seconds: u32,
    quiet: Option<QuietHours>,
) -> Option<i64> {
    let due = expires_ms.saturating_sub(i64::from(lead_seconds) * 1000);
    let due = quiet.map_or(due, |q| q.next_allowed(due));
    (due > now_ms && due < expires_ms).then_some(due)
}

/// A claim as a message shows it, with its one-click links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLine {
    pub claim_id: String,
    pub service: String,
    pub agent: String,
    pub expires_at: String,
    pub approve_url: String,
    pub reject_url: String,
}

/// A notification as a message shows it: a one-click link per action that needs no data,
/// and the link that opens it in the dashboard (where every action can be answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationLine {
    pub notification_id: String,
    /// The service's name.
    pub service: String,
    /// Its context's title (or a stand-in when it has none).
    pub title: String,
    /// RFC 3339, when it has a deadline.
    pub deadline: Option<String>,
    pub answers: Vec<AnswerLink>,
    pub open_url: String,
}

/// A one-click answer to a notification: the single-use link that answers with one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerLink {
    /// The answer's key ([`crate::notification::OneClick::key`]): the action's id, with
    /// `#true` or `#false` for a binary one.
    pub action_id: String,
    /// The answer's words: the action's label, and a binary one's option.
    pub label: String,
    /// Flagged `irreversible`: its link asks for the owner's logged-in session too.
    pub irreversible: bool,
    pub url: String,
}

impl AnswerLink {
    /// The label as a message shows it, saying when the answer cannot be undone.
    fn shown(&self) -> String {
        if self.irreversible {
            format!("{} (cannot be undone; log in first)", self.label)
        } else {
            self.label.clone()
        }
    }
}

/// What a message says, before any channel's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Open the link to start receiving messages here.
    Verify { url: String },
    /// The owner's test.
    Test { dashboard_url: String },
    /// Webhooks of the owner's that changed health: `(service, url, last error)` each.
    Endpoints {
        event: ChannelEvent,
        endpoints: Vec<(String, String, Option<String>)>,
        dashboard_url: String,
    },
    /// Notifications waiting, one or a digest of many; `more` were left out of a long digest.
    Notifications {
        notifications: Vec<NotificationLine>,
        more: usize,
        /// A reminder (`item.expiring`): the subject says they expire soon.
        expiring: bool,
        dashboard_url: String,
    },
    /// Claims waiting, one or a digest of many; `more` were left out of a long digest
    /// (they are in the dashboard).
    Claims {
        claims: Vec<ClaimLine>,
        more: usize,
        /// A reminder (`item.expiring`): the subject says they expire soon.
        expiring: bool,
        dashboard_url: String,
    },
}

/// A message composed: a subject, a plain text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The most claims one digest lists with their links; the rest are counted.
pub const DIGEST_MAX_LINES: usize = 20;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A reminder's subject says so first; the body (with the expiry and the links) is the same.
fn expiring_subject(expiring: bool, subject: String) -> String {
    if expiring {
        format!("Expires soon: {subject}")
    } else {
        subject
    }
}

impl Content {
    pub fn compose(&self) -> Composed {
        match self {
            Self::Verify { url } => Composed {
                subject: "Confirm this address for assent".to_owned(),
                text: format!(
                    "Open this link to receive assent messages at this address:\n\n{url}\n\n\
                     If you did not ask for this, ignore this message.\n"
                ),
                html: format!(
                    "<p>Open this link to receive assent messages at this address:</p>\
                     <p><a href=\"{u}\">Confirm this address</a></p>\
                     <p>If you did not ask for this, ignore this message.</p>",
                    u = escape_html(url)
                ),
            },
            Self::Test { dashboard_url } => Composed {
                subject: "assent test message".to_owned(),
                text: format!(
                    "This channel works: assent will reach you here.\n\nDashboard: {dashboard_url}\n"
                ),
                html: format!(
                    "<p>This channel works: assent will reach you here.</p>\
                     <p><a href=\"{u}\">Open the dashboard</a></p>",
                    u = escape_html(dashboard_url)
                ),
            },
            Self::Endpoints {
                event,
                endpoints,
                dashboard_url,
            } => {
                let state = match event {
                    ChannelEvent::EndpointDisabled => "was disabled",
                    ChannelEvent::EndpointRecovered => "works again",
                    _ => "is failing",
                };
                let subject = match endpoints.as_slice() {
                    [(service, _, _)] => format!("A webhook of {service} {state}"),
                    many => format!("{} webhooks {state}", many.len()),
                };
                let mut text = String::new();
                let mut html = String::new();
                for (service, url, error) in endpoints {
                    let error = error
                        .as_deref()
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default();
                    text.push_str(&format!("{service}: {url} {state}{error}.\n"));
                    html.push_str(&format!(
                        "<p><strong>{}</strong>: <code>{}</code> {state}{}.</p>",
                        escape_html(service),
                        escape_html(url),
                        escape_html(&error)
                    ));
                }
                text.push_str(&format!("\nDelivery log: {dashboard_url}\n"));
                html.push_str(&format!(
                    "<p><a href=\"{}\">Open the dashboard</a></p>",
                    escape_html(dashboard_url)
                ));
                Composed {
                    subject,
                    text,
                    html,
                }
            }
            Self::Notifications {
                notifications,
                more,
                expiring,
                dashboard_url,
            } => {
                let total = notifications.len() + more;
                let subject = match notifications.first() {
                    Some(n) if total == 1 => format!("{} asks: {}", n.service, n.title),
                    _ => format!("{total} notifications wait for your answer"),
                };
                let subject = expiring_subject(*expiring, subject);
                let mut text = String::new();
                let mut html = String::new();
                for n in notifications {
                    let deadline = n
                        .deadline
                        .as_deref()
                        .map(|d| format!(", answer by {d}"))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        "{service} asks: {title} (notification {id}{deadline}).\n",
                        service = n.service,
                        title = n.title,
                        id = n.notification_id,
                    ));
                    let mut links = Vec::new();
                    for answer in &n.answers {
                        text.push_str(&format!("{}: {}\n", answer.shown(), answer.url));
                        links.push(format!(
                            "<a href=\"{}\">{}</a>",
                            escape_html(&answer.url),
                            escape_html(&answer.shown())
                        ));
                    }
                    text.push_str(&format!("Open: {}\n\n", n.open_url));
                    links.push(format!("<a href=\"{}\">Open</a>", escape_html(&n.open_url)));
                    html.push_str(&format!(
                        "<p><strong>{service}</strong> asks: {title} \
                         (notification <code>{id}</code>{deadline}).<br>{links}</p>",
                        service = escape_html(&n.service),
                        title = escape_html(&n.title),
                        id = escape_html(&n.notification_id),
                        deadline = escape_html(&deadline),
                        links = links.join(" · "),
                    ));
                }
                if *more > 0 {
                    text.push_str(&format!("And {more} more in the dashboard.\n\n"));
                    html.push_str(&format!("<p>And {more} more in the dashboard.</p>"));
                }
                text.push_str(&format!("Dashboard: {dashboard_url}\n"));
                html.push_str(&format!(
                    "<p><a href=\"{}\">Open the dashboard</a></p>",
                    escape_html(dashboard_url)
                ));
                Composed {
                    subject,
                    text,
                    html,
                }
            }
            Self::Claims {
                claims,
                more,
                expiring,
                dashboard_url,
            } => {
                let total = claims.len() + more;
                let subject = match claims.first() {
                    Some(c) if total == 1 => {
                        format!("{} asks to act for you on {}", c.agent, c.service)
                    }
                    _ => format!("{total} agent claims wait for your decision"),
                };
                let subject = expiring_subject(*expiring, subject);
                let mut text = String::new();
                let mut html = String::new();
                for c in claims {
                    text.push_str(&format!(
                        "{agent} asks to act for you on {service} (claim {id}, expires {exp}).\n\
                         Approve: {approve}\nReject: {reject}\n\n",
                        agent = c.agent,
                        service = c.service,
                        id = c.claim_id,
                        exp = c.expires_at,
                        approve = c.approve_url,
                        reject = c.reject_url,
                    ));
                    html.push_str(&format!(
                        "<p><strong>{agent}</strong> asks to act for you on <strong>{service}</strong> \
                         (claim <code>{id}</code>, expires {exp}).<br>\
                         <a href=\"{approve}\">Approve</a> · <a href=\"{reject}\">Reject</a></p>",
                        agent = escape_html(&c.agent),
                        service = escape_html(&c.service),
                        id = escape_html(&c.claim_id),
                        exp = escape_html(&c.expires_at),
                        approve = escape_html(&c.approve_url),
                        reject = escape_html(&c.reject_url),
                    ));
                }
                if *more > 0 {
                    text.push_str(&format!("And {more} more in the dashboard.\n\n"));
                    html.push_str(&format!("<p>And {more} more in the dashboard.</p>"));
                }
                text.push_str(&format!("Dashboard: {dashboard_url}\n"));
                html.push_str(&format!(
                    "<p><a href=\"{}\">Open the dashboard</a></p>",
                    escape_html(dashboard_url)
                ));
                Composed {
                    subject,
                    text,
                    html,
                }
            }
        }
    }
}

/// A push notification as the dashboard's service worker shows it (`docs/channels.md`): sent
/// as JSON, encrypted for the browser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushPayload {
    pub title: String,
    pub body: String,
    /// Opened by a click on the notification itself.
    pub url: String,
    /// A newer notification with the same tag replaces the older one.
    pub tag: String,
    pub actions: Vec<PushAction>,
}

/// A button of a push notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushAction {
    /// `approve`, `reject`, `open`, or `answer:<action id>` for a notification's answer.
    pub action: String,
    pub title: String,
    pub url: String,
    /// `POST` for a one-click decision link (the service worker posts it, as the link's
    /// confirmation page does), `GET` to open the page (Open, and an answer that cannot be
    /// undone: its page asks for a logged-in session).
    pub method: String,
}

/// The longest body a push notification carries: browsers show a few lines, and the whole
/// payload must fit one push message.
const PUSH_BODY_MAX_CHARS: usize = 600;

fn open_action(url: &str) -> PushAction {
    PushAction {
        action: "open".to_owned(),
        title: "Open".to_owned(),
        url: url.to_owned(),
        method: "GET".to_owned(),
    }
}

/// The most one-click answers a push carries: what browsers show (`Notification.maxActions`
/// is 2 in Chromium and Firefox). A notification with more carries Open only, rather than
/// some of its choices; the whole payload must also fit one push message.
pub const PUSH_MAX_ANSWERS: usize = 2;

/// One notification's push actions: its one-click answers when they all fit, then Open. A
/// reversible answer is posted by the service worker, as a claim's Approve is; one that
/// cannot be undone opens its link's page (which asks for a logged-in session).
fn answer_actions(line: &NotificationLine) -> Vec<PushAction> {
    let mut actions = Vec::new();
    if line.answers.len() <= PUSH_MAX_ANSWERS {
        actions.extend(line.answers.iter().map(|answer| PushAction {
            action: format!("answer:{}", answer.action_id),
            title: clip(&answer.label, 40),
            url: answer.url.clone(),
            method: if answer.irreversible { "GET" } else { "POST" }.to_owned(),
        }));
    }
    actions.push(open_action(&line.open_url));
    actions
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl Content {
    /// The message as a push notification: one claim carries **Approve** and **Reject**
    /// (its single-use links); one notification its one-click answers (see
    /// [`PUSH_MAX_ANSWERS`]) and **Open**; a digest and everything else carry **Open**.
    pub fn push(&self) -> PushPayload {
        let composed = self.compose();
        let (body, url, tag, actions) = match self {
            Self::Verify { url } => (
                "Open this link to receive assent messages here.".to_owned(),
                url.clone(),
                "verify".to_owned(),
                vec![open_action(url)],
            ),
            Self::Test { dashboard_url } => (
                "This channel works: assent will reach you here.".to_owned(),
                dashboard_url.clone(),
                "test".to_owned(),
                vec![open_action(dashboard_url)],
            ),
            Self::Endpoints {
                event,
                dashboard_url,
                ..
            } => (
                composed.text.clone(),
                dashboard_url.clone(),
                event.as_str().to_owned(),
                vec![open_action(dashboard_url)],
            ),
            Self::Notifications {
                notifications,
                more,
                dashboard_url,
                ..
            } => match notifications.as_slice() {
                [one] if *more == 0 => (
                    format!("{}: {}", one.service, one.title),
                    one.open_url.clone(),
                    one.notification_id.clone(),
                    answer_actions(one),
                ),
                many => {
                    let mut body: Vec<String> = many
                        .iter()
                        .map(|n| format!("{}: {}", n.service, n.title))
                        .collect();
                    if *more > 0 {
                        body.push(format!("And {more} more."));
                    }
                    (
                        body.join("\n"),
                        dashboard_url.clone(),
                        "notifications".to_owned(),
                        vec![open_action(dashboard_url)],
                    )
                }
            },
            Self::Claims {
                claims,
                more,
                dashboard_url,
                ..
            } => match claims.as_slice() {
                [claim] if *more == 0 => (
                    format!("Claim {} expires {}.", claim.claim_id, claim.expires_at),
                    dashboard_url.clone(),
                    claim.claim_id.clone(),
                    vec![
                        PushAction {
                            action: "approve".to_owned(),
                            title: "Approve".to_owned(),
                            url: claim.approve_url.clone(),
                            method: "POST".to_owned(),
                        },
                        PushAction {
                            action: "reject".to_owned(),
                            title: "Reject".to_owned(),
                            url: claim.reject_url.clone(),
                            method: "POST".to_owned(),
                        },
                    ],
                ),
                many => {
                    let mut body: Vec<String> = many
                        .iter()
                        .map(|c| format!("{} on {}", c.agent, c.service))
                        .collect();
                    if *more > 0 {
                        body.push(format!("And {more} more."));
                    }
                    (
                        body.join("\n"),
                        dashboard_url.clone(),
                        "claims".to_owned(),
                        vec![open_action(dashboard_url)],
                    )
                }
            },
        };
        PushPayload {
            title: clip(&composed.subject, 120),
            body: clip(&body, PUSH_BODY_MAX_CHARS),
            url,
            tag,
            actions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn email_addresses_are_checked_for_shape_only() {
        assert_eq!(check_email(" ada@example.com ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "ada@@x.com",
            "<ada@example.com>",
            "ada@example.com, eve@example.com",
            "ada@.com",
            "ada@x..com",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chat_urls_follow_the_webhook_rules() {
        let strict = WebhookUrlPolicy::default();
        assert!(
            check_address(
                ChannelKind::Slack,
                "https://hooks.slack.com/services/x",
                strict
            )
            .is_ok()
        );
        for bad in [
            "http://hooks.slack.com/x",
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "nope",
        ] {
            assert!(
                check_address(ChannelKind::Discord, bad, strict).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn quiet_hours_spanning_midnight_delay_to_their_end() {
        let quiet = QuietHours::parse("22:00-07:00").unwrap();
        assert_eq!(quiet.to_text(), "22:00-07:00");
        let day = 20 * 24 * HOUR;
        assert_eq!(quiet.next_allowed(day + 12 * HOUR), day + 12 * HOUR);
        assert_eq!(quiet.next_allowed(day + 23 * HOUR), day + 31 * HOUR);
        assert_eq!(quiet.next_allowed(day + 3 * HOUR), day + 7 * HOUR);
        assert_eq!(quiet.next_allowed(day + 7 * HOUR), day + 7 * HOUR);
        let daytime = QuietHours::parse("09:30-10:00").unwrap();
        assert_eq!(
            daytime.next_allowed(day + 9 * HOUR + 40 * 60_000),
            day + 10 * HOUR
        );
        for bad in ["22-07", "25:00-01:00", "10:00-10:00", "10:00", "9:00-10:00"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_message_waits_for_the_throttle_and_the_quiet_hours_but_a_verification_does_not() {
        let day = 20 * 24 * HOUR;
        let event = Topic::Event(ChannelEvent::ClaimSubmitted);
        let now = day + 12 * HOUR;
        assert_eq!(due_at(event, now, None, 60, None), now);
        assert_eq!(
            due_at(event, now, Some(now - 10_000), 60, None),
            now + 50_000
        );
        let quiet = QuietHours::parse("12:00-13:00").ok();
        assert_eq!(due_at(event, now, None, 60, quiet), day + 13 * HOUR);
        assert_eq!(due_at(Topic::Verify, now, Some(now), 60, quiet), now);
    }

    #[test]
    fn a_notification_message_names_its_service_and_title_and_escapes_html() {
        let line = NotificationLine {
            notification_id: "ntf_1".into(),
            service: "CI <bot>".into(),
            title: "Deploy to production?".into(),
            deadline: None,
            answers: vec![
                AnswerLink {
                    action_id: "deploy".into(),
                    label: "Deploy".into(),
                    irreversible: true,
                    url: "https://a.example/dashboard/links/lnk_d".into(),
                },
                AnswerLink {
                    action_id: "hold".into(),
                    label: "Hold <it>".into(),
                    irreversible: false,
                    url: "https://a.example/dashboard/links/lnk_h".into(),
                },
            ],
            open_url: "https://a.example/dashboard#note-ntf_1".into(),
        };
        let one = Content::Notifications {
            notifications: vec![line.clone()],
            more: 0,
            expiring: false,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .compose();
        assert_eq!(one.subject, "CI <bot> asks: Deploy to production?");
        assert!(
            one.text
                .contains("Open: https://a.example/dashboard#note-ntf_1")
        );
        assert!(one.html.contains("CI &lt;bot&gt;") && !one.html.contains("<bot>"));
        assert!(
            one.text.contains(
                "Deploy (cannot be undone; log in first): https://a.example/dashboard/links/lnk_d\n\
                 Hold <it>: https://a.example/dashboard/links/lnk_h\n"
            ),
            "{}",
            one.text
        );
        assert!(
            one.html.contains(
                "<a href=\"https://a.example/dashboard/links/lnk_h\">Hold &lt;it&gt;</a>"
            ),
            "{}",
            one.html
        );
        let many = Content::Notifications {
            notifications: vec![line.clone(), line],
            more: 1,
            expiring: false,
            dashboard_url: "d".into(),
        }
        .compose();
        assert_eq!(many.subject, "3 notifications wait for your answer");
        assert!(many.text.contains("And 1 more"));
    }

    #[test]
    fn a_digest_lists_each_claim_with_its_links_and_escapes_html() {
        let line = |n: usize| ClaimLine {
            claim_id: format!("clm_{n}"),
            service: "<b>ide</b>".into(),
            agent: "bot".into(),
            expires_at: "soon".into(),
            approve_url: format!("https://a.example/l/{n}a"),
            reject_url: format!("https://a.example/l/{n}r"),
        };
        let one = Content::Claims {
            claims: vec![line(1)],
            more: 0,
            expiring: false,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .compose();
        assert_eq!(one.subject, "bot asks to act for you on <b>ide</b>");
        assert!(one.html.contains("&lt;b&gt;ide&lt;/b&gt;") && !one.html.contains("<b>ide"));
        let many = Content::Claims {
            claims: vec![line(1), line(2)],
            more: 3,
            expiring: false,
            dashboard_url: "d".into(),
        }
        .compose();
        assert_eq!(many.subject, "5 agent claims wait for your decision");
        assert!(many.text.contains("https://a.example/l/2r") && many.text.contains("And 3 more"));
        let reminder = Content::Claims {
            claims: vec![line(1)],
            more: 0,
            expiring: true,
            dashboard_url: "d".into(),
        }
        .compose();
        assert_eq!(
            reminder.subject,
            "Expires soon: bot asks to act for you on <b>ide</b>"
        );
        assert!(reminder.text.contains("https://a.example/l/1a"));
    }

    #[test]
    fn a_reminder_is_due_its_lead_before_the_expiry_and_never_after_it() {
        let day = 20 * 24 * HOUR;
        let now = day + 12 * HOUR;
        let expires = now + HOUR;
        assert_eq!(
            reminder_due_at(now, expires, 600, None),
            Some(expires - 600_000)
        );
        // A lead longer than the item's life: its first message is the reminder.
        assert_eq!(reminder_due_at(now, expires, 7200, None), None);
        // Quiet hours move it to their end while that is still before the expiry...
        let quiet = QuietHours::parse("12:00-12:55").ok();
        assert_eq!(
            reminder_due_at(now, expires, 600, quiet),
            Some(day + 12 * HOUR + 55 * 60_000)
        );
        // ...and drop it when they last past the expiry.
        let quiet = QuietHours::parse("12:00-14:00").ok();
        assert_eq!(reminder_due_at(now, expires, 600, quiet), None);
    }

    #[test]
    fn one_claim_pushes_approve_and_reject_and_a_digest_pushes_open() {
        let line = |n: usize| ClaimLine {
            claim_id: format!("clm_{n}"),
            service: "ide".into(),
            agent: "bot".into(),
            expires_at: "soon".into(),
            approve_url: format!("https://a.example/l/{n}a"),
            reject_url: format!("https://a.example/l/{n}r"),
        };
        let one = Content::Claims {
            expiring: false,
            claims: vec![line(1)],
            more: 0,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .push();
        assert_eq!(one.title, "bot asks to act for you on ide");
        let actions: Vec<(&str, &str, &str)> = one
            .actions
            .iter()
            .map(|a| (a.title.as_str(), a.url.as_str(), a.method.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("Approve", "https://a.example/l/1a", "POST"),
                ("Reject", "https://a.example/l/1r", "POST")
            ]
        );
        let many = Content::Claims {
            expiring: false,
            claims: vec![line(1), line(2)],
            more: 1,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .push();
        assert_eq!(many.actions.len(), 1);
        assert_eq!(many.actions[0].action, "open");
        assert!(many.body.ends_with("And 1 more."), "{}", many.body);
    }

    #[test]
    fn one_notification_pushes_its_answers_and_open_and_a_digest_the_dashboard() {
        let answer = |id: &str, irreversible: bool| AnswerLink {
            action_id: id.into(),
            label: id.to_uppercase(),
            irreversible,
            url: format!("https://a.example/dashboard/links/{id}"),
        };
        let line = |n: usize| NotificationLine {
            notification_id: format!("ntf_{n}"),
            service: "ide".into(),
            title: format!("Deploy {n}?"),
            deadline: None,
            answers: vec![answer("go", false), answer("drop", true)],
            open_url: format!("https://a.example/dashboard#note-ntf_{n}"),
        };
        let one = Content::Notifications {
            expiring: false,
            notifications: vec![line(1)],
            more: 0,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .push();
        assert_eq!(one.body, "ide: Deploy 1?");
        assert_eq!(one.tag, "ntf_1");
        assert_eq!(one.url, "https://a.example/dashboard#note-ntf_1");
        let actions: Vec<(&str, &str, &str)> = one
            .actions
            .iter()
            .map(|a| (a.action.as_str(), a.title.as_str(), a.method.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("answer:go", "GO", "POST"),
                ("answer:drop", "DROP", "GET"),
                ("open", "Open", "GET")
            ]
        );
        // More answers than a browser shows: Open only, not some of the choices.
        let mut crowded = line(1);
        crowded.answers.push(answer("wait", false));
        let crowded = Content::Notifications {
            expiring: false,
            notifications: vec![crowded],
            more: 0,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .push();
        assert_eq!(
            crowded.actions,
            [open_action("https://a.example/dashboard#note-ntf_1")]
        );
        let many = Content::Notifications {
            expiring: false,
            notifications: vec![line(1), line(2)],
            more: 3,
            dashboard_url: "https://a.example/dashboard".into(),
        }
        .push();
        assert_eq!(many.url, "https://a.example/dashboard");
        assert_eq!(many.body, "ide: Deploy 1?\nide: Deploy 2?\nAnd 3 more.");
    }
}
