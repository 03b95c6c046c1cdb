//! Owner channels, the messages sent on them, and the one-click links those messages carry.
//!
//! Messages are an outbox of their own, next to webhook deliveries and with the same
//! guarantees: a message is written in the transaction of the change that causes it, leased
//! by a sender, and released with its outcome (sent, or retried later); a lease that lapses
//! (the sender died) makes it due again. A pending message that no sender holds gathers every
//! item that comes meanwhile: that is the digest, and the throttle decides when it is due.

use std::collections::HashSet;
use std::time::Duration;

use assent_auth::TokenHash;
use assent_core::Timestamp;
use assent_core::channel::{self, ChannelEvent, ChannelKind, QuietHours, Topic};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use serde_json::json;

use crate::AnyConnection;
use crate::accounts::{Account, AccountRow};
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::StoreError;
use crate::outbox::Outbox;
use crate::schema::{accounts, channels, decision_links, message_items, messages};

/// The most channels one owner may have.
pub const CHANNELS_PER_ACCOUNT: i64 = 20;

/// An owner's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub account_id: String,
    pub kind: ChannelKind,
    /// The email address or the chat webhook URL.
    pub address: String,
    pub events: Vec<ChannelEvent>,
    pub quiet_hours: Option<QuietHours>,
    pub throttle_seconds: u32,
    /// How long before a pending item expires the channel reminds the owner (`item.expiring`).
    pub expiry_lead_seconds: u32,
    pub verified_at: Option<Timestamp>,
    pub last_sent_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// A Web Push subscription's keys, sealed with the channel's id.
    pub push_keys_sealed: Option<String>,
    /// When it stopped getting messages (its push subscription is gone), and why.
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub(crate) struct ChannelRow {
    id: String,
    account_id: String,
    kind: String,
    address: String,
    events: String,
    quiet_start: Option<i32>,
    quiet_end: Option<i32>,
    throttle_seconds: i32,
    verified_at: Option<i64>,
    last_sent_at: Option<i64>,
    created_at: i64,
    push_keys_sealed: Option<String>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    expiry_lead_seconds: i32,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;

    fn try_from(row: ChannelRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("channel {}: {what}", row.id));
        let kind = ChannelKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?;
        let names: Vec<String> =
            serde_json::from_str(&row.events).map_err(|_| corrupt("events"))?;
        let events = names
            .iter()
            .filter_map(|n| ChannelEvent::parse(n))
            .collect();
        let quiet_hours = match (row.quiet_start, row.quiet_end) {
            (Some(start), Some(end)) => Some(QuietHours {
                start: u16::try_from(start).map_err(|_| corrupt("quiet_start"))?,
                end: u16::try_from(end).map_err(|_| corrupt("quiet_end"))?,
            }),
            _ => None,
        };
        Ok(Self {
            kind,
            events,
            quiet_hours,
            throttle_seconds: u32::try_from(row.throttle_seconds).unwrap_or(0),
            expiry_lead_seconds: u32::try_from(row.expiry_lead_seconds)
                .map_err(|_| corrupt("expiry_lead_seconds"))?,
            verified_at: row.verified_at.map(Timestamp::from_millis),
            last_sent_at: row.last_sent_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(row.created_at),
            disabled_at: row.disabled_at.map(Timestamp::from_millis),
            disabled_reason: row.disabled_reason,
            push_keys_sealed: row.push_keys_sealed,
            id: row.id,
            account_id: row.account_id,
            address: row.address,
        })
    }
}

/// A channel to add, checked.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// `chn_…`, chosen by the caller: a push subscription's keys are sealed with it.
    pub id: String,
    pub kind: ChannelKind,
    pub address: String,
    pub events: Vec<ChannelEvent>,
    pub quiet_hours: Option<QuietHours>,
    pub throttle_seconds: u32,
    /// A Web Push subscription's keys, sealed with `id`.
    pub push_keys_sealed: Option<String>,
    pub expiry_lead_seconds: u32,
}

/// A change to a channel's settings: each part given replaces the stored one (`quiet_hours:
/// Some(None)` turns them off).
#[derive(Debug, Clone, Default)]
pub struct ChannelChange {
    pub events: Option<Vec<ChannelEvent>>,
    pub quiet_hours: Option<Option<QuietHours>>,
    pub throttle_seconds: Option<u32>,
    pub expiry_lead_seconds: Option<u32>,
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Claim,
    /// A service's notification.
    Notification,
    Channel,
    /// A webhook endpoint (its health changed).
    Endpoint,
}

impl ItemKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Notification => "notification",
            Self::Channel => "channel",
            Self::Endpoint => "endpoint",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "claim" => Some(Self::Claim),
            "notification" => Some(Self::Notification),
            "channel" => Some(Self::Channel),
            "endpoint" => Some(Self::Endpoint),
            _ => None,
        }
    }
}

/// A due message leased for sending.
#[derive(Debug, Clone)]
pub struct LeasedMessage {
    pub message_id: String,
    pub lease_until: i64,
    /// Attempts made before this one.
    pub attempt_count: u32,
    pub topic: Topic,
    pub channel: Channel,
    pub account: Account,
    /// The item rows it carries now, (row id, kind, item id), oldest first.
    pub items: Vec<(String, ItemKind, String)>,
}

/// What became of one leased message.
#[derive(Debug, Clone)]
pub enum MessageOutcome {
    /// Accepted by the SMTP server or the chat service, carrying `items` (row ids).
    Sent { items: Vec<String> },
    /// Nothing was left to tell (every claim was decided meanwhile).
    Skipped { items: Vec<String> },
    /// Failed; tried again at `retry_at`, or given up when `None`.
    Failed {
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// One message of an owner's sent log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: String,
    pub channel_id: String,
    pub topic: String,
    /// `pending`, `sent`, `skipped` or `exhausted`.
    pub status: String,
    pub attempt_count: u32,
    pub item_count: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub next_attempt_at: Option<Timestamp>,
}

/// A link to mint: its token's hash, what it does and until when.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub hash: TokenHash,
    pub item_kind: ItemKind,
    pub item_id: String,
    /// `approve` or `reject` (a claim), `verify` (a channel), or the id of the action it
    /// answers with (a notification).
    pub action: String,
    pub expires_at: Timestamp,
}

/// A one-click link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLink {
    pub id: String,
    pub account_id: String,
    pub item_kind: ItemKind,
    pub item_id: String,
    pub action: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

fn events_json(events: &[ChannelEvent]) -> String {
    serde_json::Value::from(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()).to_string()
}

/// Queues a message of `topic` on `channel`, or adds the item to the one already waiting (the
/// digest). The waiting one is any pending message of the same topic no sender holds.
fn queue(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    channel: &Channel,
    topic: Topic,
    item: (ItemKind, &str),
    now: i64,
) -> Result<String, StoreError> {
    // A reminder is not gathered into here: each is due at its own item's time, and the
    // sender gathers the channel's reminders when it leases one (`gather_reminders`).
    let gathers = topic != Topic::Event(ChannelEvent::ItemExpiring);
    let waiting: Option<String> = if !gathers {
        None
    } else {
        messages::table
            .filter(messages::channel_id.eq(&channel.id))
            .filter(messages::topic.eq(topic.as_str()))
            .filter(messages::status.eq("pending"))
            .filter(messages::lease_until.is_null())
            .filter(messages::attempt_count.eq(0))
            .select(messages::id)
            .first(conn)
            .optional()?
    };
    let message_id = match waiting {
        Some(id) => id,
        None => {
            // A message of the channel being sent counts as sent now: without this, each
            // item of a burst that comes while the first message is in flight would start a
            // message due at once, and the throttle would hold only after the first is recorded.
            let in_flight: Option<String> = messages::table
                .filter(messages::channel_id.eq(&channel.id))
                .filter(messages::status.eq("pending"))
                .filter(messages::lease_until.gt(now))
                .filter(messages::topic.ne_all([Topic::Verify.as_str(), Topic::Test.as_str()]))
                .select(messages::id)
                .first(conn)
                .optional()?;
            let last_sent = channel.last_sent_at.map(Timestamp::as_millis);
            let last_sent = match in_flight {
                Some(_) => Some(last_sent.map_or(now, |last| last.max(now))),
                None => last_sent,
            };
            let due = channel::due_at(
                topic,
                now,
                last_sent,
                channel.throttle_seconds,
                channel.quiet_hours,
            );
            insert_message(conn, channel, topic, due, now)?
        }
    };
    add_item(conn, &message_id, item, now)?;
    outbox.message_queued();
    Ok(message_id)
}

/// A new pending message of `channel` about `topic`, due at `due`; returns its id.
fn insert_message(
    conn: &mut AnyConnection,
    channel: &Channel,
    topic: Topic,
    due: i64,
    now: i64,
) -> Result<String, StoreError> {
    let id = assent_auth::random::id("msg_");
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&id),
            messages::channel_id.eq(&channel.id),
            messages::account_id.eq(&channel.account_id),
            messages::topic.eq(topic.as_str()),
            messages::status.eq("pending"),
            messages::attempt_count.eq(0),
            messages::next_attempt_at.eq(due),
            messages::item_count.eq(0),
            messages::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Puts `item` in message `message_id`.
fn add_item(
    conn: &mut AnyConnection,
    message_id: &str,
    item: (ItemKind, &str),
    now: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(message_items::table)
        .values((
            message_items::id.eq(assent_auth::random::id("mit_")),
            message_items::message_id.eq(message_id),
            message_items::item_kind.eq(item.0.as_str()),
            message_items::item_id.eq(item.1),
            message_items::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Tells the owner of `namespace`, on each verified channel subscribed to `event`, about an
/// item: called in the transaction that creates the item.
pub(crate) fn notify_owner(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    namespace: &str,
    event: ChannelEvent,
    item: (ItemKind, &str),
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_millis();
    let rows: Vec<ChannelRow> = channels::table
        .inner_join(accounts::table)
        .filter(accounts::namespace.eq(namespace))
        .filter(channels::verified_at.is_not_null())
        .filter(channels::disabled_at.is_null())
        .select(ChannelRow::as_select())
        .load(conn)?;
    for row in rows {
        let channel = Channel::try_from(row)?;
        if channel.events.contains(&event) {
            queue(conn, outbox, &channel, Topic::Event(event), item, now)?;
        }
    }
    Ok(())
}

/// Schedules the reminder of an item that expires at `expires_at` on each verified channel of
/// the owner of `namespace` subscribed to `item.expiring`: a message of its own per item and
/// channel, due the channel's lead before the expiry (see [`channel::reminder_due_at`]), sent
/// by the sender like any other message, which leaves it out if the item was decided by then.
/// When one is leased it takes along the channel's others due within the throttle (the
/// reminders' digest, see [`gather_reminders`]).
/// Called in the transaction that creates the item, so it is scheduled exactly once.
pub(crate) fn schedule_reminders(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    namespace: &str,
    item: (ItemKind, &str),
    expires_at: i64,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_millis();
    let rows: Vec<ChannelRow> = channels::table
        .inner_join(accounts::table)
        .filter(accounts::namespace.eq(namespace))
        .filter(channels::verified_at.is_not_null())
        .select(ChannelRow::as_select())
        .load(conn)?;
    let topic = Topic::Event(ChannelEvent::ItemExpiring);
    for row in rows {
        let channel = Channel::try_from(row)?;
        if !channel.events.contains(&ChannelEvent::ItemExpiring) {
            continue;
        }
        let Some(due) = channel::reminder_due_at(
            now,
            expires_at,
            channel.expiry_lead_seconds,
            channel.quiet_hours,
        ) else {
            continue;
        };
        let message_id = insert_message(conn, &channel, topic, due, now)?;
        add_item(conn, &message_id, item, now)?;
        outbox.message_queued();
    }
    Ok(())
}

/// Moves into reminder `leader` (just leased, in this transaction) the items of the other
/// reminders of its channel and item kind that are due by `now` plus the channel's throttle
/// and that no other sender holds (`batch`: leased by this transaction), and deletes those
/// reminders; returns their ids. Claims and notifications are gathered apart: a message lists
/// one kind. Only reminders never tried are taken, as a digest gathers only into a message
/// never tried. On PostgreSQL the taken rows are locked, skipping any another sender is leasing.
fn gather_reminders(
    conn: &mut AnyConnection,
    leader: &str,
    batch: &[String],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let topic = Topic::Event(ChannelEvent::ItemExpiring).as_str();
    let found: Option<(String, i32)> = messages::table
        .inner_join(channels::table)
        .filter(messages::id.eq(leader))
        .filter(messages::topic.eq(topic))
        .select((messages::channel_id, channels::throttle_seconds))
        .first(conn)
        .optional()?;
    let Some((channel_id, throttle)) = found else {
        return Ok(Vec::new());
    };
    let kind: Option<String> = message_items::table
        .filter(message_items::message_id.eq(leader))
        .select(message_items::item_kind)
        .first(conn)
        .optional()?;
    let Some(kind) = kind else {
        return Ok(Vec::new());
    };
    let until = now.saturating_add(i64::from(throttle.max(0)).saturating_mul(1000));
    let taken: Vec<String> = match conn {
        AnyConnection::Postgresql(pg) => diesel::sql_query(
            "SELECT m.id FROM messages m WHERE m.channel_id = $1 AND m.topic = $2 \
               AND m.status = 'pending' AND m.attempt_count = 0 AND m.next_attempt_at <= $3 \
               AND m.id <> $4 AND (m.lease_until IS NULL OR m.lease_until <= $5 OR m.id = ANY($6)) \
               AND EXISTS (SELECT 1 FROM message_items i WHERE i.message_id = m.id \
                           AND i.item_kind = $7) \
               FOR UPDATE OF m SKIP LOCKED",
        )
        .bind::<Text, _>(&channel_id)
        .bind::<Text, _>(topic)
        .bind::<BigInt, _>(until)
        .bind::<Text, _>(leader)
        .bind::<BigInt, _>(now)
        .bind::<Array<Text>, _>(batch)
        .bind::<Text, _>(&kind)
        .load::<IdRow>(pg)?
        .into_iter()
        .map(|r| r.id)
        .collect(),
        // The write transaction is BEGIN IMMEDIATE: no other writer runs meanwhile.
        AnyConnection::Sqlite(_) => messages::table
            .filter(messages::channel_id.eq(&channel_id))
            .filter(messages::topic.eq(topic))
            .filter(messages::status.eq("pending"))
            .filter(messages::attempt_count.eq(0))
            .filter(messages::next_attempt_at.le(until))
            .filter(messages::id.ne(leader))
            .filter(
                messages::lease_until
                    .is_null()
                    .or(messages::lease_until.le(now))
                    .or(messages::id.eq_any(batch)),
            )
            .filter(
                messages::id.eq_any(
                    message_items::table
                        .filter(message_items::item_kind.eq(&kind))
                        .select(message_items::message_id),
                ),
            )
            .select(messages::id)
            .load(conn)?,
    };
    // In slices: a burst may gather thousands, and each id is a bound parameter.
    for slice in taken.chunks(500) {
        diesel::update(message_items::table.filter(message_items::message_id.eq_any(slice)))
            .set(message_items::message_id.eq(leader))
            .execute(conn)?;
        diesel::delete(messages::table.filter(messages::id.eq_any(slice))).execute(conn)?;
    }
    Ok(taken)
}

fn load_channel(
    conn: &mut AnyConnection,
    account_id: &str,
    channel_id: &str,
) -> Result<Channel, StoreError> {
    channels::table
        .filter(channels::id.eq(channel_id))
        .filter(channels::account_id.eq(account_id))
        .select(ChannelRow::as_select())
        .first::<ChannelRow>(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
        .and_then(Channel::try_from)
}

impl Store {
    /// Adds a channel for `account`. One that needs verification gets its verification
    /// message queued in the same transaction; any other is verified at once.
    /// `LimitReached` past [`CHANNELS_PER_ACCOUNT`]; `Conflict` for the same address twice.
    pub fn create_channel(
        &self,
        account: &Account,
        new: &NewChannel,
        actor: &Actor,
    ) -> Result<Channel, StoreError> {
        let now = Timestamp::now().as_millis();
        let id = &new.id;
        self.write_with_outbox(|conn, outbox| {
            crate::db::lock_quota_owner(conn, crate::Quota::Channels, &account.id)?;
            let existing: Vec<(String, String)> = channels::table
                .filter(channels::account_id.eq(&account.id))
                .select((channels::kind, channels::address))
                .load(conn)?;
            if i64::try_from(existing.len()).unwrap_or(i64::MAX) >= CHANNELS_PER_ACCOUNT {
                return Err(StoreError::LimitReached(crate::Quota::Channels));
            }
            if existing
                .iter()
                .any(|(kind, address)| kind == new.kind.as_str() && *address == new.address)
            {
                return Err(StoreError::Conflict("channel"));
            }
            let verified_at = (!new.kind.needs_verification()).then_some(now);
            diesel::insert_into(channels::table)
                .values((
                    channels::id.eq(id),
                    channels::account_id.eq(&account.id),
                    channels::kind.eq(new.kind.as_str()),
                    channels::push_keys_sealed.eq(&new.push_keys_sealed),
                    channels::address.eq(&new.address),
                    channels::events.eq(events_json(&new.events)),
                    channels::quiet_start.eq(new.quiet_hours.map(|q| i32::from(q.start))),
                    channels::quiet_end.eq(new.quiet_hours.map(|q| i32::from(q.end))),
                    channels::throttle_seconds
                        .eq(i32::try_from(new.throttle_seconds).unwrap_or(i32::MAX)),
                    channels::expiry_lead_seconds
                        .eq(i32::try_from(new.expiry_lead_seconds).unwrap_or(i32::MAX)),
                    channels::verified_at.eq(verified_at),
                    channels::created_at.eq(now),
                    channels::updated_at.eq(now),
                ))
                .execute(conn)?;
            let channel = load_channel(conn, &account.id, id)?;
            if verified_at.is_none() {
                queue(
                    conn,
                    outbox,
                    &channel,
                    Topic::Verify,
                    (ItemKind::Channel, id),
                    now,
                )?;
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "channel.created",
                    target_id: id,
                    details: json!({ "kind": new.kind.as_str() }),
                },
            )?;
            Ok(channel)
        })
    }

    /// The owner's channels, oldest first.
    pub fn list_channels(&self, account_id: &str) -> Result<Vec<Channel>, StoreError> {
        self.read(|conn| {
            channels::table
                .filter(channels::account_id.eq(account_id))
                .order((channels::created_at.asc(), channels::id.asc()))
                .select(ChannelRow::as_select())
                .load::<ChannelRow>(conn)?
                .into_iter()
                .map(Channel::try_from)
                .collect()
        })
    }

    /// One of the owner's channels (`NotFound` for anyone else's).
    pub fn get_channel(&self, account_id: &str, channel_id: &str) -> Result<Channel, StoreError> {
        self.read(|conn| load_channel(conn, account_id, channel_id))
    }

    /// Changes one of the owner's channels' events, quiet hours or throttle (`NotFound` for
    /// anyone else's). A message already waiting keeps its due time.
    pub fn update_channel(
        &self,
        account: &Account,
        channel_id: &str,
        change: &ChannelChange,
        actor: &Actor,
    ) -> Result<Channel, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let mut channel = load_channel(conn, &account.id, channel_id)?;
            if let Some(events) = &change.events {
                channel.events.clone_from(events);
            }
            if let Some(quiet_hours) = change.quiet_hours {
                channel.quiet_hours = quiet_hours;
            }
            if let Some(throttle_seconds) = change.throttle_seconds {
                channel.throttle_seconds = throttle_seconds;
            }
            if let Some(lead) = change.expiry_lead_seconds {
                channel.expiry_lead_seconds = lead;
            }
            diesel::update(
                channels::table
                    .filter(channels::id.eq(channel_id))
                    .filter(channels::account_id.eq(&account.id)),
            )
            .set((
                channels::events.eq(events_json(&channel.events)),
                channels::quiet_start.eq(channel.quiet_hours.map(|q| i32::from(q.start))),
                channels::quiet_end.eq(channel.quiet_hours.map(|q| i32::from(q.end))),
                channels::throttle_seconds
                    .eq(i32::try_from(channel.throttle_seconds).unwrap_or(i32::MAX)),
                channels::expiry_lead_seconds
                    .eq(i32::try_from(channel.expiry_lead_seconds).unwrap_or(i32::MAX)),
                channels::updated_at.eq(now),
            ))
            .execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "channel.updated",
                    target_id: channel_id,
                    details: json!({
                        "events": channel.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                        "quiet_hours": channel.quiet_hours.map(QuietHours::to_text),
                        "throttle_seconds": channel.throttle_seconds,
                        "expiry_lead_seconds": channel.expiry_lead_seconds,
                    }),
                },
            )?;
            Ok(channel)
        })
    }

    /// Removes one of the owner's channels, with its messages.
    pub fn delete_channel(
        &self,
        account: &Account,
        channel_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.write(|conn| {
            let deleted = diesel::delete(
                channels::table
                    .filter(channels::id.eq(channel_id))
                    .filter(channels::account_id.eq(&account.id)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace: &account.namespace,
                    actor,
                    action: "channel.deleted",
                    target_id: channel_id,
                    details: json!({}),
                },
            )?;
            Ok(())
        })
    }

    /// Queues a test message (on a verified channel) or the verification again (on one not
    /// yet verified). Returns the channel and the message's id.
    pub fn queue_channel_message(
        &self,
        account_id: &str,
        channel_id: &str,
        topic: Topic,
    ) -> Result<String, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write_with_outbox(|conn, outbox| {
            let channel = load_channel(conn, account_id, channel_id)?;
            let needs_verified = matches!(topic, Topic::Test);
            if channel.verified_at.is_some() != needs_verified {
                return Err(StoreError::Conflict(if needs_verified {
                    "an unverified channel"
                } else {
                    "a verified channel"
                }));
            }
            queue(
                conn,
                outbox,
                &channel,
                topic,
                (ItemKind::Channel, channel_id),
                now,
            )
        })
    }

    /// Marks a channel verified with an unused, unexpired `verify` link; the link is used up.
    /// `NotFound` for anything else.
    pub fn verify_channel(&self, hash: &TokenHash) -> Result<Channel, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let link = use_link(conn, hash, now)?;
            if link.item_kind != ItemKind::Channel || link.action != "verify" {
                return Err(StoreError::NotFound);
            }
            diesel::update(
                channels::table
                    .filter(channels::id.eq(&link.item_id))
                    .filter(channels::account_id.eq(&link.account_id))
                    .filter(channels::verified_at.is_null()),
            )
            .set((channels::verified_at.eq(now), channels::updated_at.eq(now)))
            .execute(conn)?;
            load_channel(conn, &link.account_id, &link.item_id)
        })
    }

    /// Leases up to `limit` due messages (as [`Store::lease_due`] does deliveries). A reminder
    /// leased carries the channel's other reminders due within its throttle (see
    /// [`gather_reminders`]), so fewer may come back than were due.
    pub fn lease_due_messages(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<LeasedMessage>, StoreError> {
        let now = now.as_millis();
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        self.write(|conn| {
            let ids: Vec<String> = match conn {
                AnyConnection::Postgresql(pg) => diesel::sql_query(
                    "UPDATE messages SET lease_until = $1 WHERE id IN (\
                       SELECT id FROM messages WHERE status = 'pending' AND next_attempt_at <= $2 \
                       AND (lease_until IS NULL OR lease_until <= $2) \
                       ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
                )
                .bind::<BigInt, _>(lease_until)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<IdRow>(pg)?
                .into_iter()
                .map(|r| r.id)
                .collect(),
                // The write transaction is BEGIN IMMEDIATE: no other writer runs meanwhile.
                AnyConnection::Sqlite(_) => {
                    let ids: Vec<String> = messages::table
                        .filter(messages::status.eq(crate::db::status_literal("pending")))
                        .filter(messages::next_attempt_at.le(now))
                        .filter(
                            messages::lease_until
                                .is_null()
                                .or(messages::lease_until.le(now)),
                        )
                        .order(messages::next_attempt_at.asc())
                        .limit(limit)
                        .select(messages::id)
                        .load(conn)?;
                    diesel::update(messages::table.filter(messages::id.eq_any(&ids)))
                        .set(messages::lease_until.eq(lease_until))
                        .execute(conn)?;
                    ids
                }
            };
            // A reminder takes along the channel's other reminders that are due within its
            // throttle: they go now, no later than their own time, and not separately.
            let mut gathered = HashSet::new();
            for id in &ids {
                if !gathered.contains(id) {
                    gathered.extend(gather_reminders(conn, id, &ids, now)?);
                }
            }
            let mut leased = Vec::with_capacity(ids.len());
            for id in ids.into_iter().filter(|id| !gathered.contains(id)) {
                let (topic, attempts, channel_row, account_row): (
                    String,
                    i32,
                    ChannelRow,
                    AccountRow,
                ) = messages::table
                    .inner_join(channels::table.inner_join(accounts::table))
                    .filter(messages::id.eq(&id))
                    .select((
                        messages::topic,
                        messages::attempt_count,
                        ChannelRow::as_select(),
                        AccountRow::as_select(),
                    ))
                    .first(conn)?;
                let items: Vec<(String, String, String)> = message_items::table
                    .filter(message_items::message_id.eq(&id))
                    .order((message_items::created_at.asc(), message_items::id.asc()))
                    .select((
                        message_items::id,
                        message_items::item_kind,
                        message_items::item_id,
                    ))
                    .load(conn)?;
                leased.push(LeasedMessage {
                    topic: Topic::parse(&topic)
                        .ok_or_else(|| StoreError::Corrupt(format!("message {id}: topic")))?,
                    message_id: id,
                    lease_until,
                    attempt_count: u32::try_from(attempts).unwrap_or(0),
                    channel: Channel::try_from(channel_row)?,
                    account: account_row.into(),
                    items: items
                        .into_iter()
                        .filter_map(|(row, kind, item)| Some((row, ItemKind::parse(&kind)?, item)))
                        .collect(),
                });
            }
            Ok(leased)
        })
    }

    /// Records what became of a leased message and releases it. A sent message keeps the
    /// items it carried; items that joined it while it was being sent move to a new pending
    /// message, due after the throttle. A lease taken over meanwhile (it lapsed) is left alone.
    pub fn record_message(
        &self,
        message: &LeasedMessage,
        outcome: &MessageOutcome,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write_with_outbox(|conn, outbox| {
            let ours = messages::table
                .filter(messages::id.eq(&message.message_id))
                .filter(messages::lease_until.eq(message.lease_until))
                .filter(messages::status.eq("pending"));
            let attempts =
                i32::try_from(message.attempt_count.saturating_add(1)).unwrap_or(i32::MAX);
            let carried = match outcome {
                MessageOutcome::Failed { error, retry_at } => {
                    let (status, next) = match retry_at {
                        Some(at) => ("pending", at.as_millis()),
                        None => ("exhausted", now),
                    };
                    diesel::update(ours)
                        .set((
                            messages::status.eq(status),
                            messages::attempt_count.eq(attempts),
                            messages::next_attempt_at.eq(next),
                            messages::lease_until.eq(None::<i64>),
                            messages::last_error.eq(error),
                        ))
                        .execute(conn)?;
                    return Ok(());
                }
                MessageOutcome::Sent { items } | MessageOutcome::Skipped { items } => items,
            };
            let sent = matches!(outcome, MessageOutcome::Sent { .. });
            let updated = diesel::update(ours)
                .set((
                    messages::status.eq(if sent { "sent" } else { "skipped" }),
                    messages::attempt_count.eq(attempts),
                    messages::lease_until.eq(None::<i64>),
                    messages::item_count.eq(i32::try_from(carried.len()).unwrap_or(i32::MAX)),
                    messages::sent_at.eq(sent.then_some(now)),
                ))
                .execute(conn)?;
            if updated == 0 {
                return Ok(());
            }
            if sent && matches!(message.topic, Topic::Event(_)) {
                diesel::update(channels::table.find(&message.channel.id))
                    .set(channels::last_sent_at.eq(now))
                    .execute(conn)?;
            }
            let carried: HashSet<&str> = carried.iter().map(String::as_str).collect();
            let late: Vec<(String, String, String)> = message_items::table
                .filter(message_items::message_id.eq(&message.message_id))
                .select((
                    message_items::id,
                    message_items::item_kind,
                    message_items::item_id,
                ))
                .load(conn)?;
            let mut channel = message.channel.clone();
            if sent {
                channel.last_sent_at = Some(Timestamp::from_millis(now));
            }
            for (row, kind, item) in late {
                if carried.contains(row.as_str()) {
                    continue;
                }
                diesel::delete(message_items::table.find(&row)).execute(conn)?;
                if let Some(kind) = ItemKind::parse(&kind) {
                    queue(conn, outbox, &channel, message.topic, (kind, &item), now)?;
                }
            }
            Ok(())
        })
    }

    /// The owner's messages, newest first: the sent log.
    pub fn list_messages(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            i32,
            i32,
            Option<String>,
            i64,
            Option<i64>,
            i64,
        );
        self.read(|conn| {
            let rows: Vec<Row> = messages::table
                .filter(messages::account_id.eq(account_id))
                .order((messages::created_at.desc(), messages::id.desc()))
                .limit(limit)
                .select((
                    messages::id,
                    messages::channel_id,
                    messages::topic,
                    messages::status,
                    messages::attempt_count,
                    messages::item_count,
                    messages::last_error,
                    messages::created_at,
                    messages::sent_at,
                    messages::next_attempt_at,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(
                    |(
                        id,
                        channel_id,
                        topic,
                        status,
                        attempts,
                        items,
                        error,
                        created,
                        sent,
                        next,
                    )| {
                        MessageRecord {
                            next_attempt_at: (status == "pending")
                                .then(|| Timestamp::from_millis(next)),
                            id,
                            channel_id,
                            topic,
                            status,
                            attempt_count: u32::try_from(attempts).unwrap_or(0),
                            item_count: u32::try_from(items).unwrap_or(0),
                            last_error: error,
                            created_at: Timestamp::from_millis(created),
                            sent_at: sent.map(Timestamp::from_millis),
                        }
                    },
                )
                .collect())
        })
    }

    /// Stores the links a message is about to carry.
    pub fn create_links(&self, account_id: &str, links: &[NewLink]) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            for link in links {
                diesel::insert_into(decision_links::table)
                    .values((
                        decision_links::id.eq(assent_auth::random::id("lnk_")),
                        decision_links::token_hash.eq(link.hash.as_str()),
                        decision_links::account_id.eq(account_id),
                        decision_links::item_kind.eq(link.item_kind.as_str()),
                        decision_links::item_id.eq(&link.item_id),
                        decision_links::action.eq(&link.action),
                        decision_links::created_at.eq(now),
                        decision_links::expires_at.eq(link.expires_at.as_millis()),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    /// A link by its token's hash, used or not, expired or not (the page says which).
    pub fn find_link(&self, hash: &TokenHash) -> Result<Option<DecisionLink>, StoreError> {
        self.read(|conn| find_link(conn, hash))
    }

    /// Uses a link up: of two concurrent uses exactly one succeeds. `NotFound` when it is
    /// unknown, used or expired.
    pub fn use_link(&self, hash: &TokenHash) -> Result<DecisionLink, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| use_link(conn, hash, now))
    }
}

type LinkRow = (String, String, String, String, String, i64, Option<i64>);

fn find_link(
    conn: &mut AnyConnection,
    hash: &TokenHash,
) -> Result<Option<DecisionLink>, StoreError> {
    let row: Option<LinkRow> = decision_links::table
        .filter(decision_links::token_hash.eq(hash.as_str()))
        .select((
            decision_links::id,
            decision_links::account_id,
            decision_links::item_kind,
            decision_links::item_id,
            decision_links::action,
            decision_links::expires_at,
            decision_links::used_at,
        ))
        .first(conn)
        .optional()?;
    row.map(
        |(id, account_id, kind, item_id, action, expires_at, used_at)| {
            Ok(DecisionLink {
                item_kind: ItemKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("link {id}: item kind")))?,
                id,
                account_id,
                item_id,
                action,
                expires_at: Timestamp::from_millis(expires_at),
                used_at: used_at.map(Timestamp::from_millis),
            })
        },
    )
    .transpose()
}

fn use_link(
    conn: &mut AnyConnection,
    hash: &TokenHash,
    now: i64,
) -> Result<DecisionLink, StoreError> {
    let updated = diesel::update(
        decision_links::table
            .filter(decision_links::token_hash.eq(hash.as_str()))
            .filter(decision_links::used_at.is_null())
            .filter(decision_links::expires_at.gt(now)),
    )
    .set(decision_links::used_at.eq(now))
    .execute(conn)?;
    if updated != 1 {
        return Err(StoreError::NotFound);
    }
    find_link(conn, hash)?.ok_or(StoreError::NotFound)
}

impl Store {
    /// The account a link or a channel belongs to.
    pub fn account_by_id(&self, account_id: &str) -> Result<Account, StoreError> {
        self.read(|conn| {
            Ok(accounts::table
                .find(account_id)
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()?
                .ok_or(StoreError::NotFound)?
                .into())
        })
    }
}

impl Store {
    /// Stops a channel for good (a push service said its subscription is gone): it gets no
    /// more messages, and says why in the channel list. Its waiting messages end `exhausted`.
    pub fn disable_channel(&self, channel_id: &str, reason: &str) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::update(
                channels::table
                    .filter(channels::id.eq(channel_id))
                    .filter(channels::disabled_at.is_null()),
            )
            .set((
                channels::disabled_at.eq(now),
                channels::disabled_reason.eq(reason),
                channels::updated_at.eq(now),
            ))
            .execute(conn)?;
            diesel::update(
                messages::table
                    .filter(messages::channel_id.eq(channel_id))
                    .filter(messages::status.eq("pending"))
                    .filter(messages::lease_until.is_null()),
            )
            .set((
                messages::status.eq("exhausted"),
                messages::last_error.eq(reason),
            ))
            .execute(conn)?;
            Ok(())
        })
    }

    /// Marks one of the owner's channels verified (its link was just used).
    pub fn mark_channel_verified(
        &self,
        account_id: &str,
        channel_id: &str,
    ) -> Result<Channel, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            diesel::update(
                channels::table
                    .filter(channels::id.eq(channel_id))
                    .filter(channels::account_id.eq(account_id))
                    .filter(channels::verified_at.is_null()),
            )
            .set((channels::verified_at.eq(now), channels::updated_at.eq(now)))
            .execute(conn)?;
            load_channel(conn, account_id, channel_id)
        })
    }
}

/// Tells the owner of the endpoint's service that its health changed (in the transaction
/// that records the change, so once per transition).
pub(crate) fn endpoint_changed(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    endpoint_id: &str,
    event: ChannelEvent,
) -> Result<(), StoreError> {
    use crate::schema::{services, webhook_endpoints};
    let namespace: Option<String> = webhook_endpoints::table
        .inner_join(services::table)
        .filter(webhook_endpoints::id.eq(endpoint_id))
        .select(services::namespace)
        .first(conn)
        .optional()?;
    match namespace {
        Some(namespace) => notify_owner(
            conn,
            outbox,
            &namespace,
            event,
            (ItemKind::Endpoint, endpoint_id),
        ),
        None => Ok(()),
    }
}

impl Store {
    /// A webhook endpoint as an alert shows it: its service's slug, its URL and last error.
    pub fn endpoint_summary(
        &self,
        endpoint_id: &str,
    ) -> Result<Option<(String, String, Option<String>)>, StoreError> {
        use crate::schema::{services, webhook_endpoints};
        self.read(|conn| {
            Ok(webhook_endpoints::table
                .inner_join(services::table)
                .filter(webhook_endpoints::id.eq(endpoint_id))
                .select((
                    services::slug,
                    webhook_endpoints::url,
                    webhook_endpoints::last_error,
                ))
                .first(conn)
                .optional()?)
        })
    }
}
