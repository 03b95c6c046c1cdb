//! Throttling of failed logins: after `MAX_FAILURES` failures within `WINDOW` for one email
//! (or `MAX_FAILURES_PER_IP` from one address), further attempts are refused with 429 until
//! the window ends, whether the password is right or not.
//!
//! Each attempt is counted *before* its password is checked and given back if it succeeds, so
//! concurrent guesses cannot all pass a check that none of them has failed yet: the limit is
//! exact. On PostgreSQL the counts live in the database (`login_failures`), so they hold in
//! total across every replica; a SQLite database has one process, which counts in memory and
//! costs no database write per attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use assent_core::Timestamp;
use assent_store::{Backend, Store, StoreError};

pub const MAX_FAILURES: u32 = 5;
pub const MAX_FAILURES_PER_IP: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Where the counts live.
#[derive(Debug)]
enum Counts {
    /// This process only: key → (failures, when the window ends, in ms).
    Memory(Mutex<HashMap<String, (u32, i64)>>),
    /// The database, shared by every replica.
    Shared,
}

#[derive(Debug)]
pub struct LoginThrottle {
    counts: Counts,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            counts: Counts::Memory(Mutex::default()),
        }
    }
}

impl LoginThrottle {
    /// In the database on PostgreSQL (many replicas may share it), in memory on SQLite.
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self {
                counts: Counts::Shared,
            },
            Backend::Sqlite => Self::default(),
        }
    }

    /// Counts an attempt of `email` from `ip` about to be checked: `None` when it may go on,
    /// the wait until it may try again otherwise (and then nothing is counted). Blocking:
    /// call it on a blocking thread.
    pub fn begin(
        &self,
        store: &Store,
        email: &str,
        ip: &str,
        now: Timestamp,
    ) -> Result<Option<Duration>, StoreError> {
        let (email, ip) = (email_key(email), ip_key(ip));
        if let Some(wait) = self.take(store, &email, MAX_FAILURES, now)? {
            return Ok(Some(wait));
        }
        if let Some(wait) = self.take(store, &ip, MAX_FAILURES_PER_IP, now)? {
            self.give_back(store, &email)?;
            return Ok(Some(wait));
        }
        Ok(None)
    }

    /// The attempt begun succeeded: the email's failures are forgotten, and the address's
    /// count of this attempt is given back (a successful login is no failure of it).
    pub fn succeeded(&self, store: &Store, email: &str, ip: &str) -> Result<(), StoreError> {
        let email = email_key(email);
        let ip = ip_key(ip);
        match &self.counts {
            Counts::Memory(counts) => {
                lock(counts).remove(&email);
            }
            Counts::Shared => store.clear_login_failures(&email)?,
        }
        self.give_back(store, &ip)
    }

    fn take(
        &self,
        store: &Store,
        key: &str,
        max: u32,
        now: Timestamp,
    ) -> Result<Option<Duration>, StoreError> {
        let Counts::Memory(counts) = &self.counts else {
            return store.take_login_attempt(key, max, WINDOW, now);
        };
        let now = now.as_millis();
        let mut counts = lock(counts);
        if counts.len() > 10_000 {
            counts.retain(|_, (_, ends)| *ends > now);
        }
        let window = i64::try_from(WINDOW.as_millis()).unwrap_or(i64::MAX);
        let (failures, ends) = counts.entry(key.to_owned()).or_insert((0, now + window));
        if *ends <= now {
            (*failures, *ends) = (0, now + window);
        }
        if *failures >= max {
            let wait = u64::try_from(*ends - now).unwrap_or(0);
            return Ok(Some(Duration::from_millis(wait)));
        }
        *failures += 1;
        Ok(None)
    }

    fn give_back(&self, store: &Store, key: &str) -> Result<(), StoreError> {
        match &self.counts {
            Counts::Memory(counts) => {
                if let Some((failures, _)) = lock(counts).get_mut(key) {
                    *failures = failures.saturating_sub(1);
                }
                Ok(())
            }
            Counts::Shared => store.give_back_login_attempt(key),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use assent_store::testing::{Engine, TestDatabase};

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + seconds * 1000)
    }

    /// Both ways of counting, each with a store (the in-memory one never touches it).
    fn throttles() -> Vec<(LoginThrottle, TestDatabase)> {
        vec![
            (
                LoginThrottle::for_backend(Backend::Sqlite),
                TestDatabase::new(Engine::Sqlite),
            ),
            (
                LoginThrottle::for_backend(Backend::Postgres),
                TestDatabase::new(Engine::Postgres),
            ),
        ]
    }

    #[test]
    fn locks_an_email_after_its_failures_until_the_window_ends() {
        for (throttle, db) in throttles() {
            let store = &db.store;
            for _ in 0..MAX_FAILURES {
                let begun = throttle.begin(store, "Ada@Example.com", "1.2.3.4", at(0));
                assert_eq!(begun.unwrap(), None);
            }
            assert_eq!(
                throttle
                    .begin(store, "ada@example.com", "5.6.7.8", at(60))
                    .unwrap(),
                Some(WINDOW - Duration::from_secs(60)),
                "{throttle:?}"
            );
            assert_eq!(
                throttle
                    .begin(store, "grace@example.com", "5.6.7.8", at(60))
                    .unwrap(),
                None
            );
            let ended = at(WINDOW.as_secs() as i64);
            assert_eq!(
                throttle
                    .begin(store, "ada@example.com", "1.2.3.4", ended)
                    .unwrap(),
                None
            );
        }
    }

    #[test]
    fn locks_an_address_trying_many_emails() {
        for (throttle, db) in throttles() {
            let store = &db.store;
            for i in 0..MAX_FAILURES_PER_IP {
                let email = format!("user{i}@example.com");
                assert_eq!(
                    throttle.begin(store, &email, "1.2.3.4", at(0)).unwrap(),
                    None
                );
            }
            assert!(
                throttle
                    .begin(store, "new@example.com", "1.2.3.4", at(0))
                    .unwrap()
                    .is_some()
            );
            // The refusal by address counted nothing against the email.
            for _ in 0..MAX_FAILURES {
                let begun = throttle.begin(store, "new@example.com", "9.9.9.9", at(0));
                assert_eq!(begun.unwrap(), None, "{throttle:?}");
            }
        }
    }

    #[test]
    fn success_clears_the_email_and_gives_the_address_its_attempt_back() {
        for (throttle, db) in throttles() {
            let store = &db.store;
            for _ in 0..MAX_FAILURES {
                assert_eq!(
                    throttle
                        .begin(store, "ada@example.com", "1.2.3.4", at(0))
                        .unwrap(),
                    None
                );
            }
            throttle
                .succeeded(store, "ada@example.com", "1.2.3.4")
                .unwrap();
            assert_eq!(
                throttle
                    .begin(store, "ada@example.com", "5.5.5.5", at(0))
                    .unwrap(),
                None
            );
            // Many successful logins from one address never lock it.
            for _ in 0..MAX_FAILURES_PER_IP * 2 {
                let begun = throttle.begin(store, "grace@example.com", "7.7.7.7", at(0));
                assert_eq!(begun.unwrap(), None, "{throttle:?}");
                throttle
                    .succeeded(store, "grace@example.com", "7.7.7.7")
                    .unwrap();
            }
        }
    }
}
