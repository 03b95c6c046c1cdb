//! The message sender: the owner-facing twin of the webhook engine. It leases due messages
//! (verifications, tests, claim and notification digests, reminders before an item expires),
//! mints the one-click links each carries (stored hashed; a message sent again after a crash
//! carries new ones, and the old ones, never seen, expire), composes it, and sends it by SMTP,
//! to a chat webhook, or to a browser's push service (encrypted for that browser, signed with
//! the server's VAPID key) through the SSRF-safe client. Failures are retried on the webhook
//! schedule; the last error is kept for the owner's sent log. A push service that says a
//! subscription is gone (404, 410) disables its channel.

use std::sync::Arc;
use std::time::Duration;

use assent_auth::web_push::{self, Ephemeral, PushKeys, VapidKey};
use assent_auth::{MintedToken, SecretKey, TokenKind, random};
use assent_core::channel::{
    AnswerLink, ChannelEvent, ChannelKind, ClaimLine, Composed, Content, DIGEST_MAX_LINES,
    NotificationLine, PushPayload, Topic,
};
use assent_core::claim::ClaimStatus;
use assent_core::delivery::{Failure, RetrySchedule, retry_delay};
use assent_core::{Timestamp, WebhookUrlPolicy};
use assent_store::{Channel, ItemKind, LeasedMessage, MessageOutcome, NewLink, Store};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::client::{ClientError, SafeClient};

/// How long a verification link works.
const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a one-click answer to a notification without a deadline works (one with a
/// deadline: until it).
const OPEN_ENDED_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How the sender behaves; the mail settings come from `ASSENT_SMTP_URL` and
/// `ASSENT_MAIL_FROM`, the rest is shared with the webhook engine.
#[derive(Debug, Clone)]
pub struct MessengerConfig {
    /// `smtp://host:port` (plain: loopback only), `smtp://host?tls=required` (STARTTLS) or
    /// `smtps://host` (implicit TLS), with `user:password@` if the server wants a login.
    /// Without it, email channels cannot be sent to (their messages wait and are retried).
    pub smtp_url: Option<String>,
    /// The sender address of every mail.
    pub mail_from: String,
    /// The URL links in messages start with.
    pub public_url: url::Url,
    pub schedule: RetrySchedule,
    pub lease: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub policy: WebhookUrlPolicy,
}

/// How long a push service keeps a message for a browser that is offline (`TTL`).
const PUSH_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a VAPID JWT is valid: RFC 8292 allows at most 24 hours.
const VAPID_JWT_TTL: Duration = Duration::from_secs(12 * 3600);

/// What sending Web Push takes: the key that opens subscriptions' sealed keys, the server's
/// VAPID key, and the contact every JWT names (`mailto:` the sender address, or the public URL).
#[derive(Debug, Clone)]
pub struct WebPushConfig {
    pub key: SecretKey,
    pub vapid: VapidKey,
    pub subject: String,
}

/// Why a mail setting is refused.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("ASSENT_SMTP_URL is not a valid SMTP URL: {0}")]
    SmtpUrl(String),
    #[error(
        "ASSENT_SMTP_URL sends in plain text to a host that is not loopback; use smtps:// or \
         ?tls=required"
    )]
    PlainToRemote,
    #[error("ASSENT_MAIL_FROM is not an email address: {0}")]
    From(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Checks an SMTP URL: TLS (implicit or STARTTLS) is required unless the host is loopback.
pub fn check_smtp_url(raw: &str) -> Result<(), MailConfigError> {
    let url = url::Url::parse(raw).map_err(|e| MailConfigError::SmtpUrl(e.to_string()))?;
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let plain = match url.scheme() {
        "smtps" => false,
        "smtp" => !matches!(tls_param.as_deref(), Some("required" | "opportunistic")),
        other => return Err(MailConfigError::SmtpUrl(format!("unknown scheme {other}"))),
    };
    let loopback = match url.host() {
        // `smtp:` is not a special scheme to the URL parser: its IP hosts come as text.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(MailConfigError::SmtpUrl("no host".into())),
    };
    if plain && !loopback {
        return Err(MailConfigError::PlainToRemote);
    }
    Ok(())
}

/// Checks the sender address of mails.
pub fn check_mail_from(raw: &str) -> Result<(), MailConfigError> {
    raw.parse::<Mailbox>()
        .map(drop)
        .map_err(|e| MailConfigError::From(e.to_string()))
}

/// The message sender of one process. Start it with [`Messenger::spawn`]; stop it through the
/// watch channel (messages in flight finish and are recorded).
#[derive(Debug)]
pub struct Messenger {
    store: Store,
    config: Arc<MessengerConfig>,
    client: SafeClient,
    mailer: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    wake: Arc<Notify>,
    web_push: Option<WebPushConfig>,
}

impl Messenger {
    pub fn new(store: Store, config: MessengerConfig) -> Result<Self, MailConfigError> {
        let client = SafeClient::new(config.policy, config.timeout)?;
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailConfigError::From(e.to_string()))?;
        let mailer = match &config.smtp_url {
            Some(raw) => {
                check_smtp_url(raw)?;
                Some(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
                        .map_err(|e| MailConfigError::SmtpUrl(e.to_string()))?
                        .timeout(Some(config.timeout))
                        .build(),
                )
            }
            None => None,
        };
        Ok(Self {
            store,
            config: Arc::new(config),
            client,
            mailer,
            from,
            wake: Arc::new(Notify::new()),
            web_push: None,
        })
    }

    /// Sends to `web_push` channels too (without it, their messages wait and are retried).
    pub fn with_web_push(mut self, config: WebPushConfig) -> Self {
        self.web_push = Some(config);
        self
    }

    /// Runs the loop on the current runtime until `shutdown` turns true.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let wake = Arc::clone(&self.wake);
        self.store
            .set_message_waker(Arc::new(move || wake.notify_one()));
        tokio::spawn(self.run(shutdown))
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut drained = false;
        loop {
            let stopping = *shutdown.borrow();
            if stopping && in_flight.is_empty() {
                break;
            }
            let room = this.config.concurrency.saturating_sub(in_flight.len());
            if !stopping && !drained && room > 0 {
                let store = this.store.clone();
                let lease = this.config.lease;
                let limit = i64::try_from(room).unwrap_or(i64::MAX);
                let leased = tokio::task::spawn_blocking(move || {
                    store.lease_due_messages(Timestamp::now(), lease, limit)
                })
                .await;
                match leased {
                    Ok(Ok(leased)) => {
                        drained = leased.len() < room;
                        for message in leased {
                            let this = Arc::clone(&this);
                            in_flight.spawn(async move { this.handle(message).await });
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "leasing due messages failed");
                        drained = true;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "leasing due messages panicked");
                        drained = true;
                    }
                }
            }
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => drained = false,
                () = this.wake.notified(), if !stopping => drained = false,
                () = tokio::time::sleep(this.config.poll_interval), if !stopping => drained = false,
                changed = shutdown.changed(), if !stopping => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("message sender stopped");
    }

    #[tracing::instrument(name = "message", skip_all, fields(message_id = %message.message_id, channel_id = %message.channel.id))]
    async fn handle(&self, message: LeasedMessage) {
        let outcome = match self.send(&message).await {
            Ok(outcome) => outcome,
            Err(failure) => {
                let number = usize::try_from(message.attempt_count)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1);
                let retry_at = failure
                    .retried
                    .then(|| retry_delay(&self.config.schedule, number, None, jitter()))
                    .flatten()
                    .map(|delay| Timestamp::now().after(delay));
                tracing::warn!(
                    error = %failure.error,
                    attempt = number,
                    retried = retry_at.is_some(),
                    "message attempt failed"
                );
                MessageOutcome::Failed {
                    error: failure.error,
                    retry_at,
                }
            }
        };
        let store = self.store.clone();
        let recorded =
            tokio::task::spawn_blocking(move || store.record_message(&message, &outcome)).await;
        match recorded {
            Ok(Ok(())) => {}
            // The lease lapses and the message is sent again: at least once.
            Ok(Err(e)) => tracing::error!(error = %e, "recording a message failed"),
            Err(e) => tracing::error!(error = %e, "recording a message panicked"),
        }
    }

    /// Composes and sends one message. `Ok` with what it carried, or why it failed.
    async fn send(&self, message: &LeasedMessage) -> Result<MessageOutcome, SendFailure> {
        let carried: Vec<String> = message
            .items
            .iter()
            .map(|(row, _, _)| row.clone())
            .collect();
        if message.channel.disabled_at.is_some() {
            return Err(SendFailure::permanent(format!(
                "the channel is disabled: {}",
                message
                    .channel
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason kept")
            )));
        }
        let Some(content) = self.content(message).await? else {
            return Ok(MessageOutcome::Skipped { items: carried });
        };
        match message.channel.kind {
            ChannelKind::Email => {
                self.mail(&message.channel.address, content.compose())
                    .await?;
            }
            ChannelKind::WebPush => {
                let urgent = matches!(content, Content::Claims { .. });
                self.push(&message.channel, &content.push(), urgent).await?;
            }
            kind => {
                self.chat(kind, &message.channel.address, &content.compose())
                    .await?;
            }
        }
        Ok(MessageOutcome::Sent { items: carried })
    }

    /// What the message says, its links minted and stored; `None` when nothing is left to say.
    async fn content(&self, message: &LeasedMessage) -> Result<Option<Content>, SendFailure> {
        let base = &self.config.public_url;
        let link = |token: &str| join(base, &format!("/dashboard/links/{token}"));
        let dashboard_url = join(base, "/dashboard");
        let mut links = Vec::new();
        // A reminder carries claims or notifications (gathered apart), and says they expire soon.
        let expiring = message.topic == Topic::Event(ChannelEvent::ItemExpiring);
        let carries_claims = message
            .items
            .iter()
            .any(|(_, kind, _)| *kind == ItemKind::Claim);
        // A reminder reads as the message about its item's creation, saying it expires soon.
        let about = match message.topic {
            Topic::Event(ChannelEvent::ItemExpiring) if !carries_claims => {
                Topic::Event(ChannelEvent::NotificationCreated)
            }
            Topic::Event(ChannelEvent::ItemExpiring) => Topic::Event(ChannelEvent::ClaimSubmitted),
            other => other,
        };
        let content = match about {
            Topic::Verify => {
                let token = MintedToken::new(TokenKind::Link);
                links.push(NewLink {
                    hash: token.hash.clone(),
                    item_kind: ItemKind::Channel,
                    item_id: message.channel.id.clone(),
                    action: "verify".to_owned(),
                    expires_at: Timestamp::now().after(VERIFY_TTL),
                });
                Content::Verify {
                    url: link(token.plaintext.expose()),
                }
            }
            Topic::Test => Content::Test { dashboard_url },
            Topic::Event(
                event @ (ChannelEvent::EndpointFailing
                | ChannelEvent::EndpointDisabled
                | ChannelEvent::EndpointRecovered),
            ) => {
                let store = self.store.clone();
                let ids: Vec<String> = message
                    .items
                    .iter()
                    .filter(|(_, kind, _)| *kind == ItemKind::Endpoint)
                    .map(|(_, _, id)| id.clone())
                    .collect();
                let endpoints = tokio::task::spawn_blocking(move || {
                    let mut found = Vec::new();
                    for id in ids {
                        found.extend(store.endpoint_summary(&id)?);
                    }
                    Ok::<_, assent_store::StoreError>(found)
                })
                .await
                .map_err(|e| SendFailure::retried(e.to_string()))?
                .map_err(|e| SendFailure::retried(e.to_string()))?;
                if endpoints.is_empty() {
                    return Ok(None);
                }
                Content::Endpoints {
                    event,
                    endpoints,
                    dashboard_url,
                }
            }
            Topic::Event(ChannelEvent::NotificationCreated) => {
                let store = self.store.clone();
                let namespace = message.account.namespace.clone();
                let ids: Vec<String> = message
                    .items
                    .iter()
                    .filter(|(_, kind, _)| *kind == ItemKind::Notification)
                    .map(|(_, _, id)| id.clone())
                    .collect();
                let found = tokio::task::spawn_blocking(move || {
                    let party = assent_store::Party::Namespace(&namespace);
                    let mut found = Vec::new();
                    for id in ids {
                        match store.get_notification(party, &id) {
                            Ok(n) => found.push(n),
                            // A database failure is retried; a notification gone is left out.
                            Err(assent_store::TransitionError::Store(e)) => return Err(e),
                            Err(_) => {}
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(|e| SendFailure::retried(e.to_string()))?
                .map_err(|e| SendFailure::retried(e.to_string()))?;
                // Notifications answered, expired or withdrawn meanwhile are left out.
                let pending: Vec<_> = found
                    .into_iter()
                    .filter(|n| n.status.is_pending())
                    .collect();
                if pending.is_empty() {
                    return Ok(None);
                }
                let more = pending.len().saturating_sub(DIGEST_MAX_LINES);
                let mut notifications = Vec::new();
                for n in pending.into_iter().take(DIGEST_MAX_LINES) {
                    // Links expire with the notification, or after a while if it never does.
                    let expires_at = n
                        .deadline
                        .unwrap_or_else(|| Timestamp::now().after(OPEN_ENDED_LINK_TTL));
                    let mut answers = Vec::new();
                    for action in &n.actions {
                        for answer in action.one_click() {
                            let token = MintedToken::new(TokenKind::Link);
                            links.push(NewLink {
                                hash: token.hash.clone(),
                                item_kind: ItemKind::Notification,
                                item_id: n.id.clone(),
                                action: answer.key.clone(),
                                expires_at,
                            });
                            answers.push(AnswerLink {
                                action_id: answer.key,
                                label: answer.label,
                                irreversible: action.is_irreversible(),
                                url: link(token.plaintext.expose()),
                            });
                        }
                    }
                    notifications.push(NotificationLine {
                        title: n
                            .context
                            .get("title")
                            .and_then(|t| t.as_str())
                            .unwrap_or("A notification waits for your answer")
                            .to_owned(),
                        service: n.service_name.clone(),
                        deadline: n.deadline.map(Timestamp::to_rfc3339),
                        answers,
                        open_url: join(base, &format!("/dashboard#note-{}", n.id)),
                        notification_id: n.id,
                    });
                }
                Content::Notifications {
                    notifications,
                    more,
                    expiring,
                    dashboard_url,
                }
            }
            Topic::Event(ChannelEvent::ClaimSubmitted | ChannelEvent::ItemExpiring) => {
                let store = self.store.clone();
                let namespace = message.account.namespace.clone();
                let ids: Vec<String> = message
                    .items
                    .iter()
                    .filter(|(_, kind, _)| *kind == ItemKind::Claim)
                    .map(|(_, _, id)| id.clone())
                    .collect();
                let claims = tokio::task::spawn_blocking(move || {
                    let mut claims = Vec::new();
                    for id in ids {
                        if let Some(claim) = store.get_claim(&namespace, &id)? {
                            claims.push(claim);
                        }
                    }
                    Ok::<_, assent_store::StoreError>(claims)
                })
                .await
                .map_err(|e| SendFailure::retried(e.to_string()))?
                .map_err(|e| SendFailure::retried(e.to_string()))?;
                // Claims decided or expired meanwhile are not asked about again.
                let now = Timestamp::now();
                let pending: Vec<_> = claims
                    .into_iter()
                    .filter(|c| c.status == ClaimStatus::Pending && c.expires_at > now)
                    .collect();
                if pending.is_empty() {
                    return Ok(None);
                }
                let more = pending.len().saturating_sub(DIGEST_MAX_LINES);
                let mut lines = Vec::new();
                for claim in pending.into_iter().take(DIGEST_MAX_LINES) {
                    let approve = MintedToken::new(TokenKind::Link);
                    let reject = MintedToken::new(TokenKind::Link);
                    for (token, action) in [(&approve, "approve"), (&reject, "reject")] {
                        links.push(NewLink {
                            hash: token.hash.clone(),
                            item_kind: ItemKind::Claim,
                            item_id: claim.id.clone(),
                            action: action.to_owned(),
                            expires_at: claim.expires_at,
                        });
                    }
                    lines.push(ClaimLine {
                        agent: claim
                            .agent_name
                            .clone()
                            .unwrap_or_else(|| "An agent".to_owned()),
                        service: claim.service_slug.clone(),
                        expires_at: claim.expires_at.to_rfc3339(),
                        approve_url: link(approve.plaintext.expose()),
                        reject_url: link(reject.plaintext.expose()),
                        claim_id: claim.id,
                    });
                }
                Content::Claims {
                    claims: lines,
                    more,
                    expiring,
                    dashboard_url,
                }
            }
        };
        if !links.is_empty() {
            let store = self.store.clone();
            let account_id = message.account.id.clone();
            tokio::task::spawn_blocking(move || store.create_links(&account_id, &links))
                .await
                .map_err(|e| SendFailure::retried(e.to_string()))?
                .map_err(|e| SendFailure::retried(e.to_string()))?;
        }
        Ok(Some(content))
    }

    async fn mail(&self, address: &str, composed: Composed) -> Result<(), SendFailure> {
        let Some(mailer) = &self.mailer else {
            return Err(SendFailure::retried(
                "no SMTP server is configured (ASSENT_SMTP_URL)".to_owned(),
            ));
        };
        let to: Mailbox = address
            .parse()
            .map_err(|e| SendFailure::permanent(format!("invalid address: {e}")))?;
        let mail = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(composed.subject)
            .multipart(MultiPart::alternative_plain_html(
                composed.text,
                composed.html,
            ))
            .map_err(|e| SendFailure::permanent(format!("cannot build the mail: {e}")))?;
        match mailer.send(mail).await {
            Ok(_) => Ok(()),
            // A permanent SMTP refusal (5xx) will not change by asking again.
            Err(e) if e.is_permanent() => Err(SendFailure::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendFailure::retried(format!("SMTP: {e}"))),
        }
    }

    async fn chat(
        &self,
        kind: ChannelKind,
        url: &str,
        composed: &Composed,
    ) -> Result<(), SendFailure> {
        let (content_type, body, extra) = chat_payload(kind, composed);
        let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        headers.extend(extra);
        let attempt = self.client.post(url, &headers, body).await;
        match attempt.failure() {
            None => Ok(()),
            Some(failure) if failure.is_retried() => Err(SendFailure::retried(failure.to_string())),
            Some(failure) => Err(SendFailure::permanent(failure.to_string())),
        }
    }
}

impl Messenger {
    /// Encrypts `payload` for the channel's browser and posts it to its push service (RFC
    /// 8030), signed with the VAPID key. 404 or 410 (the subscription is gone) disables the
    /// channel.
    async fn push(
        &self,
        channel: &Channel,
        payload: &PushPayload,
        urgent: bool,
    ) -> Result<(), SendFailure> {
        let Some(config) = &self.web_push else {
            return Err(SendFailure::retried(
                "Web Push is not set up on this server (no VAPID key)".to_owned(),
            ));
        };
        let sealed = channel
            .push_keys_sealed
            .as_deref()
            .ok_or_else(|| SendFailure::permanent("the channel has no push keys".to_owned()))?;
        let keys = config
            .key
            .open(sealed, &channel.id)
            .map_err(|e| SendFailure::permanent(format!("the push keys do not open: {e}")))
            .and_then(|text| {
                PushKeys::from_text(&text).map_err(|e| SendFailure::permanent(e.to_string()))
            })?;
        let body = serde_json::to_vec(payload)
            .map_err(|e| SendFailure::permanent(format!("cannot encode the payload: {e}")))?;
        let encrypted = web_push::encrypt(&body, &keys, &Ephemeral::generate())
            .map_err(|e| SendFailure::permanent(e.to_string()))?;
        let endpoint = url::Url::parse(&channel.address)
            .map_err(|e| SendFailure::permanent(format!("the endpoint is not a URL: {e}")))?;
        // The JWT's audience is the push service's origin (RFC 8292, section 2).
        let audience = endpoint.origin().ascii_serialization();
        let expires_at = Timestamp::now().after(VAPID_JWT_TTL).as_millis() / 1000;
        let headers = [
            ("Content-Type", "application/octet-stream".to_owned()),
            ("Content-Encoding", "aes128gcm".to_owned()),
            ("TTL", PUSH_TTL.as_secs().to_string()),
            ("Urgency", if urgent { "high" } else { "normal" }.to_owned()),
            (
                "Authorization",
                config
                    .vapid
                    .authorization(&audience, expires_at, &config.subject),
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value));
        let attempt = self
            .client
            .post(&channel.address, &headers, encrypted)
            .await;
        match attempt.failure() {
            None => Ok(()),
            Some(Failure::Status {
                status: status @ (404 | 410),
                ..
            }) => {
                let reason =
                    format!("the push service says the subscription is gone (HTTP {status})");
                let store = self.store.clone();
                let (id, why) = (channel.id.clone(), reason.clone());
                tokio::task::spawn_blocking(move || store.disable_channel(&id, &why))
                    .await
                    .map_err(|e| SendFailure::retried(e.to_string()))?
                    .map_err(|e| SendFailure::retried(e.to_string()))?;
                tracing::info!(channel_id = %channel.id, status, "push subscription gone: channel disabled");
                Err(SendFailure::permanent(reason))
            }
            Some(failure) if failure.is_retried() => Err(SendFailure::retried(failure.to_string())),
            Some(failure) => Err(SendFailure::permanent(failure.to_string())),
        }
    }
}

/// The body of a chat message: Slack Block Kit, a Discord message, or an ntfy text with a
/// title header. All carry the message's links as text, never an in-chat decision.
pub fn chat_payload(
    kind: ChannelKind,
    composed: &Composed,
) -> (&'static str, Vec<u8>, Vec<(String, String)>) {
    match kind {
        ChannelKind::Slack => {
            let body = json!({
                "text": composed.subject,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": truncate(&composed.subject, 150)}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&composed.text, 3000)}},
                ],
            });
            (
                "application/json",
                body.to_string().into_bytes(),
                Vec::new(),
            )
        }
        ChannelKind::Discord => {
            let body = json!({
                "content": truncate(&format!("**{}**\n{}", composed.subject, composed.text), 2000),
                "allowed_mentions": {"parse": []},
            });
            (
                "application/json",
                body.to_string().into_bytes(),
                Vec::new(),
            )
        }
        ChannelKind::Ntfy | ChannelKind::Email | ChannelKind::WebPush => (
            "text/plain; charset=utf-8",
            composed.text.clone().into_bytes(),
            // Header values must be ASCII without line breaks.
            vec![(
                "Title".to_owned(),
                composed
                    .subject
                    .chars()
                    .map(|c| {
                        if c.is_ascii() && !c.is_ascii_control() {
                            c
                        } else {
                            '?'
                        }
                    })
                    .collect(),
            )],
        ),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `base` + `path`, keeping any path prefix the public URL has.
fn join(base: &url::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// Why one send failed, and whether asking again may help.
#[derive(Debug)]
struct SendFailure {
    error: String,
    retried: bool,
}

impl SendFailure {
    fn retried(error: String) -> Self {
        Self {
            error,
            retried: true,
        }
    }

    fn permanent(error: String) -> Self {
        Self {
            error,
            retried: false,
        }
    }
}

/// A number in [-1, 1].
fn jitter() -> f64 {
    let raw = u32::from_le_bytes(random::bytes::<4>());
    f64::from(raw) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_is_refused_except_to_loopback() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://localhost:25").is_ok());
        assert!(check_smtp_url("smtp://[::1]:25").is_ok());
        assert!(check_smtp_url("smtp://10.0.0.1:25").is_err());
        assert!(check_smtp_url("smtps://mail.example.com").is_ok());
        assert!(check_smtp_url("smtp://mail.example.com?tls=required").is_ok());
        assert!(matches!(
            check_smtp_url("smtp://mail.example.com"),
            Err(MailConfigError::PlainToRemote)
        ));
        assert!(check_smtp_url("http://mail.example.com").is_err());
    }

    #[test]
    fn chat_payloads_take_each_service_shape() {
        let composed = Composed {
            subject: "Ada’s claim".into(),
            text: "Approve: https://a.example/links/x".into(),
            html: String::new(),
        };
        let (_, slack, _) = chat_payload(ChannelKind::Slack, &composed);
        let slack: serde_json::Value = serde_json::from_slice(&slack).unwrap_or_default();
        assert_eq!(slack["blocks"][1]["text"]["type"], "mrkdwn");
        let (_, ntfy, headers) = chat_payload(ChannelKind::Ntfy, &composed);
        assert_eq!(ntfy, composed.text.as_bytes());
        assert_eq!(headers[0].1, "Ada?s claim");
    }
}
