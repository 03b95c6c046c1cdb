//! A row deleted while another transaction writes under it, on both engines. The writer must
//! see either the row (its write lands, and the delete takes it away after) or the row's
//! absence (`NotFound`, or the write done without it), never a database error. On PostgreSQL
//! writers in READ COMMITTED take no global lock, so a read followed by an insert that refers
//! to the row breaks with a foreign-key violation when the delete commits in between; these
//! tests catch that.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use assent_core::channel::{ChannelEvent, ChannelKind, Topic};
use assent_core::claim::Decision;
use assent_core::notification::{Notification, NotificationStatus};
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Account, Actor, NewChannel, NewClaim, NewWebhookEndpoint, NotificationScreening,
    ScreenedNotification, Store, StoreError, Submitted,
};
use serde_json::json;

use crate::owners::{account, actor, new_service};

/// Separate races per test: one race may by chance not interleave.
const ROUNDS: usize = 40;

/// Runs `a` and `b` released together on two threads; returns both outcomes.
fn race<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let barrier = Arc::new(Barrier::new(2));
    std::thread::scope(|scope| {
        let first = {
            let barrier = Arc::clone(&barrier);
            scope.spawn(move || {
                barrier.wait();
                a()
            })
        };
        let second = scope.spawn(move || {
            barrier.wait();
            b()
        });
        (
            first.join().expect("first racer"),
            second.join().expect("second racer"),
        )
    })
}

fn channel(kind: ChannelKind, address: String) -> NewChannel {
    NewChannel {
        id: assent_auth::random::id("chn_"),
        push_keys_sealed: None,
        kind,
        address,
        events: vec![
            ChannelEvent::ClaimSubmitted,
            ChannelEvent::NotificationCreated,
        ],
        quiet_hours: None,
        throttle_seconds: 0,
        expiry_lead_seconds: 600,
    }
}

fn claim(service_id: &str, key: &str) -> NewClaim {
    NewClaim {
        namespace: "ada".into(),
        service_id: service_id.into(),
        service_slug: "gateway".into(),
        public_key: key.into(),
        agent_key: format!("did:key:z{key}"),
        agent_ip: None,
        subject: None,
        agent_id: None,
        agent_name: None,
    }
}

/// A new notification of `gateway` for `ada`, in a group commit's shape.
fn notification(service_id: &str) -> ScreenedNotification {
    let now = Timestamp::now();
    ScreenedNotification {
        notification: Notification {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: "ada".into(),
            service_id: service_id.into(),
            service_slug: "gateway".into(),
            service_name: "Gateway".into(),
            service_icon: None,
            project: None,
            context: json!({"title": "Deploy?"})
                .as_object()
                .cloned()
                .expect("an object"),
            actions: serde_json::from_value(
                json!([{"id": "ok", "label": "OK", "response_type": "simple"}]),
            )
            .expect("actions"),
            status: NotificationStatus::Created,
            sent_at: now,
            created_at: now,
            updated_at: now,
            deadline: None,
            status_reason: None,
            response: None,
        },
        screening: NotificationScreening::default(),
        client_addr: None,
    }
}

fn owner_with_service(store: &Store) -> (Account, String) {
    let ada = account(store, "ada");
    let service = store
        .create_service(new_service("ada", "gateway"), &actor(&ada), 10)
        .expect("service");
    (ada, service.id)
}

/// Sending a channel's verification link again while the owner removes the channel: the
/// resend is queued (and goes with the channel) or finds no channel.
fn a_resend_racing_the_channels_removal_is_queued_or_not_found(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let ada = account(store, "ada");
    for round in 0..ROUNDS {
        let new = channel(ChannelKind::Email, format!("ada+{round}@example.com"));
        store
            .create_channel(&ada, &new, &actor(&ada))
            .expect("channel");
        let (resent, removed) = race(
            || store.queue_channel_message(&ada.id, &new.id, Topic::Verify),
            || store.delete_channel(&ada, &new.id, &actor(&ada)),
        );
        assert!(
            matches!(resent, Ok(_) | Err(StoreError::NotFound)),
            "round {round}: {resent:?}"
        );
        removed.expect("removed");
    }
}

/// A claim submitted while the owner removes a channel that would tell them of it: the claim
/// is stored either way.
fn a_claim_racing_a_channels_removal_is_stored(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let (ada, service_id) = owner_with_service(store);
    for round in 0..ROUNDS {
        let new = channel(ChannelKind::Ntfy, format!("https://ntfy.sh/ada-{round}"));
        store
            .create_channel(&ada, &new, &actor(&ada))
            .expect("channel");
        let key = format!("key{round}");
        let (submitted, removed) = race(
            || store.submit_claim(&claim(&service_id, &key), Duration::from_secs(3600)),
            || store.delete_channel(&ada, &new.id, &actor(&ada)),
        );
        assert!(
            matches!(submitted, Ok(Submitted::Created(_))),
            "round {round}: {submitted:?}"
        );
        removed.expect("removed");
    }
}

/// A claim approved while the owner removes the webhook that would carry the decision: the
/// decision is stored either way.
fn a_decision_racing_a_webhooks_removal_is_stored(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let (ada, service_id) = owner_with_service(store);
    for round in 0..ROUNDS {
        let endpoint = NewWebhookEndpoint {
            id: assent_auth::random::id("wh_"),
            url: "https://hooks.example.com/assent".into(),
            format: EndpointFormat::Sigilum,
            signing_key: None,
            events: EventType::REQUEST_EVENTS.to_vec(),
            secret_sealed: "v1.x".into(),
        };
        store
            .create_webhook_endpoint("ada", &service_id, &endpoint, &actor(&ada), 100)
            .expect("webhook");
        let Submitted::Created(pending) = store
            .submit_claim(
                &claim(&service_id, &format!("key{round}")),
                Duration::from_secs(3600),
            )
            .expect("claim")
        else {
            panic!("round {round}: not a new claim")
        };
        let (decided, removed) = race(
            || store.decide_claim("ada", &pending.id, Decision::Approve, &Actor::Cli),
            || store.delete_webhook_endpoint("ada", &service_id, &endpoint.id, &actor(&ada)),
        );
        assert!(decided.is_ok(), "round {round}: {decided:?}");
        removed.expect("removed");
    }
}

/// A group of notifications created while the owner removes a channel that would tell them of
/// each: every one is stored (a broken item runs again alone, the others are not undone).
fn a_group_of_notifications_racing_a_channels_removal_is_stored(engine: Engine) {
    let db = TestDatabase::new(engine);
    let store = &db.store;
    let (ada, service_id) = owner_with_service(store);
    for round in 0..ROUNDS {
        let new = channel(ChannelKind::Ntfy, format!("https://ntfy.sh/ada-{round}"));
        store
            .create_channel(&ada, &new, &actor(&ada))
            .expect("channel");
        let group: Vec<ScreenedNotification> = (0..8).map(|_| notification(&service_id)).collect();
        let (created, removed) = race(
            || store.create_screened_notifications(&group),
            || store.delete_channel(&ada, &new.id, &actor(&ada)),
        );
        for (n, result) in created.expect("the group commits").iter().enumerate() {
            assert!(result.is_ok(), "round {round}, item {n}: {result:?}");
        }
        removed.expect("removed");
    }
}

assent_store::on_both_engines!(
    a_group_of_notifications_racing_a_channels_removal_is_stored,
    a_resend_racing_the_channels_removal_is_queued_or_not_found,
    a_claim_racing_a_channels_removal_is_stored,
    a_decision_racing_a_webhooks_removal_is_stored,
);
