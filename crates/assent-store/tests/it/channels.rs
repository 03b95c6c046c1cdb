//! Expiry reminders on SQLite and PostgreSQL: each item's reminder is scheduled on its own, and
//! when one is leased it carries the channel's other reminders of the same kind that are due
//! within the channel's throttle, which are then not sent separately. The lease's `now` is
//! given, so no test waits for the clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use assent_core::Timestamp;
use assent_core::channel::{ChannelEvent, ChannelKind, Topic};
use assent_core::notification::{Notification, NotificationStatus};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Account, Actor, ItemKind, LeasedMessage, MessageOutcome, NewAccount, NewChannel, NewClaim,
    NewService, Store, Submitted,
};
use serde_json::json;

const LEAD_SECONDS: u32 = 60;
const LEASE: Duration = Duration::from_secs(30);

struct Fixture {
    db: TestDatabase,
    account: Account,
    service_id: String,
}

fn fixture(engine: Engine) -> Fixture {
    let db = TestDatabase::new(engine);
    let account = db
        .store
        .create_account(
            NewAccount {
                email: "ada@example.com".into(),
                namespace: "ada".into(),
                password_hash: "x".into(),
            },
            None,
        )
        .expect("account");
    let service = db
        .store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "gateway".into(),
                name: "Gateway".into(),
                description: None,
                icon_url: None,
            },
            &Actor::Cli,
            10,
        )
        .expect("service");
    Fixture {
        db,
        account,
        service_id: service.id,
    }
}

impl Fixture {
    fn store(&self) -> &Store {
        &self.db.store
    }

    /// A verified channel that gets reminders only, a minute before the expiry.
    fn channel(&self, kind: ChannelKind, address: &str, throttle_seconds: u32) -> String {
        self.channel_for(kind, address, throttle_seconds, ChannelEvent::ItemExpiring)
    }

    fn channel_for(
        &self,
        kind: ChannelKind,
        address: &str,
        throttle_seconds: u32,
        event: ChannelEvent,
    ) -> String {
        let id = assent_auth::random::id("chn_");
        let new = NewChannel {
            id: id.clone(),
            kind,
            address: address.into(),
            events: vec![event],
            quiet_hours: None,
            throttle_seconds,
            push_keys_sealed: None,
            expiry_lead_seconds: LEAD_SECONDS,
        };
        self.store()
            .create_channel(&self.account, &new, &Actor::Cli)
            .expect("channel");
        self.store()
            .mark_channel_verified(&self.account.id, &id)
            .expect("verified");
        id
    }

    /// A pending claim that expires in `ttl`.
    fn claim(&self, n: usize, ttl: Duration) -> String {
        let new = NewClaim {
            namespace: "ada".into(),
            service_id: self.service_id.clone(),
            service_slug: "gateway".into(),
            public_key: format!("key-{n}"),
            agent_key: format!("did:key:zkey{n}"),
            agent_ip: None,
            subject: None,
            agent_id: None,
            agent_name: Some(format!("bot-{n}")),
        };
        match self.store().submit_claim(&new, ttl).expect("claim") {
            Submitted::Created(claim) => claim.id,
            Submitted::Existing(claim) => panic!("a new claim was expected: {claim:?}"),
        }
    }

    /// A pending notification with a deadline in `ttl`.
    fn notification(&self, ttl: Duration) -> String {
        let now = Timestamp::now();
        let notification = Notification {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: "ada".into(),
            service_id: self.service_id.clone(),
            service_slug: "gateway".into(),
            service_name: "Gateway".into(),
            service_icon: None,
            project: None,
            context: serde_json::from_value(json!({"title": "Deploy?"})).expect("context"),
            actions: serde_json::from_value(json!([
                {"id": "approve", "label": "Approve", "response_type": "simple"},
            ]))
            .expect("actions"),
            status: NotificationStatus::Created,
            sent_at: now,
            created_at: now,
            updated_at: now,
            deadline: Some(now.after(ttl)),
            status_reason: None,
            response: None,
        };
        self.store()
            .create_notification(&notification)
            .expect("notification")
            .id
    }

    /// The reminders leased at `at`, with every other topic released as sent.
    fn lease_reminders(&self, at: Timestamp) -> Vec<LeasedMessage> {
        let leased = self
            .store()
            .lease_due_messages(at, LEASE, 8)
            .expect("lease");
        let (reminders, others): (Vec<_>, Vec<_>) = leased
            .into_iter()
            .partition(|m| m.topic == Topic::Event(ChannelEvent::ItemExpiring));
        for other in others {
            let items = other.items.iter().map(|(row, _, _)| row.clone()).collect();
            self.store()
                .record_message(&other, &MessageOutcome::Sent { items })
                .expect("record");
        }
        reminders
    }

    /// The reminder messages of the log, by status: how many, and the items they carried (a
    /// pending message counts none yet).
    fn reminder_log(&self) -> BTreeMap<String, (usize, u32)> {
        let mut log = BTreeMap::new();
        for m in self
            .store()
            .list_messages(&self.account.id, 1000)
            .expect("log")
        {
            if m.topic == "item.expiring" {
                let entry = log.entry(m.status).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += m.item_count;
            }
        }
        log
    }
}

/// Per channel, the item ids each leased reminder carries, sorted.
fn by_channel(leased: &[LeasedMessage]) -> HashMap<String, Vec<Vec<String>>> {
    let mut out: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for m in leased {
        let mut ids: Vec<String> = m.items.iter().map(|(_, _, id)| id.clone()).collect();
        ids.sort();
        out.entry(m.channel.id.clone()).or_default().push(ids);
    }
    for messages in out.values_mut() {
        messages.sort();
    }
    out
}

fn sorted<T: Ord>(mut ids: Vec<T>) -> Vec<T> {
    ids.sort();
    ids
}

fn reminders_due_within_the_throttle_go_as_one_message(engine: Engine) {
    let f = fixture(engine);
    let mail = f.channel(ChannelKind::Email, "ada@example.com", 60);
    let chat = f.channel(ChannelKind::Ntfy, "https://ntfy.example/ada-topic", 0);
    let minutes = |m: u64, s: u64| Duration::from_secs(m * 60 + s);
    // Reminders go a minute before: a, b and the notification at 9:00, c at 9:30, d at 10:30.
    let a = f.claim(1, minutes(10, 0));
    let b = f.claim(2, minutes(10, 0));
    let c = f.claim(3, minutes(10, 30));
    let d = f.claim(4, minutes(11, 30));
    let note = f.notification(minutes(10, 0));
    let created = Timestamp::now();
    assert_eq!(
        f.reminder_log(),
        BTreeMap::from([("pending".to_owned(), (10, 0))]),
        "one reminder per item and channel, waiting"
    );

    // At 9:01 the mail channel's first claim reminder takes b (due) and c (due within its 60 s
    // throttle), not d; the notification is told apart. The chat channel (no throttle) takes
    // only what is due.
    let first = f.lease_reminders(created.after(minutes(9, 1)));
    let first_by_channel = by_channel(&first);
    assert_eq!(
        first_by_channel[&mail],
        sorted(vec![
            sorted(vec![a.clone(), b.clone(), c.clone()]),
            vec![note.clone()],
        ]),
        "{first:?}"
    );
    assert_eq!(
        first_by_channel[&chat],
        sorted(vec![sorted(vec![a.clone(), b.clone()]), vec![note.clone()]]),
        "{first:?}"
    );
    for m in &first {
        let kinds: Vec<ItemKind> = m.items.iter().map(|(_, kind, _)| *kind).collect();
        assert!(kinds.windows(2).all(|w| w[0] == w[1]), "one kind: {m:?}");
    }
    // The gathered reminders are gone, not waiting to be sent again.
    assert!(f.lease_reminders(created.after(minutes(9, 1))).is_empty());
    assert_eq!(
        f.reminder_log(),
        BTreeMap::from([("pending".to_owned(), (7, 0))]),
        "four leased messages; d waiting on mail, c and d on chat"
    );

    // Sent: each message logs what it carried.
    for m in &first {
        let items = m.items.iter().map(|(row, _, _)| row.clone()).collect();
        f.store()
            .record_message(m, &MessageOutcome::Sent { items })
            .expect("record");
    }
    let log = f.reminder_log();
    assert_eq!(log["sent"], (4, 7), "{log:?}");

    // d's reminder goes at its own time, alone on the mail channel; on chat c and d are both
    // due by then and go together.
    let last = f.lease_reminders(created.after(minutes(10, 31)));
    let last_by_channel = by_channel(&last);
    assert_eq!(last_by_channel[&mail], vec![vec![d.clone()]], "{last:?}");
    assert_eq!(last_by_channel[&chat], vec![sorted(vec![c, d])], "{last:?}");
}

/// Thirty reminders all due at one lease, more than its limit: one message carries them all,
/// whichever of them the lease took first.
fn a_burst_of_due_reminders_is_one_message(engine: Engine) {
    let f = fixture(engine);
    let mail = f.channel(ChannelKind::Email, "ada@example.com", 60);
    let claims: Vec<String> = (0..30)
        .map(|n| f.claim(n, Duration::from_secs(600)))
        .collect();
    let leased = f.lease_reminders(Timestamp::now().after(Duration::from_secs(600)));
    assert_eq!(leased.len(), 1, "{leased:?}");
    assert_eq!(leased[0].channel.id, mail);
    let carried: Vec<String> = leased[0]
        .items
        .iter()
        .map(|(_, _, id)| id.clone())
        .collect();
    assert_eq!(sorted(carried), sorted(claims));
    // Skipped (every claim was decided meanwhile, say): one log entry for the thirty.
    let items = leased[0]
        .items
        .iter()
        .map(|(row, _, _)| row.clone())
        .collect();
    f.store()
        .record_message(&leased[0], &MessageOutcome::Skipped { items })
        .expect("record");
    assert_eq!(
        f.reminder_log(),
        BTreeMap::from([("skipped".to_owned(), (1, 30))])
    );
}

/// Senders leasing at once (replicas on one database) each get a share of the due reminders,
/// and every reminder is leased exactly once: none is gathered by two senders.
fn concurrent_senders_lease_each_reminder_once(engine: Engine) {
    let f = fixture(engine);
    for n in 0..3 {
        f.channel(ChannelKind::Ntfy, &format!("https://ntfy.example/t{n}"), 60);
    }
    let claims: Vec<String> = (0..20)
        .map(|n| f.claim(n, Duration::from_secs(600)))
        .collect();
    let at = Timestamp::now().after(Duration::from_secs(600));
    let senders = 4;
    let barrier = Arc::new(Barrier::new(senders));
    let handles: Vec<_> = (0..senders)
        .map(|_| {
            let store = f.store().clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut leased = Vec::new();
                loop {
                    let batch = store.lease_due_messages(at, LEASE, 2).expect("lease");
                    if batch.is_empty() {
                        return leased;
                    }
                    leased.extend(batch);
                }
            })
        })
        .collect();
    let leased: Vec<LeasedMessage> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("sender"))
        .collect();
    let mut told: HashMap<String, Vec<String>> = HashMap::new();
    for m in &leased {
        for (_, _, id) in &m.items {
            told.entry(m.channel.id.clone())
                .or_default()
                .push(id.clone());
        }
    }
    assert_eq!(told.len(), 3, "{leased:?}");
    for ids in told.into_values() {
        assert_eq!(sorted(ids), sorted(claims.clone()), "each claim once");
    }
}

/// A burst that comes while the channel's first message is being sent waits for the throttle
/// after it, gathered into one message, rather than starting messages due at once.
fn a_message_in_flight_holds_the_next_for_the_throttle(engine: Engine) {
    let f = fixture(engine);
    f.channel_for(
        ChannelKind::Ntfy,
        "https://ntfy.example/ada-topic",
        60,
        ChannelEvent::ClaimSubmitted,
    );
    let hour = Duration::from_secs(3600);
    let first = f.claim(0, hour);
    let leased = f
        .store()
        .lease_due_messages(Timestamp::now(), LEASE, 8)
        .expect("lease");
    assert_eq!(leased.len(), 1, "{leased:?}");
    assert_eq!(leased[0].items[0].2, first);
    let burst: Vec<String> = (1..6).map(|n| f.claim(n, hour)).collect();
    let soon = Timestamp::now().after(Duration::from_secs(20));
    let held = f.store().lease_due_messages(soon, LEASE, 8).expect("lease");
    assert!(held.is_empty(), "due before the throttle: {held:?}");
    let items = leased[0]
        .items
        .iter()
        .map(|(row, _, _)| row.clone())
        .collect();
    f.store()
        .record_message(&leased[0], &MessageOutcome::Sent { items })
        .expect("record");
    let later = Timestamp::now().after(Duration::from_secs(61));
    let digest = f
        .store()
        .lease_due_messages(later, LEASE, 8)
        .expect("lease");
    assert_eq!(digest.len(), 1, "{digest:?}");
    let told: Vec<String> = digest[0]
        .items
        .iter()
        .map(|(_, _, id)| id.clone())
        .collect();
    assert_eq!(sorted(told), sorted(burst));
}

assent_store::on_both_engines!(
    a_message_in_flight_holds_the_next_for_the_throttle,
    reminders_due_within_the_throttle_go_as_one_message,
    a_burst_of_due_reminders_is_one_message,
    concurrent_senders_lease_each_reminder_once,
);
