//! Deliveries: leasing due ones, recording attempts, and the owner's delivery
//! log and tools (retry, test, rotate, change, re-enable with replay).

use std::time::Duration;

use assent_core::delivery::{Attempt, DeliveryStatus, EndpointHealth, Failure, NextStep};
use assent_core::{EndpointFormat, EventType, Timestamp};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use crate::AnyConnection;
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::StoreError;
use crate::outbox::{Emitted, NewEvent};
use crate::prepared::{Param, Prepared};
use crate::schema::{deliveries, delivery_attempts, events, webhook_endpoints};
use crate::services::owned;
use crate::webhooks::{SealedSigningKey, WebhookEndpoint, WebhookEndpointRow};

/// A due delivery leased for sending, with everything the sender needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedDelivery {
    pub delivery_id: String,
    /// The lease held on it; recording checks it is still ours.
    pub lease_until: i64,
    /// Attempts made before this one.
    pub attempt_count: u32,
    /// The delivery log's row for this attempt, written with the lease (as interrupted, until
    /// the outcome replaces it); `None` when the endpoint is disabled and no attempt is made.
    pub attempt_id: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub endpoint: WebhookEndpoint,
}

/// One attempt as the delivery log stored it and shows it: text, not a typed [`Attempt`]
/// (what was stored is shown as it was, and never parsed back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: String,
    /// The headers sent, in order (none for attempts recorded before they were kept).
    pub request_headers: Vec<(String, String)>,
}

/// A leased delivery whose turn is over: attempted (or skipped) and its next step decided by
/// `assent_core::delivery`. [`Store::record_settled`] writes it and releases the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub delivery_id: String,
    /// The lease it was sent under ([`LeasedDelivery::lease_until`]).
    pub lease_until: i64,
    pub endpoint_id: String,
    /// The attempt's row in the log ([`LeasedDelivery::attempt_id`]).
    pub attempt_id: Option<String>,
    /// `None` when it was skipped.
    pub attempt: Option<Attempt>,
    /// The headers the attempt was sent with (none when it could not be signed or was skipped).
    pub headers: Vec<(String, String)>,
    pub next: NextStep,
    pub endpoint: EndpointHealth,
}

/// A delivery as shown in the owner's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// The body every attempt sends: the event's payload.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub attempts: Vec<AttemptRecord>,
}

/// What `PATCH …/webhooks/{id}` may change.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
    /// With `enabled: true` on a disabled endpoint: deliver what it missed.
    pub replay: bool,
    /// A new format (never to or from `atp`: an ATP callback keeps its format).
    pub format: Option<EndpointFormat>,
    /// A new Ed25519 signing key (`Some(None)` turns asymmetric signing off).
    pub signing_key: Option<Option<SealedSigningKey>>,
}

/// A delivery [`LEASE_POSTGRES`] leased, and whether it counted an attempt of it.
#[derive(QueryableByName)]
struct LeasedRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    counted: bool,
}

type AttemptRow = (i64, Option<i32>, i64, Option<String>, String, String);
type LeaseRow = (String, i32, String, String, String, WebhookEndpointRow);
type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    i32,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

impl Store {
    /// Leases up to `limit` due deliveries until `now + lease`: pending, due, and not leased
    /// by another sender (or leased and expired, so a crashed sender's work comes back).
    ///
    /// Each lease of a delivery to an enabled endpoint starts an attempt, durably, before
    /// anything is sent: it counts in `attempt_count` and has its row in the log, which says
    /// "interrupted" until [`Store::record_settled`] writes the outcome. So an attempt whose
    /// sender died (or lost the database) before recording it still shows, and the log never
    /// counts fewer attempts than the endpoint received.
    pub fn lease_due(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let now = now.as_millis();
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        self.write(|conn| {
            // Each id, and on PostgreSQL whether the lease counted an attempt of it.
            let ids: Vec<(String, Option<bool>)> = match conn {
                // SKIP LOCKED lets replicas lease side by side without waiting for each other.
                // The attempt the lease starts is counted in the same statement.
                AnyConnection::Postgresql(pg) => Prepared::new(
                    LEASE_POSTGRES,
                    vec![
                        Param::BigInt(lease_until),
                        Param::BigInt(now),
                        Param::BigInt(limit),
                    ],
                )
                .load::<LeasedRow>(pg)?
                .into_iter()
                .map(|r| (r.id, Some(r.counted)))
                .collect(),
                // The write transaction is BEGIN IMMEDIATE: no other writer runs meanwhile.
                // The rows are updated below, once each, with their attempt counted.
                AnyConnection::Sqlite(_) => deliveries::table
                    .filter(
                        deliveries::status
                            .eq(crate::db::status_literal(DeliveryStatus::Pending.as_str())),
                    )
                    .filter(deliveries::next_attempt_at.le(now))
                    .filter(
                        deliveries::lease_until
                            .is_null()
                            .or(deliveries::lease_until.le(now)),
                    )
                    .order(deliveries::next_attempt_at.asc())
                    .limit(limit)
                    .select(deliveries::id)
                    .load::<String>(conn)?
                    .into_iter()
                    .map(|id| (id, None))
                    .collect(),
            };
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let counted: std::collections::HashMap<String, Option<bool>> =
                ids.into_iter().collect();
            let ids: Vec<&String> = counted.keys().collect();
            let rows: Vec<LeaseRow> = deliveries::table
                .inner_join(events::table)
                .inner_join(webhook_endpoints::table)
                .filter(deliveries::id.eq_any(&ids))
                .select((
                    deliveries::id,
                    deliveries::attempt_count,
                    events::id,
                    events::event_type,
                    events::payload,
                    WebhookEndpointRow::as_select(),
                ))
                .load(conn)?;
            let on_postgres = matches!(conn, AnyConnection::Postgresql(_));
            let leased = rows
                .into_iter()
                .map(
                    |(delivery_id, attempts, event_id, event_type, payload, endpoint)| {
                        let endpoint = WebhookEndpoint::try_from(endpoint)?;
                        // On PostgreSQL the lease counted the attempt if the endpoint was enabled
                        // then (this read, a statement later, may see it disabled since): that
                        // decides. On SQLite nothing runs in between.
                        let lease_counted = counted.get(&delivery_id).copied().flatten();
                        let starts = lease_counted.unwrap_or(endpoint.enabled);
                        let before = attempts - i32::from(lease_counted.unwrap_or(false));
                        Ok(LeasedDelivery {
                            attempt_id: starts.then(|| assent_auth::random::Id::Attempt.mint()),
                            delivery_id,
                            lease_until,
                            attempt_count: u32::try_from(before).unwrap_or(0),
                            event_id,
                            event_type,
                            payload,
                            endpoint,
                        })
                    },
                )
                .collect::<Result<Vec<_>, StoreError>>()?;
            if !on_postgres {
                lease_sqlite(conn, &leased, lease_until)?;
            }
            start_attempts(conn, &leased, now)?;
            Ok(leased)
        })
    }

    /// Records settled deliveries in one transaction, releasing their leases. A delivery whose
    /// lease was taken over meanwhile (it expired) gets its attempt's outcome in the log but is
    /// not updated.
    ///
    /// The outcomes are written set-based: on PostgreSQL one statement per batch (attempt log
    /// rows and deliveries together), on SQLite two (one each). Endpoints are written only
    /// when their health changes, which a successful delivery to a healthy endpoint never does.
    pub fn record_settled(&self, settled: &[Settled]) -> Result<(), StoreError> {
        if settled.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now().as_millis();
        let outcomes: Vec<Outcome<'_>> = settled.iter().map(|s| Outcome::of(s, now)).collect();
        self.write_with_outbox(|conn, outbox| {
            for chunk in outcomes.chunks(OUTCOMES_PER_STATEMENT) {
                write_outcomes(conn, chunk)?;
            }
            record_endpoint_health(conn, outbox, settled, &outcomes, now)
        })
    }

    /// The deliveries of a webhook of the owner's, newest first, each with its attempts.
    /// `before` continues after a previous page's last `(created_at, id)`.
    pub fn list_deliveries(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.read(|conn| {
            owned_endpoint(conn, namespace, service_id, webhook_id)?;
            let mut query = deliveries::table
                .inner_join(events::table)
                .filter(deliveries::endpoint_id.eq(webhook_id))
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(deliveries::status.eq(status.as_str()));
            }
            if let Some((created_at, id)) = before {
                query = query.filter(
                    deliveries::created_at
                        .lt(created_at)
                        .or(deliveries::created_at
                            .eq(created_at)
                            .and(deliveries::id.lt(id))),
                );
            }
            let rows: Vec<DeliveryRow> = query
                .order((deliveries::created_at.desc(), deliveries::id.desc()))
                .limit(limit)
                .select(delivery_columns())
                .load(conn)?;
            rows.into_iter()
                .map(|row| with_attempts(conn, row))
                .collect()
        })
    }

    /// Queues a delivery of the owner's again, now, whatever its state.
    pub fn retry_delivery(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        delivery_id: &str,
        actor: &Actor,
    ) -> Result<DeliveryRecord, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write_with_outbox(|conn, outbox| {
            owned_endpoint(conn, namespace, service_id, webhook_id)?;
            let updated = outbox.retry(conn, delivery_id, webhook_id, now)?;
            if !updated {
                return Err(StoreError::NotFound);
            }
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "delivery.retried",
                    target_id: delivery_id,
                    details: json!({ "service_id": service_id, "webhook_id": webhook_id }),
                },
            )?;
            let row = deliveries::table
                .inner_join(events::table)
                .filter(deliveries::id.eq(delivery_id))
                .select(delivery_columns())
                .first::<DeliveryRow>(conn)?;
            with_attempts(conn, row)
        })
    }

    /// Emits a `webhook.test` event to one enabled webhook of the owner's. `build_payload`
    /// gets the event id. `Conflict("disabled")` when the webhook is disabled.
    pub fn emit_test_event(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        event_id: &str,
        payload: String,
    ) -> Result<Emitted, StoreError> {
        self.write_with_outbox(|conn, outbox| {
            let endpoint = owned_endpoint(conn, namespace, service_id, webhook_id)?;
            if !endpoint.enabled {
                return Err(StoreError::Conflict("disabled"));
            }
            let event = NewEvent {
                id: event_id.to_owned(),
                service_id: service_id.to_owned(),
                namespace: namespace.to_owned(),
                event_type: EventType::WebhookTest,
                payload: payload.clone(),
            };
            outbox.emit(conn, &event, Some(webhook_id))
        })
    }

    /// Replaces a webhook's secret; the old one keeps signing until `previous_expires_at`.
    pub fn rotate_webhook_secret(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        new_sealed: &str,
        previous_expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let endpoint = owned_endpoint(conn, namespace, service_id, webhook_id)?;
            diesel::update(webhook_endpoints::table.find(webhook_id))
                .set((
                    webhook_endpoints::previous_secret_sealed.eq(Some(&endpoint.secret_sealed)),
                    webhook_endpoints::previous_secret_expires_at
                        .eq(Some(previous_expires_at.as_millis())),
                    webhook_endpoints::secret_sealed.eq(new_sealed),
                    webhook_endpoints::updated_at.eq(now),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "webhook.secret_rotated",
                    target_id: webhook_id,
                    details: json!({
                        "service_id": service_id,
                        "previous_secret_expires_at": previous_expires_at,
                    }),
                },
            )?;
            Ok(())
        })
    }

    /// Changes a webhook of the owner's. Re-enabling a disabled one counts the events it missed
    /// (of its service and subscribed types, since it was disabled, not delivered to it) and,
    /// with `replay`, queues them. Returns the webhook and that count (0 unless re-enabled).
    pub fn update_webhook_endpoint(
        &self,
        namespace: &str,
        service_id: &str,
        webhook_id: &str,
        changes: &WebhookChanges,
        actor: &Actor,
    ) -> Result<(WebhookEndpoint, i64), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write_with_outbox(|conn, outbox| {
            let before = owned_endpoint(conn, namespace, service_id, webhook_id)?;
            if changes.events.is_some() && before.format == EndpointFormat::Atp {
                // An ATP callback receives notification responses and nothing else.
                return Err(StoreError::Conflict("atp events"));
            }
            let atp = |f: EndpointFormat| f == EndpointFormat::Atp;
            if let Some(format) = changes.format
                && format != before.format
            {
                if atp(format) || atp(before.format) {
                    return Err(StoreError::Conflict("atp format"));
                }
                diesel::update(webhook_endpoints::table.find(webhook_id))
                    .set(webhook_endpoints::format.eq(format.as_str()))
                    .execute(conn)?;
            }
            if let Some(key) = &changes.signing_key {
                diesel::update(webhook_endpoints::table.find(webhook_id))
                    .set((
                        webhook_endpoints::signing_key_sealed.eq(key.as_ref().map(|k| &k.sealed)),
                        webhook_endpoints::public_key.eq(key.as_ref().map(|k| &k.public_key)),
                    ))
                    .execute(conn)?;
            }
            if let Some(url) = &changes.url {
                diesel::update(webhook_endpoints::table.find(webhook_id))
                    .set(webhook_endpoints::url.eq(url))
                    .execute(conn)?;
            }
            if let Some(events) = &changes.events {
                let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
                diesel::update(webhook_endpoints::table.find(webhook_id))
                    .set(webhook_endpoints::events.eq(serde_json::Value::from(names).to_string()))
                    .execute(conn)?;
            }
            let mut missed = 0;
            match changes.enabled {
                Some(true) if !before.enabled => {
                    let missed_events = missed_events(conn, &before)?;
                    missed = i64::try_from(missed_events.len()).unwrap_or(i64::MAX);
                    if changes.replay {
                        for event_id in &missed_events {
                            outbox.requeue(conn, event_id, webhook_id, now)?;
                        }
                    }
                    diesel::update(webhook_endpoints::table.find(webhook_id))
                        .set((
                            webhook_endpoints::enabled.eq(true),
                            webhook_endpoints::disabled_at.eq(None::<i64>),
                            webhook_endpoints::disabled_reason.eq(None::<String>),
                            webhook_endpoints::failing_since.eq(None::<i64>),
                            webhook_endpoints::consecutive_failures.eq(0),
                            webhook_endpoints::last_error.eq(None::<String>),
                        ))
                        .execute(conn)?;
                }
                Some(false) if before.enabled => {
                    diesel::update(webhook_endpoints::table.find(webhook_id))
                        .set((
                            webhook_endpoints::enabled.eq(false),
                            webhook_endpoints::disabled_at.eq(Some(now)),
                            webhook_endpoints::disabled_reason.eq(Some("owner")),
                        ))
                        .execute(conn)?;
                }
                _ => {}
            }
            diesel::update(webhook_endpoints::table.find(webhook_id))
                .set(webhook_endpoints::updated_at.eq(now))
                .execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "webhook.updated",
                    target_id: webhook_id,
                    details: json!({
                        "service_id": service_id,
                        "url": changes.url,
                        "events": changes.events,
                        "enabled": changes.enabled,
                        "format": changes.format,
                        "public_key": changes.signing_key.as_ref().map(|k| k.as_ref().map(|k| &k.public_key)),
                        "replayed": if changes.replay { missed } else { 0 },
                    }),
                },
            )?;
            let after = owned_endpoint(conn, namespace, service_id, webhook_id)?;
            Ok((after, missed))
        })
    }
}

fn delivery_columns() -> (
    deliveries::id,
    events::id,
    events::event_type,
    events::payload,
    deliveries::status,
    deliveries::attempt_count,
    deliveries::next_attempt_at,
    deliveries::last_error,
    deliveries::created_at,
    deliveries::completed_at,
) {
    (
        deliveries::id,
        events::id,
        events::event_type,
        events::payload,
        deliveries::status,
        deliveries::attempt_count,
        deliveries::next_attempt_at,
        deliveries::last_error,
        deliveries::created_at,
        deliveries::completed_at,
    )
}

fn with_attempts(conn: &mut AnyConnection, row: DeliveryRow) -> Result<DeliveryRecord, StoreError> {
    let (
        id,
        event_id,
        event_type,
        payload,
        status,
        attempt_count,
        next_attempt_at,
        last_error,
        created_at,
        completed_at,
    ) = row;
    let status = DeliveryStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery {id} status")))?;
    let attempts: Vec<AttemptRow> = delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(&id))
        .order(delivery_attempts::attempted_at.asc())
        .select((
            delivery_attempts::attempted_at,
            delivery_attempts::status_code,
            delivery_attempts::duration_ms,
            delivery_attempts::error,
            delivery_attempts::response_excerpt,
            delivery_attempts::request_headers,
        ))
        .load(conn)?;
    let attempts = attempts
        .into_iter()
        .map(
            |(at, code, duration_ms, error, response_excerpt, headers)| {
                Ok(AttemptRecord {
                    attempted_at: Timestamp::from_millis(at),
                    status_code: code.and_then(|c| u16::try_from(c).ok()),
                    duration_ms,
                    error,
                    response_excerpt,
                    request_headers: serde_json::from_str(&headers).map_err(|_| {
                        StoreError::Corrupt(format!("delivery {id} attempt headers"))
                    })?,
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(DeliveryRecord {
        id,
        event_id,
        event_type,
        payload,
        status,
        attempt_count: u32::try_from(attempt_count).unwrap_or(0),
        next_attempt_at: (status == DeliveryStatus::Pending)
            .then(|| Timestamp::from_millis(next_attempt_at)),
        last_error,
        created_at: Timestamp::from_millis(created_at),
        completed_at: completed_at.map(Timestamp::from_millis),
        attempts,
    })
}

/// Writes the rows of the attempts the lease starts, as interrupted: what the log says if no
/// outcome is ever recorded.
fn start_attempts(
    conn: &mut AnyConnection,
    leased: &[LeasedDelivery],
    now: i64,
) -> Result<(), StoreError> {
    let started: Vec<(&str, &str)> = leased
        .iter()
        .filter_map(|d| Some((d.attempt_id.as_deref()?, d.delivery_id.as_str())))
        .collect();
    if started.is_empty() {
        return Ok(());
    }
    let interrupted = Failure::Interrupted.to_string();
    // One statement per thousand rows (7,000 parameters, within both engines' limits); the
    // multi-backend connection cannot build a multi-row insert, each backend's own one can.
    for chunk in started.chunks(1000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(attempt_id, delivery_id)| {
                (
                    delivery_attempts::id.eq(*attempt_id),
                    delivery_attempts::delivery_id.eq(*delivery_id),
                    delivery_attempts::attempted_at.eq(now),
                    delivery_attempts::status_code.eq(None::<i32>),
                    delivery_attempts::duration_ms.eq(0_i64),
                    delivery_attempts::error.eq(Some(interrupted.as_str())),
                    delivery_attempts::response_excerpt.eq(""),
                )
            })
            .collect();
        let insert = diesel::insert_into(delivery_attempts::table).values(rows);
        match conn {
            AnyConnection::Postgresql(pg) => insert.execute(pg)?,
            AnyConnection::Sqlite(sqlite) => insert.execute(sqlite)?,
        };
    }
    Ok(())
}

/// Leases the deliveries on PostgreSQL and counts the attempt each starts (none for a
/// disabled endpoint, whose delivery the engine skips): one statement, `RETURNING` the ids.
const LEASE_POSTGRES: &str = "UPDATE deliveries d SET lease_until = $1, \
       attempt_count = d.attempt_count + CASE WHEN e.enabled THEN 1 ELSE 0 END \
     FROM webhook_endpoints e \
     WHERE e.id = d.endpoint_id AND d.id IN (\
       SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
       AND (lease_until IS NULL OR lease_until <= $2) \
       ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING d.id, e.enabled AS counted";

/// Leases the deliveries on SQLite, counting the attempts it starts: one UPDATE for those to
/// enabled endpoints and, if any, one for the rest, so each row is written once.
fn lease_sqlite(
    conn: &mut AnyConnection,
    leased: &[LeasedDelivery],
    lease_until: i64,
) -> Result<(), StoreError> {
    let (started, skipped): (Vec<&LeasedDelivery>, Vec<&LeasedDelivery>) =
        leased.iter().partition(|d| d.attempt_id.is_some());
    let ids = |of: &[&LeasedDelivery]| -> Vec<String> {
        of.iter().map(|d| d.delivery_id.clone()).collect()
    };
    if !started.is_empty() {
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(ids(&started))))
            .set((
                deliveries::lease_until.eq(lease_until),
                deliveries::attempt_count.eq(deliveries::attempt_count + 1),
            ))
            .execute(conn)?;
    }
    if !skipped.is_empty() {
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(ids(&skipped))))
            .set(deliveries::lease_until.eq(lease_until))
            .execute(conn)?;
    }
    Ok(())
}

/// Rows of outcomes in one statement: 13 parameters each, within both engines' limits
/// (SQLite's 32,766, PostgreSQL's 65,535).
const OUTCOMES_PER_STATEMENT: usize = 1000;

/// One settled delivery as the outcome statements write it.
struct Outcome<'a> {
    delivery_id: &'a str,
    lease_until: i64,
    status: &'static str,
    next_attempt_at: i64,
    /// The error sentence, or "HTTP 503" for a status; none after a success or a skip.
    last_error: Option<String>,
    completed_at: Option<i64>,
    /// The attempt's row in the log and what replaces its "interrupted"; none when skipped.
    attempt: Option<AttemptOutcome<'a>>,
}

struct AttemptOutcome<'a> {
    id: &'a str,
    attempted_at: i64,
    status_code: Option<i32>,
    duration_ms: i64,
    error: Option<String>,
    response_excerpt: &'a str,
    request_headers: String,
}

impl<'a> Outcome<'a> {
    fn of(settled: &'a Settled, now: i64) -> Self {
        let (status, next_at, completed_at) = match settled.next {
            NextStep::Succeeded => (DeliveryStatus::Succeeded, None, Some(now)),
            NextStep::RetryAt(at) => (DeliveryStatus::Pending, Some(at.as_millis()), None),
            NextStep::Exhausted => (DeliveryStatus::Exhausted, None, Some(now)),
            NextStep::Failed => (DeliveryStatus::Failed, None, Some(now)),
            NextStep::Skipped => (DeliveryStatus::Skipped, None, Some(now)),
        };
        let attempt = match (&settled.attempt_id, &settled.attempt) {
            (Some(id), Some(attempt)) => Some(AttemptOutcome {
                id,
                attempted_at: attempt.attempted_at.as_millis(),
                status_code: attempt.status().map(i32::from),
                duration_ms: i64::try_from(attempt.duration.as_millis()).unwrap_or(i64::MAX),
                error: attempt.error(),
                response_excerpt: attempt.response_excerpt(),
                request_headers: serde_json::to_string(&settled.headers).unwrap_or_default(),
            }),
            _ => None,
        };
        Self {
            delivery_id: &settled.delivery_id,
            lease_until: settled.lease_until,
            status: status.as_str(),
            next_attempt_at: next_at.unwrap_or(now),
            last_error: settled
                .attempt
                .as_ref()
                .and_then(Attempt::failure)
                .map(ToString::to_string),
            completed_at,
            attempt,
        }
    }
}

/// The outcome columns, in the order [`bind_outcomes!`] binds them.
const OUTCOME_COLUMNS: &str = "id, lease_until, status, next_attempt_at, last_error, \
    completed_at, attempt_id, attempted_at, status_code, duration_ms, error, response_excerpt, \
    request_headers";
const OUTCOME_WIDTH: usize = 13;

/// Replaces the "interrupted" the lease wrote with the attempt's outcome, even when the lease
/// was taken over meanwhile: this attempt happened, whatever becomes of the delivery.
const UPDATE_ATTEMPTS: &str = "UPDATE delivery_attempts SET attempted_at = o.attempted_at, \
    status_code = o.status_code, duration_ms = o.duration_ms, error = o.error, \
    response_excerpt = o.response_excerpt, request_headers = o.request_headers \
    FROM o WHERE delivery_attempts.id = o.attempt_id";
/// Settles each delivery and releases its lease, if the lease is still the one it was sent
/// under.
const UPDATE_DELIVERIES: &str = "UPDATE deliveries SET status = o.status, \
    next_attempt_at = o.next_attempt_at, lease_until = NULL, last_error = o.last_error, \
    completed_at = o.completed_at \
    FROM o WHERE deliveries.id = o.id AND deliveries.lease_until = o.lease_until";

/// `WITH o(columns) AS (VALUES (…), …)` for `rows` outcomes, with each engine's placeholders.
fn outcome_values(rows: usize, placeholder: impl Fn(usize) -> String) -> String {
    let mut sql = format!("WITH o({OUTCOME_COLUMNS}) AS (VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..OUTCOME_WIDTH {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&placeholder(row * OUTCOME_WIDTH + column + 1));
        }
        sql.push(')');
    }
    sql.push(')');
    sql
}

/// Binds each outcome's [`OUTCOME_COLUMNS`] to a boxed query of either backend.
macro_rules! bind_outcomes {
    ($query:expr, $outcomes:expr) => {{
        use diesel::sql_types::{Integer, Nullable};
        let mut query = $query;
        for o in $outcomes {
            let attempt = o.attempt.as_ref();
            query = query
                .bind::<Text, _>(o.delivery_id)
                .bind::<BigInt, _>(o.lease_until)
                .bind::<Text, _>(o.status)
                .bind::<BigInt, _>(o.next_attempt_at)
                .bind::<Nullable<Text>, _>(o.last_error.as_deref())
                .bind::<Nullable<BigInt>, _>(o.completed_at)
                .bind::<Nullable<Text>, _>(attempt.map(|a| a.id))
                .bind::<Nullable<BigInt>, _>(attempt.map(|a| a.attempted_at))
                .bind::<Nullable<Integer>, _>(attempt.and_then(|a| a.status_code))
                .bind::<Nullable<BigInt>, _>(attempt.map(|a| a.duration_ms))
                .bind::<Nullable<Text>, _>(attempt.and_then(|a| a.error.as_deref()))
                .bind::<Nullable<Text>, _>(attempt.map(|a| a.response_excerpt))
                .bind::<Nullable<Text>, _>(attempt.map(|a| a.request_headers.as_str()));
        }
        query
    }};
}

/// Writes a batch of outcomes: the attempts' log rows and the deliveries.
fn write_outcomes(conn: &mut AnyConnection, outcomes: &[Outcome<'_>]) -> Result<(), StoreError> {
    match conn {
        // One statement: the attempts' update is a data-modifying CTE, which PostgreSQL runs
        // to completion whether or not the main statement reads it.
        AnyConnection::Postgresql(pg) => {
            let values = outcome_values(outcomes.len(), |n| format!("${n}"));
            let sql = format!("{values}, a AS ({UPDATE_ATTEMPTS}) {UPDATE_DELIVERIES}");
            let query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
            bind_outcomes!(query, outcomes).execute(pg)?;
        }
        // SQLite has no data-modifying CTEs: one statement for each table.
        AnyConnection::Sqlite(sqlite) => {
            let values = outcome_values(outcomes.len(), |_| "?".to_owned());
            for update in [UPDATE_ATTEMPTS, UPDATE_DELIVERIES] {
                let query = diesel::sql_query(format!("{values} {update}"))
                    .into_boxed::<diesel::sqlite::Sqlite>();
                bind_outcomes!(query, outcomes).execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// Applies what the attempts say of their endpoints' health, in the order they settled.
/// Only endpoints whose health changes are written: one that is failing or has a streak is
/// "dirty" (read once for the whole batch, then kept up to date here), and a success on a
/// clean endpoint changes nothing, so it costs no statement.
fn record_endpoint_health(
    conn: &mut AnyConnection,
    outbox: &mut crate::outbox::Outbox,
    settled: &[Settled],
    outcomes: &[Outcome<'_>],
    now: i64,
) -> Result<(), StoreError> {
    use std::collections::HashSet;

    use assent_core::channel::ChannelEvent;
    let touched: HashSet<&str> = settled
        .iter()
        .filter(|s| s.endpoint != EndpointHealth::Unchanged)
        .map(|s| s.endpoint_id.as_str())
        .collect();
    if touched.is_empty() {
        return Ok(());
    }
    let mut dirty: HashSet<String> = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq_any(&touched))
        .filter(
            webhook_endpoints::failing_since
                .is_not_null()
                .or(webhook_endpoints::consecutive_failures.ne(0)),
        )
        .select(webhook_endpoints::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    for (settled, outcome) in settled.iter().zip(outcomes) {
        let endpoint_id = settled.endpoint_id.as_str();
        let endpoint = webhook_endpoints::table.find(endpoint_id);
        let last_error = outcome.last_error.as_deref();
        match settled.endpoint {
            EndpointHealth::Unchanged => {}
            EndpointHealth::Healthy => {
                if !dirty.remove(endpoint_id) {
                    continue;
                }
                let was_failing = webhook_endpoints::table
                    .find(endpoint_id)
                    .select(webhook_endpoints::failing_since)
                    .first::<Option<i64>>(conn)
                    .optional()?
                    .flatten()
                    .is_some();
                // Filtered again: another replica may have cleared it since it was read.
                diesel::update(
                    endpoint.filter(
                        webhook_endpoints::failing_since
                            .is_not_null()
                            .or(webhook_endpoints::consecutive_failures.ne(0)),
                    ),
                )
                .set((
                    webhook_endpoints::failing_since.eq(None::<i64>),
                    webhook_endpoints::consecutive_failures.eq(0),
                    webhook_endpoints::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
                if was_failing {
                    crate::channels::endpoint_changed(
                        conn,
                        outbox,
                        endpoint_id,
                        ChannelEvent::EndpointRecovered,
                    )?;
                }
            }
            EndpointHealth::Failing => {
                dirty.insert(endpoint_id.to_owned());
                let started =
                    diesel::update(endpoint.filter(webhook_endpoints::failing_since.is_null()))
                        .set(webhook_endpoints::failing_since.eq(Some(now)))
                        .execute(conn)?;
                count_failure(conn, endpoint_id, last_error)?;
                if started == 1 {
                    crate::channels::endpoint_changed(
                        conn,
                        outbox,
                        endpoint_id,
                        ChannelEvent::EndpointFailing,
                    )?;
                }
            }
            EndpointHealth::Disable(reason) => {
                dirty.insert(endpoint_id.to_owned());
                let reason = reason.as_str();
                let disabled = diesel::update(endpoint.filter(webhook_endpoints::enabled.eq(true)))
                    .set((
                        webhook_endpoints::enabled.eq(false),
                        webhook_endpoints::disabled_at.eq(Some(now)),
                        webhook_endpoints::disabled_reason.eq(Some(reason)),
                    ))
                    .execute(conn)?;
                count_failure(conn, endpoint_id, last_error)?;
                if disabled == 1 {
                    crate::channels::endpoint_changed(
                        conn,
                        outbox,
                        endpoint_id,
                        ChannelEvent::EndpointDisabled,
                    )?;
                }
                tracing::warn!(endpoint_id, reason, "webhook endpoint disabled");
            }
        }
    }
    Ok(())
}

/// One more failure in the endpoint's streak, and its error.
fn count_failure(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(webhook_endpoints::table.find(endpoint_id))
        .set((
            webhook_endpoints::consecutive_failures.eq(webhook_endpoints::consecutive_failures + 1),
            webhook_endpoints::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// The endpoint if it belongs to a service of `namespace`; `NotFound` otherwise.
fn owned_endpoint(
    conn: &mut AnyConnection,
    namespace: &str,
    service_id: &str,
    webhook_id: &str,
) -> Result<WebhookEndpoint, StoreError> {
    owned(conn, namespace, service_id)?;
    webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(webhook_id))
        .filter(webhook_endpoints::service_id.eq(service_id))
        .select(WebhookEndpointRow::as_select())
        .first(conn)
        .optional()?
        .map(WebhookEndpoint::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Events of the endpoint's service and subscribed types since it was disabled, that it has
/// no delivery of, or whose delivery was skipped.
fn missed_events(
    conn: &mut AnyConnection,
    endpoint: &WebhookEndpoint,
) -> Result<Vec<String>, StoreError> {
    let since = endpoint.disabled_at.map_or(0, Timestamp::as_millis);
    let types: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
    let candidates: Vec<String> = events::table
        .filter(events::service_id.eq(&endpoint.service_id))
        .filter(events::created_at.ge(since))
        .filter(events::event_type.eq_any(&types))
        .order(events::created_at.asc())
        .select(events::id)
        .load(conn)?;
    let mut missed = Vec::new();
    for event_id in candidates {
        let status: Option<String> = deliveries::table
            .filter(deliveries::event_id.eq(&event_id))
            .filter(deliveries::endpoint_id.eq(&endpoint.id))
            .select(deliveries::status)
            .first(conn)
            .optional()?;
        if status.is_none_or(|s| s == DeliveryStatus::Skipped.as_str()) {
            missed.push(event_id);
        }
    }
    Ok(missed)
}
