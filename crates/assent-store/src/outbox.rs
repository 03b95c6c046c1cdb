//! The transactional outbox. An event and one delivery per subscribed, enabled endpoint are
//! written in the transaction of the change that causes them ([`Store::write_with_outbox`]),
//! so a committed change is never without its deliveries, and a rolled-back one has none.
//! After the commit the store wakes the delivery engine of this process; on PostgreSQL the
//! transaction also announces its work (`NOTIFY`, delivered only if it commits), which wakes
//! every other replica through its listener ([`crate::listener`]). Polling stays as the
//! fallback for a lost announcement.

use std::sync::{Arc, RwLock};

use assent_core::delivery::DeliveryStatus;
use assent_core::{EventType, Timestamp};
use diesel::prelude::*;

use crate::AnyConnection;
use crate::db::Store;
use crate::error::{StoreError, WriteError};
use crate::schema::{deliveries, events, webhook_endpoints};
use crate::webhooks::{WebhookEndpoint, WebhookEndpointRow};

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `evt_…`, chosen by the caller so the payload can carry it.
    pub id: String,
    pub service_id: String,
    pub namespace: String,
    pub event_type: EventType,
    /// The exact JSON that will be signed and sent.
    pub payload: String,
}

/// The deliveries written for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub event_id: String,
    pub delivery_ids: Vec<String>,
}

/// Collects what a transaction emits, so the delivery engine (for deliveries) and the change
/// feed (for notification changes) are woken only after it commits.
#[derive(Debug, Default)]
pub struct Outbox {
    emitted: usize,
    changes: usize,
    messages: usize,
}

impl Outbox {
    /// Records `event` and a delivery to every enabled endpoint of its service subscribed to
    /// its type (or only to `endpoint_id`, for a test event).
    pub fn emit(
        &mut self,
        conn: &mut AnyConnection,
        event: &NewEvent,
        endpoint_id: Option<&str>,
    ) -> Result<Emitted, StoreError> {
        let now = Timestamp::now().as_millis();
        diesel::insert_into(events::table)
            .values((
                events::id.eq(&event.id),
                events::service_id.eq(&event.service_id),
                events::namespace.eq(&event.namespace),
                events::event_type.eq(event.event_type.as_str()),
                events::payload.eq(&event.payload),
                events::created_at.eq(now),
            ))
            .execute(conn)?;
        let mut query = webhook_endpoints::table
            .filter(webhook_endpoints::service_id.eq(&event.service_id))
            .filter(webhook_endpoints::enabled.eq(true))
            .into_boxed();
        if let Some(id) = endpoint_id {
            query = query.filter(webhook_endpoints::id.eq(id));
        }
        let endpoints = query
            .select(WebhookEndpointRow::as_select())
            .load(conn)?
            .into_iter()
            .map(WebhookEndpoint::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut delivery_ids = Vec::new();
        for endpoint in endpoints {
            if endpoint_id.is_none() && !endpoint.events.contains(&event.event_type) {
                continue;
            }
            let id = assent_auth::random::Id::Delivery.mint();
            insert_delivery(conn, &id, &event.id, &endpoint.id, now)?;
            delivery_ids.push(id);
        }
        self.emitted += delivery_ids.len();
        Ok(Emitted {
            event_id: event.id.clone(),
            delivery_ids,
        })
    }

    /// Queues the delivery of `event_id` to `endpoint_id` again, now (a replay of what a
    /// disabled endpoint missed), or a first delivery if it never had one. It counts as
    /// emitted: the engine is woken after the commit.
    pub(crate) fn requeue(
        &mut self,
        conn: &mut AnyConnection,
        event_id: &str,
        endpoint_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let reset = diesel::update(
            deliveries::table
                .filter(deliveries::event_id.eq(event_id))
                .filter(deliveries::endpoint_id.eq(endpoint_id)),
        )
        .set(pending_again(now))
        .execute(conn)?;
        if reset == 0 {
            let id = assent_auth::random::Id::Delivery.mint();
            insert_delivery(conn, &id, event_id, endpoint_id, now)?;
        }
        self.emitted += 1;
        Ok(())
    }

    /// Queues delivery `delivery_id` of `endpoint_id` again, now, whatever its state (a manual
    /// retry). `false` when there is no such delivery.
    pub(crate) fn retry(
        &mut self,
        conn: &mut AnyConnection,
        delivery_id: &str,
        endpoint_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(
            deliveries::table
                .filter(deliveries::id.eq(delivery_id))
                .filter(deliveries::endpoint_id.eq(endpoint_id)),
        )
        .set(pending_again(now))
        .execute(conn)?;
        self.emitted += updated;
        Ok(updated > 0)
    }

    /// Notes that the transaction queued a message to an owner.
    pub(crate) fn message_queued(&mut self) {
        self.messages += 1;
    }

    /// Notes that the transaction recorded a notification change.
    pub(crate) fn changed(&mut self) {
        self.changes += 1;
    }

    /// Tells every replica's listener what this transaction wrote, in one round trip. A
    /// `NOTIFY` inside a transaction is sent only when it commits, and not at all when it
    /// rolls back.
    fn announce(&self, conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
        use diesel::connection::SimpleConnection;
        let announcements: Vec<String> = [
            (self.changes, crate::listener::Wake::Changes),
            (self.emitted, crate::listener::Wake::Deliveries),
            (self.messages, crate::listener::Wake::Messages),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(_, wake)| format!("NOTIFY {}, '{}';", crate::listener::CHANNEL, wake.as_str()))
        .collect();
        if announcements.is_empty() {
            return Ok(());
        }
        conn.batch_execute(&announcements.concat())
    }
}

/// The columns of a delivery due again at `now`, its lease and completion cleared.
#[expect(
    clippy::type_complexity,
    reason = "diesel's type for a tuple of assignments"
)]
fn pending_again(
    now: i64,
) -> (
    diesel::dsl::Eq<deliveries::status, &'static str>,
    diesel::dsl::Eq<deliveries::next_attempt_at, i64>,
    diesel::dsl::Eq<deliveries::lease_until, Option<i64>>,
    diesel::dsl::Eq<deliveries::completed_at, Option<i64>>,
) {
    (
        deliveries::status.eq(DeliveryStatus::Pending.as_str()),
        deliveries::next_attempt_at.eq(now),
        deliveries::lease_until.eq(None::<i64>),
        deliveries::completed_at.eq(None::<i64>),
    )
}

pub(crate) fn insert_delivery(
    conn: &mut AnyConnection,
    id: &str,
    event_id: &str,
    endpoint_id: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(deliveries::table)
        .values((
            deliveries::id.eq(id),
            deliveries::event_id.eq(event_id),
            deliveries::endpoint_id.eq(endpoint_id),
            deliveries::status.eq(DeliveryStatus::Pending.as_str()),
            deliveries::attempt_count.eq(0),
            deliveries::next_attempt_at.eq(now),
            deliveries::created_at.eq(now),
        ))
        .execute(conn)
}

/// Called after a commit that wrote deliveries.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone, Default)]
pub(crate) struct WakerSlot(Arc<RwLock<Option<Waker>>>);

impl std::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakerSlot")
    }
}

impl WakerSlot {
    pub(crate) fn set(&self, waker: Waker) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    pub(crate) fn wake(&self) {
        if let Some(waker) = self.0.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            waker();
        }
    }
}

impl Store {
    /// A write transaction that may emit events: `f` gets the connection and the outbox. After
    /// a commit that wrote deliveries, the delivery engine of this process is woken; after one
    /// that recorded notification changes, the change feed. Every write path that emits events
    /// or changes goes through here.
    pub fn write_with_outbox<T, E: WriteError>(
        &self,
        mut f: impl FnMut(&mut AnyConnection, &mut Outbox) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut outbox = Outbox::default();
        let value = self.write(|conn| {
            // Afresh on each attempt: a transaction run again must not count twice.
            outbox = Outbox::default();
            let value = f(conn, &mut outbox)?;
            if let AnyConnection::Postgresql(pg) = conn {
                outbox.announce(pg)?;
            }
            Ok::<T, E>(value)
        })?;
        if outbox.emitted > 0 {
            self.wake_delivery();
        }
        if outbox.changes > 0 {
            self.change_waker.wake();
        }
        if outbox.messages > 0 {
            self.message_waker.wake();
        }
        Ok(value)
    }

    /// Registers what wakes this process's delivery engine.
    pub fn set_delivery_waker(&self, waker: Waker) {
        self.waker.set(waker);
    }

    /// Registers what wakes this process's message sender.
    pub fn set_message_waker(&self, waker: Waker) {
        self.message_waker.set(waker);
    }

    fn wake_delivery(&self) {
        self.waker.wake();
    }
}
