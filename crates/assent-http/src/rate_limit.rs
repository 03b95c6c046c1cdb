//! The ATP rate limits: requests per period per caller (fixed windows), and open streaming
//! connections per user. Breaching one is 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`.
//!
//! Kept in memory: each replica counts on its own (like login throttling), which costs no
//! database write per request; behind N replicas a caller may reach N times a limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use assent_core::time::parse_duration;

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

impl RateLimits {
    fn rate(&self, operation: Operation) -> Rate {
        match operation {
            Operation::Registration => self.registration,
            Operation::Submission => self.submission,
            Operation::StatusUpdate => self.status_update,
            Operation::Polling => self.polling,
            Operation::Response => self.response,
        }
    }
}

/// Counts requests per (operation, caller) in fixed windows.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    enabled: bool,
    windows: Mutex<HashMap<(Operation, String), (u32, Instant)>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits, enabled: bool) -> Self {
        Self {
            limits,
            enabled,
            windows: Mutex::default(),
        }
    }

    /// Counts one request of `caller`; 429 when its window is used up.
    pub fn check(&self, operation: Operation, caller: &str) -> Result<(), ApiError> {
        self.check_at(operation, caller, Instant::now())
    }

    fn check_at(&self, operation: Operation, caller: &str, now: Instant) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let rate = self.limits.rate(operation);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|(op, _), (_, started)| *started + self.limits.rate(*op).period > now);
        }
        let window = windows
            .entry((operation, caller.to_owned()))
            .or_insert((0, now));
        if window.1 + rate.period <= now {
            *window = (0, now);
        }
        if window.0 >= rate.count {
            let wait = (window.1 + rate.period).saturating_duration_since(now);
            return Err(too_many(
                format!(
                    "The rate limit of {} requests per {:?} is reached.",
                    rate.count, rate.period
                ),
                wait,
            ));
        }
        window.0 += 1;
        Ok(())
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

/// Open connections per user, of one kind (WebSocket or SSE).
#[derive(Debug, Default)]
pub struct ConnectionLimit {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// Holds one connection's place; gives it back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    open: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl ConnectionLimit {
    /// Takes a place for `user` if fewer than `max` are open (any number when `enforce` is
    /// off); 429 otherwise.
    pub fn acquire(
        &self,
        user: &str,
        max: usize,
        enforce: bool,
    ) -> Result<ConnectionPermit, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user.to_owned()).or_insert(0);
        if enforce && *count >= max {
            return Err(too_many(
                format!("At most {max} connections of this kind may be open per user."),
                Duration::from_secs(1),
            ));
        }
        *count += 1;
        Ok(ConnectionPermit {
            open: Arc::clone(&self.open),
            user: user.to_owned(),
        })
    }
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
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_window_refuses_past_its_count_until_it_ends() {
        let limits = RateLimits {
            submission: Rate::per_minute(2),
            ..RateLimits::default()
        };
        let limiter = RateLimiter::new(limits, true);
        let start = Instant::now();
        assert!(
            limiter
                .check_at(Operation::Submission, "svc", start)
                .is_ok()
        );
        assert!(
            limiter
                .check_at(Operation::Submission, "svc", start)
                .is_ok()
        );
        let refused = limiter
            .check_at(
                Operation::Submission,
                "svc",
                start + Duration::from_millis(20_500),
            )
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code(), code::RATE_LIMIT_EXCEEDED);
        assert_eq!(refused.retry_after(), Some(40));
        // Other callers and other operations count apart.
        assert!(
            limiter
                .check_at(Operation::Submission, "other", start)
                .is_ok()
        );
        assert!(
            limiter
                .check_at(Operation::StatusUpdate, "svc", start)
                .is_ok()
        );
        // A new window starts after the period.
        let later = start + Duration::from_secs(60);
        assert!(
            limiter
                .check_at(Operation::Submission, "svc", later)
                .is_ok()
        );
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let limiter = RateLimiter::new(
            RateLimits {
                polling: Rate::per_minute(1),
                ..RateLimits::default()
            },
            false,
        );
        for _ in 0..10 {
            assert!(limiter.check(Operation::Polling, "ada").is_ok());
        }
    }

    #[test]
    fn connection_places_come_back_when_dropped() {
        let limit = ConnectionLimit::default();
        let first = limit.acquire("ada", 2, true).unwrap();
        let _second = limit.acquire("ada", 2, true).unwrap();
        let refused = limit.acquire("ada", 2, true).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limit.acquire("grace", 2, true).is_ok());
        drop(first);
        assert!(limit.acquire("ada", 2, true).is_ok());
        assert!(limit.acquire("ada", 2, false).is_ok());
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
