//! ATP notifications and their change log on SQLite and PostgreSQL: ownership, the
//! compare-and-set moves of the lifecycle with exactly one `notification.responded` event per
//! notification, expiry (on read, on listing, by the sweeper, and on the way of a move), the
//! client listing's filters and paging, and the numbered change log.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use assent_auth::{MintedToken, TokenKind, random};
use assent_core::notification::{Notification, NotificationStatus};
use assent_core::policy::Effect;
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Actor, Answer, ChangeKind, NewAccount, NewApiKey, NewService, NewWebhookEndpoint,
    NotificationQuery, NotificationScreening, Party, PendingCaps, Response, ScreenedNotification,
    Store, StoreError, TransitionError,
};
use diesel::prelude::*;
use serde_json::{Value, json};

/// The columns these tests read directly (the crate's schema is private).
mod raw {
    diesel::table! {
        events (id) {
            id -> Text,
            service_id -> Text,
            namespace -> Text,
            event_type -> Text,
            payload -> Text,
        }
    }

    diesel::table! {
        notifications (id) {
            id -> Text,
            status -> Text,
        }
    }
}

const HOUR: i64 = 3_600_000;

struct Fixture {
    db: TestDatabase,
    /// `gateway` in `ada`, registered the ATP way: its callback gets `notification.responded`.
    service_id: String,
    callback_id: String,
    /// A Sigilum-style endpoint of the same service, subscribed to the request events only.
    sigilum_id: String,
    /// `billing`, another service of `ada`.
    other_service_id: String,
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
    let token = MintedToken::new(TokenKind::ApiKey);
    let callback_id = random::id("wh_");
    let service = db
        .store
        .register_service(
            NewService {
                namespace: "ada".into(),
                slug: "gateway".into(),
                name: "Gateway".into(),
                description: Some("Deploys things".into()),
                icon_url: Some("https://gateway.example/icon.png".into()),
            },
            NewApiKey {
                id: random::id("key_"),
                name: "default".into(),
                prefix: token.display_prefix(),
                hash: token.hash.clone(),
            },
            NewWebhookEndpoint {
                id: callback_id.clone(),
                url: "https://gateway.example/atp/callback".into(),
                format: EndpointFormat::Atp,
                signing_key: None,
                events: vec![EventType::NotificationResponded],
                secret_sealed: "v1.x".into(),
            },
            &Actor::Cli,
            10,
        )
        .expect("register the ATP service");
    let sigilum_id = random::id("wh_");
    db.store
        .create_webhook_endpoint(
            "ada",
            &service.id,
            &NewWebhookEndpoint {
                id: sigilum_id.clone(),
                url: "https://gateway.example/sigilum".into(),
                format: EndpointFormat::Sigilum,
                signing_key: None,
                events: EventType::REQUEST_EVENTS.to_vec(),
                secret_sealed: "v1.x".into(),
            },
            &Actor::Cli,
            10,
        )
        .expect("sigilum webhook");
    let other = db
        .store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "billing".into(),
                name: "Billing".into(),
                description: None,
                icon_url: None,
            },
            &Actor::Cli,
            10,
        )
        .expect("other service");
    Fixture {
        db,
        service_id: service.id,
        callback_id,
        sigilum_id,
        other_service_id: other.id,
    }
}

/// A JSON object literal as a map.
fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

impl Fixture {
    fn store(&self) -> &Store {
        &self.db.store
    }

    /// A fresh `created` notification of `gateway` for `ada`, due in an hour, not yet stored.
    fn row(&self) -> Notification {
        let now = Timestamp::now().as_millis();
        Notification {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: "ada".into(),
            service_id: self.service_id.clone(),
            service_slug: "gateway".into(),
            service_name: "Gateway".into(),
            service_icon: None,
            project: None,
            context: object(json!({"title": "Deploy to production?", "description": "Build 42"})),
            actions: serde_json::from_value(json!([
                {"id": "approve", "label": "Approve", "response_type": "simple"},
                {"id": "comment", "label": "Comment", "response_type": "text"},
            ]))
            .expect("actions"),
            status: NotificationStatus::Created,
            sent_at: Timestamp::from_millis(now),
            created_at: Timestamp::from_millis(now),
            updated_at: Timestamp::from_millis(now),
            deadline: Some(Timestamp::from_millis(now + HOUR)),
            status_reason: None,
            response: None,
        }
    }

    fn create(&self, row: Notification) -> Notification {
        self.store().create_notification(&row).expect("create")
    }

    fn ada(&self) -> Party<'static> {
        Party::Namespace("ada")
    }

    fn get(&self, id: &str) -> Notification {
        self.store()
            .get_notification(self.ada(), id)
            .unwrap_or_else(|e| panic!("get {id}: {e:?}"))
    }

    fn mv(&self, id: &str, to: NotificationStatus) -> Result<Notification, TransitionError> {
        let response = respond_with("approve", Value::Null, "acc_ada");
        let response = (to == NotificationStatus::Responded).then_some(&response);
        self.store()
            .move_notification(self.ada(), id, to, None, response)
    }

    /// The stored status, read without any lazy expiry.
    fn stored_status(&self, id: &str) -> String {
        self.store()
            .read(|conn| {
                raw::notifications::table
                    .find(id)
                    .select(raw::notifications::status)
                    .first::<String>(conn)
                    .map_err(StoreError::from)
            })
            .expect("stored status")
    }

    /// The `notification.responded` events in the `events` table, as payloads.
    fn responded_events(&self) -> Vec<Value> {
        self.store()
            .read(|conn| {
                raw::events::table
                    .filter(raw::events::event_type.eq("notification.responded"))
                    .select(raw::events::payload)
                    .load::<String>(conn)
                    .map_err(StoreError::from)
            })
            .expect("events")
            .iter()
            .map(|p| serde_json::from_str(p).expect("event payload is JSON"))
            .collect()
    }

    fn deliveries_to(&self, webhook_id: &str) -> Vec<String> {
        self.store()
            .list_deliveries("ada", &self.service_id, webhook_id, None, 200, None)
            .expect("deliveries")
            .into_iter()
            .map(|d| d.event_type)
            .collect()
    }

    /// Every change, of every namespace, as `(subject_id, kind, status)`.
    fn changes(&self) -> Vec<(String, ChangeKind, String)> {
        self.store()
            .changes_after(None, 0, 1000)
            .expect("changes")
            .into_iter()
            .map(|c| {
                let status = c.payload["status"].as_str().unwrap_or_default().to_owned();
                (c.subject_id, c.kind, status)
            })
            .collect()
    }

    fn list(&self, namespace: &str, query: NotificationQuery) -> (Vec<String>, i64) {
        let (rows, total) = self
            .store()
            .list_notifications(namespace, &query)
            .expect("list");
        (rows.into_iter().map(|r| r.id).collect(), total)
    }
}

fn respond_with(action: &str, data: Value, responder: &str) -> Response {
    Response {
        action_id: action.into(),
        data,
        responder_id: responder.into(),
    }
}

/// The state a refused move reports, or a panic naming what came instead.
fn conflict_status(result: Result<Notification, TransitionError>) -> NotificationStatus {
    match result {
        Err(TransitionError::Conflict(row)) => row.status,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn a_notification_is_readable_by_its_service_and_namespace_only(engine: Engine) {
    let f = fixture(engine);
    let now = Timestamp::now().as_millis();
    let row = Notification {
        service_icon: Some("https://gateway.example/icon.png".into()),
        project: Some("alpha".into()),
        context: object(json!({"title": "Deploy?", "description": "Build 42", "project": "alpha"})),
        sent_at: Timestamp::from_millis(now - 5_000),
        deadline: Some(Timestamp::from_millis(now + HOUR)),
        ..f.row()
    };
    let created = f.store().create_notification(&row).expect("create");
    assert_eq!(created, row);

    assert_eq!(
        f.store()
            .get_notification(Party::Service(&f.service_id), &row.id)
            .expect("by its service"),
        row
    );
    assert_eq!(
        f.store()
            .get_notification(Party::Namespace("ada"), &row.id)
            .expect("by its namespace"),
        row
    );
    assert!(matches!(
        f.store()
            .get_notification(Party::Service(&f.other_service_id), &row.id),
        Err(TransitionError::NotOwner)
    ));
    assert!(matches!(
        f.store()
            .get_notification(Party::Namespace("grace"), &row.id),
        Err(TransitionError::NotOwner)
    ));
    for party in [Party::Service(&f.service_id), Party::Namespace("ada")] {
        assert!(matches!(
            f.store()
                .get_notification(party, "00000000-0000-4000-8000-000000000000"),
            Err(TransitionError::NotFound)
        ));
    }

    let changes_before = f.changes();
    // The same id, even for another namespace.
    let duplicate = Notification {
        id: row.id.clone(),
        namespace: "grace".into(),
        ..f.row()
    };
    assert!(matches!(
        f.store().create_notification(&duplicate),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        f.changes(),
        changes_before,
        "a refused creation records no change"
    );
    assert_eq!(f.get(&row.id), row, "the first one is untouched");

    let ts = |millis: i64| Timestamp::from_millis(millis).to_rfc3339();
    assert_eq!(
        row.to_json(),
        json!({
            "id": row.id,
            "version": "1.0",
            "timestamp": ts(now - 5_000),
            "deadline": ts(now + HOUR),
            "service": {
                "id": "gateway",
                "name": "Gateway",
                "icon": "https://gateway.example/icon.png",
            },
            "context": {"title": "Deploy?", "description": "Build 42", "project": "alpha"},
            "actions": [
                {"id": "approve", "label": "Approve", "response_type": "simple"},
                {"id": "comment", "label": "Comment", "response_type": "text"},
            ],
            "status": "created",
            "created_at": ts(row.created_at.as_millis()),
            "updated_at": ts(row.updated_at.as_millis()),
        })
    );

    // Without deadline or icon the keys are absent; once answered, `response` is the webhook
    // payload; once invalidated, `status_reason` is the reason.
    let plain = f.create(Notification {
        deadline: None,
        ..f.row()
    });
    let object = plain.to_json();
    assert!(object.get("deadline").is_none(), "{object}");
    assert!(object["service"].get("icon").is_none(), "{object}");
    assert!(object.get("response").is_none() && object.get("status_reason").is_none());
    let answered = f
        .store()
        .move_notification(
            f.ada(),
            &plain.id,
            NotificationStatus::Responded,
            None,
            Some(&respond_with("comment", json!("looks good"), "acc_ada")),
        )
        .expect("respond");
    let object = answered.to_json();
    assert_eq!(object["status"], "responded");
    assert_eq!(object["response"]["notification_id"], plain.id.as_str());
    assert_eq!(object["response"]["action_id"], "comment");
    assert_eq!(object["response"]["response_data"], "looks good");
    assert_eq!(
        object["response"]["responder"],
        json!({"id": "acc_ada", "type": "human"})
    );
    assert_eq!(
        object["response"]["responded_at"],
        ts(answered.updated_at.as_millis()).as_str()
    );
    let withdrawn = f.create(f.row());
    let withdrawn = f
        .store()
        .move_notification(
            Party::Service(&f.service_id),
            &withdrawn.id,
            NotificationStatus::Invalidated,
            Some("no longer needed"),
            None,
        )
        .expect("invalidate");
    assert_eq!(withdrawn.to_json()["status_reason"], "no longer needed");
}

fn moves_follow_the_lifecycle_and_refuse_everything_else(engine: Engine) {
    let f = fixture(engine);
    use NotificationStatus::*;

    // A response is accepted from every pending state.
    let from_created = f.create(f.row());
    assert_eq!(
        f.mv(&from_created.id, Responded).expect("respond").status,
        Responded
    );

    let from_delivered = f.create(f.row());
    let delivered = f
        .store()
        .mark_delivered(std::slice::from_ref(&from_delivered.id))
        .expect("deliver");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].status, Delivered);
    assert_eq!(
        f.mv(&from_delivered.id, Responded).expect("respond").status,
        Responded
    );

    let from_acknowledged = f.create(f.row());
    assert_eq!(
        f.mv(&from_acknowledged.id, Acknowledged)
            .expect("acknowledge")
            .status,
        Acknowledged
    );
    let responded = f.mv(&from_acknowledged.id, Responded).expect("respond");
    assert_eq!(responded.status, Responded);
    assert_eq!(
        f.get(&from_acknowledged.id),
        responded,
        "what a move returns is stored"
    );

    // A second response, and any later move, is refused with the state it is in.
    let first_response = responded.response.clone();
    assert_eq!(
        conflict_status(f.mv(&from_acknowledged.id, Responded)),
        Responded
    );
    assert_eq!(
        f.get(&from_acknowledged.id).response,
        first_response,
        "the first answer stands"
    );
    assert_eq!(
        conflict_status(f.store().move_notification(
            Party::Service(&f.service_id),
            &from_created.id,
            Invalidated,
            Some("too late"),
            None,
        )),
        Responded
    );
    assert_eq!(f.get(&from_created.id).status_reason, None);
    for to in [Acknowledged, Delivered, Expired, Created, Completed] {
        assert_eq!(
            conflict_status(f.mv(&from_created.id, to)),
            Responded,
            "to {to}"
        );
    }

    // Invalidation keeps its reason and ends the notification.
    let withdrawn = f.create(f.row());
    let invalidated = f
        .store()
        .move_notification(
            Party::Service(&f.service_id),
            &withdrawn.id,
            Invalidated,
            Some("superseded"),
            None,
        )
        .expect("invalidate");
    assert_eq!(invalidated.status, Invalidated);
    assert_eq!(invalidated.status_reason.as_deref(), Some("superseded"));
    assert_eq!(f.get(&withdrawn.id), invalidated);
    assert_eq!(
        conflict_status(f.mv(&withdrawn.id, Invalidated)),
        Invalidated
    );
    assert_eq!(conflict_status(f.mv(&withdrawn.id, Responded)), Invalidated);

    // Acknowledging: from created or delivered, once.
    let seen = f.create(f.row());
    f.store()
        .mark_delivered(std::slice::from_ref(&seen.id))
        .expect("deliver");
    assert_eq!(
        f.mv(&seen.id, Acknowledged).expect("acknowledge").status,
        Acknowledged
    );
    assert_eq!(conflict_status(f.mv(&seen.id, Acknowledged)), Acknowledged);
    assert_eq!(conflict_status(f.mv(&seen.id, Delivered)), Acknowledged);

    // Moves by someone else, or of nothing.
    assert!(matches!(
        f.store().move_notification(
            Party::Service(&f.other_service_id),
            &seen.id,
            Invalidated,
            None,
            None
        ),
        Err(TransitionError::NotOwner)
    ));
    assert!(matches!(
        f.store().move_notification(
            Party::Namespace("grace"),
            &seen.id,
            Acknowledged,
            None,
            None
        ),
        Err(TransitionError::NotOwner)
    ));
    assert!(matches!(
        f.mv("00000000-0000-4000-8000-000000000000", Acknowledged),
        Err(TransitionError::NotFound)
    ));
    assert_eq!(
        f.get(&seen.id).status,
        Acknowledged,
        "refused moves change nothing"
    );

    // mark_delivered moves only created ones and skips the rest (and unknown ids).
    let fresh = f.create(f.row());
    let ids = vec![
        fresh.id.clone(),
        seen.id.clone(),
        from_created.id.clone(),
        withdrawn.id.clone(),
        "00000000-0000-4000-8000-000000000000".to_owned(),
    ];
    let moved = f.store().mark_delivered(&ids).expect("deliver");
    assert_eq!(
        moved.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [fresh.id.as_str()]
    );
    assert_eq!(moved[0].status, Delivered);
    assert_eq!(f.get(&fresh.id).status, Delivered);
    assert_eq!(f.get(&seen.id).status, Acknowledged);
    assert_eq!(f.get(&from_created.id).status, Responded);
    assert_eq!(f.get(&withdrawn.id).status, Invalidated);
    assert_eq!(f.store().mark_delivered(&ids).expect("again"), vec![]);
    assert_eq!(f.store().mark_delivered(&[]).expect("nothing"), vec![]);

    // Three responses, three events, three deliveries to the ATP callback and none to the
    // endpoint that is not subscribed.
    assert_eq!(f.responded_events().len(), 3);
    assert_eq!(
        f.deliveries_to(&f.callback_id),
        ["notification.responded"; 3]
    );
    assert_eq!(f.deliveries_to(&f.sigilum_id), Vec::<String>::new());
}

fn of_fifty_concurrent_responders_exactly_one_wins_with_one_event_and_one_delivery(engine: Engine) {
    let f = fixture(engine);
    let notification = f.create(f.row());
    let racers = 50;
    let barrier = Arc::new(Barrier::new(racers));
    let results: Vec<(usize, Result<Notification, TransitionError>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..racers)
                .map(|i| {
                    let store = f.store().clone();
                    let barrier = Arc::clone(&barrier);
                    let id = notification.id.clone();
                    scope.spawn(move || {
                        let response =
                            respond_with("comment", json!(format!("racer {i}")), "acc_ada");
                        barrier.wait();
                        let result = store.move_notification(
                            Party::Namespace("ada"),
                            &id,
                            NotificationStatus::Responded,
                            None,
                            Some(&response),
                        );
                        (i, result)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });

    let winners: Vec<&(usize, Result<_, _>)> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    let conflicts = results
        .iter()
        .filter(|(_, r)| {
            matches!(r, Err(TransitionError::Conflict(row))
                if row.status == NotificationStatus::Responded)
        })
        .count();
    assert_eq!(
        (winners.len(), conflicts),
        (1, racers - 1),
        "unexpected answers: {:?}",
        results
            .iter()
            .filter(|(_, r)| !matches!(r, Ok(_) | Err(TransitionError::Conflict(_))))
            .collect::<Vec<_>>()
    );
    let winner = winners[0].0;
    let stored = f.get(&notification.id);
    assert_eq!(stored.status, NotificationStatus::Responded);
    let expected_data = format!("racer {winner}");
    let response: Value = stored.response.clone().expect("a response");
    assert_eq!(
        response["response_data"],
        expected_data.as_str(),
        "the winner's answer"
    );

    let events = f.responded_events();
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    assert_eq!(events[0], response, "the event carries the stored response");
    assert_eq!(f.deliveries_to(&f.callback_id), ["notification.responded"]);
    assert_eq!(f.deliveries_to(&f.sigilum_id), Vec::<String>::new());

    let updates: Vec<_> = f
        .changes()
        .into_iter()
        .filter(|(_, kind, _)| *kind == ChangeKind::StatusUpdate)
        .collect();
    assert_eq!(
        updates,
        [(
            notification.id.clone(),
            ChangeKind::StatusUpdate,
            "responded".to_owned()
        )],
        "one status update"
    );
}

fn notifications_past_their_deadline_are_expired_on_read_on_listing_and_by_the_sweeper(
    engine: Engine,
) {
    let f = fixture(engine);
    let past = Timestamp::now().as_millis() - 1_000;
    let due = |f: &Fixture, namespace: &str| Notification {
        namespace: namespace.into(),
        deadline: Some(Timestamp::from_millis(past)),
        ..f.row()
    };

    // On read, by either party.
    let read = f.create(due(&f, "ada"));
    assert_eq!(f.stored_status(&read.id), "created");
    let expired = f
        .store()
        .get_notification(Party::Service(&f.service_id), &read.id)
        .expect("read");
    assert_eq!(expired.status, NotificationStatus::Expired);
    assert_eq!(f.stored_status(&read.id), "expired", "the expiry is stored");
    assert_eq!(f.get(&read.id), expired);

    // By the sweeper, in every namespace, once.
    let swept_ada = f.create(due(&f, "ada"));
    let swept_grace = f.create(due(&f, "grace"));
    let never = f.create(Notification {
        deadline: None,
        ..f.row()
    });
    let later = f.create(f.row());
    let acknowledged = f.create(due(&f, "ada"));
    // Moved by a raw write: `move_notification` would expire it on the way.
    f.store()
        .write(|conn| {
            diesel::update(raw::notifications::table.find(&acknowledged.id))
                .set(raw::notifications::status.eq("acknowledged"))
                .execute(conn)
                .map_err(StoreError::from)
        })
        .expect("acknowledge");
    assert_eq!(
        f.store()
            .expire_due_notifications(Timestamp::now(), 100)
            .expect("sweep"),
        3
    );
    for id in [&swept_ada.id, &swept_grace.id, &acknowledged.id] {
        assert_eq!(f.stored_status(id), "expired", "{id}");
    }
    assert_eq!(f.stored_status(&never.id), "created");
    assert_eq!(f.stored_status(&later.id), "created");
    assert_eq!(
        f.store()
            .expire_due_notifications(Timestamp::now(), 100)
            .expect("sweep again"),
        0
    );
    // The sweeper's `now` decides what is due.
    assert_eq!(
        f.store()
            .expire_due_notifications(Timestamp::now().plus_millis(2 * HOUR), 100)
            .expect("sweep the future"),
        1,
        "the one due in an hour"
    );
    assert_eq!(f.stored_status(&later.id), "expired");

    // On listing: what a listing shows is never stale.
    let listed = f.create(due(&f, "ada"));
    let (rows, _) = f
        .store()
        .list_notifications(
            "ada",
            &NotificationQuery {
                limit: 100,
                ..NotificationQuery::default()
            },
        )
        .expect("list");
    let row = rows.iter().find(|r| r.id == listed.id).expect("listed");
    assert_eq!(row.status, NotificationStatus::Expired);
    assert_eq!(f.stored_status(&listed.id), "expired");
    let pending = f
        .store()
        .list_notifications(
            "ada",
            &NotificationQuery {
                statuses: NotificationStatus::PENDING.to_vec(),
                limit: 100,
                ..NotificationQuery::default()
            },
        )
        .expect("pending");
    assert_eq!(
        pending.0.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [never.id.as_str()]
    );
    assert_eq!(pending.1, 1);

    // A response to a due one is refused as expired, and the expiry is committed anyway.
    let answered_late = f.create(due(&f, "ada"));
    assert_eq!(
        conflict_status(f.mv(&answered_late.id, NotificationStatus::Responded)),
        NotificationStatus::Expired
    );
    assert_eq!(
        f.stored_status(&answered_late.id),
        "expired",
        "the expiry is kept"
    );
    assert_eq!(f.get(&answered_late.id).response, None);
    assert_eq!(f.responded_events(), Vec::<Value>::new(), "no event");
    assert_eq!(
        conflict_status(f.mv(&answered_late.id, NotificationStatus::Invalidated)),
        NotificationStatus::Expired
    );

    // mark_delivered does not deliver a due one.
    let undeliverable = f.create(due(&f, "grace"));
    assert_eq!(
        f.store()
            .mark_delivered(std::slice::from_ref(&undeliverable.id))
            .expect("deliver"),
        vec![]
    );

    // Each expiry is one status update, in the change log of its namespace.
    let expiries: Vec<String> = f
        .changes()
        .into_iter()
        .filter(|(_, kind, status)| *kind == ChangeKind::StatusUpdate && status == "expired")
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(expiries.first(), Some(&read.id), "{expiries:?}");
    assert_eq!(
        expiries.get(4..),
        Some(
            &[
                later.id.clone(),
                listed.id.clone(),
                answered_late.id.clone()
            ][..]
        ),
        "{expiries:?}"
    );
    let expected: HashSet<&str> = [
        read.id.as_str(),
        swept_ada.id.as_str(),
        swept_grace.id.as_str(),
        acknowledged.id.as_str(),
        later.id.as_str(),
        listed.id.as_str(),
        answered_late.id.as_str(),
    ]
    .into();
    assert_eq!(
        expiries.len(),
        expected.len(),
        "one update per expiry: {expiries:?}"
    );
    assert_eq!(
        expiries.iter().map(String::as_str).collect::<HashSet<_>>(),
        expected
    );
    let grace = f
        .store()
        .changes_after(Some("grace"), 0, 100)
        .expect("grace");
    assert!(grace.iter().any(|c| c.subject_id == swept_grace.id
        && c.kind == ChangeKind::StatusUpdate
        && c.payload["status"] == "expired"));
}

fn listings_filter_order_and_page_through_every_row_once(engine: Engine) {
    let f = fixture(engine);
    let base = Timestamp::now().as_millis() - 100_000;
    // Ten notifications of ada, created in pairs of the same millisecond (the id breaks the
    // tie), of two services and two projects; one of grace.
    let mut made = Vec::new();
    for i in 0..10_i64 {
        let (service_id, slug) = if i % 3 == 0 {
            (f.other_service_id.clone(), "billing")
        } else {
            (f.service_id.clone(), "gateway")
        };
        let row = f.create(Notification {
            service_id,
            service_slug: slug.into(),
            project: match i % 4 {
                0 | 1 => Some("alpha".into()),
                2 => Some("beta".into()),
                _ => None,
            },
            created_at: Timestamp::from_millis(base + (i / 2) * 1_000),
            ..f.row()
        });
        made.push(row);
    }
    f.create(Notification {
        namespace: "grace".into(),
        ..f.row()
    });
    f.mv(&made[1].id, NotificationStatus::Responded)
        .expect("respond");
    f.mv(&made[4].id, NotificationStatus::Acknowledged)
        .expect("ack");
    f.store()
        .move_notification(
            Party::Service(&f.other_service_id),
            &made[6].id,
            NotificationStatus::Invalidated,
            None,
            None,
        )
        .expect("invalidate");
    f.store()
        .mark_delivered(std::slice::from_ref(&made[7].id))
        .expect("deliver");

    let mut oldest: Vec<&Notification> = made.iter().collect();
    oldest.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let ids =
        |rows: &[&Notification]| -> Vec<String> { rows.iter().map(|r| r.id.clone()).collect() };
    let newest: Vec<&Notification> = oldest.iter().rev().copied().collect();
    let query = |statuses: Vec<NotificationStatus>,
                 service: Option<&str>,
                 project: Option<&str>,
                 oldest_first: bool| NotificationQuery {
        statuses,
        service: service.map(str::to_owned),
        project: project.map(str::to_owned),
        oldest_first,
        after: None,
        limit: 100,
    };

    // Order.
    assert_eq!(
        f.list("ada", query(vec![], None, None, false)),
        (ids(&newest), 10)
    );
    assert_eq!(
        f.list("ada", query(vec![], None, None, true)),
        (ids(&oldest), 10)
    );
    assert_eq!(f.list("grace", query(vec![], None, None, true)).1, 1);
    assert_eq!(
        f.list("nobody", query(vec![], None, None, true)),
        (vec![], 0)
    );

    // Filters, alone and together; the total counts every match.
    let pick = |keep: &dyn Fn(usize, &Notification) -> bool| -> Vec<String> {
        newest
            .iter()
            .filter(|r| {
                let i = made.iter().position(|m| m.id == r.id).expect("made");
                keep(i, r)
            })
            .map(|r| r.id.clone())
            .collect()
    };
    let with_total = |ids: Vec<String>| {
        let total = i64::try_from(ids.len()).expect("small");
        (ids, total)
    };
    use NotificationStatus::*;
    assert_eq!(
        f.list("ada", query(vec![Responded], None, None, false)),
        with_total(pick(&|i, _| i == 1))
    );
    assert_eq!(
        f.list(
            "ada",
            query(vec![Responded, Invalidated], None, None, false)
        ),
        with_total(pick(&|i, _| i == 1 || i == 6))
    );
    assert_eq!(
        f.list(
            "ada",
            query(NotificationStatus::PENDING.to_vec(), None, None, false)
        ),
        with_total(pick(&|i, _| ![1, 6].contains(&i)))
    );
    assert_eq!(
        f.list(
            "ada",
            query(vec![Delivered, Acknowledged], None, None, false)
        ),
        with_total(pick(&|i, _| i == 4 || i == 7))
    );
    assert_eq!(
        f.list("ada", query(vec![Expired], None, None, false)),
        (vec![], 0)
    );
    assert_eq!(
        f.list("ada", query(vec![], Some("billing"), None, false)),
        with_total(pick(&|i, _| i % 3 == 0))
    );
    assert_eq!(
        f.list("ada", query(vec![], Some("nothing"), None, false)),
        (vec![], 0)
    );
    assert_eq!(
        f.list("ada", query(vec![], None, Some("alpha"), false)),
        with_total(pick(&|i, _| i % 4 <= 1))
    );
    assert_eq!(
        f.list("ada", query(vec![], Some("gateway"), Some("alpha"), true)),
        {
            let mut expected = pick(&|i, _| i % 3 != 0 && i % 4 <= 1);
            expected.reverse();
            with_total(expected)
        }
    );
    assert_eq!(
        f.list(
            "ada",
            query(
                NotificationStatus::PENDING.to_vec(),
                Some("gateway"),
                Some("beta"),
                false
            )
        ),
        with_total(pick(&|i, _| i % 3 != 0
            && i % 4 == 2
            && ![1, 6].contains(&i)))
    );

    // Paging with `after` and `limit`, both orders, with and without a filter: every row
    // once, in order, and the total of all matches on every page.
    for (filter, service) in [
        (vec![], None),
        (NotificationStatus::PENDING.to_vec(), Some("gateway")),
    ] {
        for oldest_first in [false, true] {
            let (all, total) = f.list("ada", query(filter.clone(), service, None, oldest_first));
            for limit in [1, 3, 4, 100] {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let (page, page_total) = f
                        .store()
                        .list_notifications(
                            "ada",
                            &NotificationQuery {
                                after: after.clone(),
                                limit,
                                ..query(filter.clone(), service, None, oldest_first)
                            },
                        )
                        .expect("page");
                    assert_eq!(page_total, total, "the total counts every match");
                    assert!(page.len() <= usize::try_from(limit).expect("limit"));
                    let Some(last) = page.last() else { break };
                    after = Some((last.created_at.as_millis(), last.id.clone()));
                    seen.extend(page.into_iter().map(|r| r.id));
                    assert!(seen.len() <= all.len(), "paging does not end: {seen:?}");
                }
                assert_eq!(
                    seen, all,
                    "limit {limit}, oldest first {oldest_first}, filter {filter:?}"
                );
            }
        }
    }

    // pending_notifications: the pending ones, oldest first.
    let pending = f
        .store()
        .pending_notifications("ada", 100)
        .expect("pending");
    let mut expected = pick(&|i, _| ![1, 6].contains(&i));
    expected.reverse();
    assert_eq!(
        pending.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        expected
    );
}

fn every_creation_and_move_is_one_numbered_change_of_its_namespace(engine: Engine) {
    let f = fixture(engine);
    let store = f.store();
    assert_eq!(store.latest_change().expect("latest"), 0);
    assert_eq!(store.oldest_change().expect("oldest"), None);
    assert_eq!(store.changes_after(None, 0, 100).expect("none"), vec![]);

    let first = f.create(f.row());
    let grace = f.create(Notification {
        namespace: "grace".into(),
        ..f.row()
    });
    let delivered = store
        .mark_delivered(std::slice::from_ref(&first.id))
        .expect("deliver");
    let acknowledged = f
        .mv(&first.id, NotificationStatus::Acknowledged)
        .expect("ack");
    let invalidated = store
        .move_notification(
            Party::Service(&f.service_id),
            &grace.id,
            NotificationStatus::Invalidated,
            Some("withdrawn"),
            None,
        )
        .expect("invalidate");
    let responded = f
        .mv(&first.id, NotificationStatus::Responded)
        .expect("respond");
    // Refused moves and creations record nothing.
    let before_refusals = store.latest_change().expect("latest");
    assert!(f.mv(&first.id, NotificationStatus::Responded).is_err());
    assert!(f.mv(&grace.id, NotificationStatus::Acknowledged).is_err());
    assert!(store.create_notification(&first).is_err());
    assert_eq!(
        store
            .mark_delivered(std::slice::from_ref(&first.id))
            .expect("none"),
        vec![]
    );
    assert_eq!(store.latest_change().expect("latest"), before_refusals);

    let all = store.changes_after(None, 0, 100).expect("all");
    let summary: Vec<(&str, &str, ChangeKind)> = all
        .iter()
        .map(|c| (c.namespace.as_str(), c.subject_id.as_str(), c.kind))
        .collect();
    assert_eq!(
        summary,
        [
            ("ada", first.id.as_str(), ChangeKind::Notification),
            ("grace", grace.id.as_str(), ChangeKind::Notification),
            ("ada", first.id.as_str(), ChangeKind::StatusUpdate),
            ("ada", first.id.as_str(), ChangeKind::StatusUpdate),
            ("grace", grace.id.as_str(), ChangeKind::StatusUpdate),
            ("ada", first.id.as_str(), ChangeKind::StatusUpdate),
        ]
    );
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "numbered in order: {:?}",
        all.iter().map(|c| c.seq).collect::<Vec<_>>()
    );
    // A new notification is sent in full; a status update names the state and the time.
    assert_eq!(all[0].payload, first.to_json());
    assert_eq!(all[1].payload, grace.to_json());
    let update = |row: &Notification| {
        json!({
            "notification_id": row.id,
            "status": row.status,
            "updated_at": row.updated_at.to_rfc3339(),
        })
    };
    assert_eq!(all[2].payload, update(&delivered[0]));
    assert_eq!(all[3].payload, update(&acknowledged));
    let mut withdrawn = update(&invalidated);
    withdrawn["reason"] = "withdrawn".into();
    assert_eq!(all[4].payload, withdrawn);
    assert_eq!(all[5].payload, update(&responded));
    assert_eq!(all[5].payload["status"], "responded");

    // One namespace's changes only, after a number, up to a limit.
    let ada = store.changes_after(Some("ada"), 0, 100).expect("ada");
    assert_eq!(
        ada.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [all[0].seq, all[2].seq, all[3].seq, all[5].seq]
    );
    assert!(ada.iter().all(|c| c.namespace == "ada"));
    let grace_changes = store.changes_after(Some("grace"), 0, 100).expect("grace");
    assert_eq!(
        grace_changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [all[1].seq, all[4].seq]
    );
    assert_eq!(
        store
            .changes_after(Some("ada"), all[2].seq, 100)
            .expect("after")
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
        [all[3].seq, all[5].seq]
    );
    assert_eq!(
        store
            .changes_after(Some("ada"), all[1].seq, 1)
            .expect("limited")
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
        [all[2].seq]
    );
    assert_eq!(
        store
            .changes_after(None, all[5].seq, 100)
            .expect("past the end"),
        vec![]
    );
    assert_eq!(
        store.changes_after(Some("nobody"), 0, 100).expect("nobody"),
        vec![]
    );
    assert_eq!(
        store.changes_after(None, 0, 3).expect("first three"),
        all[..3]
    );
    assert_eq!(store.latest_change().expect("latest"), all[5].seq);
    assert_eq!(store.oldest_change().expect("oldest"), Some(all[0].seq));

    // Purging removes the changes recorded before the cut, and only those.
    std::thread::sleep(Duration::from_millis(5));
    let cut = Timestamp::now();
    std::thread::sleep(Duration::from_millis(5));
    let after_cut = f.create(f.row());
    assert_eq!(store.purge_changes(cut).expect("purge"), all.len());
    let kept = store.changes_after(None, 0, 100).expect("kept");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].subject_id, after_cut.id);
    assert!(kept[0].seq > all[5].seq, "numbers are never reused");
    assert_eq!(store.oldest_change().expect("oldest"), Some(kept[0].seq));
    assert_eq!(store.latest_change().expect("latest"), kept[0].seq);
    assert_eq!(store.purge_changes(cut).expect("purge again"), 0);
    assert_eq!(
        store
            .purge_changes(Timestamp::now().plus_millis(1_000))
            .expect("purge all"),
        1
    );
    assert_eq!(store.oldest_change().expect("oldest"), None);
    assert_eq!(store.latest_change().expect("latest"), 0);
    // The notifications themselves are untouched.
    assert_eq!(f.get(&first.id).status, NotificationStatus::Responded);
}

/// Moves of many notifications in one transaction (the sweeper, `mark_delivered`) racing
/// single moves of the same notifications in the opposite order: on PostgreSQL both take row
/// locks and the lock that orders change numbers, so taking them in different orders would
/// deadlock. Every call must succeed (or be refused with a conflict), with one change per move.
fn batch_moves_and_single_moves_of_the_same_notifications_never_deadlock(engine: Engine) {
    let f = fixture(engine);
    let past = Timestamp::now().as_millis() - 1_000;
    let mut due = Vec::new();
    let mut fresh = Vec::new();
    for _ in 0..150 {
        due.push(
            f.create(Notification {
                deadline: Some(Timestamp::from_millis(past)),
                ..f.row()
            })
            .id,
        );
        fresh.push(f.create(f.row()).id);
    }
    let racers = 4;
    let barrier = Arc::new(Barrier::new(racers + 2));
    let errors: Vec<String> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let store = f.store().clone();
        let start = Arc::clone(&barrier);
        handles.push(scope.spawn(move || {
            start.wait();
            match store.expire_due_notifications(Timestamp::now(), 1000) {
                Ok(_) => vec![],
                Err(e) => vec![format!("sweeper: {e}")],
            }
        }));
        let store = f.store().clone();
        let start = Arc::clone(&barrier);
        let ids = fresh.clone();
        handles.push(scope.spawn(move || {
            start.wait();
            match store.mark_delivered(&ids) {
                Ok(_) => vec![],
                Err(e) => vec![format!("mark_delivered: {e}")],
            }
        }));
        for racer in 0..racers {
            let store = f.store().clone();
            let start = Arc::clone(&barrier);
            let (due, fresh) = (due.clone(), fresh.clone());
            handles.push(scope.spawn(move || {
                start.wait();
                let mut errors = Vec::new();
                // From the other end, each racer a little further in.
                for (due_id, fresh_id) in due.iter().rev().zip(fresh.iter().rev()).skip(racer * 5) {
                    if let Err(e) = store.get_notification(Party::Namespace("ada"), due_id) {
                        errors.push(format!("read {due_id}: {e:?}"));
                    }
                    match store.move_notification(
                        Party::Namespace("ada"),
                        fresh_id,
                        NotificationStatus::Acknowledged,
                        None,
                        None,
                    ) {
                        Ok(_) | Err(TransitionError::Conflict(_)) => {}
                        Err(e) => errors.push(format!("acknowledge {fresh_id}: {e:?}")),
                    }
                }
                errors
            }));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        errors.is_empty(),
        "{} failed calls, the first: {:?}",
        errors.len(),
        errors.first()
    );

    let changes = f.changes();
    for id in &due {
        assert_eq!(f.stored_status(id), "expired", "{id}");
        let updates: Vec<&str> = changes
            .iter()
            .filter(|(n, kind, _)| n == id && *kind == ChangeKind::StatusUpdate)
            .map(|(_, _, status)| status.as_str())
            .collect();
        assert_eq!(updates, ["expired"], "one expiry of {id}");
    }
    for id in &fresh {
        let status = f.stored_status(id);
        let updates: Vec<&str> = changes
            .iter()
            .filter(|(n, kind, _)| n == id && *kind == ChangeKind::StatusUpdate)
            .map(|(_, _, status)| status.as_str())
            .collect();
        assert_eq!(updates.last(), Some(&status.as_str()), "{id}: {updates:?}");
        assert!(
            updates == ["acknowledged"]
                || updates == ["delivered"]
                || updates == ["delivered", "acknowledged"],
            "{id}: {updates:?}"
        );
    }
}

/// The notification `id`, as a group commit takes it: every third one answered by a rule
/// (`approve`, so with its event and delivery), the others left pending for ada.
fn screened(f: &Fixture, id: &str, n: usize) -> ScreenedNotification {
    let mut notification = f.row();
    notification.id = id.to_owned();
    let rule = n
        .is_multiple_of(3)
        .then(|| ("r1".to_owned(), Effect::AutoApprove, Some("approve".into())));
    ScreenedNotification {
        notification,
        screening: NotificationScreening {
            arguments: json!({}),
            answerable: vec!["approve".into()],
            rule,
            caps: PendingCaps::default(),
        },
        client_addr: None,
    }
}

/// What creating notifications leaves behind: each one's stored status, every change, the
/// `notification.responded` events and the deliveries to each endpoint.
type Outcome = (
    Vec<String>,
    Vec<(String, ChangeKind, String)>,
    usize,
    Vec<String>,
    Vec<String>,
);

fn outcome(f: &Fixture, ids: &[String]) -> Outcome {
    (
        ids.iter().map(|id| f.stored_status(id)).collect(),
        f.changes(),
        f.responded_events().len(),
        f.deliveries_to(&f.callback_id),
        f.deliveries_to(&f.sigilum_id),
    )
}

/// Fifty notifications written as one group leave exactly the rows, changes, events and
/// deliveries that the same fifty written one by one leave.
fn a_group_of_fifty_stores_what_fifty_single_creates_store(engine: Engine) {
    let ids: Vec<String> = (0..50).map(|_| uuid::Uuid::new_v4().to_string()).collect();

    let single = fixture(engine);
    for (n, id) in ids.iter().enumerate() {
        let item = screened(&single, id, n);
        single
            .store()
            .create_screened_notification(&item.notification, &item.screening)
            .expect("single create");
    }

    let grouped = fixture(engine);
    let items: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| screened(&grouped, id, n))
        .collect();
    let results = grouped
        .store()
        .create_screened_notifications(&items)
        .expect("the group commits");
    assert_eq!(results.len(), 50);
    for (n, result) in results.iter().enumerate() {
        let stored = result.as_ref().unwrap_or_else(|e| panic!("item {n}: {e}"));
        assert_eq!(stored.id, ids[n], "results are in the order of the items");
        let expected = if n.is_multiple_of(3) {
            NotificationStatus::Responded
        } else {
            NotificationStatus::Created
        };
        assert_eq!(stored.status, expected);
    }

    let expected = outcome(&single, &ids);
    assert_eq!(expected.2, 17, "every third one was answered");
    assert_eq!(expected.3.len(), 17, "each answer is one delivery");
    assert_eq!(outcome(&grouped, &ids), expected);
}

/// In a group, an item past the pending cap and an item with a taken id are refused alone:
/// each rolled back in its savepoint, the items before and after them committed.
fn a_refused_item_of_a_group_is_rolled_back_alone(engine: Engine) {
    let f = fixture(engine);
    let existing = f.create(f.row());
    let mut items: Vec<_> = (0..4)
        .map(|n| screened(&f, &uuid::Uuid::new_v4().to_string(), 3 * n + 1))
        .collect();
    // ada has two pending (the existing one and item 0) when item 1 asks for a cap of two.
    items[1].screening.caps = PendingCaps {
        namespace: Some(2),
        per_service: None,
    };
    items[2].notification.id = existing.id.clone();
    let results = f
        .store()
        .create_screened_notifications(&items)
        .expect("the group commits");

    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(
            results[1],
            Err(StoreError::PendingLimit("limit:max_pending"))
        ),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(StoreError::Conflict(_))),
        "{:?}",
        results[2]
    );
    assert!(results[3].is_ok(), "{:?}", results[3]);

    let (listed, total) = f.list(
        "ada",
        NotificationQuery {
            limit: 100,
            ..Default::default()
        },
    );
    assert_eq!(total, 3);
    let listed: HashSet<String> = listed.into_iter().collect();
    let expected: HashSet<String> = [
        &existing.id,
        &items[0].notification.id,
        &items[3].notification.id,
    ]
    .into_iter()
    .cloned()
    .collect();
    assert_eq!(listed, expected, "the refused item is not stored");
    let created: Vec<String> = f
        .changes()
        .into_iter()
        .filter(|(_, kind, _)| *kind == ChangeKind::Notification)
        .map(|(subject, _, _)| subject)
        .collect();
    assert_eq!(
        created,
        [
            existing.id.clone(),
            items[0].notification.id.clone(),
            items[3].notification.id.clone()
        ],
        "one change for each stored notification, none for the refused ones"
    );
    assert_eq!(
        f.get(&existing.id).status,
        NotificationStatus::Created,
        "the original is untouched"
    );
}

/// Answers written as one group: each gets the outcome it would get alone (answered, already
/// answered, another owner's, unknown), and each answered one has exactly one change, one
/// `notification.responded` event and its deliveries.
fn a_group_of_answers_gives_each_its_own_outcome(engine: Engine) {
    let f = fixture(engine);
    let fresh: Vec<Notification> = (0..3).map(|_| f.create(f.row())).collect();
    let answered = f.create(f.row());
    f.store()
        .move_notification(
            Party::Namespace("ada"),
            &answered.id,
            NotificationStatus::Responded,
            None,
            Some(&respond_with("approve", Value::Null, "acc_ada")),
        )
        .expect("answered before the group");
    let answer = |namespace: &str, id: &str| Answer {
        namespace: namespace.into(),
        notification_id: id.into(),
        response: respond_with("approve", Value::Null, "acc_ada"),
        client_addr: None,
    };
    let answers = [
        answer("ada", &fresh[2].id),
        answer("ada", &answered.id),
        answer("grace", &fresh[1].id),
        answer("ada", "no-such-notification"),
        answer("ada", &fresh[0].id),
        // The same notification twice in one group: the second finds it answered.
        answer("ada", &fresh[2].id),
    ];
    let events_before = f.responded_events().len();
    let results = f
        .store()
        .respond_notifications(&answers)
        .expect("the group commits");
    assert_eq!(results.len(), answers.len());
    let responded = |r: &Result<Notification, TransitionError>| matches!(r, Ok(n) if n.status == NotificationStatus::Responded);
    assert!(responded(&results[0]), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(TransitionError::Conflict(_))),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(TransitionError::NotOwner)),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(results[3], Err(TransitionError::NotFound)),
        "{:?}",
        results[3]
    );
    assert!(responded(&results[4]), "{:?}", results[4]);
    assert!(
        matches!(results[5], Err(TransitionError::Conflict(_))),
        "{:?}",
        results[5]
    );

    assert_eq!(
        f.get(&fresh[1].id).status,
        NotificationStatus::Created,
        "grace's answer changed nothing"
    );
    assert_eq!(
        f.responded_events().len() - events_before,
        2,
        "one event per answered notification"
    );
    let answered_changes = f
        .changes()
        .into_iter()
        .filter(|(id, _, status)| {
            (id == &fresh[0].id || id == &fresh[2].id) && status == "responded"
        })
        .count();
    assert_eq!(answered_changes, 2, "one change per answered notification");
}

assent_store::on_both_engines!(
    a_group_of_answers_gives_each_its_own_outcome,
    a_notification_is_readable_by_its_service_and_namespace_only,
    moves_follow_the_lifecycle_and_refuse_everything_else,
    of_fifty_concurrent_responders_exactly_one_wins_with_one_event_and_one_delivery,
    notifications_past_their_deadline_are_expired_on_read_on_listing_and_by_the_sweeper,
    listings_filter_order_and_page_through_every_row_once,
    every_creation_and_move_is_one_numbered_change_of_its_namespace,
    batch_moves_and_single_moves_of_the_same_notifications_never_deadlock,
    a_group_of_fifty_stores_what_fifty_single_creates_store,
    a_refused_item_of_a_group_is_rolled_back_alone,
);
