//! What an operator needs of the database itself: the few counts a metrics scrape reads, the
//! pool's use, retention (old rows pruned in small batches) and an online SQLite backup.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assent_core::Timestamp;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use crate::db::{AnyConnection, Backend, Store};
use crate::error::StoreError;
use crate::schema::{
    audit_log, audit_log_pruning, claim_history, claims, deliveries, delivery_attempts, events,
    nonces, notifications, webhook_endpoints,
};

/// A checkout slower than this counts as having waited for a connection.
const WAITED: Duration = Duration::from_millis(1);

/// Pool checkouts that waited, counted with atomics only (the hot path pays a clock read).
#[derive(Debug, Default)]
pub(crate) struct PoolWaits {
    waits: AtomicU64,
    wait_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl PoolWaits {
    pub(crate) fn record(&self, took: Duration, timed_out: bool) {
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        if took >= WAITED {
            self.waits.fetch_add(1, Ordering::Relaxed);
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.wait_micros.fetch_add(micros, Ordering::Relaxed);
        }
    }
}

/// The connection pool, now and since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
    /// Checkouts that waited 1 ms or more for a connection.
    pub waits: u64,
    /// Their waiting, in total.
    pub wait_time: Duration,
    /// Checkouts that gave up (no connection within the checkout timeout).
    pub timeouts: u64,
}

/// The counts a metrics scrape reads: each one an indexed count or minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    pub pending_claims: i64,
    pub pending_notifications: i64,
    /// Pending deliveries whose next attempt is due now.
    pub due_deliveries: i64,
    /// How long the oldest due delivery has been due; zero when none is.
    pub oldest_due: Duration,
    pub disabled_endpoints: i64,
}

/// How long each kind of old row is kept; `None` keeps it forever. Only rows that are
/// finished are ever removed: pending deliveries, pending claims and open notifications stay
/// whatever their age, and an event stays while any delivery of it is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Settled deliveries (succeeded, failed, exhausted, skipped), with their attempts.
    pub deliveries: Option<Duration>,
    /// The response excerpts of attempts (emptied; the attempt stays).
    pub response_bodies: Option<Duration>,
    /// Events none of whose deliveries is left.
    pub events: Option<Duration>,
    /// Notifications in a final state (responded, completed, expired, invalidated).
    pub notifications: Option<Duration>,
    /// Archived claims (`claim_history`).
    pub claim_history: Option<Duration>,
    /// Spent nonces past their expiry.
    pub nonces: Option<Duration>,
    /// The audit log: kept forever unless the operator says otherwise.
    pub audit_log: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            deliveries: Some(Duration::from_secs(30 * DAY)),
            response_bodies: Some(Duration::from_secs(7 * DAY)),
            events: Some(Duration::from_secs(30 * DAY)),
            notifications: Some(Duration::from_secs(90 * DAY)),
            claim_history: Some(Duration::from_secs(365 * DAY)),
            nonces: Some(Duration::ZERO),
            audit_log: None,
        }
    }
}

/// Rows removed (or, for response bodies, emptied) by one [`Store::prune`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub deliveries: usize,
    pub response_bodies: usize,
    pub events: usize,
    pub notifications: usize,
    pub claim_history: usize,
    pub nonces: usize,
    pub audit_log: usize,
}

impl Pruned {
    pub fn total(&self) -> usize {
        self.deliveries
            + self.response_bodies
            + self.events
            + self.notifications
            + self.claim_history
            + self.nonces
            + self.audit_log
    }
}

const FINAL_NOTIFICATION: [&str; 4] = ["responded", "completed", "expired", "invalidated"];

fn cutoff(now: Timestamp, keep: Duration) -> i64 {
    now.as_millis()
        .saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// The pool's use now and its waits since start.
    pub fn pool_stats(&self) -> PoolStats {
        let (connections, idle, max) = self.pool_state();
        PoolStats {
            connections,
            idle,
            max,
            waits: self.pool_waits.waits.load(Ordering::Relaxed),
            wait_time: Duration::from_micros(self.pool_waits.wait_micros.load(Ordering::Relaxed)),
            timeouts: self.pool_waits.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Five indexed counts, for a metrics scrape.
    pub fn gauges(&self, now: Timestamp) -> Result<Gauges, StoreError> {
        self.read(|conn| {
            let pending_claims = claims::table
                .filter(claims::status.eq("pending"))
                .select(count_star())
                .get_result(conn)?;
            let pending_notifications = notifications::table
                .filter(notifications::status.eq_any(["created", "delivered", "acknowledged"]))
                .select(count_star())
                .get_result(conn)?;
            let due = deliveries::table
                .filter(deliveries::status.eq("pending"))
                .filter(deliveries::next_attempt_at.le(now.as_millis()));
            let due_deliveries = due.select(count_star()).get_result(conn)?;
            let oldest: Option<i64> = due
                .select(min(deliveries::next_attempt_at))
                .get_result(conn)?;
            let disabled_endpoints = webhook_endpoints::table
                .filter(webhook_endpoints::enabled.eq(false))
                .select(count_star())
                .get_result(conn)?;
            let oldest_due = oldest.map_or(Duration::ZERO, |at| {
                Duration::from_millis(u64::try_from(now.as_millis() - at).unwrap_or(0))
            });
            Ok(Gauges {
                pending_claims,
                pending_notifications,
                due_deliveries,
                oldest_due,
                disabled_endpoints,
            })
        })
    }

    /// Removes what `retention` no longer keeps, at most `batch` rows per transaction and
    /// `batches` transactions per kind of row, so the SQLite writer is never held for long
    /// and one call ends in bounded time (the next one goes on where it stopped). Oldest rows
    /// go first.
    pub fn prune(
        &self,
        retention: &Retention,
        now: Timestamp,
        batch: i64,
        batches: usize,
    ) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        let repeat = |step: &dyn Fn() -> Result<usize, StoreError>| -> Result<usize, StoreError> {
            let mut total = 0;
            for _ in 0..batches {
                let done = step()?;
                total += done;
                if i64::try_from(done).unwrap_or(i64::MAX) < batch {
                    break;
                }
            }
            Ok(total)
        };
        if let Some(keep) = retention.deliveries {
            let before = cutoff(now, keep);
            // Their attempts go with them (ON DELETE CASCADE).
            pruned.deliveries = repeat(&|| {
                self.write(|conn| {
                    let ids = deliveries::table
                        .filter(deliveries::status.ne("pending"))
                        .filter(deliveries::completed_at.lt(before))
                        .order(deliveries::completed_at)
                        .select(deliveries::id)
                        .limit(batch)
                        .load::<String>(conn)?;
                    Ok::<_, StoreError>(
                        diesel::delete(deliveries::table.filter(deliveries::id.eq_any(ids)))
                            .execute(conn)?,
                    )
                })
            })?;
        }
        if let Some(keep) = retention.response_bodies {
            let before = cutoff(now, keep);
            pruned.response_bodies = repeat(&|| {
                self.write(|conn| {
                    let ids = delivery_attempts::table
                        .filter(delivery_attempts::attempted_at.lt(before))
                        .filter(delivery_attempts::response_excerpt.ne(""))
                        .select(delivery_attempts::id)
                        .limit(batch)
                        .load::<String>(conn)?;
                    Ok::<_, StoreError>(
                        diesel::update(
                            delivery_attempts::table.filter(delivery_attempts::id.eq_any(ids)),
                        )
                        .set(delivery_attempts::response_excerpt.eq(""))
                        .execute(conn)?,
                    )
                })
            })?;
        }
        if let Some(keep) = retention.events {
            let before = cutoff(now, keep);
            // An event any delivery still points at stays: a pending one needs its payload,
            // and a kept settled one is shown with it in the delivery log.
            pruned.events = repeat(&|| {
                self.write(|conn| {
                    let ids = events::table
                        .filter(events::created_at.lt(before))
                        .filter(diesel::dsl::not(diesel::dsl::exists(
                            deliveries::table.filter(deliveries::event_id.eq(events::id)),
                        )))
                        .order(events::created_at)
                        .select(events::id)
                        .limit(batch)
                        .load::<String>(conn)?;
                    Ok::<_, StoreError>(
                        diesel::delete(events::table.filter(events::id.eq_any(ids)))
                            .execute(conn)?,
                    )
                })
            })?;
        }
        if let Some(keep) = retention.notifications {
            let before = cutoff(now, keep);
            pruned.notifications = repeat(&|| {
                self.write(|conn| {
                    let ids = notifications::table
                        .filter(notifications::status.eq_any(FINAL_NOTIFICATION))
                        .filter(notifications::updated_at.lt(before))
                        .order(notifications::updated_at)
                        .select(notifications::id)
                        .limit(batch)
                        .load::<String>(conn)?;
                    Ok::<_, StoreError>(
                        diesel::delete(notifications::table.filter(notifications::id.eq_any(ids)))
                            .execute(conn)?,
                    )
                })
            })?;
        }
        if let Some(keep) = retention.claim_history {
            let before = cutoff(now, keep);
            pruned.claim_history = repeat(&|| {
                self.write(|conn| {
                    let ids = claim_history::table
                        .filter(claim_history::archived_at.lt(before))
                        .order(claim_history::archived_at)
                        .select(claim_history::claim_id)
                        .limit(batch)
                        .load::<String>(conn)?;
                    Ok::<_, StoreError>(
                        diesel::delete(
                            claim_history::table.filter(claim_history::claim_id.eq_any(ids)),
                        )
                        .execute(conn)?,
                    )
                })
            })?;
        }
        if let Some(keep) = retention.nonces {
            let before = cutoff(now, keep);
            pruned.nonces = repeat(&|| {
                self.write(|conn| {
                    let keys = nonces::table
                        .filter(nonces::expires_at.le(before))
                        .select((nonces::scope, nonces::value))
                        .limit(batch)
                        .load::<(String, String)>(conn)?;
                    let mut gone = 0;
                    for (scope, value) in keys {
                        gone += diesel::delete(
                            nonces::table
                                .filter(nonces::scope.eq(scope))
                                .filter(nonces::value.eq(value)),
                        )
                        .execute(conn)?;
                    }
                    Ok::<_, StoreError>(gone)
                })
            })?;
        }
        if let Some(keep) = retention.audit_log {
            let before = cutoff(now, keep);
            pruned.audit_log = repeat(&|| {
                self.write(|conn| {
                    // The permit the append-only trigger looks for, for this transaction only.
                    diesel::insert_into(audit_log_pruning::table)
                        .values(audit_log_pruning::active.eq(1))
                        .execute(conn)?;
                    let seqs = audit_log::table
                        .filter(audit_log::created_at.lt(before))
                        .order(audit_log::seq)
                        .select(audit_log::seq)
                        .limit(batch)
                        .load::<i64>(conn)?;
                    let gone = diesel::delete(audit_log::table.filter(audit_log::seq.eq_any(seqs)))
                        .execute(conn)?;
                    diesel::delete(audit_log_pruning::table).execute(conn)?;
                    Ok::<_, StoreError>(gone)
                })
            })?;
        }
        Ok(pruned)
    }

    /// Writes a consistent copy of the SQLite database to `to` while the server runs
    /// (`VACUUM INTO`: one read transaction, so the copy is the database as of one commit;
    /// writers go on meanwhile under WAL). Refuses an existing file. PostgreSQL has
    /// `pg_dump` for this.
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "assent backup copies SQLite databases; back up PostgreSQL with pg_dump",
            ));
        }
        if to.exists() {
            return Err(StoreError::InvalidUrl(format!(
                "{} exists already; a backup never overwrites a file",
                to.display()
            )));
        }
        let target = to.to_str().ok_or_else(|| {
            StoreError::InvalidUrl("the backup path is not valid UTF-8".to_owned())
        })?;
        self.read(|conn| {
            let AnyConnection::Sqlite(sqlite) = conn else {
                unreachable!("checked above")
            };
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target)
                .execute(sqlite)?;
            Ok(())
        })
    }
}
