//! The delivery engine end to end, on SQLite and PostgreSQL: a real receiver on port 0 that
//! verifies every signature with `assent-signing`, scripted to succeed, fail, stall or go away.

use std::collections::{HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use assent_auth::{Secret, SecretKey, random, webhook_secret};
use assent_core::delivery::{DeliveryStatus, RetrySchedule};
use assent_core::{EndpointFormat, EventType, Timestamp, WebhookUrlPolicy};
use assent_delivery::{Engine, EngineConfig};
use assent_signing::Verifier;
use assent_store::testing::{Engine as Db, TestDatabase};
use assent_store::{
    Actor, NewAccount, NewEvent, NewService, NewWebhookEndpoint, Store, WebhookChanges,
};
use serde_json::json;
use tokio::sync::watch;

/// What the receiver answers, in order; `Ok` once the script runs out.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    StatusRetryAfter(u16, u64),
    Stall(Duration),
}

#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let this = self.clone();
        let server = HttpServer::new(move || {
            let this = this.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let this = this.clone();
                async move { this.answer(req, body).await }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        url
    }

    async fn answer(&self, req: HttpRequest, body: web::Bytes) -> HttpResponse {
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        self.received.lock().unwrap().push(Received {
            at: Instant::now(),
            headers,
            body: body.to_vec(),
        });
        let reply = self.script.lock().unwrap().pop_front();
        match reply {
            None => HttpResponse::Ok().body("thanks"),
            Some(Reply::Status(code)) => HttpResponse::build(status(code)).body("scripted"),
            Some(Reply::StatusRetryAfter(code, secs)) => HttpResponse::build(status(code))
                .insert_header(("Retry-After", secs.to_string()))
                .finish(),
            Some(Reply::Stall(time)) => {
                tokio::time::sleep(time).await;
                HttpResponse::Ok().finish()
            }
        }
    }

    fn script(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend(replies.iter().copied());
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn status(code: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(code).unwrap()
}

struct Setup {
    db: TestDatabase,
    key: SecretKey,
    receiver: Receiver,
    service_id: String,
    webhook_id: String,
    secret: Secret,
    stop: watch::Sender<bool>,
    engine: tokio::task::JoinHandle<()>,
}

fn owner() -> Actor {
    Actor::Cli
}

/// A service in namespace `ada` with one webhook to a fresh receiver, and a running engine.
async fn setup(db_engine: Db, configure: impl FnOnce(&mut EngineConfig)) -> Setup {
    let db = TestDatabase::new(db_engine);
    let store = db.store.clone();
    store
        .create_account(
            NewAccount {
                email: "ada@example.com".into(),
                namespace: "ada".into(),
                password_hash: "x".into(),
            },
            None,
        )
        .unwrap();
    let service = store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "s".into(),
                name: "S".into(),
                description: None,
                icon_url: None,
            },
            &owner(),
            10,
        )
        .unwrap();
    let receiver = Receiver::default();
    let url = receiver.start();
    let key = SecretKey::generate();
    let secret = webhook_secret();
    let webhook_id = random::id("wh_");
    let endpoint = NewWebhookEndpoint {
        secret_sealed: key.seal(&secret, &webhook_id),
        id: webhook_id.clone(),
        url,
        format: EndpointFormat::Sigilum,
        signing_key: None,
        events: EventType::REQUEST_EVENTS.to_vec(),
    };
    store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &owner(), 10)
        .unwrap();
    let mut config = EngineConfig {
        schedule: RetrySchedule::parse("0s,50ms,50ms").unwrap(),
        timeout: Duration::from_millis(500),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        policy: WebhookUrlPolicy {
            allow_private: true,
        },
        ..EngineConfig::default()
    };
    configure(&mut config);
    let (stop, stopped) = watch::channel(false);
    let engine = Engine::new(store, key.clone(), config)
        .unwrap()
        .spawn(stopped);
    Setup {
        db,
        key,
        receiver,
        service_id: service.id,
        webhook_id,
        secret,
        stop,
        engine,
    }
}

impl Setup {
    fn store(&self) -> &Store {
        &self.db.store
    }

    /// A `request.approved` event through the outbox, as later write paths will emit them.
    fn emit(&self) -> (String, Vec<String>) {
        let id = random::id("evt_");
        let payload = json!({ "event": "request.approved", "timestamp": Timestamp::now(), "data": { "claim_id": "cl_1" } });
        let event = NewEvent {
            id,
            service_id: self.service_id.clone(),
            namespace: "ada".into(),
            event_type: EventType::RequestApproved,
            payload: payload.to_string(),
        };
        let emitted = self
            .store()
            .write_with_outbox(|conn, outbox| outbox.emit(conn, &event, None))
            .unwrap();
        (emitted.event_id, emitted.delivery_ids)
    }

    fn delivery(&self, id: &str) -> assent_store::DeliveryRecord {
        self.store()
            .list_deliveries("ada", &self.service_id, &self.webhook_id, None, 200, None)
            .unwrap()
            .into_iter()
            .find(|d| d.id == id)
            .unwrap()
    }

    fn endpoint(&self) -> assent_store::WebhookEndpoint {
        self.store()
            .list_webhook_endpoints(&self.service_id)
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn settled(
        &self,
        delivery_id: &str,
        status: DeliveryStatus,
    ) -> assent_store::DeliveryRecord {
        self.wait_for(&format!("{delivery_id} to be {}", status.as_str()), |s| {
            s.delivery(delivery_id).status == status
        })
        .await;
        self.delivery(delivery_id)
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.engine)
            .await
            .unwrap()
            .unwrap();
    }
}

fn verify(received: &Received, header: &str, secret: &Secret) -> bool {
    let signature = received.header(header).unwrap();
    Verifier::default()
        .verify_now(secret.expose().as_bytes(), signature, &received.body)
        .is_ok()
}

async fn delivers_signed_events_with_their_headers(db: Db) {
    let s = setup(db, |_| {}).await;
    let (event_id, deliveries) = s.emit();
    assert_eq!(deliveries.len(), 1, "one subscribed endpoint");
    let record = s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    assert_eq!(record.event_id, event_id);
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.attempts[0].status_code, Some(200));
    assert_eq!(record.attempts[0].response_excerpt, "thanks");
    assert!(record.completed_at.is_some());
    let got = s.receiver.received();
    assert_eq!(got.len(), 1);
    assert!(
        verify(&got[0], "x-sigilum-signature", &s.secret),
        "a valid signature"
    );
    assert_eq!(got[0].header("x-sigilum-event"), Some("request.approved"));
    assert_eq!(
        got[0].header("x-sigilum-webhook-id"),
        Some(s.webhook_id.as_str())
    );
    assert_eq!(
        got[0].header("x-sigilum-delivery-id"),
        Some(deliveries[0].as_str())
    );
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "request.approved");
    s.stop().await;
}

async fn atp_callbacks_get_the_atp_headers(db: Db) {
    let s = setup(db, |_| {}).await;
    // An ATP service: its callback is an endpoint in the ATP format.
    let receiver = Receiver::default();
    let url = receiver.start();
    let token = assent_auth::MintedToken::new(assent_auth::TokenKind::ApiKey);
    let webhook_id = random::id("wh_");
    let secret = Secret::new("your-secure-random-string");
    let service = s
        .store()
        .register_service(
            NewService {
                namespace: "ada".into(),
                slug: "lovelace-ide".into(),
                name: "Lovelace IDE".into(),
                description: None,
                icon_url: None,
            },
            assent_store::NewApiKey {
                id: random::id("key_"),
                name: "default".into(),
                prefix: token.display_prefix(),
                hash: token.hash.clone(),
            },
            NewWebhookEndpoint {
                secret_sealed: s.key.seal(&secret, &webhook_id),
                id: webhook_id.clone(),
                url,
                format: EndpointFormat::Atp,
                signing_key: None,
                events: vec![EventType::NotificationResponded],
            },
            &owner(),
            10,
        )
        .unwrap();
    let payload = json!({ "notification_id": "n1", "action_id": "approve", "response_data": true,
        "responded_at": Timestamp::now(), "responder": { "id": "ada", "type": "human" } });
    let event = NewEvent {
        id: random::id("evt_"),
        service_id: service.id.clone(),
        namespace: "ada".into(),
        event_type: EventType::NotificationResponded,
        payload: payload.to_string(),
    };
    let emitted = s
        .store()
        .write_with_outbox(|conn, outbox| outbox.emit(conn, &event, None))
        .unwrap();
    assert_eq!(emitted.delivery_ids.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "no ATP delivery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = &receiver.received()[0];
    assert!(verify(got, "x-atp-signature", &secret));
    assert_eq!(
        got.header("x-atp-request-id"),
        Some(emitted.delivery_ids[0].as_str())
    );
    assert_eq!(got.header("x-sigilum-signature"), None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&got.body).unwrap(),
        payload
    );
    assert!(
        s.receiver.received().is_empty(),
        "the Sigilum endpoint is not subscribed to it"
    );
    s.stop().await;
}

async fn a_500_then_a_200_is_retried_to_success(db: Db) {
    let s = setup(db, |_| {}).await;
    s.receiver.script(&[Reply::Status(500)]);
    let (_, deliveries) = s.emit();
    let record = s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    let codes: Vec<Option<u16>> = record.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(200)]);
    assert_eq!(record.attempt_count, 2);
    let got = s.receiver.received();
    assert_eq!(
        got[0].header("x-sigilum-delivery-id"),
        got[1].header("x-sigilum-delivery-id"),
        "a stable delivery id"
    );
    assert!(
        got.iter()
            .all(|r| verify(r, "x-sigilum-signature", &s.secret))
    );
    assert_eq!(
        s.endpoint().failing_since,
        None,
        "a success ends the failing streak"
    );
    s.stop().await;
}

async fn timeouts_are_retried_until_exhausted(db: Db) {
    let s = setup(db, |c| c.timeout = Duration::from_millis(200)).await;
    s.receiver
        .script(&[Reply::Stall(Duration::from_secs(2)); 3]);
    let (_, deliveries) = s.emit();
    let record = s.settled(&deliveries[0], DeliveryStatus::Exhausted).await;
    assert_eq!(record.attempts.len(), 3, "the whole (fast) schedule");
    for attempt in &record.attempts {
        assert_eq!(attempt.status_code, None);
        assert!(
            attempt.error.as_deref().unwrap().contains("timed out"),
            "{attempt:?}"
        );
    }
    assert!(record.last_error.unwrap().contains("timed out"));
    assert!(s.endpoint().failing_since.is_some());
    s.stop().await;
}

async fn retry_after_is_honoured(db: Db) {
    let s = setup(db, |_| {}).await;
    s.receiver.script(&[Reply::StatusRetryAfter(429, 1)]);
    let (_, deliveries) = s.emit();
    s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    let got = s.receiver.received();
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, the schedule alone says 50 ms"
    );
    s.stop().await;
}

async fn a_410_disables_the_endpoint(db: Db) {
    let s = setup(db, |_| {}).await;
    s.receiver.script(&[Reply::Status(410)]);
    let (_, deliveries) = s.emit();
    let record = s.settled(&deliveries[0], DeliveryStatus::Failed).await;
    assert_eq!(record.attempts.len(), 1, "a 410 is not retried");
    let endpoint = s.endpoint();
    assert!(!endpoint.enabled);
    assert_eq!(endpoint.disabled_reason.as_deref(), Some("gone"));
    let (_, later) = s.emit();
    assert!(
        later.is_empty(),
        "a disabled endpoint gets no new deliveries"
    );
    s.stop().await;
}

async fn other_4xx_are_not_retried(db: Db) {
    let s = setup(db, |_| {}).await;
    s.receiver.script(&[Reply::Status(400)]);
    let (_, deliveries) = s.emit();
    let record = s.settled(&deliveries[0], DeliveryStatus::Failed).await;
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.last_error.as_deref(), Some("HTTP 400"));
    assert!(s.endpoint().enabled);
    s.stop().await;
}

async fn a_rotated_secret_signs_beside_the_old_one(db: Db) {
    let s = setup(db, |_| {}).await;
    let new_secret = webhook_secret();
    let until = Timestamp::from_millis(Timestamp::now().as_millis() + 60_000);
    s.store()
        .rotate_webhook_secret(
            "ada",
            &s.service_id,
            &s.webhook_id,
            &s.key.seal(&new_secret, &s.webhook_id),
            until,
            &owner(),
        )
        .unwrap();
    let (_, deliveries) = s.emit();
    s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    let got = &s.receiver.received()[0];
    assert_eq!(
        got.header("x-sigilum-signature")
            .unwrap()
            .matches("v1=")
            .count(),
        2
    );
    assert!(
        verify(got, "x-sigilum-signature", &new_secret),
        "the new secret verifies"
    );
    assert!(
        verify(got, "x-sigilum-signature", &s.secret),
        "the old one too, during the grace period"
    );

    // After the grace period only the new secret signs.
    let past = Timestamp::from_millis(Timestamp::now().as_millis() - 1);
    let newest = webhook_secret();
    s.store()
        .rotate_webhook_secret(
            "ada",
            &s.service_id,
            &s.webhook_id,
            &s.key.seal(&newest, &s.webhook_id),
            past,
            &owner(),
        )
        .unwrap();
    let (_, deliveries) = s.emit();
    s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    let got = &s.receiver.received()[1];
    assert_eq!(
        got.header("x-sigilum-signature")
            .unwrap()
            .matches("v1=")
            .count(),
        1
    );
    assert!(verify(got, "x-sigilum-signature", &newest));
    s.stop().await;
}

async fn a_manual_retry_sends_it_again(db: Db) {
    let s = setup(db, |c| c.schedule = RetrySchedule::parse("0s").unwrap()).await;
    s.receiver.script(&[Reply::Status(503)]);
    let (_, deliveries) = s.emit();
    s.settled(&deliveries[0], DeliveryStatus::Exhausted).await;
    let retried = s
        .store()
        .retry_delivery(
            "ada",
            &s.service_id,
            &s.webhook_id,
            &deliveries[0],
            &owner(),
        )
        .unwrap();
    assert_eq!(retried.status, DeliveryStatus::Pending);
    let record = s.settled(&deliveries[0], DeliveryStatus::Succeeded).await;
    assert_eq!(record.attempts.len(), 2);
    assert!(matches!(
        s.store().retry_delivery(
            "grace",
            &s.service_id,
            &s.webhook_id,
            &deliveries[0],
            &owner()
        ),
        Err(assent_store::StoreError::NotFound)
    ));
    s.stop().await;
}

async fn the_test_event_reaches_one_webhook(db: Db) {
    let s = setup(db, |_| {}).await;
    let event_id = random::id("evt_");
    let payload = json!({ "event": "webhook.test", "data": { "event_id": event_id } }).to_string();
    let sent = s
        .store()
        .emit_test_event("ada", &s.service_id, &s.webhook_id, &event_id, payload)
        .unwrap();
    s.settled(&sent.delivery_ids[0], DeliveryStatus::Succeeded)
        .await;
    let got = &s.receiver.received()[0];
    assert_eq!(got.header("x-sigilum-event"), Some("webhook.test"));
    assert!(verify(got, "x-sigilum-signature", &s.secret));
    s.stop().await;
}

async fn refused_targets_are_logged_and_retried(db: Db) {
    // Without the development switch the loopback receiver is refused at every attempt.
    let s = setup(db, |c| {
        c.policy = WebhookUrlPolicy {
            allow_private: false,
        }
    })
    .await;
    let (_, deliveries) = s.emit();
    let record = s.settled(&deliveries[0], DeliveryStatus::Exhausted).await;
    assert_eq!(
        record.attempts.len(),
        3,
        "refusals are retried: DNS can change"
    );
    assert!(
        record.attempts.iter().all(|a| a
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("refused")),
        "{record:?}"
    );
    assert!(
        s.receiver.received().is_empty(),
        "nothing reached the private address"
    );
    s.stop().await;
}

async fn endpoints_failing_too_long_are_disabled(db: Db) {
    let s = setup(db, |c| c.disable_after = Duration::from_millis(1)).await;
    s.receiver.script(&[Reply::Status(500); 3]);
    let (_, deliveries) = s.emit();
    s.wait_for("the endpoint to be disabled", |s| !s.endpoint().enabled)
        .await;
    assert_eq!(s.endpoint().disabled_reason.as_deref(), Some("failing"));
    let record = s.settled(&deliveries[0], DeliveryStatus::Skipped).await;
    assert_eq!(
        record.attempts.len(),
        2,
        "the retry due after disabling is skipped, not sent"
    );
    s.stop().await;
}

async fn re_enabling_replays_what_was_missed(db: Db) {
    let s = setup(db, |_| {}).await;
    let disable = WebhookChanges {
        enabled: Some(false),
        ..WebhookChanges::default()
    };
    s.store()
        .update_webhook_endpoint("ada", &s.service_id, &s.webhook_id, &disable, &owner())
        .unwrap();
    let missed: Vec<String> = (0..3).map(|_| s.emit().0).collect();
    assert!(s.receiver.received().is_empty());
    let enable = WebhookChanges {
        enabled: Some(true),
        replay: true,
        ..WebhookChanges::default()
    };
    let (endpoint, count) = s
        .store()
        .update_webhook_endpoint("ada", &s.service_id, &s.webhook_id, &enable, &owner())
        .unwrap();
    assert!(endpoint.enabled);
    assert_eq!(count, 3);
    s.wait_for("the replayed events", |s| s.receiver.received().len() == 3)
        .await;
    let pages = s
        .store()
        .list_deliveries("ada", &s.service_id, &s.webhook_id, None, 10, None)
        .unwrap();
    let replayed: HashSet<String> = pages.into_iter().map(|d| d.event_id).collect();
    assert_eq!(replayed, missed.into_iter().collect());
    // Re-enabling without replay only counts.
    s.store()
        .update_webhook_endpoint("ada", &s.service_id, &s.webhook_id, &disable, &owner())
        .unwrap();
    s.emit();
    let just_enable = WebhookChanges {
        enabled: Some(true),
        ..WebhookChanges::default()
    };
    let (_, count) = s
        .store()
        .update_webhook_endpoint("ada", &s.service_id, &s.webhook_id, &just_enable, &owner())
        .unwrap();
    assert_eq!(count, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.receiver.received().len(), 3);
    s.stop().await;
}

async fn stopping_finishes_attempts_in_flight(db: Db) {
    let s = setup(db, |c| c.timeout = Duration::from_secs(3)).await;
    s.receiver
        .script(&[Reply::Stall(Duration::from_millis(400))]);
    let (_, deliveries) = s.emit();
    s.wait_for("the attempt to start", |s| {
        !s.receiver.received().is_empty()
    })
    .await;
    let mut s = s;
    let _ = s.stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), &mut s.engine)
        .await
        .unwrap()
        .unwrap();
    let record = s.delivery(&deliveries[0]);
    assert_eq!(
        record.status,
        DeliveryStatus::Succeeded,
        "the attempt finished and was recorded"
    );
}

assent_store::on_both_engines_async!(
    delivers_signed_events_with_their_headers,
    atp_callbacks_get_the_atp_headers,
    a_500_then_a_200_is_retried_to_success,
    timeouts_are_retried_until_exhausted,
    retry_after_is_honoured,
    a_410_disables_the_endpoint,
    other_4xx_are_not_retried,
    a_rotated_secret_signs_beside_the_old_one,
    a_manual_retry_sends_it_again,
    the_test_event_reaches_one_webhook,
    refused_targets_are_logged_and_retried,
    endpoints_failing_too_long_are_disabled,
    re_enabling_replays_what_was_missed,
    stopping_finishes_attempts_in_flight,
);
