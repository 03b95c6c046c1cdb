//! Delivery across process crashes and replicas, with the real binary: a SIGKILL loses no
//! event, and two `assent serve` on one PostgreSQL never send a delivery twice at once.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_auth::{SecretKey, random, webhook_secret};
use assent_core::{EndpointFormat, EventType};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{Actor, NewAccount, NewEvent, NewService, NewWebhookEndpoint, Store};
use common::{Running, assent, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A slow receiver: answers 200 after `delay`, and watches for a delivery arriving while the
/// same delivery is still being received (a lease that did not hold).
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
                    tokio::time::sleep(delay).await;
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    this.in_flight.lock().expect("lock").remove(&id);
                    *this.received.lock().expect("lock").entry(id).or_default() += 1;
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

/// A namespace, a service, one webhook to `url` sealed with `key`, and `events` committed
/// events. Returns every delivery id.
fn seed(store: &Store, key: &SecretKey, url: &str, events: usize) -> Vec<String> {
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
        id: webhook_id,
        url: url.to_owned(),
        format: EndpointFormat::Sigilum,
        events: vec![EventType::RequestApproved],
    };
    store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &Actor::Cli, 10)
        .expect("webhook");
    store
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
        .expect("events")
}

fn server(dir: &std::path::Path, database_url: &str, key: &SecretKey) -> Running {
    let mut command = assent(dir);
    command
        .env("ASSENT_DATABASE_URL", database_url)
        .env("ASSENT_SECRET_KEY", key.to_base64().expose())
        .env("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true")
        .env("ASSENT_DELIVERY_LEASE", "3s")
        .env("ASSENT_DELIVERY_TIMEOUT", "2s")
        .env("ASSENT_DELIVERY_POLL_INTERVAL", "100ms")
        .env("ASSENT_DELIVERY_CONCURRENCY", "16");
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
    let ids = seed(&db.store, &key, &url, total);
    assert_eq!(ids.len(), total);

    let first = server(dir.path(), &db.url, &key);
    wait_until("the first deliveries", Duration::from_secs(30), || {
        receiver.distinct() >= 200
    })
    .await;
    first.kill();
    let at_kill = receiver.distinct();
    assert!(
        at_kill < total,
        "the crash came mid-flight ({at_kill} of {total})"
    );

    let second = server(dir.path(), &db.url, &key);
    wait_until("every delivery", Duration::from_secs(120), || {
        receiver.distinct() == total
    })
    .await;
    let (exit, _, stderr) = second.terminate();
    assert!(exit.success(), "{stderr}");
    let received = receiver.received.lock().expect("lock").clone();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_event_on_sqlite() {
    a_killed_server_loses_no_event(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_event_on_postgres() {
    a_killed_server_loses_no_event(Engine::Postgres).await;
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
    let ids = seed(&db.store, &key, &url, total);
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
