//! Owner-side repositories on SQLite and PostgreSQL: sessions, user tokens, services, keys and
//! webhooks scoped to a namespace, quotas, and the audit log written with every change.

use assent_auth::{MintedToken, TokenKind, random};
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Account, Actor, NewAccount, NewApiKey, NewService, NewUserToken, NewWebhookEndpoint,
    ServiceChanges, Store, StoreError,
};
use diesel::RunQueryDsl;

pub(crate) fn account(store: &Store, namespace: &str) -> Account {
    store
        .create_account(
            NewAccount {
                email: format!("{namespace}@example.com"),
                namespace: namespace.to_owned(),
                password_hash: "$argon2id$stand-in".to_owned(),
            },
            None,
        )
        .expect("create account")
}

pub(crate) fn actor(account: &Account) -> Actor {
    Actor::Account(account.id.clone())
}

pub(crate) fn new_service(namespace: &str, slug: &str) -> NewService {
    NewService {
        namespace: namespace.to_owned(),
        slug: slug.to_owned(),
        name: slug.to_uppercase(),
        description: None,
        icon_url: None,
    }
}

pub(crate) fn new_key() -> (MintedToken, NewApiKey) {
    let token = MintedToken::new(TokenKind::ApiKey);
    let key = NewApiKey {
        id: random::id("key_"),
        name: "ci".to_owned(),
        prefix: token.display_prefix(),
        hash: token.hash.clone(),
    };
    (token, key)
}

pub(crate) fn new_endpoint() -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        id: random::id("wh_"),
        url: "https://hooks.example.com/assent".to_owned(),
        format: EndpointFormat::Sigilum,
        signing_key: None,
        events: vec![EventType::RequestApproved],
        secret_sealed: "v1.sealed".to_owned(),
    }
}

fn actions(store: &Store, namespace: &str) -> Vec<String> {
    let mut actions: Vec<String> = store
        .list_audit_log(namespace, 100, None)
        .expect("audit log")
        .into_iter()
        .map(|r| r.action)
        .collect();
    actions.reverse();
    actions
}

fn sessions_live_until_they_expire_or_end(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let live = MintedToken::new(TokenKind::Session);
    let in_an_hour = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);
    db.store
        .create_session("s1", &live.hash, &ada.id, in_an_hour)
        .expect("create");
    let found = db
        .store
        .find_session(&live.hash)
        .expect("find")
        .expect("live session");
    assert_eq!(
        (found.id.as_str(), found.account.clone()),
        ("s1", ada.clone())
    );

    let expired = MintedToken::new(TokenKind::Session);
    let a_moment_ago = Timestamp::from_millis(Timestamp::now().as_millis() - 1);
    db.store
        .create_session("s2", &expired.hash, &ada.id, a_moment_ago)
        .expect("create");
    assert_eq!(db.store.find_session(&expired.hash).expect("find"), None);

    db.store.delete_session("s1").expect("delete");
    assert_eq!(db.store.find_session(&live.hash).expect("find"), None);
    db.store
        .delete_session("s1")
        .expect("deleting twice is fine");
}

fn user_tokens_are_listed_found_and_revoked_per_account(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let grace = account(&db.store, "grace");
    let minted = MintedToken::new(TokenKind::User);
    let token = NewUserToken {
        id: random::id("tok_"),
        name: "phone".to_owned(),
        prefix: minted.display_prefix(),
        hash: minted.hash.clone(),
    };
    let created = db
        .store
        .create_user_token(&ada, &token, &actor(&ada))
        .expect("create");
    assert_eq!(
        db.store.list_user_tokens(&ada.id).expect("list"),
        vec![created.clone()]
    );
    assert_eq!(
        db.store.find_user_token(&minted.hash).expect("find"),
        Some(ada.clone())
    );

    let other = db
        .store
        .revoke_user_token(&grace, &created.id, &actor(&grace));
    assert!(
        matches!(other, Err(StoreError::NotFound)),
        "another account's token"
    );
    db.store
        .revoke_user_token(&ada, &created.id, &actor(&ada))
        .expect("revoke");
    assert_eq!(db.store.find_user_token(&minted.hash).expect("find"), None);
    assert_eq!(db.store.list_user_tokens(&ada.id).expect("list"), vec![]);
    assert!(matches!(
        db.store.revoke_user_token(&ada, &created.id, &actor(&ada)),
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        actions(&db.store, "ada"),
        [
            "account.created",
            "user_token.created",
            "user_token.revoked"
        ]
    );
}

fn services_are_scoped_to_their_namespace(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let grace = account(&db.store, "grace");
    let service = db
        .store
        .create_service(new_service("ada", "billing"), &actor(&ada), 10)
        .expect("create");
    assert!(matches!(
        db.store
            .create_service(new_service("ada", "billing"), &actor(&ada), 10),
        Err(StoreError::Conflict("slug"))
    ));
    db.store
        .create_service(new_service("grace", "billing"), &actor(&grace), 10)
        .expect("same slug elsewhere");

    assert_eq!(
        db.store.get_owned_service("ada", &service.id).expect("own"),
        service
    );
    assert!(matches!(
        db.store.get_owned_service("grace", &service.id),
        Err(StoreError::NotFound)
    ));
    let changes = ServiceChanges {
        name: Some("Renamed".into()),
        description: None,
    };
    assert!(matches!(
        db.store
            .update_service("grace", &service.id, changes.clone(), &actor(&grace)),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store
            .delete_service("grace", &service.id, &actor(&grace)),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store.list_api_keys("grace", &service.id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store.list_owned_webhook_endpoints("grace", &service.id),
        Err(StoreError::NotFound)
    ));

    let updated = db
        .store
        .update_service("ada", &service.id, changes, &actor(&ada))
        .expect("update");
    assert_eq!(updated.name, "Renamed");
    assert!(updated.updated_at >= service.updated_at);
    let cleared = ServiceChanges {
        name: None,
        description: Some(None),
    };
    assert_eq!(
        db.store
            .update_service("ada", &service.id, cleared, &actor(&ada))
            .expect("update")
            .description,
        None
    );
    assert_eq!(
        db.store
            .get_owned_service("ada", &service.id)
            .expect("own")
            .name,
        "Renamed"
    );
}

fn deleting_a_service_takes_its_keys_and_webhooks(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let service = db
        .store
        .create_service(new_service("ada", "billing"), &actor(&ada), 10)
        .expect("create");
    let (token, key) = new_key();
    db.store
        .create_api_key("ada", &service.id, &key, &actor(&ada), 10)
        .expect("key");
    db.store
        .create_webhook_endpoint("ada", &service.id, &new_endpoint(), &actor(&ada), 10)
        .expect("webhook");
    assert!(db.store.find_api_key(&token.hash).expect("find").is_some());

    db.store
        .delete_service("ada", &service.id, &actor(&ada))
        .expect("delete");
    assert_eq!(db.store.find_api_key(&token.hash).expect("find"), None);
    assert_eq!(
        db.store.list_webhook_endpoints(&service.id).expect("list"),
        vec![]
    );
    assert!(matches!(
        db.store.get_owned_service("ada", &service.id),
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        actions(&db.store, "ada"),
        [
            "account.created",
            "service.created",
            "api_key.created",
            "webhook.created",
            "service.deleted"
        ]
    );
}

fn api_keys_are_created_listed_and_revoked_at_once(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let service = db
        .store
        .create_service(new_service("ada", "billing"), &actor(&ada), 10)
        .expect("create");
    let (token, key) = new_key();
    let created = db
        .store
        .create_api_key("ada", &service.id, &key, &actor(&ada), 2)
        .expect("key");
    assert_eq!(created.prefix, token.plaintext.expose()[..12]);
    let (_, second) = new_key();
    db.store
        .create_api_key("ada", &service.id, &second, &actor(&ada), 2)
        .expect("second key");
    let (_, third) = new_key();
    assert!(matches!(
        db.store
            .create_api_key("ada", &service.id, &third, &actor(&ada), 2),
        Err(StoreError::LimitReached(assent_store::Quota::ApiKeys))
    ));
    assert_eq!(
        db.store
            .list_api_keys("ada", &service.id)
            .expect("list")
            .len(),
        2
    );

    db.store
        .revoke_api_key("ada", &service.id, &created.id, &actor(&ada))
        .expect("revoke");
    assert_eq!(
        db.store.find_api_key(&token.hash).expect("find"),
        None,
        "revoked at once"
    );
    assert!(matches!(
        db.store
            .revoke_api_key("ada", &service.id, &created.id, &actor(&ada)),
        Err(StoreError::NotFound)
    ));
    // A revoked key frees its place under the quota.
    db.store
        .create_api_key("ada", &service.id, &third, &actor(&ada), 2)
        .expect("third key");

    let at = Timestamp::from_millis(1_800_000_000_000);
    db.store.touch_api_key(&second.id, at).expect("touch");
    let owner = db
        .store
        .find_api_key(&second.hash)
        .expect("find")
        .expect("active");
    assert_eq!(owner.last_used_at, Some(at));
}

fn webhooks_are_created_listed_deleted_and_limited(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    let service = db
        .store
        .create_service(new_service("ada", "billing"), &actor(&ada), 10)
        .expect("create");
    let endpoint = new_endpoint();
    let created = db
        .store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &actor(&ada), 1)
        .expect("webhook");
    assert_eq!(created.events, vec![EventType::RequestApproved]);
    assert_eq!(
        db.store
            .list_owned_webhook_endpoints("ada", &service.id)
            .expect("list"),
        vec![created.clone()]
    );
    assert!(matches!(
        db.store
            .create_webhook_endpoint("ada", &service.id, &new_endpoint(), &actor(&ada), 1),
        Err(StoreError::LimitReached(assent_store::Quota::Webhooks))
    ));
    assert!(matches!(
        db.store
            .delete_webhook_endpoint("ada", &service.id, "wh_nope", &actor(&ada)),
        Err(StoreError::NotFound)
    ));
    db.store
        .delete_webhook_endpoint("ada", &service.id, &created.id, &actor(&ada))
        .expect("delete");
    assert_eq!(
        db.store
            .list_owned_webhook_endpoints("ada", &service.id)
            .expect("list"),
        vec![]
    );
}

fn the_service_quota_counts_every_dialect(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    db.store
        .create_service(new_service("ada", "one"), &actor(&ada), 2)
        .expect("one");
    let (_, key) = new_key();
    db.store
        .register_service(
            new_service("ada", "two"),
            key,
            new_endpoint(),
            &actor(&ada),
            2,
        )
        .expect("two over ATP");
    assert!(matches!(
        db.store
            .create_service(new_service("ada", "three"), &actor(&ada), 2),
        Err(StoreError::LimitReached(assent_store::Quota::Services))
    ));
    let (_, key) = new_key();
    assert!(matches!(
        db.store.register_service(
            new_service("ada", "three"),
            key,
            new_endpoint(),
            &actor(&ada),
            2
        ),
        Err(assent_store::RegisterError::LimitReached)
    ));
}

fn the_audit_log_is_append_only_and_pages_newest_first(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    for slug in ["a", "b", "c"] {
        db.store
            .create_service(new_service("ada", slug), &actor(&ada), 10)
            .expect("create");
    }
    let page = db.store.list_audit_log("ada", 2, None).expect("page 1");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].details["slug"], "c");
    assert_eq!(page[0].actor, format!("account:{}", ada.id));
    let rest = db
        .store
        .list_audit_log("ada", 10, Some(page[1].seq))
        .expect("page 2");
    let rest: Vec<&str> = rest.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(rest, ["service.created", "account.created"]);
    assert_eq!(
        db.store
            .list_audit_log("grace", 10, None)
            .expect("other namespace"),
        vec![]
    );

    for statement in [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
    ] {
        let result: Result<usize, StoreError> = db
            .store
            .write(|conn| Ok(diesel::sql_query(statement).execute(conn)?));
        assert!(result.is_err(), "{statement} must be refused");
    }
    assert_eq!(
        db.store.list_audit_log("ada", 10, None).expect("log").len(),
        4
    );
}

fn a_failed_change_writes_no_audit_entry(engine: Engine) {
    let db = TestDatabase::new(engine);
    let ada = account(&db.store, "ada");
    db.store
        .create_service(new_service("ada", "one"), &actor(&ada), 10)
        .expect("one");
    let _ = db
        .store
        .create_service(new_service("ada", "one"), &actor(&ada), 10);
    let _ = db
        .store
        .revoke_api_key("ada", "no-such-service", "key", &actor(&ada));
    assert_eq!(
        actions(&db.store, "ada"),
        ["account.created", "service.created"]
    );
}

assent_store::on_both_engines!(
    sessions_live_until_they_expire_or_end,
    user_tokens_are_listed_found_and_revoked_per_account,
    services_are_scoped_to_their_namespace,
    deleting_a_service_takes_its_keys_and_webhooks,
    api_keys_are_created_listed_and_revoked_at_once,
    webhooks_are_created_listed_deleted_and_limited,
    the_service_quota_counts_every_dialect,
    the_audit_log_is_append_only_and_pages_newest_first,
    a_failed_change_writes_no_audit_entry,
);

mod leases {
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use assent_core::delivery::{
        Attempt, Delivered, DeliveryStatus, EndpointHealth, Failure, NextStep,
    };
    use assent_core::{EventType, Timestamp};
    use assent_store::testing::{Engine, TestDatabase};
    use assent_store::{NewEvent, Settled};

    use super::{account, actor, new_endpoint, new_service};

    /// A namespace `ada` with one service, one webhook subscribed to `request.approved`, and
    /// `total` such events, one delivery each. Returns the service and webhook ids.
    fn with_deliveries(db: &TestDatabase, total: usize) -> (String, String) {
        let ada = account(&db.store, "ada");
        let service = db
            .store
            .create_service(new_service("ada", "s"), &actor(&ada), 10)
            .expect("service");
        let mut endpoint = new_endpoint();
        endpoint.events = vec![EventType::RequestApproved];
        db.store
            .create_webhook_endpoint("ada", &service.id, &endpoint, &actor(&ada), 10)
            .expect("endpoint");
        db.store
            .write_with_outbox(|conn, outbox| -> Result<(), assent_store::StoreError> {
                for i in 0..total {
                    let event = NewEvent {
                        id: format!("evt_{i}"),
                        service_id: service.id.clone(),
                        namespace: "ada".into(),
                        event_type: EventType::RequestApproved,
                        payload: "{}".into(),
                    };
                    outbox.emit(conn, &event, None)?;
                }
                Ok(())
            })
            .expect("emit");
        (service.id, endpoint.id)
    }

    /// Senders leasing side by side never get the same delivery while its lease holds, and an
    /// expired lease gives a delivery back.
    fn concurrent_leases_never_overlap(engine: Engine) {
        let db = TestDatabase::new(engine);
        let total = 300;
        with_deliveries(&db, total);

        let senders = 6;
        let barrier = Arc::new(Barrier::new(senders));
        let leased: Vec<Vec<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..senders)
                .map(|_| {
                    let store = db.store.clone();
                    let barrier = Arc::clone(&barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let mut mine = Vec::new();
                        loop {
                            let batch = store
                                .lease_due(Timestamp::now(), Duration::from_secs(60), 7)
                                .expect("lease");
                            if batch.is_empty() {
                                break mine;
                            }
                            mine.extend(batch.into_iter().map(|d| d.delivery_id));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sender"))
                .collect()
        });
        let all: Vec<&String> = leased.iter().flatten().collect();
        let distinct: HashSet<&String> = all.iter().copied().collect();
        assert_eq!(all.len(), total, "every delivery leased once");
        assert_eq!(distinct.len(), total, "no delivery leased twice");

        // Nothing is due while the leases hold; after they lapse everything comes back.
        assert!(
            db.store
                .lease_due(Timestamp::now(), Duration::from_secs(60), 1000)
                .expect("lease")
                .is_empty()
        );
        let later = Timestamp::from_millis(Timestamp::now().as_millis() + 61_000);
        assert_eq!(
            db.store
                .lease_due(later, Duration::from_secs(60), 1000)
                .expect("lease")
                .len(),
            total
        );
    }

    /// A lease starts the attempt in the log before anything is sent: a sender that dies
    /// leaves it as interrupted, and one that records late (after its lease was taken over)
    /// still gets its outcome into its own row.
    fn an_attempt_is_logged_from_its_lease_and_interrupted_until_recorded(engine: Engine) {
        let db = TestDatabase::new(engine);
        let (service_id, endpoint_id) = with_deliveries(&db, 1);
        let log = || {
            let mut records = db
                .store
                .list_deliveries("ada", &service_id, &endpoint_id, None, 10, None)
                .expect("log");
            assert_eq!(records.len(), 1);
            records.remove(0)
        };
        let lease = Duration::from_secs(60);
        let now = Timestamp::now();
        let first = db.store.lease_due(now, lease, 10).expect("lease");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempt_count, 0, "attempts before this one");
        let interrupted = Some(Failure::Interrupted.to_string());
        let record = log();
        assert_eq!(record.attempt_count, 1, "counted when it starts");
        assert_eq!(record.attempts.len(), 1);
        assert_eq!(record.attempts[0].error, interrupted);

        // The first sender never records; its lease lapses and a second sender takes over.
        let later = Timestamp::from_millis(now.as_millis() + 61_000);
        let second = db.store.lease_due(later, lease, 10).expect("lease again");
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempt_count, 1);
        assert_ne!(second[0].attempt_id, first[0].attempt_id);
        let record = log();
        assert_eq!(record.attempt_count, 2);
        assert_eq!(
            record.attempts.iter().map(|a| &a.error).collect::<Vec<_>>(),
            vec![&interrupted, &interrupted]
        );

        let settled = |leased: &assent_store::LeasedDelivery, status: u16| Settled {
            delivery_id: leased.delivery_id.clone(),
            lease_until: leased.lease_until,
            endpoint_id: leased.endpoint.id.clone(),
            attempt_id: leased.attempt_id.clone(),
            attempt: Some(Attempt {
                attempted_at: Timestamp::now(),
                duration: Duration::from_millis(5),
                result: Ok(Delivered {
                    status,
                    response_excerpt: String::new(),
                }),
            }),
            headers: Vec::new(),
            next: NextStep::Succeeded,
            endpoint: EndpointHealth::Healthy,
        };
        // The first sender comes back late: its own attempt gets its outcome, the delivery
        // (no longer its lease) does not change.
        db.store
            .record_settled(&[settled(&first[0], 201)])
            .expect("record late");
        let record = log();
        assert_eq!(record.status, DeliveryStatus::Pending);
        let codes = |r: &assent_store::DeliveryRecord| -> Vec<Option<u16>> {
            r.attempts.iter().map(|a| a.status_code).collect()
        };
        assert_eq!(codes(&record), vec![Some(201), None]);
        db.store
            .record_settled(&[settled(&second[0], 200)])
            .expect("record");
        let record = log();
        assert_eq!(record.status, DeliveryStatus::Succeeded);
        assert_eq!(record.attempt_count, 2);
        assert_eq!(codes(&record), vec![Some(201), Some(200)]);
        assert!(record.attempts.iter().all(|a| a.error.is_none()));
    }

    /// A delivery to a disabled endpoint is leased (so that it can be settled as skipped) but
    /// starts no attempt: nothing is counted and the log gets no row.
    fn a_lease_to_a_disabled_endpoint_starts_no_attempt(engine: Engine) {
        let db = TestDatabase::new(engine);
        let (service_id, endpoint_id) = with_deliveries(&db, 2);
        db.execute("UPDATE webhook_endpoints SET enabled = false");
        let leased = db
            .store
            .lease_due(Timestamp::now(), Duration::from_secs(60), 10)
            .expect("lease");
        assert_eq!(leased.len(), 2, "leased, to be settled as skipped");
        assert!(leased.iter().all(|d| d.attempt_id.is_none()));
        assert!(leased.iter().all(|d| d.attempt_count == 0));
        let records = db
            .store
            .list_deliveries("ada", &service_id, &endpoint_id, None, 10, None)
            .expect("log");
        assert_eq!(records.len(), 2);
        for record in records {
            assert_eq!(record.attempt_count, 0, "no attempt counted");
            assert!(record.attempts.is_empty(), "no attempt logged");
        }
        assert!(
            db.store
                .lease_due(Timestamp::now(), Duration::from_secs(60), 10)
                .expect("lease again")
                .is_empty(),
            "still leased"
        );
    }

    /// A lease larger than one statement's parameters allow (SQLite's 32,766 is 4,681 attempt
    /// rows) still starts every attempt.
    fn a_lease_of_thousands_starts_every_attempt(engine: Engine) {
        let db = TestDatabase::new(engine);
        let total = 5000;
        with_deliveries(&db, total);
        let lease = Duration::from_secs(60);
        let now = Timestamp::now();
        let first = db.store.lease_due(now, lease, 10_000).expect("lease");
        assert_eq!(first.len(), total);
        assert!(first.iter().all(|d| d.attempt_id.is_some()));
        let later = Timestamp::from_millis(now.as_millis() + 61_000);
        let second = db
            .store
            .lease_due(later, lease, 10_000)
            .expect("lease again");
        assert_eq!(second.len(), total);
        assert!(
            second.iter().all(|d| d.attempt_count == 1),
            "each counted once"
        );
    }

    /// What the delivery log and the endpoint show after settling `outcomes` (one per leased
    /// delivery, in lease order): per event, its delivery and attempts; then the endpoint's
    /// health. Times are left out (they differ from run to run), whether they are set is not.
    fn settle_and_show(
        engine: Engine,
        outcomes: &[(NextStep, Result<u16, u16>, EndpointHealth, bool)],
        one_by_one: bool,
    ) -> (Vec<String>, String) {
        let db = TestDatabase::new(engine);
        let (service_id, endpoint_id) = with_deliveries(&db, outcomes.len());
        let mut leased = db
            .store
            .lease_due(Timestamp::now(), Duration::from_secs(60), 100)
            .expect("lease");
        leased.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let settled: Vec<Settled> = leased
            .iter()
            .zip(outcomes)
            .map(|(d, (next, result, health, ours))| Settled {
                delivery_id: d.delivery_id.clone(),
                // A lease that is no longer ours: taken over meanwhile.
                lease_until: if *ours {
                    d.lease_until
                } else {
                    d.lease_until - 1
                },
                endpoint_id: d.endpoint.id.clone(),
                attempt_id: d.attempt_id.clone(),
                attempt: Some(Attempt {
                    attempted_at: Timestamp::now(),
                    duration: Duration::from_millis(3),
                    result: match *result {
                        Ok(status) => Ok(Delivered {
                            status,
                            response_excerpt: "fine".into(),
                        }),
                        Err(status) => Err(Failure::Status {
                            status,
                            retry_after: None,
                            response_excerpt: "busy".into(),
                        }),
                    },
                }),
                headers: vec![("X-Test".into(), d.event_id.clone())],
                next: *next,
                endpoint: *health,
            })
            .collect();
        if one_by_one {
            for one in &settled {
                db.store
                    .record_settled(std::slice::from_ref(one))
                    .expect("record one");
            }
        } else {
            db.store.record_settled(&settled).expect("record the batch");
        }
        let mut log: Vec<String> = db
            .store
            .list_deliveries("ada", &service_id, &endpoint_id, None, 100, None)
            .expect("log")
            .into_iter()
            .map(|r| {
                let attempts: Vec<String> = r
                    .attempts
                    .iter()
                    .map(|a| {
                        format!(
                            "{:?} {} {:?} {} {:?}",
                            a.status_code,
                            a.duration_ms,
                            a.error,
                            a.response_excerpt,
                            a.request_headers
                        )
                    })
                    .collect();
                format!(
                    "{} {:?} {} next:{} {:?} completed:{} {attempts:?}",
                    r.event_id,
                    r.status,
                    r.attempt_count,
                    r.next_attempt_at.is_some(),
                    r.last_error,
                    r.completed_at.is_some(),
                )
            })
            .collect();
        log.sort();
        let endpoint = db
            .store
            .list_owned_webhook_endpoints("ada", &service_id)
            .expect("endpoints")
            .remove(0);
        let health = format!(
            "failing:{} failures:{} {:?} enabled:{}",
            endpoint.failing_since.is_some(),
            endpoint.consecutive_failures,
            endpoint.last_error,
            endpoint.enabled
        );
        (log, health)
    }

    /// A batch of outcomes, recorded set-based in one call, leaves exactly what recording them
    /// one at a time leaves: a failure, a success after it (its endpoint recovers within the
    /// batch), a success whose lease was taken over (its attempt is logged, its delivery
    /// untouched), a failure again, and an exhausted one that leaves the endpoint as it is.
    fn a_batch_of_outcomes_is_recorded_as_one_by_one(engine: Engine) {
        let later = Timestamp::from_millis(Timestamp::now().as_millis() + 60_000);
        let outcomes = [
            (
                NextStep::RetryAt(later),
                Err(503),
                EndpointHealth::Failing,
                true,
            ),
            (NextStep::Succeeded, Ok(200), EndpointHealth::Healthy, true),
            (NextStep::Succeeded, Ok(204), EndpointHealth::Healthy, false),
            (
                NextStep::RetryAt(later),
                Err(500),
                EndpointHealth::Failing,
                true,
            ),
            (
                NextStep::Exhausted,
                Err(410),
                EndpointHealth::Unchanged,
                true,
            ),
        ];
        let batch = settle_and_show(engine, &outcomes, false);
        let single = settle_and_show(engine, &outcomes, true);
        assert_eq!(batch, single);
        // And what that is, so the comparison cannot pass on two empty logs.
        let (log, health) = batch;
        assert_eq!(log.len(), 5, "{log:?}");
        assert!(
            log[0].starts_with("evt_0 Pending 1 next:true Some(\"HTTP 503\")"),
            "{log:?}"
        );
        assert!(
            log[1].starts_with("evt_1 Succeeded 1 next:false None completed:true"),
            "{log:?}"
        );
        assert!(
            log[2].starts_with("evt_2 Pending 1 next:true None completed:false"),
            "{log:?}"
        );
        assert!(
            log[2].contains("Some(204)"),
            "the taken-over attempt is logged: {log:?}"
        );
        assert!(
            log[3].starts_with("evt_3 Pending 1 next:true Some(\"HTTP 500\")"),
            "{log:?}"
        );
        assert!(log[4].starts_with("evt_4 Exhausted 1"), "{log:?}");
        assert_eq!(
            health,
            "failing:true failures:1 Some(\"HTTP 500\") enabled:true"
        );
    }

    assent_store::on_both_engines!(
        concurrent_leases_never_overlap,
        a_batch_of_outcomes_is_recorded_as_one_by_one,
        an_attempt_is_logged_from_its_lease_and_interrupted_until_recorded,
        a_lease_to_a_disabled_endpoint_starts_no_attempt,
        a_lease_of_thousands_starts_every_attempt,
    );
}

mod nonces {
    use std::sync::{Arc, Barrier};

    use assent_core::Timestamp;
    use assent_store::testing::{Engine, TestDatabase};

    fn in_ms(ms: i64) -> Timestamp {
        Timestamp::from_millis(Timestamp::now().as_millis() + ms)
    }

    fn a_nonce_is_accepted_once_per_scope_until_it_expires(engine: Engine) {
        let db = TestDatabase::new(engine);
        assert!(
            db.store
                .use_nonce("sig:ada", "n-1", in_ms(600_000))
                .expect("first use")
        );
        assert!(
            !db.store
                .use_nonce("sig:ada", "n-1", in_ms(600_000))
                .expect("replay"),
            "a replay is refused"
        );
        assert!(
            db.store
                .use_nonce("sig:grace", "n-1", in_ms(600_000))
                .expect("other scope"),
            "scopes are separate"
        );
        // Expired: the same nonce may be used again, and purging removes only expired rows.
        assert!(
            db.store
                .use_nonce("sig:ada", "n-2", in_ms(-1))
                .expect("already expired")
        );
        assert!(
            db.store
                .use_nonce("sig:ada", "n-2", in_ms(600_000))
                .expect("reuse after expiry")
        );
        assert!(
            db.store
                .use_nonce("sig:ada", "n-3", in_ms(-1))
                .expect("expired")
        );
        assert_eq!(
            db.store
                .purge_expired_nonces(Timestamp::now())
                .expect("purge"),
            1
        );
        assert!(
            !db.store
                .use_nonce("sig:ada", "n-1", in_ms(600_000))
                .expect("still live after purge")
        );
    }

    /// Replicas racing with one nonce: exactly one is accepted.
    fn concurrent_uses_of_one_nonce_accept_exactly_one(engine: Engine) {
        let db = TestDatabase::new(engine);
        let racers = 16;
        let barrier = Arc::new(Barrier::new(racers));
        let accepted = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..racers)
                .map(|_| {
                    let store = db.store.clone();
                    let barrier = Arc::clone(&barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        store
                            .use_nonce("sig:ada", "race", in_ms(600_000))
                            .expect("no error, only a verdict")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(accepted, 1);
    }

    /// Batches with the same nonces in opposite orders, side by side: no deadlock, and each
    /// nonce accepted exactly once.
    fn opposite_batches_neither_deadlock_nor_double_accept(engine: Engine) {
        let db = TestDatabase::new(engine);
        for round in 0..20 {
            let batch: Vec<(String, String, Timestamp)> = (0..40)
                .map(|i| {
                    (
                        "sig:ada".to_owned(),
                        format!("r{round}-n{i}"),
                        in_ms(600_000),
                    )
                })
                .collect();
            let mut reversed = batch.clone();
            reversed.reverse();
            let barrier = Arc::new(Barrier::new(2));
            let (forward, backward) = std::thread::scope(|scope| {
                let run = |rows: Vec<(String, String, Timestamp)>| {
                    let store = db.store.clone();
                    let barrier = Arc::clone(&barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        store.use_nonces(&rows).expect("no deadlock, no error")
                    })
                };
                let a = run(batch.clone());
                let b = run(reversed.clone());
                (a.join().expect("thread"), b.join().expect("thread"))
            });
            for i in 0..40 {
                let accepted = usize::from(forward[i]) + usize::from(backward[39 - i]);
                assert_eq!(accepted, 1, "round {round}, nonce {i}");
            }
        }
    }

    /// One batch with a nonce twice, another scope's same value and an expired nonce: the
    /// first use counts, the repeat is a replay, the expired row is taken over; the whole
    /// batch again is all replays.
    fn a_batch_accepts_a_repeated_nonce_once(engine: Engine) {
        let db = TestDatabase::new(engine);
        assert!(
            db.store
                .use_nonce("sig:ada", "old", in_ms(-1))
                .expect("use")
        );
        let later = in_ms(600_000);
        let batch: Vec<(String, String, Timestamp)> = [
            ("sig:ada", "a"),
            ("sig:ada", "b"),
            ("sig:ada", "a"),
            ("sig:grace", "a"),
            ("sig:ada", "old"),
        ]
        .into_iter()
        .map(|(scope, value)| (scope.to_owned(), value.to_owned(), later))
        .collect();
        assert_eq!(
            db.store.use_nonces(&batch).expect("batch"),
            [true, true, false, true, true]
        );
        assert_eq!(db.store.use_nonces(&batch).expect("again"), [false; 5]);
        assert!(db.store.use_nonces(&[]).expect("empty").is_empty());
    }

    assent_store::on_both_engines!(
        a_batch_accepts_a_repeated_nonce_once,
        a_nonce_is_accepted_once_per_scope_until_it_expires,
        concurrent_uses_of_one_nonce_accept_exactly_one,
        opposite_batches_neither_deadlock_nor_double_accept,
    );
}
