//! Delivery across faults and replicas, with the real binary: a SIGKILL mid-batch and a
//! PostgreSQL restart mid-load lose no event, send again at most what was in flight, and leave a
//! delivery log whose attempts account for everything the receiver saw; two `assent serve` on
//! one PostgreSQL never send a delivery twice at once.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_auth::{SecretKey, random, webhook_secret};
use assent_core::delivery::{DeliveryStatus, Failure};
use assent_core::{EndpointFormat, EventType};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{
    Actor, NewAccount, NewEvent, NewService, NewWebhookEndpoint, PoolOptions, Store,
};
use common::cluster::Cluster;
use common::{Running, assent, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A slow receiver: counts each delivery as soon as it has read the request, answers 200
/// after `delay`, and watches for a delivery arriving while the same delivery is still being
/// received (a lease that did not hold).
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<HashMap<String, usize>>>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    overlaps: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(&self, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let Some(id) = read_delivery_id(&mut socket).await else {
                        return;
                    };
                    if !this.in_flight.lock().expect("lock").insert(id.clone()) {
                        this.overlaps.lock().expect("lock").push(id.clone());
                    }
                    *this
                        .received
                        .lock()
                        .expect("lock")
                        .entry(id.clone())
                        .or_default() += 1;
                    tokio::time::sleep(delay).await;
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    this.in_flight.lock().expect("lock").remove(&id);
                });
            }
        });
        url
    }

    fn distinct(&self) -> usize {
        self.received.lock().expect("lock").len()
    }
}

/// Reads one request and returns its `X-Sigilum-Delivery-Id`.
async fn read_delivery_id(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    header("x-sigilum-delivery-id")
}

/// What [`seed`] made.
struct Seeded {
    service_id: String,
    webhook_id: String,
    delivery_ids: Vec<String>,
}

/// A namespace, a service, one webhook to `url` sealed with `key`, and `events` committed
/// events, one delivery each.
fn seed(store: &Store, key: &SecretKey, url: &str, events: usize) -> Seeded {
    store
        .create_account(
            NewAccount {
                email: "ada@example.com".into(),
                namespace: "ada".into(),
                password_hash: "x".into(),
            },
            None,
        )
        .expect("account");
    let service = store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "s".into(),
                name: "S".into(),
                description: None,
                icon_url: None,
            },
            &Actor::Cli,
            10,
        )
        .expect("service");
    let webhook_id = random::id("wh_");
    let endpoint = NewWebhookEndpoint {
        secret_sealed: key.seal(&webhook_secret(), &webhook_id),
        id: webhook_id.clone(),
        url: url.to_owned(),
        format: EndpointFormat::Sigilum,
        signing_key: None,
        events: vec![EventType::RequestApproved],
    };
    store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &Actor::Cli, 10)
        .expect("webhook");
    let delivery_ids = store
        .write_with_outbox(
            |conn, outbox| -> Result<Vec<String>, assent_store::StoreError> {
                let mut ids = Vec::new();
                for i in 0..events {
                    let event = NewEvent {
                        id: random::id("evt_"),
                        service_id: service.id.clone(),
                        namespace: "ada".into(),
                        event_type: EventType::RequestApproved,
                        payload: format!(
                            "{{\"event\":\"request.approved\",\"data\":{{\"n\":{i}}}}}"
                        ),
                    };
                    ids.extend(outbox.emit(conn, &event, None)?.delivery_ids);
                }
                Ok(ids)
            },
        )
        .expect("events");
    Seeded {
        service_id: service.id,
        webhook_id,
        delivery_ids,
    }
}

/// Attempts in flight at once per server: at most this many are cut short by one fault.
const CONCURRENCY: usize = 16;

fn server(dir: &std::path::Path, database_url: &str, key: &SecretKey) -> Running {
    let mut command = assent(dir);
    command
        .env("ASSENT_DATABASE_URL", database_url)
        .env("ASSENT_SECRET_KEY", key.to_base64().expose())
        .env("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true")
        .env("ASSENT_DELIVERY_LEASE", "3s")
        .env("ASSENT_DELIVERY_TIMEOUT", "2s")
        .env("ASSENT_DELIVERY_POLL_INTERVAL", "100ms")
        .env("ASSENT_DELIVERY_CONCURRENCY", CONCURRENCY.to_string());
    serve(command)
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Thousands queued, a slow receiver, SIGKILL mid-flight, restart: every delivery arrives.
async fn a_killed_server_loses_no_event(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let receiver = Receiver::default();
    let url = receiver.start(Duration::from_millis(15)).await;
    let total = 2000;
    let seeded = seed(&db.store, &key, &url, total);
    assert_eq!(seeded.delivery_ids.len(), total);

    let first = server(dir.path(), &db.url, &key);
    mid_load(&receiver, total, || first.kill()).await;

    let second = server(dir.path(), &db.url, &key);
    every_delivery_settled(&db.store, &seeded, &receiver).await;
    let (exit, _, stderr) = second.terminate();
    assert!(exit.success(), "{stderr}");
    the_log_accounts_for_what_was_received(&db.store, &seeded, &receiver, 1, true);
}

/// Runs `fault` once the receiver has seen the first deliveries, and checks that it came
/// before the last.
async fn mid_load(receiver: &Receiver, total: usize, fault: impl FnOnce()) {
    wait_until("the first deliveries", Duration::from_secs(30), || {
        receiver.distinct() >= 200
    })
    .await;
    fault();
    let after = receiver.distinct();
    assert!(
        after < total,
        "the fault came mid-load ({after} of {total})"
    );
}

/// Waits until the receiver has seen every delivery and none is pending: attempts cut short
/// come back once their lease lapses, even for deliveries the receiver already got.
async fn every_delivery_settled(store: &Store, seeded: &Seeded, receiver: &Receiver) {
    let total = seeded.delivery_ids.len();
    wait_until("every delivery", Duration::from_secs(120), || {
        receiver.distinct() == total
            && store
                .list_deliveries(
                    "ada",
                    &seeded.service_id,
                    &seeded.webhook_id,
                    Some(DeliveryStatus::Pending),
                    1,
                    None,
                )
                .is_ok_and(|pending| pending.is_empty())
    })
    .await;
}

/// After `faults` faults, each cutting short at most [`CONCURRENCY`] attempts: every delivery
/// succeeded and reached the receiver; the receiver got repeats of at most what was in flight;
/// and the delivery log, attempt by attempt, never shows fewer attempts than the receiver saw,
/// and more only for interrupted attempts, at most what was in flight. `cut_short`: the fault
/// must have cut an attempt short (a killed server does; a database restart need not, since
/// the engine writes a batch's outcomes again once the database is back).
fn the_log_accounts_for_what_was_received(
    store: &Store,
    seeded: &Seeded,
    receiver: &Receiver,
    faults: usize,
    cut_short: bool,
) {
    let bound = CONCURRENCY * faults;
    let received = receiver.received.lock().expect("lock").clone();
    let records = store
        .list_deliveries(
            "ada",
            &seeded.service_id,
            &seeded.webhook_id,
            None,
            i64::MAX,
            None,
        )
        .expect("the delivery log");
    assert_eq!(records.len(), seeded.delivery_ids.len());
    let interrupted = Failure::Interrupted.to_string();
    let (mut repeats, mut unseen, mut interruptions) = (0, 0, 0);
    for record in &records {
        let seen = received.get(&record.id).copied().unwrap_or(0);
        let logged = record.attempts.len();
        assert_eq!(record.status, DeliveryStatus::Succeeded, "{record:?}");
        assert!(seen >= 1, "lost: {record:?}");
        assert_eq!(
            record.attempt_count as usize, logged,
            "the count is the log's: {record:?}"
        );
        assert!(
            logged >= seen,
            "the log under-counts: {logged} attempts logged, {seen} received: {record:?}"
        );
        repeats += seen - 1;
        unseen += logged - seen;
        interruptions += record
            .attempts
            .iter()
            .filter(|a| a.error.as_deref() == Some(interrupted.as_str()))
            .count();
    }
    // Shown with --nocapture: what the fault cost.
    eprintln!(
        "after {faults} fault(s): {repeats} repeats, {unseen} attempts the receiver never saw, \
         {interruptions} interrupted"
    );
    assert!(repeats <= bound, "{repeats} repeats after {faults} faults");
    assert!(
        unseen <= bound,
        "{unseen} logged attempts the receiver never saw after {faults} faults"
    );
    assert!(
        !cut_short || interruptions >= 1,
        "the fault came mid-flight and cut an attempt short"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_event_on_sqlite() {
    a_killed_server_loses_no_event(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_event_on_postgres() {
    a_killed_server_loses_no_event(Engine::Postgres).await;
}

/// PostgreSQL restarted (every connection cut) in the middle of the load: the server rides
/// out the outage, and afterwards every delivery arrives and the log accounts for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_load_loses_no_event() {
    let cluster = Cluster::start();
    let store = Store::connect(&cluster.url(), &PoolOptions::default()).expect("connect");
    store.migrate().expect("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::generate();
    let receiver = Receiver::default();
    let url = receiver.start(Duration::from_millis(15)).await;
    let total = 1500;
    let seeded = seed(&store, &key, &url, total);
    drop(store);

    let running = server(dir.path(), &cluster.url(), &key);
    mid_load(&receiver, total, || cluster.restart()).await;
    // A new pool: the connections of one opened before the restart are gone.
    let store = Store::connect(&cluster.url(), &PoolOptions::default()).expect("reconnect");
    every_delivery_settled(&store, &seeded, &receiver).await;
    let (exit, _, stderr) = running.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The restart broke the writing of outcomes (the pool's connections died with it), and the
    // engine wrote them again rather than leaving the deliveries to be sent twice.
    assert!(
        stderr.contains("recording settled deliveries failed; trying again"),
        "{stderr}"
    );
    the_log_accounts_for_what_was_received(&store, &seeded, &receiver, 1, false);
}

/// Two replicas on one database share the work, and the leases hold: no delivery is ever
/// being received twice at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work_without_overlap() {
    let db = TestDatabase::new(Engine::Postgres);
    let key = SecretKey::generate();
    let receiver = Receiver::default();
    let url = receiver.start(Duration::from_millis(10)).await;
    let total = 1000;
    let ids = seed(&db.store, &key, &url, total).delivery_ids;
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let first = server(a.path(), &db.url, &key);
    let second = server(b.path(), &db.url, &key);
    wait_until("every delivery", Duration::from_secs(120), || {
        receiver.distinct() == total
    })
    .await;
    for running in [first, second] {
        let (exit, _, stderr) = running.terminate();
        assert!(exit.success(), "{stderr}");
    }
    assert_eq!(
        receiver.overlaps.lock().expect("lock").len(),
        0,
        "a delivery was sent twice at once"
    );
    let received = receiver.received.lock().expect("lock").clone();
    assert!(ids.iter().all(|id| received.contains_key(id)));
    let repeats = received.values().filter(|n| **n > 1).count();
    assert_eq!(repeats, 0, "without crashes nothing is sent twice");
}
