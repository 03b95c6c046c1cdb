//! Throttling of failed logins: after `MAX_FAILURES` failures within `WINDOW` for one email
//! (or `MAX_FAILURES_PER_IP` from one address), further attempts are refused with 429 until
//! the window ends, whether the password is right or not.
//!
//! Kept in memory: each replica counts on its own, which bounds guessing per replica and costs
//! no database write per attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const MAX_FAILURES_PER_IP: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// How long until `email` and `ip` may try again; `None` when they may now.
    pub fn retry_after(&self, email: &str, ip: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        [
            (email_key(email), MAX_FAILURES),
            (ip_key(ip), MAX_FAILURES_PER_IP),
        ]
        .into_iter()
        .filter_map(|(key, max)| {
            let (count, started) = failures.get(&key)?;
            let ends = *started + WINDOW;
            (*count >= max && ends > now).then(|| ends - now)
        })
        .max()
    }

    pub fn record_failure(&self, email: &str, ip: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 10_000 {
            failures.retain(|_, (_, started)| *started + WINDOW > now);
        }
        for key in [email_key(email), ip_key(ip)] {
            let entry = failures.entry(key).or_insert((0, now));
            if entry.1 + WINDOW <= now {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A successful login clears the email's count (not the address's).
    pub fn record_success(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&email_key(email));
    }
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_an_email_after_its_failures_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                throttle.retry_after("ada@example.com", "1.2.3.4", start),
                None
            );
            throttle.record_failure("Ada@Example.com", "1.2.3.4", start);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            throttle.retry_after("ada@example.com", "5.6.7.8", later),
            Some(WINDOW - Duration::from_secs(60))
        );
        assert_eq!(
            throttle.retry_after("grace@example.com", "5.6.7.8", later),
            None
        );
        assert_eq!(
            throttle.retry_after("ada@example.com", "1.2.3.4", start + WINDOW),
            None
        );
    }

    #[test]
    fn locks_an_address_trying_many_emails() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES_PER_IP {
            throttle.record_failure(&format!("user{i}@example.com"), "1.2.3.4", now);
        }
        assert!(
            throttle
                .retry_after("new@example.com", "1.2.3.4", now)
                .is_some()
        );
        assert!(
            throttle
                .retry_after("new@example.com", "9.9.9.9", now)
                .is_none()
        );
    }

    #[test]
    fn success_clears_the_email() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.record_failure("ada@example.com", "1.2.3.4", now);
        }
        throttle.record_success("ada@example.com");
        assert_eq!(
            throttle.retry_after("ada@example.com", "5.5.5.5", now),
            None
        );
    }
}
