//! Quotas under concurrency, on both engines: many creations racing against one quota end with
//! exactly the quota created and every other one refused with that quota's error (services,
//! keys, webhooks, channels). A count followed by an insert is not enough on PostgreSQL (two
//! transactions both count 19 of 20); these tests catch that.

use std::sync::{Arc, Barrier};

use assent_core::channel::{ChannelEvent, ChannelKind};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{CHANNELS_PER_ACCOUNT, NewChannel, Quota, RegisterError, Store, StoreError};

use crate::owners::{account, actor, new_endpoint, new_key, new_service};

/// Creations racing at once: more than the quota, so most of them meet a full quota.
const RACERS: usize = 50;
/// Separate races per test: one race may by chance not interleave.
const ROUNDS: usize = 3;

/// Runs `RACERS` calls of `create(store, i)` released together; returns how many succeeded and
/// how many were refused by the quota. Any other outcome fails the test.
fn race(
    store: &Store,
    create: impl Fn(&Store, usize) -> Result<(), Quota> + Sync,
) -> (usize, usize) {
    let barrier = Arc::new(Barrier::new(RACERS));
    let outcomes: Vec<Result<(), Quota>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let create = &create;
                scope.spawn(move || {
                    barrier.wait();
                    create(store, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer"))
            .collect()
    });
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    (created, RACERS - created)
}

/// The quota refused it; panics on anything else.
fn refused(expected: Quota) -> impl Fn(StoreError) -> Quota {
    move |e| match e {
        StoreError::LimitReached(quota) if quota == expected => quota,
        other => panic!("expected the {} quota, got {other:?}", expected.as_str()),
    }
}

fn webhooks_per_service_are_exact(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let quota = 20;
    for round in 0..ROUNDS {
        let service = db
            .store
            .create_service(new_service("ada", &format!("s{round}")), &actor(&ada), 10)
            .expect("service");
        let (created, limited) = race(&db.store, |store, _| {
            store
                .create_webhook_endpoint("ada", &service.id, &new_endpoint(), &actor(&ada), quota)
                .map(drop)
                .map_err(refused(Quota::Webhooks))
        });
        let stored = db
            .store
            .list_owned_webhook_endpoints("ada", &service.id)
            .expect("list")
            .len();
        assert_eq!(
            (created, limited, stored),
            (20, RACERS - 20, 20),
            "round {round}"
        );
    }
}

fn api_keys_per_service_are_exact(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let quota = 20;
    for round in 0..ROUNDS {
        let service = db
            .store
            .create_service(new_service("ada", &format!("s{round}")), &actor(&ada), 10)
            .expect("service");
        let (created, limited) = race(&db.store, |store, _| {
            let (_, key) = new_key();
            store
                .create_api_key("ada", &service.id, &key, &actor(&ada), quota)
                .map(drop)
                .map_err(refused(Quota::ApiKeys))
        });
        let stored = db
            .store
            .list_api_keys("ada", &service.id)
            .expect("list")
            .len();
        assert_eq!(
            (created, limited, stored),
            (20, RACERS - 20, 20),
            "round {round}"
        );
    }
}

/// Both dialects race: owners creating services and ATP registrations, against one quota.
fn services_per_namespace_are_exact(engine: Engine) {
    let db = TestDatabase::new(engine);
    let quota = 20;
    for round in 0..ROUNDS {
        let namespace = format!("ns{round}");
        let owner = account(&db.store, &namespace);
        let (created, limited) = race(&db.store, |store, i| {
            let service = new_service(&namespace, &format!("s{i}"));
            if i % 2 == 0 {
                return store
                    .create_service(service, &actor(&owner), quota)
                    .map(drop)
                    .map_err(refused(Quota::Services));
            }
            let (_, key) = new_key();
            match store.register_service(service, key, new_endpoint(), &actor(&owner), quota) {
                Ok(_) => Ok(()),
                Err(RegisterError::LimitReached) => Err(Quota::Services),
                Err(other) => panic!("expected the services quota, got {other:?}"),
            }
        });
        let stored = db.store.list_services(&namespace).expect("list").len();
        assert_eq!(
            (created, limited, stored),
            (20, RACERS - 20, 20),
            "round {round}"
        );
    }
}

/// An owner's channels: 50 different addresses at once against the 20 allowed.
fn channels_per_account_are_exact(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let (created, limited) = race(&db.store, |store, i| {
        let channel = NewChannel {
            id: format!("chn_race{i}"),
            push_keys_sealed: None,
            kind: ChannelKind::Ntfy,
            address: format!("https://ntfy.sh/ada-{i}"),
            events: vec![ChannelEvent::ClaimSubmitted],
            quiet_hours: None,
            throttle_seconds: 0,
            expiry_lead_seconds: 600,
        };
        store
            .create_channel(&ada, &channel, &actor(&ada))
            .map(drop)
            .map_err(refused(Quota::Channels))
    });
    let quota = usize::try_from(CHANNELS_PER_ACCOUNT).unwrap();
    let stored = db.store.list_channels(&ada.id).expect("list").len();
    assert_eq!((created, limited, stored), (quota, RACERS - quota, quota));
}

assent_store::on_both_engines!(
    channels_per_account_are_exact,
    webhooks_per_service_are_exact,
    api_keys_per_service_are_exact,
    services_per_namespace_are_exact,
);
