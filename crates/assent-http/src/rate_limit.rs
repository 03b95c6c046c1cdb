//! The ATP rate limits: requests per period per caller, and open streaming connections per
//! user. Breaching one is 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`.
//!
//! `N/DURATION` is a GCRA bucket (`governor`): a caller may send `N` at once, and then one
//! more every `DURATION / N`; `Retry-After` is the wait until the next one would pass.
//!
//! Where the counts live depends on the database. On PostgreSQL, which N replicas may share,
//! every limited request takes from its bucket in the database (one upsert, `Store::
//! take_from_bucket`) and every open stream holds a lease there (`Store::open_stream_lease`,
//! renewed each heartbeat, expiring after three missed ones), so a limit holds in total across
//! the replicas, exactly. A SQLite database serves one process, which counts in memory (no
//! database write per request). The buckets are the same GCRA either way.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web;
use assent_auth::random;
use assent_core::Timestamp;
use assent_core::time::parse_duration;
use assent_store::Store;
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::error::{ApiError, code};

/// At most `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(60),
        }
    }

    /// `N/DURATION`: `100/1m`, `10/1h`.
    pub fn parse(text: &str) -> Option<Self> {
        let (count, period) = text.trim().split_once('/')?;
        let count = count.trim().parse().ok().filter(|n| *n > 0)?;
        let period = parse_duration(period).filter(|p| !p.is_zero())?;
        Some(Self { count, period })
    }
}

/// The limited operations (ATP API overview).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /api/v1/services`, per IP.
    Registration,
    /// `POST /api/v1/notifications`, per service.
    Submission,
    /// `PATCH /api/v1/notifications/{id}`, per service.
    StatusUpdate,
    /// Client reads of notifications, per user.
    Polling,
    /// `POST /api/v1/client/respond`, per user.
    Response,
}

impl Operation {
    /// Its name in the metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Submission => "submission",
            Self::StatusUpdate => "status_update",
            Self::Polling => "polling",
            Self::Response => "response",
        }
    }
}

/// The configured limits (ATP's numbers by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub registration: Rate,
    pub submission: Rate,
    pub status_update: Rate,
    pub polling: Rate,
    pub response: Rate,
    /// Open WebSocket connections per user.
    pub websockets_per_user: usize,
    /// Open Server-Sent Events connections per user.
    pub sse_per_user: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            registration: Rate {
                count: 10,
                period: Duration::from_secs(3600),
            },
            submission: Rate::per_minute(100),
            status_update: Rate::per_minute(200),
            polling: Rate::per_minute(60),
            response: Rate::per_minute(100),
            websockets_per_user: 5,
            sse_per_user: 10,
        }
    }
}

/// One operation's limit: its rate and a GCRA bucket per caller.
struct Limit<C: Clock> {
    rate: Rate,
    callers: governor::RateLimiter<
        String,
        DefaultKeyedStateStore<String>,
        C,
        NoOpMiddleware<C::Instant>,
    >,
}

impl<C: Clock> Limit<C> {
    fn new(rate: Rate, clock: C) -> Self {
        // `count` at once, then one more every `period / count` (GCRA): never more than
        // `count` in a burst, and on average `count` per `period`.
        let interval = (rate.period / rate.count).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            rate,
            callers: governor::RateLimiter::dashmap_with_clock(quota, clock),
        }
    }
}

/// How many checks pass between two sweeps of callers whose bucket is full again, which
/// keeps memory to the callers seen within about one period.
const SWEEP_EVERY: u64 = 4096;

/// Counts requests per (operation, caller): in the database's buckets when it is shared,
/// else with `governor`'s keyed GCRA limiters in memory.
pub struct RateLimiter<C: Clock = DefaultClock> {
    enabled: bool,
    /// The store whose buckets every replica shares (PostgreSQL); `None` counts in memory.
    shared: Option<Store>,
    clock: C,
    registration: Limit<C>,
    submission: Limit<C>,
    status_update: Limit<C>,
    polling: Limit<C>,
    response: Limit<C>,
    /// Refusals by operation, for the metrics.
    refusals: Family<[(&'static str, &'static str); 1], Counter>,
    checks: AtomicU64,
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.enabled)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Counts in `shared`'s buckets if given (a database replicas share), else in memory.
    pub fn new(limits: RateLimits, enabled: bool, shared: Option<Store>) -> Self {
        Self {
            shared,
            ..Self::with_clock(limits, enabled, DefaultClock::default())
        }
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(limits: RateLimits, enabled: bool, clock: C) -> Self {
        Self {
            enabled,
            shared: None,
            registration: Limit::new(limits.registration, clock.clone()),
            submission: Limit::new(limits.submission, clock.clone()),
            status_update: Limit::new(limits.status_update, clock.clone()),
            polling: Limit::new(limits.polling, clock.clone()),
            response: Limit::new(limits.response, clock.clone()),
            clock,
            checks: AtomicU64::new(0),
            refusals: Family::default(),
        }
    }

    /// Refusals so far, by operation (`registration`, `submission`, …), for a registry.
    pub fn refusals(&self) -> Family<[(&'static str, &'static str); 1], Counter> {
        self.refusals.clone()
    }

    fn limit(&self, operation: Operation) -> &Limit<C> {
        match operation {
            Operation::Registration => &self.registration,
            Operation::Submission => &self.submission,
            Operation::StatusUpdate => &self.status_update,
            Operation::Polling => &self.polling,
            Operation::Response => &self.response,
        }
    }

    fn limits(&self) -> [&Limit<C>; 5] {
        [
            &self.registration,
            &self.submission,
            &self.status_update,
            &self.polling,
            &self.response,
        ]
    }

    /// Counts one request of `caller`; 429 when its bucket is empty, with the wait until
    /// the next request would pass. In the shared buckets when there are (one upsert on a
    /// blocking thread), else in memory.
    pub async fn check(&self, operation: Operation, caller: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let Some(store) = &self.shared else {
            return self.check_here(operation, caller);
        };
        let rate = self.limit(operation).rate;
        let key = format!("{}:{caller}", operation.as_str());
        let store = store.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let now_micros = i64::try_from(now.as_micros()).unwrap_or(i64::MAX);
        let wait =
            web::block(move || store.take_from_bucket(&key, rate.count, rate.period, now_micros))
                .await??;
        match wait {
            None => Ok(()),
            Some(wait) => Err(self.refused(operation, wait)),
        }
    }

    /// [`RateLimiter::check`] in this process's memory.
    fn check_here(&self, operation: Operation, caller: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.forget_idle();
        }
        self.limit(operation)
            .callers
            .check_key(&caller.to_owned())
            .map_err(|not_until| {
                self.refused(operation, not_until.wait_time_from(self.clock.now()))
            })
    }

    /// The refusal of `operation`, counted for the metrics.
    fn refused(&self, operation: Operation, wait: Duration) -> ApiError {
        self.refusals
            .get_or_create(&[("operation", operation.as_str())])
            .inc();
        let rate = self.limit(operation).rate;
        too_many(
            format!(
                "The rate limit of {} requests per {:?} is reached.",
                rate.count, rate.period
            ),
            wait,
        )
    }

    /// Drops the callers whose bucket is full again: they are as if never seen.
    fn forget_idle(&self) {
        for limit in self.limits() {
            limit.callers.retain_recent();
            limit.callers.shrink_to_fit();
        }
    }

    /// Callers remembered, over every operation.
    #[cfg(test)]
    fn callers(&self) -> usize {
        self.limits().iter().map(|l| l.callers.len()).sum()
    }
}

fn too_many(message: String, wait: Duration) -> ApiError {
    // Whole seconds, rounded up, at least 1: a client must not retry early.
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        code::RATE_LIMIT_EXCEEDED,
        message,
    )
    .with_retry_after(seconds.max(1))
}

/// Open connections per user, of one kind (WebSocket or SSE): counted in this process (for
/// the metrics, and as the limit when the database is not shared), and with a lease each in
/// the database when it is shared.
#[derive(Debug, Default)]
pub struct ConnectionLimit {
    open: Arc<Mutex<HashMap<String, usize>>>,
    leases: Option<Leases>,
}

/// How a shared database holds the places of one kind of connection.
#[derive(Debug, Clone)]
pub struct Leases {
    pub store: Store,
    /// `websocket` or `sse`.
    pub kind: &'static str,
    /// How often an open connection renews its lease: each stream heartbeat.
    pub renew_every: Duration,
}

impl Leases {
    /// A lease not renewed for three heartbeats (its replica died) has expired.
    fn ttl(&self) -> Duration {
        self.renew_every * 3
    }
}

/// Holds one connection's place; gives it back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    open: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
    lease: Option<HeldLease>,
}

/// A lease in the database, renewed by a task of its own while the connection is open.
#[derive(Debug)]
struct HeldLease {
    id: String,
    store: Store,
    renewal: tokio::task::JoinHandle<()>,
}

impl ConnectionLimit {
    /// Places held through `leases` in a shared database (the limit then holds across every
    /// replica), or only in this process's memory with `None`.
    pub fn new(leases: Option<Leases>) -> Self {
        Self {
            open: Arc::default(),
            leases,
        }
    }

    /// Connections open now on this replica, over every user (read at a metrics scrape).
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }

    /// Takes a place for `user` if fewer than `max` are open (any number when `enforce` is
    /// off); 429 otherwise. With leases, "open" counts every replica's connections.
    pub async fn acquire(
        &self,
        user: &str,
        max: usize,
        enforce: bool,
    ) -> Result<ConnectionPermit, ApiError> {
        let refused = || {
            too_many(
                format!("At most {max} connections of this kind may be open per user."),
                Duration::from_secs(1),
            )
        };
        let lease = match (&self.leases, enforce) {
            (Some(leases), true) => {
                let held = open_lease(leases, user, max).await?;
                Some(held.ok_or_else(refused)?)
            }
            _ => None,
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user.to_owned()).or_insert(0);
        if enforce && lease.is_none() && *count >= max {
            return Err(refused());
        }
        *count += 1;
        Ok(ConnectionPermit {
            open: Arc::clone(&self.open),
            user: user.to_owned(),
            lease,
        })
    }
}

/// Opens a lease for one of `user`'s connections if fewer than `max` are open on every
/// replica, and starts renewing it; `None` when they are all taken.
async fn open_lease(
    leases: &Leases,
    user: &str,
    max: usize,
) -> Result<Option<HeldLease>, ApiError> {
    let id = random::id("sl_");
    let (store, kind, ttl) = (leases.store.clone(), leases.kind, leases.ttl());
    let (lease_id, account_id) = (id.clone(), user.to_owned());
    let opened = web::block(move || {
        let now = Timestamp::now();
        store.open_stream_lease(&lease_id, &account_id, kind, max, now, now.after(ttl))
    })
    .await??;
    if !opened {
        return Ok(None);
    }
    let (store, lease_id, every) = (leases.store.clone(), id.clone(), leases.renew_every);
    let renewal = actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            let (store, id) = (store.clone(), lease_id.clone());
            let renewed =
                web::block(move || store.renew_stream_lease(&id, Timestamp::now().after(ttl)))
                    .await;
            match renewed {
                Ok(Ok(true)) => {}
                // Purged after a stall longer than its life, or PostgreSQL restarted and
                // forgot every lease: the connection goes on, uncounted.
                Ok(Ok(false)) => {
                    tracing::warn!("a stream's lease is gone; it is no longer counted")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew a stream's lease"),
                Err(e) => tracing::warn!(error = %e, "cannot renew a stream's lease"),
            }
        }
    });
    Ok(Some(HeldLease {
        id,
        store: leases.store.clone(),
        renewal,
    }))
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
        drop(open);
        if let Some(lease) = self.lease.take() {
            lease.renewal.abort();
            // Freed at once when a runtime is at hand; else the lease expires on its own.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn_blocking(move || {
                    if let Err(e) = lease.store.close_stream_lease(&lease.id) {
                        tracing::warn!(error = %e, "cannot close a stream's lease; it expires");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn rates_read_as_count_per_duration() {
        assert_eq!(Rate::parse("100/1m"), Some(Rate::per_minute(100)));
        assert_eq!(
            Rate::parse(" 10 / 1h "),
            Some(Rate {
                count: 10,
                period: Duration::from_secs(3600)
            })
        );
        for bad in ["", "100", "0/1m", "x/1m", "10/0s", "10/m", "-1/1m"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
    }

    fn fake_limiter(limits: RateLimits) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(limits, true, clock.clone()), clock)
    }

    #[test]
    fn a_burst_of_the_count_passes_then_one_per_share_of_the_period() {
        let (limiter, clock) = fake_limiter(RateLimits {
            submission: Rate::per_minute(2),
            ..RateLimits::default()
        });
        assert!(limiter.check_here(Operation::Submission, "svc").is_ok());
        assert!(limiter.check_here(Operation::Submission, "svc").is_ok());
        clock.advance(Duration::from_millis(20_500));
        let refused = limiter
            .check_here(Operation::Submission, "svc")
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code(), code::RATE_LIMIT_EXCEEDED);
        // The next request passes 30 s (a minute / 2) after the start: 9.5 s, rounded up.
        assert_eq!(refused.retry_after(), Some(10));
        // Other callers and other operations count apart.
        assert!(limiter.check_here(Operation::Submission, "other").is_ok());
        assert!(limiter.check_here(Operation::StatusUpdate, "svc").is_ok());
        clock.advance(Duration::from_millis(9_500));
        assert!(limiter.check_here(Operation::Submission, "svc").is_ok());
        let refused = limiter
            .check_here(Operation::Submission, "svc")
            .unwrap_err();
        assert_eq!(refused.retry_after(), Some(30));
        // A whole period later the whole burst is back.
        clock.advance(Duration::from_secs(60));
        assert!(limiter.check_here(Operation::Submission, "svc").is_ok());
        assert!(limiter.check_here(Operation::Submission, "svc").is_ok());
        assert!(limiter.check_here(Operation::Submission, "svc").is_err());
    }

    #[test]
    fn an_hourly_limit_refuses_with_a_wait_of_its_share() {
        let (limiter, _clock) = fake_limiter(RateLimits::default());
        for _ in 0..10 {
            assert!(
                limiter
                    .check_here(Operation::Registration, "1.2.3.4")
                    .is_ok()
            );
        }
        let refused = limiter
            .check_here(Operation::Registration, "1.2.3.4")
            .unwrap_err();
        assert_eq!(refused.retry_after(), Some(360));
    }

    #[test]
    fn idle_callers_are_forgotten_as_checks_go_on() {
        let (limiter, clock) = fake_limiter(RateLimits::default());
        for caller in 0..100 {
            assert!(
                limiter
                    .check_here(Operation::Polling, &caller.to_string())
                    .is_ok()
            );
        }
        assert_eq!(limiter.callers(), 100);
        clock.advance(Duration::from_secs(61));
        for _ in 0..SWEEP_EVERY {
            // Far below the limit: a second apart, 60 a minute allowed.
            clock.advance(Duration::from_secs(1));
            assert!(limiter.check_here(Operation::Polling, "ada").is_ok());
        }
        assert_eq!(limiter.callers(), 1);
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let limiter = RateLimiter::new(
            RateLimits {
                polling: Rate::per_minute(1),
                ..RateLimits::default()
            },
            false,
            None,
        );
        for _ in 0..10 {
            assert!(limiter.check_here(Operation::Polling, "ada").is_ok());
        }
    }

    #[actix_web::test]
    async fn connection_places_come_back_when_dropped() {
        let limit = ConnectionLimit::default();
        let first = limit.acquire("ada", 2, true).await.unwrap();
        let _second = limit.acquire("ada", 2, true).await.unwrap();
        let refused = limit.acquire("ada", 2, true).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limit.acquire("grace", 2, true).await.is_ok());
        drop(first);
        assert!(limit.acquire("ada", 2, true).await.is_ok());
        assert!(limit.acquire("ada", 2, false).await.is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn any_text_is_a_rate_or_none_without_panic(text in "\\PC{0,16}|[0-9 ]{0,12}/[0-9 ]{0,22}(ms|s|m|h|d)?") {
                if let Some(rate) = Rate::parse(&text) {
                    prop_assert!(rate.count > 0 && !rate.period.is_zero());
                }
            }

            /// `N/DURATION` as written reads back, whatever the spacing around its parts.
            #[test]
            fn a_written_rate_reads_back(count in 1_u32.., seconds in 1_u64..1_000_000, spaced in any::<bool>()) {
                let pad = if spaced { " " } else { "" };
                let text = format!("{pad}{count}{pad}/{pad}{seconds}s{pad}");
                let expected = Rate { count, period: Duration::from_secs(seconds) };
                prop_assert_eq!(Rate::parse(&text), Some(expected));
            }
        }
    }
}
