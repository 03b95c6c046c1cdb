//! Limits that hold across replicas, on both engines: a rate bucket passes its burst and then
//! one request per interval, a failed-login window counts up to its maximum, and a user's open
//! stream leases stay within theirs; each exact when 50 callers race at the boundary (as N
//! replicas' requests do), and each gone after [`Store::purge_expired_limits`].

use std::sync::{Arc, Barrier};
use std::time::Duration;

use assent_core::Timestamp;
use assent_store::Store;
use assent_store::testing::{Engine, TestDatabase};

/// Callers racing at once: far more than any limit below.
const RACERS: usize = 50;

/// Runs `work(i)` for `0..RACERS` on threads released at once; returns the results in order.
fn race<T: Send>(work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(RACERS));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let work = &work;
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

const SECOND_US: i64 = 1_000_000;

fn take(store: &Store, key: &str, count: u32, period: Duration, at_us: i64) -> Option<u64> {
    store
        .take_from_bucket(key, count, period, at_us)
        .expect("bucket")
        .map(|wait| wait.as_micros() as u64)
}

/// Two a minute: two at once, then one every 30 s; the wait named is the one until the next
/// request passes, and a refused request takes nothing.
fn a_bucket_passes_its_burst_then_one_request_per_interval(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let minute = Duration::from_secs(60);
    let t0 = 1_800_000_000 * SECOND_US;
    assert_eq!(take(store, "submission:svc", 2, minute, t0), None);
    assert_eq!(take(store, "submission:svc", 2, minute, t0), None);
    let at = t0 + 20_500_000;
    assert_eq!(
        take(store, "submission:svc", 2, minute, at),
        Some(9_500_000)
    );
    // Refusals took nothing: the wait is the same a moment later, less that moment.
    assert_eq!(
        take(store, "submission:svc", 2, minute, at + 500_000),
        Some(9_000_000)
    );
    // Other keys count apart.
    assert_eq!(take(store, "submission:other", 2, minute, at), None);
    assert_eq!(
        take(store, "submission:svc", 2, minute, t0 + 30 * SECOND_US),
        None
    );
    assert_eq!(
        take(store, "submission:svc", 2, minute, t0 + 30 * SECOND_US),
        Some(30 * 1_000_000)
    );
    // A whole period of quiet later, the whole burst is back.
    let later = t0 + 120 * SECOND_US;
    assert_eq!(take(store, "submission:svc", 2, minute, later), None);
    assert_eq!(take(store, "submission:svc", 2, minute, later), None);
    assert!(take(store, "submission:svc", 2, minute, later).is_some());
}

/// 50 requests at once against a bucket of 20: exactly 20 pass, in every round.
fn a_bucket_is_exact_when_callers_race(engine: Engine) {
    let db = TestDatabase::new(engine);
    let now = Timestamp::now().as_millis() * 1000;
    for round in 0..3 {
        let key = format!("polling:round{round}");
        let passed = race(|_| {
            db.store
                .take_from_bucket(&key, 20, Duration::from_secs(3600), now)
                .expect("bucket")
                .is_none()
        });
        assert_eq!(passed.iter().filter(|p| **p).count(), 20, "round {round}");
    }
}

/// Five attempts are counted, the sixth is refused until the window ends; an attempt given
/// back (it succeeded) frees its count, a cleared key starts again, and a window that has
/// ended starts a new one.
fn login_attempts_are_counted_in_a_window(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let window = Duration::from_secs(900);
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let attempt = |key: &str, at: Timestamp| store.take_login_attempt(key, 5, window, at).unwrap();
    for _ in 0..5 {
        assert_eq!(attempt("email:ada@example.com", t0), None);
    }
    let later = Timestamp::from_millis(t0.as_millis() + 60_000);
    assert_eq!(
        attempt("email:ada@example.com", later),
        Some(Duration::from_secs(840))
    );
    assert_eq!(attempt("email:grace@example.com", later), None);
    store
        .give_back_login_attempt("email:ada@example.com")
        .unwrap();
    assert_eq!(attempt("email:ada@example.com", later), None);
    assert!(attempt("email:ada@example.com", later).is_some());
    store.clear_login_failures("email:ada@example.com").unwrap();
    assert_eq!(attempt("email:ada@example.com", later), None);
    // The window of `grace` started at `later`; once it ends, counting starts again.
    for _ in 0..4 {
        assert_eq!(attempt("email:grace@example.com", later), None);
    }
    assert!(attempt("email:grace@example.com", later).is_some());
    let ended = Timestamp::from_millis(later.as_millis() + 900_000);
    for _ in 0..5 {
        assert_eq!(attempt("email:grace@example.com", ended), None);
    }
    assert!(attempt("email:grace@example.com", ended).is_some());
}

/// 50 guesses at once against a maximum of 5: exactly 5 are let through to the password check.
fn login_attempts_are_exact_when_guesses_race(engine: Engine) {
    let db = TestDatabase::new(engine);
    let now = Timestamp::now();
    let admitted = race(|_| {
        db.store
            .take_login_attempt("ip:192.0.2.1", 5, Duration::from_secs(900), now)
            .expect("attempt")
            .is_none()
    });
    assert_eq!(admitted.iter().filter(|a| **a).count(), 5);
}

/// 50 streams opened at once by one user with a limit of 3: exactly 3 leases open. Another
/// kind and another user count apart; a closed lease frees its place at once and an expired
/// one (its replica died) frees it when it expires, unless it was renewed.
fn stream_leases_are_exact_and_expire(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let now = Timestamp::now();
    let until = |ms: i64| Timestamp::from_millis(now.as_millis() + ms);
    let opened = race(|i| {
        store
            .open_stream_lease(
                &format!("lease{i}"),
                "acc_ada",
                "sse",
                3,
                now,
                until(10_000),
            )
            .expect("lease")
    });
    let ids: Vec<String> = (0..RACERS)
        .filter(|i| opened[*i])
        .map(|i| format!("lease{i}"))
        .collect();
    assert_eq!(ids.len(), 3);
    let open = |id: &str, account: &str, kind: &str, at: Timestamp| {
        store
            .open_stream_lease(id, account, kind, 3, at, until(60_000))
            .unwrap()
    };
    assert!(!open("more", "acc_ada", "sse", now));
    assert!(open("ws", "acc_ada", "websocket", now));
    assert!(open("grace", "acc_grace", "sse", now));
    store.close_stream_lease(&ids[0]).unwrap();
    assert!(open("again", "acc_ada", "sse", now));
    assert!(!open("more", "acc_ada", "sse", now));
    // Past the first leases' expiry: the one never renewed is free, the renewed one is not.
    assert!(store.renew_stream_lease(&ids[1], until(60_000)).unwrap());
    let later = until(10_001);
    assert!(open("after1", "acc_ada", "sse", later));
    assert!(!open("after2", "acc_ada", "sse", later));
    // A lease that is gone cannot be renewed.
    assert!(!store.renew_stream_lease(&ids[0], until(60_000)).unwrap());
}

/// What has expired is deleted; what has not stays and still counts.
fn expired_limits_are_purged(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let now = Timestamp::from_millis(1_800_000_000_000);
    let now_us = now.as_millis() * 1000;
    let hour = Duration::from_secs(3600);
    // One bucket full again within a second, one busy for an hour.
    assert_eq!(
        store
            .take_from_bucket("short", 1, Duration::from_secs(1), now_us)
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_from_bucket("long", 1, hour, now_us).unwrap(),
        None
    );
    assert_eq!(
        store
            .take_login_attempt("email:old", 5, Duration::from_secs(1), now)
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_login_attempt("email:new", 1, hour, now).unwrap(),
        None
    );
    let soon = Timestamp::from_millis(now.as_millis() + 1_000);
    assert!(
        store
            .open_stream_lease("gone", "acc", "sse", 5, now, soon)
            .unwrap()
    );
    assert!(
        store
            .open_stream_lease(
                "kept",
                "acc",
                "sse",
                5,
                now,
                Timestamp::from_millis(now.as_millis() + 60_000)
            )
            .unwrap()
    );

    let later = Timestamp::from_millis(now.as_millis() + 2_000);
    assert_eq!(store.purge_expired_limits(later).unwrap(), 3);
    assert_eq!(store.purge_expired_limits(later).unwrap(), 0);
    // What stayed still counts.
    assert!(
        store
            .take_from_bucket("long", 1, hour, later.as_millis() * 1000)
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .take_login_attempt("email:new", 1, hour, later)
            .unwrap()
            .is_some()
    );
    assert!(!store.renew_stream_lease("gone", later).unwrap());
    assert!(store.renew_stream_lease("kept", later).unwrap());
}

assent_store::on_both_engines!(
    a_bucket_passes_its_burst_then_one_request_per_interval,
    a_bucket_is_exact_when_callers_race,
    login_attempts_are_counted_in_a_window,
    login_attempts_are_exact_when_guesses_race,
    stream_leases_are_exact_and_expire,
    expired_limits_are_purged,
);
