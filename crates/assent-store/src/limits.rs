//! Limits that hold across replicas: rate buckets, failed-login counts and open-stream leases,
//! in the database so that N replicas on one PostgreSQL enforce one limit in total, not one
//! each. Every decision is one atomic statement (an upsert that returns a row only when the
//! request passes) or, for leases, one short transaction that takes its turn per user, so the
//! limits are exact under concurrency. On PostgreSQL the tables are UNLOGGED: no fsync per
//! limited request. Expired rows are removed by [`Store::purge_expired_limits`].
//!
//! A SQLite database serves one process, which counts in memory instead (`assent-http`'s
//! `rate_limit`, `assent-app`'s `throttle`); these methods work there too and are tested on both
//! engines.

use std::time::Duration;

use assent_core::Timestamp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::AnyConnection;
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::{login_failures, rate_buckets, stream_leases};

/// Runs one raw statement written with PostgreSQL's `$n` placeholders on either engine
/// (SQLite reads the same numbers as `?n`), with the binds of `$bind` applied to `$query`, and
/// finishes it with `$method` (`execute`, `load`).
macro_rules! on_either {
    ($conn:expr, $sql:expr, $method:ident, |$query:ident| $bind:expr) => {
        match $conn {
            AnyConnection::Postgresql(pg) => {
                let $query = diesel::sql_query($sql);
                $bind.$method(pg)
            }
            AnyConnection::Sqlite(sqlite) => {
                let $query = diesel::sql_query($sql.replace('$', "?"));
                $bind.$method(sqlite)
            }
        }
    };
}

/// The row an upsert returns when the request passes.
#[derive(QueryableByName)]
struct Passed {
    #[diesel(sql_type = Integer)]
    #[expect(
        dead_code,
        reason = "a returned row is the answer; its value is not needed"
    )]
    passed: i32,
}

/// The advisory lock class under which a user's stream leases take turns (`stre` in ASCII);
/// the two-number form keeps it apart from every single-number lock.
const STREAM_LEASE_LOCK_CLASS: i32 = 0x7374_7265;

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn wait_micros(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

impl Store {
    /// Takes one request out of the GCRA bucket `key` of `count` requests per `period`: a
    /// caller may send `count` at once, then one more every `period / count`. `now_micros` is
    /// microseconds since the epoch. `None` when the request passes; the wait until the next
    /// one would pass when it does not (and then nothing is taken).
    pub fn take_from_bucket(
        &self,
        key: &str,
        count: u32,
        period: Duration,
        now_micros: i64,
    ) -> Result<Option<Duration>, StoreError> {
        let interval = micros(period / count.max(1)).max(1);
        // Exactly `count` at once: a whole number of intervals, however `period` divides.
        let burst = interval.saturating_mul(i64::from(count.max(1)));
        self.read(|conn| {
            // The bucket is full again at `refilled_at`; a request moves that one interval
            // later, and passes if it stays within one burst of now.
            let passed: Vec<Passed> = on_either!(
                &mut *conn,
                "INSERT INTO rate_buckets (key, refilled_at) VALUES ($1, $2 + $3) \
                 ON CONFLICT (key) DO UPDATE SET refilled_at = \
                   (CASE WHEN rate_buckets.refilled_at > $2 THEN rate_buckets.refilled_at ELSE $2 END) + $3 \
                 WHERE (CASE WHEN rate_buckets.refilled_at > $2 THEN rate_buckets.refilled_at ELSE $2 END) + $3 <= $2 + $4 \
                 RETURNING 1 AS passed",
                load,
                |query| query
                    .bind::<Text, _>(key)
                    .bind::<BigInt, _>(now_micros)
                    .bind::<BigInt, _>(interval)
                    .bind::<BigInt, _>(burst)
            )?;
            if !passed.is_empty() {
                return Ok(None);
            }
            let refilled_at: Option<i64> = rate_buckets::table
                .find(key)
                .select(rate_buckets::refilled_at)
                .first(conn)
                .optional()?;
            // The next request passes once `refilled_at + interval` is within a burst of now.
            let next = refilled_at.unwrap_or(now_micros) + interval - burst;
            Ok(Some(wait_micros(next - now_micros)))
        })
    }

    /// Counts one login attempt for `key` (an email or a client address) in its window of
    /// `window` before the password is checked: `None` when fewer than `max` are counted in
    /// the window (the attempt is now one of them), the wait until the window ends otherwise
    /// (nothing counted). A successful attempt gives its count back
    /// ([`Store::give_back_login_attempt`]) or clears the key ([`Store::clear_login_failures`]),
    /// so what stays counted are failures. Counting first makes the limit exact: concurrent
    /// guesses cannot all pass a check made before any of them failed.
    pub fn take_login_attempt(
        &self,
        key: &str,
        max: u32,
        window: Duration,
        now: Timestamp,
    ) -> Result<Option<Duration>, StoreError> {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        self.read(|conn| {
            let counted: Vec<Passed> = on_either!(
                &mut *conn,
                "INSERT INTO login_failures (key, failures, window_ends) VALUES ($1, 1, $2 + $3) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN login_failures.window_ends <= $2 THEN 1 \
                              ELSE login_failures.failures + 1 END, \
                   window_ends = CASE WHEN login_failures.window_ends <= $2 THEN $2 + $3 \
                                 ELSE login_failures.window_ends END \
                 WHERE login_failures.window_ends <= $2 OR login_failures.failures < $4 \
                 RETURNING 1 AS passed",
                load,
                |query| query
                    .bind::<Text, _>(key)
                    .bind::<BigInt, _>(now.as_millis())
                    .bind::<BigInt, _>(millis(window))
                    .bind::<Integer, _>(max)
            )?;
            if !counted.is_empty() {
                return Ok(None);
            }
            let ends: Option<i64> = login_failures::table
                .find(key)
                .select(login_failures::window_ends)
                .first(conn)
                .optional()?;
            let wait = ends.unwrap_or(now.as_millis()) - now.as_millis();
            Ok(Some(Duration::from_millis(
                u64::try_from(wait).unwrap_or(0),
            )))
        })
    }

    /// Gives back one attempt counted by [`Store::take_login_attempt`] (it succeeded, or was
    /// never checked).
    pub fn give_back_login_attempt(&self, key: &str) -> Result<(), StoreError> {
        self.read(|conn| {
            diesel::update(
                login_failures::table
                    .find(key)
                    .filter(login_failures::failures.gt(0)),
            )
            .set(login_failures::failures.eq(login_failures::failures - 1))
            .execute(conn)?;
            Ok(())
        })
    }

    /// Forgets every failure counted for `key` (an email that logged in).
    pub fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        self.read(|conn| {
            diesel::delete(login_failures::table.find(key)).execute(conn)?;
            Ok(())
        })
    }

    /// Opens the lease `id` on a place among `account_id`'s open streams of `kind`
    /// (`websocket`, `sse`) until `expires_at`, if fewer than `max` unexpired leases are open:
    /// `true` when it is open. A user's openings take turns (an advisory lock on PostgreSQL,
    /// the write lock on SQLite), so `max` is exact under concurrency.
    pub fn open_stream_lease(
        &self,
        id: &str,
        account_id: &str,
        kind: &str,
        max: usize,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(|conn| {
            if let AnyConnection::Postgresql(pg) = &mut *conn {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                    .bind::<Integer, _>(STREAM_LEASE_LOCK_CLASS)
                    .bind::<Text, _>(format!("{kind}:{account_id}"))
                    .execute(pg)?;
            }
            let open: i64 = stream_leases::table
                .filter(stream_leases::account_id.eq(account_id))
                .filter(stream_leases::kind.eq(kind))
                .filter(stream_leases::expires_at.gt(now.as_millis()))
                .count()
                .get_result(conn)?;
            if open >= i64::try_from(max).unwrap_or(i64::MAX) {
                return Ok(false);
            }
            diesel::insert_into(stream_leases::table)
                .values((
                    stream_leases::id.eq(id),
                    stream_leases::account_id.eq(account_id),
                    stream_leases::kind.eq(kind),
                    stream_leases::expires_at.eq(expires_at.as_millis()),
                ))
                .execute(conn)?;
            Ok(true)
        })
    }

    /// Extends the open lease `id` to `expires_at`; `false` if it is gone (it expired and was
    /// purged, or PostgreSQL restarted).
    pub fn renew_stream_lease(&self, id: &str, expires_at: Timestamp) -> Result<bool, StoreError> {
        self.read(|conn| {
            let renewed = diesel::update(stream_leases::table.find(id))
                .set(stream_leases::expires_at.eq(expires_at.as_millis()))
                .execute(conn)?;
            Ok(renewed == 1)
        })
    }

    /// Closes the lease `id`: its place is free at once.
    pub fn close_stream_lease(&self, id: &str) -> Result<(), StoreError> {
        self.read(|conn| {
            diesel::delete(stream_leases::table.find(id)).execute(conn)?;
            Ok(())
        })
    }

    /// Deletes rate buckets that are full again, failure windows that have ended and stream
    /// leases that have expired by `now`: each is as if it had never been written. Returns how
    /// many rows went.
    pub fn purge_expired_limits(&self, now: Timestamp) -> Result<usize, StoreError> {
        let now_micros = now.as_millis().saturating_mul(1000);
        self.read(|conn| {
            let buckets = diesel::delete(
                rate_buckets::table.filter(rate_buckets::refilled_at.le(now_micros)),
            )
            .execute(conn)?;
            let failures = diesel::delete(
                login_failures::table.filter(login_failures::window_ends.le(now.as_millis())),
            )
            .execute(conn)?;
            let leases = diesel::delete(
                stream_leases::table.filter(stream_leases::expires_at.le(now.as_millis())),
            )
            .execute(conn)?;
            Ok(buckets + failures + leases)
        })
    }
}
