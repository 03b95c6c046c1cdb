//! Where an owner is reached: channels added (an email address is verified by a one-time
//! link first), listed, tested and removed; the log of messages sent; and the one-click links
//! those messages carry (a GET shows, a POST decides; each link works once).

use assent_auth::TokenHash;
use assent_auth::web_push::{PushError, PushKeys};
use assent_core::Timestamp;
use assent_core::channel::{self, ChannelKind, QuietHours, Topic};
use assent_core::claim::{Claim, ClaimStatus, Decision};
use assent_core::notification::{Action, Notification, OneClick};
use assent_store::{
    Account, Channel, ChannelChange, DecisionLink, ItemKind, MessageRecord, NewChannel, Party,
    StoreError, TransitionError,
};

use crate::error::sentence;
use crate::{App, Error, actor, code};

/// A channel to add, as asked for (each part checked here).
#[derive(Debug, Clone, Default)]
pub struct AddInput {
    /// `email`, `slack`, `discord`, `ntfy` or `web_push`.
    pub kind: Option<String>,
    /// The email address, the chat webhook URL, or the push subscription's endpoint.
    pub address: Option<String>,
    /// A push subscription's keys, as the browser gives them (`web_push` only).
    pub keys: Option<PushKeysInput>,
    /// Channel event names; every one when `None`.
    pub events: Option<Vec<String>>,
    /// `HH:MM-HH:MM`, UTC.
    pub quiet_hours: Option<String>,
    /// At most one message per this many seconds (0 to 86400); more are digested.
    pub throttle_seconds: Option<i64>,
    /// How long before a pending item expires to remind the owner (60 to 86400 seconds).
    pub expiry_lead_seconds: Option<i64>,
}

/// A browser push subscription's keys (`PushSubscription.toJSON().keys`), base64url.
#[derive(Debug, Clone, Default)]
pub struct PushKeysInput {
    pub p256dh: Option<String>,
    pub auth: Option<String>,
}

/// The owner's channels, oldest first.
pub async fn list(app: &App, owner: &Account) -> Result<Vec<Channel>, Error> {
    let id = owner.id.clone();
    app.run(move |store| store.list_channels(&id)).await
}

/// Adds a channel. An email address gets a verification message and nothing else until its
/// link is opened. `VALIDATION_ERROR`, `INVALID_WEBHOOK_URL` (a chat URL or push endpoint
/// that is not https or not public), `INVALID_PUSH_SUBSCRIPTION` (push keys missing or of the
/// wrong shape), `INVALID_EVENT_TYPE`, `CHANNEL_ALREADY_EXISTS`, `CHANNEL_LIMIT_REACHED`.
pub async fn add(app: &App, owner: &Account, input: AddInput) -> Result<Channel, Error> {
    let kind_text = assent_core::field::required("kind", input.kind.as_deref())?;
    let kind = ChannelKind::parse(&kind_text).ok_or_else(|| {
        assent_core::FieldError::invalid("kind", "must be email, slack, discord, ntfy or web_push")
    })?;
    let raw = assent_core::field::required("address", input.address.as_deref())?;
    assent_core::field::max_chars("address", &raw, 2048)?;
    let id = assent_auth::random::id("chn_");
    let address = match kind {
        ChannelKind::Email => channel::check_email(&raw)?,
        _ => crate::webhooks::checked_url(app, raw.trim())
            .map_err(|e| e.for_field("address"))?
            .to_string(),
    };
    let push_keys_sealed = match (kind, input.keys) {
        (ChannelKind::WebPush, keys) => {
            let keys = push_keys(keys)?;
            Some(app.secret_key.seal(&keys.to_text(), &id))
        }
        (_, None) => None,
        (_, Some(_)) => {
            return Err(
                assent_core::FieldError::invalid("keys", "is for web_push channels only").into(),
            );
        }
    };
    let events = events_of(input.events)?;
    let quiet_hours = input
        .quiet_hours
        .as_deref()
        .map(QuietHours::parse)
        .transpose()?;
    let throttle_seconds = input
        .throttle_seconds
        .map(throttle_of)
        .transpose()?
        .unwrap_or(channel::DEFAULT_THROTTLE_SECONDS);
    let expiry_lead_seconds = input
        .expiry_lead_seconds
        .map(lead_of)
        .transpose()?
        .unwrap_or(channel::DEFAULT_EXPIRY_LEAD_SECONDS);
    let new = NewChannel {
        id,
        push_keys_sealed,
        kind,
        address,
        events,
        quiet_hours,
        throttle_seconds,
        expiry_lead_seconds,
    };
    let owner = owner.clone();
    let actor = actor(&owner);
    app.run(move |store| {
        store
            .create_channel(&owner, &new, &actor)
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::conflict(
                    code::CHANNEL_ALREADY_EXISTS,
                    "You have a channel of this kind for this address already.",
                )
                .for_field("address"),
                other => other.into(),
            })
    })
    .await
}

/// Checks a push subscription's keys (`INVALID_PUSH_SUBSCRIPTION`, naming the key).
fn push_keys(keys: Option<PushKeysInput>) -> Result<PushKeys, Error> {
    let invalid = |field: &'static str, why: String| {
        Error::invalid(code::INVALID_PUSH_SUBSCRIPTION, sentence(&why)).for_field(field)
    };
    let keys = keys.ok_or_else(|| {
        invalid(
            "keys",
            "a web_push channel needs `keys` with `p256dh` and `auth`, as the browser's \
             PushSubscription.toJSON() gives them"
                .to_owned(),
        )
    })?;
    let p256dh = keys
        .p256dh
        .ok_or_else(|| invalid("keys.p256dh", "`keys.p256dh` is missing".to_owned()))?;
    let auth = keys
        .auth
        .ok_or_else(|| invalid("keys.auth", "`keys.auth` is missing".to_owned()))?;
    PushKeys::parse(&p256dh, &auth).map_err(|e| match e {
        PushError::BadAuth => invalid("keys.auth", e.to_string()),
        _ => invalid("keys.p256dh", e.to_string()),
    })
}

/// The events a channel asks for, checked (`INVALID_EVENT_TYPE`); every one when `None`.
fn events_of(names: Option<Vec<String>>) -> Result<Vec<channel::ChannelEvent>, Error> {
    channel::subscription(names).map_err(|name| {
        let names: Vec<&str> = channel::ChannelEvent::ALL
            .iter()
            .map(|e| e.as_str())
            .collect();
        let message = if name.is_empty() {
            "`events` must name at least one event.".to_owned()
        } else {
            format!(
                "`{name}` is not an event a channel can get; use {}.",
                names.join(", ")
            )
        };
        Error::invalid(code::INVALID_EVENT_TYPE, message).for_field("events")
    })
}

/// A throttle period, 0 to [`channel::MAX_THROTTLE_SECONDS`].
fn throttle_of(seconds: i64) -> Result<u32, Error> {
    u32::try_from(seconds)
        .ok()
        .filter(|n| *n <= channel::MAX_THROTTLE_SECONDS)
        .ok_or_else(|| {
            assent_core::FieldError::invalid("throttle_seconds", "must be 0 to 86400").into()
        })
}

/// An expiry lead, [`channel::MIN_EXPIRY_LEAD_SECONDS`] to [`channel::MAX_EXPIRY_LEAD_SECONDS`].
fn lead_of(seconds: i64) -> Result<u32, Error> {
    u32::try_from(seconds)
        .ok()
        .filter(|n| {
            (channel::MIN_EXPIRY_LEAD_SECONDS..=channel::MAX_EXPIRY_LEAD_SECONDS).contains(n)
        })
        .ok_or_else(|| {
            assent_core::FieldError::invalid("expiry_lead_seconds", "must be 60 to 86400").into()
        })
}

/// A change to a channel's settings, as asked for; what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    /// Channel event names (at least one).
    pub events: Option<Vec<String>>,
    /// `HH:MM-HH:MM`, UTC; an empty text turns quiet hours off.
    pub quiet_hours: Option<String>,
    /// 0 to 86400.
    pub throttle_seconds: Option<i64>,
    /// 60 to 86400.
    pub expiry_lead_seconds: Option<i64>,
}

/// Changes one of the owner's channels: its events, quiet hours, throttle or expiry lead. Its kind and
/// address stay (another address is another channel, verified anew). `NOT_FOUND`,
/// `VALIDATION_ERROR`, `INVALID_EVENT_TYPE`.
pub async fn update(
    app: &App,
    owner: &Account,
    channel_id: String,
    input: UpdateInput,
) -> Result<Channel, Error> {
    let change = ChannelChange {
        events: input
            .events
            .map(|names| events_of(Some(names)))
            .transpose()?,
        quiet_hours: input
            .quiet_hours
            .map(|text| {
                let text = text.trim();
                (!text.is_empty())
                    .then(|| QuietHours::parse(text))
                    .transpose()
            })
            .transpose()?,
        throttle_seconds: input.throttle_seconds.map(throttle_of).transpose()?,
        expiry_lead_seconds: input.expiry_lead_seconds.map(lead_of).transpose()?,
    };
    let owner = owner.clone();
    let actor = actor(&owner);
    app.run(move |store| store.update_channel(&owner, &channel_id, &change, &actor))
        .await
}

/// Removes one of the owner's channels (`NOT_FOUND`).
pub async fn remove(app: &App, owner: &Account, channel_id: String) -> Result<(), Error> {
    let owner = owner.clone();
    let actor = actor(&owner);
    app.run(move |store| store.delete_channel(&owner, &channel_id, &actor))
        .await
}

/// Queues a test message on a verified channel; returns the message's id.
/// `NOT_FOUND`, `CHANNEL_NOT_VERIFIED`.
pub async fn test(app: &App, owner: &Account, channel_id: String) -> Result<String, Error> {
    queue(app, owner, channel_id, Topic::Test).await
}

/// Sends a channel's verification again; returns the message's id.
/// `NOT_FOUND`, `CHANNEL_ALREADY_VERIFIED`.
pub async fn resend_verification(
    app: &App,
    owner: &Account,
    channel_id: String,
) -> Result<String, Error> {
    queue(app, owner, channel_id, Topic::Verify).await
}

async fn queue(
    app: &App,
    owner: &Account,
    channel_id: String,
    topic: Topic,
) -> Result<String, Error> {
    let account_id = owner.id.clone();
    app.run(move |store| {
        store
            .queue_channel_message(&account_id, &channel_id, topic)
            .map_err(|e| match e {
                StoreError::Conflict(_) if topic == Topic::Test => Error::conflict(
                    code::CHANNEL_NOT_VERIFIED,
                    "The channel is not verified yet: open the link sent to it first.",
                ),
                StoreError::Conflict(_) => Error::conflict(
                    code::CHANNEL_ALREADY_VERIFIED,
                    "The channel is verified already.",
                ),
                other => other.into(),
            })
    })
    .await
}

/// Verifies a channel of the owner's with the token of its verification link (what the link
/// page does, for API clients). `LINK_INVALID` for a token that is unknown, used, expired,
/// not a verification, or another owner's.
pub async fn verify(app: &App, owner: &Account, token: Option<String>) -> Result<Channel, Error> {
    let token = assent_core::field::required("token", token.as_deref())?;
    let hash = TokenHash::of(token.trim());
    let account_id = owner.id.clone();
    let invalid = || {
        Error::invalid(
            code::LINK_INVALID,
            "This verification token is unknown, used or expired.",
        )
        .for_field("token")
    };
    // Looked at before it is used: another owner's token must not be spent by this one.
    let found = app.run(move |store| store.find_link(&hash)).await?;
    match found {
        Some(link)
            if link.account_id == account_id
                && link.item_kind == ItemKind::Channel
                && link.action == VERIFY =>
        {
            let hash = TokenHash::of(token.trim());
            app.run(move |store| store.verify_channel(&hash))
                .await
                .map_err(|e| {
                    if e.code() == code::NOT_FOUND {
                        invalid()
                    } else {
                        e
                    }
                })
        }
        _ => Err(invalid()),
    }
}

/// The owner's sent log, newest first (at most `limit`, 1 to 200).
pub async fn messages(app: &App, owner: &Account, limit: i64) -> Result<Vec<MessageRecord>, Error> {
    let id = owner.id.clone();
    let limit = limit.clamp(1, 200);
    app.run(move |store| store.list_messages(&id, limit)).await
}

/// A link's action names.
pub const APPROVE: &str = "approve";
pub const REJECT: &str = "reject";
pub const VERIFY: &str = "verify";

/// What a link is, as its page shows it before anything is done.
#[derive(Debug, Clone)]
pub enum LinkState {
    /// Unknown (mistyped, tampered with, or of a removed channel).
    Unknown,
    /// Used once already.
    Used,
    /// Past its expiry.
    Expired,
    /// Verifies this channel.
    Verify(Channel),
    /// Approves or rejects this claim (`decision`), which may have been decided meanwhile.
    Claim { claim: Claim, decision: Decision },
    /// Answers this notification with `action` (no data), unless it was answered, expired or
    /// withdrawn meanwhile. An irreversible action also needs its owner's session.
    Notification {
        notification: Box<Notification>,
        action: Action,
        /// What the link answers with (its label and data).
        answer: OneClick,
        /// The account the link was sent to.
        owner_id: String,
    },
}

/// What following a link did.
#[derive(Debug, Clone)]
pub enum Followed {
    /// The link could not be used: the page says why.
    Refused(LinkState),
    Verified(Channel),
    Decided(Claim),
    /// The claim was decided (or expired) before: nothing changed.
    AlreadyDecided(Claim),
    Answered(Box<Notification>),
    /// The notification was answered, expired or withdrawn before: nothing changed.
    AlreadyAnswered(Box<Notification>),
    /// The action cannot be undone and the visitor is not logged in as the link's owner:
    /// nothing changed, and the link still works.
    LoginRequired(LinkState),
}

/// Reads a link without using it.
pub async fn inspect(app: &App, token: &str) -> Result<LinkState, Error> {
    let hash = TokenHash::of(token);
    let link = app.run(move |store| store.find_link(&hash)).await?;
    let Some(link) = link else {
        return Ok(LinkState::Unknown);
    };
    if link.used_at.is_some() {
        return Ok(LinkState::Used);
    }
    if link.expires_at <= Timestamp::now() {
        return Ok(LinkState::Expired);
    }
    describe(app, link).await
}

async fn describe(app: &App, link: DecisionLink) -> Result<LinkState, Error> {
    match (link.item_kind, link.action.as_str()) {
        (ItemKind::Channel, VERIFY) => {
            let (account, item) = (link.account_id.clone(), link.item_id.clone());
            match app
                .run(move |store| store.get_channel(&account, &item))
                .await
            {
                Ok(channel) => Ok(LinkState::Verify(channel)),
                Err(e) if e.code() == code::NOT_FOUND => Ok(LinkState::Unknown),
                Err(e) => Err(e),
            }
        }
        (ItemKind::Claim, action @ (APPROVE | REJECT)) => {
            let decision = if action == APPROVE {
                Decision::Approve
            } else {
                Decision::Reject
            };
            let account_id = link.account_id.clone();
            let claim_id = link.item_id.clone();
            let claim = app
                .run(move |store| {
                    let account = store.account_by_id(&account_id)?;
                    store.get_claim(&account.namespace, &claim_id)
                })
                .await?;
            Ok(claim.map_or(LinkState::Unknown, |claim| LinkState::Claim {
                claim,
                decision,
            }))
        }
        (ItemKind::Notification, action_id) => {
            let account_id = link.account_id.clone();
            let owner = app
                .run(move |store| store.account_by_id(&account_id))
                .await?;
            let found = notification_of(app, &owner, link.item_id.clone()).await?;
            // The first of the notification's one-click answers the link was minted for.
            let answer = found.as_ref().and_then(|n| {
                n.actions.iter().find_map(|action| {
                    action
                        .one_click()
                        .into_iter()
                        .find(|answer| answer.key == action_id)
                        .map(|answer| (action.clone(), answer))
                })
            });
            Ok(match (found, answer) {
                (Some(notification), Some((action, answer))) => LinkState::Notification {
                    notification: Box::new(notification),
                    action,
                    answer,
                    owner_id: link.account_id,
                },
                _ => LinkState::Unknown,
            })
        }
        _ => Ok(LinkState::Unknown),
    }
}

/// The notification `id` of `owner` as it is now, whatever its state (answered, expired or
/// withdrawn ones too: a link's page says which); `None` if it is not theirs.
async fn notification_of(
    app: &App,
    owner: &Account,
    id: String,
) -> Result<Option<Notification>, Error> {
    let namespace = owner.namespace.clone();
    app.run(
        move |store| match store.get_notification(Party::Namespace(&namespace), &id) {
            Ok(row) => Ok(Some(row)),
            Err(TransitionError::Conflict(row)) => Ok(Some(*row)),
            Err(TransitionError::Store(e)) => Err(e),
            Err(TransitionError::NotFound | TransitionError::NotOwner) => Ok(None),
        },
    )
    .await
}

/// Whether a link that answers with an irreversible action may be used by `visitor`: only
/// its owner, logged in (a forwarded mail or a stolen link is not enough).
fn session_allows(state: &LinkState, visitor: Option<&Account>) -> bool {
    match state {
        LinkState::Notification {
            action, owner_id, ..
        } if action.is_irreversible() => visitor.is_some_and(|v| v.id == *owner_id),
        _ => true,
    }
}

/// Follows a link: uses it up (once; a concurrent second use is refused) and does what it
/// says, as its owner. `visitor` is the account whose session the request carries, if any:
/// an irreversible answer needs it to be the link's owner, checked before the link is used.
pub async fn follow(app: &App, token: &str, visitor: Option<&Account>) -> Result<Followed, Error> {
    let state = inspect(app, token).await?;
    match &state {
        LinkState::Verify(_) | LinkState::Claim { .. } | LinkState::Notification { .. } => {}
        _ => return Ok(Followed::Refused(state)),
    }
    if !session_allows(&state, visitor) {
        return Ok(Followed::LoginRequired(state));
    }
    let hash = TokenHash::of(token);
    let used = match app.run(move |store| store.use_link(&hash)).await {
        Ok(link) => link,
        Err(e) if e.code() == code::NOT_FOUND => return Ok(Followed::Refused(LinkState::Used)),
        Err(e) => return Err(e),
    };
    match state {
        LinkState::Verify(_) => {
            let (account, item) = (used.account_id, used.item_id);
            app.run(move |store| store.mark_channel_verified(&account, &item))
                .await
                .map(Followed::Verified)
        }
        LinkState::Claim { claim, decision } => {
            if claim.status != ClaimStatus::Pending {
                return Ok(Followed::AlreadyDecided(claim));
            }
            let owner = {
                let account_id = used.account_id.clone();
                app.run(move |store| store.account_by_id(&account_id))
                    .await?
            };
            match crate::claims::decide(app, &owner, claim.id.clone(), decision).await {
                Ok(decided) => Ok(Followed::Decided(decided)),
                Err(e) if e.code() == code::CLAIM_STATE_CONFLICT => {
                    let claim_id = claim.id.clone();
                    let namespace = owner.namespace.clone();
                    let now = app
                        .run(move |store| store.get_claim(&namespace, &claim_id))
                        .await?
                        .unwrap_or(claim);
                    Ok(Followed::AlreadyDecided(now))
                }
                Err(e) => Err(e),
            }
        }
        LinkState::Notification {
            notification,
            action,
            answer,
            ..
        } => {
            if !notification.status.is_pending() {
                return Ok(Followed::AlreadyAnswered(notification));
            }
            let owner = {
                let account_id = used.account_id.clone();
                app.run(move |store| store.account_by_id(&account_id))
                    .await?
            };
            // The dashboard's own operation: the same checks, one answer, one webhook.
            match crate::notifications::respond(
                app,
                &owner,
                notification.id.clone(),
                &action.id,
                Some(answer.data.clone()),
            )
            .await
            {
                Ok(answered) => Ok(Followed::Answered(Box::new(answered))),
                Err(e) if e.kind() == crate::Kind::Conflict => {
                    let now = notification_of(app, &owner, notification.id.clone())
                        .await?
                        .map_or(notification, Box::new);
                    Ok(Followed::AlreadyAnswered(now))
                }
                Err(e) => Err(e),
            }
        }
        other => Ok(Followed::Refused(other)),
    }
}
