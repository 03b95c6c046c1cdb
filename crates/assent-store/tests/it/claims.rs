//! Claims on SQLite and PostgreSQL: idempotent submission, compare-and-set decisions with
//! exactly one event each, history on re-submission, expiry, and the verify lookup.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use assent_core::claim::{ClaimStatus, Decision};
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Actor, ChangeKind, ClaimQuestion, DecideError, NewAccount, NewClaim, NewService,
    NewWebhookEndpoint, Store, Submitted,
};

const DAY: Duration = Duration::from_secs(86_400);

struct Fixture {
    db: TestDatabase,
    service_id: String,
    webhook_id: String,
}

fn fixture(engine: Engine) -> Fixture {
    let db = TestDatabase::new(engine);
    for ns in ["ada", "grace"] {
        db.store
            .create_account(
                NewAccount {
                    email: format!("{ns}@example.com"),
                    namespace: ns.into(),
                    password_hash: "x".into(),
                },
                None,
            )
            .expect("account");
    }
    let service = db
        .store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "gateway".into(),
                name: "G".into(),
                description: None,
                icon_url: None,
            },
            &Actor::Cli,
            10,
        )
        .expect("service");
    let webhook_id = assent_auth::random::id("wh_");
    let endpoint = NewWebhookEndpoint {
        id: webhook_id.clone(),
        url: "https://h.example/x".into(),
        format: EndpointFormat::Sigilum,
        signing_key: None,
        events: EventType::REQUEST_EVENTS.to_vec(),
        secret_sealed: "v1.x".into(),
    };
    db.store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &Actor::Cli, 10)
        .expect("webhook");
    Fixture {
        db,
        service_id: service.id,
        webhook_id,
    }
}

impl Fixture {
    fn store(&self) -> &Store {
        &self.db.store
    }

    fn claim(&self, key: &str) -> NewClaim {
        NewClaim {
            namespace: "ada".into(),
            service_id: self.service_id.clone(),
            service_slug: "gateway".into(),
            public_key: key.into(),
            agent_key: format!("did:key:z{key}"),
            agent_ip: Some("203.0.113.7".into()),
            subject: Some("customer-42".into()),
            agent_id: Some("bot".into()),
            agent_name: Some("Bot".into()),
        }
    }

    /// The event types delivered to the webhook, sorted: events of one millisecond have no
    /// order among themselves (nor does delivery promise any).
    fn events(&self) -> Vec<String> {
        let mut events: Vec<String> = self
            .store()
            .list_deliveries("ada", &self.service_id, &self.webhook_id, None, 200, None)
            .expect("deliveries")
            .into_iter()
            .map(|d| d.event_type)
            .collect();
        events.sort();
        events
    }
}

fn created(submitted: Submitted) -> assent_core::claim::Claim {
    match submitted {
        Submitted::Created(c) => c,
        Submitted::Existing(c) => panic!("expected a new claim, got {c:?}"),
    }
}

fn submission_is_idempotent_while_live_and_fresh_afterwards(engine: Engine) {
    let f = fixture(engine);
    let first = created(f.store().submit_claim(&f.claim("k1"), DAY).expect("submit"));
    assert!(first.id.starts_with("cl_") && first.id.len() == 27);
    assert_eq!(first.status, ClaimStatus::Pending);
    assert_eq!(
        f.store().submit_claim(&f.claim("k1"), DAY).expect("again"),
        Submitted::Existing(first.clone())
    );

    f.store()
        .decide_claim("ada", &first.id, Decision::Approve, &Actor::Cli)
        .expect("approve");
    let again = f
        .store()
        .submit_claim(&f.claim("k1"), DAY)
        .expect("while approved");
    assert!(matches!(again, Submitted::Existing(c) if c.status == ClaimStatus::Approved));

    f.store()
        .decide_claim("ada", &first.id, Decision::Revoke, &Actor::Cli)
        .expect("revoke");
    let fresh = created(
        f.store()
            .submit_claim(&f.claim("k1"), DAY)
            .expect("after revocation"),
    );
    assert_ne!(fresh.id, first.id, "a new claim");
    assert!(fresh.created_at >= first.created_at && fresh.approved_at.is_none());
    assert_eq!(
        f.store().get_claim("ada", &first.id).expect("old"),
        None,
        "the old one is history"
    );
    assert_eq!(
        f.events(),
        [
            "request.approved",
            "request.revoked",
            "request.submitted",
            "request.submitted"
        ]
    );
}

fn decisions_need_the_right_state_and_namespace(engine: Engine) {
    let f = fixture(engine);
    let claim = created(f.store().submit_claim(&f.claim("k1"), DAY).expect("submit"));
    assert!(matches!(
        f.store()
            .decide_claim("ada", &claim.id, Decision::Revoke, &Actor::Cli),
        Err(DecideError::Conflict(ClaimStatus::Pending))
    ));
    assert!(matches!(
        f.store()
            .decide_claim("grace", &claim.id, Decision::Approve, &Actor::Cli),
        Err(DecideError::NotFound)
    ));
    assert!(matches!(
        f.store()
            .decide_claim("ada", "cl_nope", Decision::Approve, &Actor::Cli),
        Err(DecideError::NotFound)
    ));
    let rejected = f
        .store()
        .decide_claim("ada", &claim.id, Decision::Reject, &Actor::Cli)
        .expect("reject");
    assert_eq!(rejected.status, ClaimStatus::Rejected);
    assert!(matches!(
        f.store()
            .decide_claim("ada", &claim.id, Decision::Approve, &Actor::Cli),
        Err(DecideError::Conflict(ClaimStatus::Rejected))
    ));
    assert_eq!(f.events(), ["request.rejected", "request.submitted"]);
}

fn of_many_concurrent_approvals_exactly_one_wins(engine: Engine) {
    let f = fixture(engine);
    let claim = created(f.store().submit_claim(&f.claim("k1"), DAY).expect("submit"));
    let racers = 50;
    let barrier = Arc::new(Barrier::new(racers));
    let results: Vec<Result<_, DecideError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..racers)
            .map(|i| {
                let store = f.store().clone();
                let barrier = Arc::clone(&barrier);
                let id = claim.id.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let decision = if i % 2 == 0 {
                        Decision::Approve
                    } else {
                        Decision::Reject
                    };
                    store.decide_claim("ada", &id, decision, &Actor::Cli)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(DecideError::Conflict(_))))
        .count();
    assert_eq!(
        (winners, conflicts),
        (1, racers - 1),
        "{:?}",
        results
            .iter()
            .filter(|r| !matches!(r, Ok(_) | Err(DecideError::Conflict(_))))
            .collect::<Vec<_>>()
    );
    let events = f.events();
    assert_eq!(
        events.len(),
        2,
        "one submission and exactly one decision: {events:?}"
    );
}

fn pending_claims_expire_on_read_and_by_the_sweeper(engine: Engine) {
    let f = fixture(engine);
    let soon = created(
        f.store()
            .submit_claim(&f.claim("k1"), Duration::ZERO)
            .expect("submit"),
    );
    let read = f
        .store()
        .get_claim("ada", &soon.id)
        .expect("read")
        .expect("exists");
    assert_eq!(read.status, ClaimStatus::Expired, "expired on read");
    assert!(matches!(
        f.store()
            .decide_claim("ada", &soon.id, Decision::Approve, &Actor::Cli),
        Err(DecideError::Conflict(ClaimStatus::Expired))
    ));
    let other = created(
        f.store()
            .submit_claim(&f.claim("k2"), Duration::ZERO)
            .expect("submit"),
    );
    assert_eq!(
        f.store()
            .expire_due_claims(Timestamp::now(), 100)
            .expect("sweep"),
        1
    );
    assert_eq!(
        f.store()
            .get_claim("ada", &other.id)
            .expect("read")
            .expect("exists")
            .status,
        ClaimStatus::Expired
    );
    assert_eq!(
        f.store()
            .expire_due_claims(Timestamp::now(), 100)
            .expect("sweep again"),
        0
    );
    let events = f.events();
    assert_eq!(
        events.iter().filter(|e| *e == "request.expired").count(),
        2,
        "one event per expiry: {events:?}"
    );
    // An expired claim is not live: the key may ask again.
    assert!(matches!(
        f.store().submit_claim(&f.claim("k1"), DAY).expect("again"),
        Submitted::Created(_)
    ));
}

/// Listing expires due claims of the listed namespace only, and a listing of approved claims
/// (what the public DID document reads) writes nothing.
fn listings_expire_only_what_they_could_show(engine: Engine) {
    let f = fixture(engine);
    let due = created(
        f.store()
            .submit_claim(&f.claim("k1"), Duration::ZERO)
            .expect("submit"),
    );
    f.store()
        .list_claims("grace", None, None, 10, None)
        .expect("another namespace");
    f.store()
        .list_claims("ada", Some(ClaimStatus::Approved), None, 10, None)
        .expect("approved only");
    assert_eq!(f.events(), ["request.submitted"], "nothing expired yet");
    let listed = f
        .store()
        .list_claims("ada", None, None, 10, None)
        .expect("everything");
    assert_eq!(listed[0].id, due.id);
    assert_eq!(listed[0].status, ClaimStatus::Expired);
    assert_eq!(f.events(), ["request.expired", "request.submitted"]);
}

fn verify_finds_only_approved_claims_of_existing_services(engine: Engine) {
    let f = fixture(engine);
    let claim = created(f.store().submit_claim(&f.claim("k1"), DAY).expect("submit"));
    assert_eq!(
        f.store()
            .find_approved_claim("ada", "k1", "gateway")
            .expect("lookup"),
        None,
        "pending"
    );
    f.store()
        .decide_claim("ada", &claim.id, Decision::Approve, &Actor::Cli)
        .expect("approve");
    let found = f
        .store()
        .find_approved_claim("ada", "k1", "gateway")
        .expect("lookup")
        .expect("approved");
    assert_eq!(found.0, claim.id);
    for (ns, key, slug) in [
        ("grace", "k1", "gateway"),
        ("ada", "k2", "gateway"),
        ("ada", "k1", "other"),
    ] {
        assert_eq!(
            f.store()
                .find_approved_claim(ns, key, slug)
                .expect("lookup"),
            None,
            "{ns} {key} {slug}"
        );
    }
    assert_eq!(f.store().count_approved_claims("ada").expect("count"), 1);
    assert_eq!(
        f.store()
            .approved_claims_of_service(&f.service_id, 10, 0)
            .expect("feed")
            .len(),
        1
    );
    f.store()
        .delete_service("ada", &f.service_id, &Actor::Cli)
        .expect("delete service");
    assert_eq!(
        f.store()
            .find_approved_claim("ada", "k1", "gateway")
            .expect("lookup"),
        None,
        "a deleted service's claims are never authorized"
    );
    assert!(
        f.store()
            .get_claim("ada", &claim.id)
            .expect("read")
            .is_some(),
        "but they stay readable"
    );
}

fn listing_filters_and_pages(engine: Engine) {
    let f = fixture(engine);
    let mut ids = Vec::new();
    for key in ["k1", "k2", "k3"] {
        ids.push(created(f.store().submit_claim(&f.claim(key), DAY).expect("submit")).id);
    }
    f.store()
        .decide_claim("ada", &ids[0], Decision::Approve, &Actor::Cli)
        .expect("approve");
    let approved = f
        .store()
        .list_claims("ada", Some(ClaimStatus::Approved), None, 10, None)
        .expect("list");
    assert_eq!(approved.len(), 1);
    let page = f
        .store()
        .list_claims("ada", None, Some("gateway"), 2, None)
        .expect("page 1");
    assert_eq!(page.len(), 2);
    let last = page.last().expect("row");
    let rest = f
        .store()
        .list_claims(
            "ada",
            None,
            None,
            10,
            Some((last.created_at.as_millis(), last.id.clone())),
        )
        .expect("page 2");
    assert_eq!(rest.len(), 1);
    assert_eq!(
        f.store()
            .list_claims("grace", None, None, 10, None)
            .expect("other"),
        vec![]
    );
}

fn concurrent_first_submissions_make_one_claim(engine: Engine) {
    let f = fixture(engine);
    let racers = 10;
    let barrier = Arc::new(Barrier::new(racers));
    let results: Vec<Submitted> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..racers)
            .map(|_| {
                let store = f.store().clone();
                let barrier = Arc::clone(&barrier);
                let claim = f.claim("k1");
                scope.spawn(move || {
                    barrier.wait();
                    store
                        .submit_claim(&claim, DAY)
                        .expect("no error, only an answer")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created: Vec<&Submitted> = results
        .iter()
        .filter(|r| matches!(r, Submitted::Created(_)))
        .collect();
    assert_eq!(created.len(), 1);
    let ids: std::collections::HashSet<&str> = results
        .iter()
        .map(|r| match r {
            Submitted::Created(c) | Submitted::Existing(c) => c.id.as_str(),
        })
        .collect();
    assert_eq!(ids.len(), 1, "everyone got the same claim");
    assert_eq!(f.events(), ["request.submitted"]);
}

/// The owner's dashboard hears of claims through the change log: one `claim` change per new
/// state, in the claim's namespace only, and none for a refused decision.
fn every_new_state_of_a_claim_is_one_change_of_its_namespace(engine: Engine) {
    let f = fixture(engine);
    let claim = created(f.store().submit_claim(&f.claim("k1"), DAY).expect("submit"));
    assert!(
        f.store()
            .decide_claim("ada", &claim.id, Decision::Revoke, &Actor::Cli)
            .is_err()
    );
    f.store()
        .decide_claim("ada", &claim.id, Decision::Approve, &Actor::Cli)
        .expect("approve");
    f.store()
        .decide_claim("ada", &claim.id, Decision::Revoke, &Actor::Cli)
        .expect("revoke");
    let changes = f
        .store()
        .changes_after(Some("ada"), 0, 100)
        .expect("changes");
    let seen: Vec<(ChangeKind, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.kind,
                c.subject_id.as_str(),
                c.payload["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (ChangeKind::Claim, claim.id.as_str(), "pending"),
            (ChangeKind::Claim, claim.id.as_str(), "approved"),
            (ChangeKind::Claim, claim.id.as_str(), "revoked"),
        ]
    );
    assert_eq!(changes[0].payload["claim_id"], claim.id.as_str());
    assert!(
        f.store()
            .changes_after(Some("grace"), 0, 100)
            .expect("changes")
            .is_empty()
    );
}

/// The batch behind verifies that arrive together answers each question as the lookup of one
/// would, in order, repeats and strangers included, with or without its nonces; and what the
/// DID document lists follows each decision.
fn batched_lookups_and_did_subjects_follow_each_decision(engine: Engine) {
    let f = fixture(engine);
    let question = |ns: &str, key: &str, slug: &str| ClaimQuestion {
        namespace: ns.into(),
        public_key: key.into(),
        service_slug: slug.into(),
    };
    let mut ids = Vec::new();
    for key in ["k1", "k2", "k3"] {
        ids.push(created(f.store().submit_claim(&f.claim(key), DAY).expect("submit")).id);
    }
    let subjects = f
        .store()
        .did_subjects("ada", 10)
        .expect("read")
        .expect("ada");
    assert!(subjects.agents.is_empty(), "nothing approved yet");
    assert_eq!(f.store().did_subjects("nobody", 10).expect("read"), None);
    for id in &ids {
        f.store()
            .decide_claim("ada", id, Decision::Approve, &Actor::Cli)
            .expect("approve");
    }
    f.store()
        .decide_claim("ada", &ids[1], Decision::Revoke, &Actor::Cli)
        .expect("revoke");
    let questions = [
        question("ada", "k1", "gateway"),
        question("ada", "k2", "gateway"),
        question("grace", "k1", "gateway"),
        question("ada", "k3", "gateway"),
        question("ada", "k1", "other"),
        question("ada", "k1", "gateway"),
    ];
    let answers = f.store().find_approved_claims(&questions).expect("lookup");
    let found: Vec<Option<&str>> = answers
        .iter()
        .map(|a| a.as_ref().map(|(id, _)| id.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            Some(ids[0].as_str()),
            None,
            None,
            Some(ids[2].as_str()),
            None,
            Some(ids[0].as_str())
        ]
    );
    for (q, answer) in questions.iter().zip(&answers) {
        assert_eq!(
            &f.store()
                .find_approved_claim(&q.namespace, &q.public_key, &q.service_slug)
                .expect("one lookup"),
            answer,
            "{q:?}"
        );
    }
    assert!(
        f.store()
            .find_approved_claims(&[])
            .expect("none")
            .is_empty()
    );

    // The same questions riding with nonces, as a verify batch sends them: a fresh nonce's
    // question is answered as above; a replay, a repeat within the batch and a nonce without
    // a question find nothing.
    let expires =
        assent_core::Timestamp::from_millis(assent_core::Timestamp::now().as_millis() + 600_000);
    let nonce = |value: &str| ("sig:ada".to_owned(), value.to_owned(), expires);
    assert!(
        f.store()
            .use_nonce("sig:ada", "used", expires)
            .expect("use")
    );
    let batch = [
        nonce("a"),
        nonce("used"),
        nonce("b"),
        nonce("a"),
        nonce("c"),
        nonce("d"),
    ];
    let asked = [
        Some(question("ada", "k1", "gateway")),
        Some(question("ada", "k1", "gateway")),
        Some(question("ada", "k2", "gateway")),
        Some(question("ada", "k3", "gateway")),
        None,
        Some(question("ada", "k3", "gateway")),
    ];
    let answers = f
        .store()
        .use_nonces_and_find(&batch, &asked)
        .expect("batch");
    assert_eq!(answers.fresh, [true, false, true, false, true, true]);
    let found: Vec<Option<String>> = answers
        .found
        .expect("lookups")
        .into_iter()
        .map(|a| a.map(|(id, _)| id))
        .collect();
    assert_eq!(
        found,
        [
            Some(ids[0].clone()),
            None,
            None,
            None,
            None,
            Some(ids[2].clone())
        ]
    );
    let again = f
        .store()
        .use_nonces_and_find(&batch[..1], &asked[..1])
        .expect("replay");
    assert_eq!(again.fresh, [false], "each nonce counts once");
    assert!(
        f.store()
            .use_nonces_and_find(&batch[..2], &asked[..1])
            .is_err(),
        "questions not parallel to the nonces"
    );

    let subjects = f
        .store()
        .did_subjects("ada", 10)
        .expect("read")
        .expect("ada");
    let mut keys: Vec<&str> = subjects.agents.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["did:key:zk1", "did:key:zk3"], "the approved ones");
    assert!(subjects.agents.iter().all(|(_, slug)| slug == "gateway"));
    let limited = f
        .store()
        .did_subjects("ada", 1)
        .expect("read")
        .expect("ada");
    assert_eq!(limited.agents.len(), 1);
    assert_eq!(
        subjects.webhook_keys,
        f.store().published_webhook_keys("ada").expect("keys")
    );
}

assent_store::on_both_engines!(
    batched_lookups_and_did_subjects_follow_each_decision,
    every_new_state_of_a_claim_is_one_change_of_its_namespace,
    listings_expire_only_what_they_could_show,
    concurrent_first_submissions_make_one_claim,
    submission_is_idempotent_while_live_and_fresh_afterwards,
    decisions_need_the_right_state_and_namespace,
    of_many_concurrent_approvals_exactly_one_wins,
    pending_claims_expire_on_read_and_by_the_sweeper,
    verify_finds_only_approved_claims_of_existing_services,
    listing_filters_and_pages,
);
