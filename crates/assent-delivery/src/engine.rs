//! The delivery loop. It leases due deliveries, sends each through the [`SafeClient`] (at most
//! `concurrency` at once), hands the [`Attempt`] to the rules in `assent_core::delivery` once
//! for its next step and its endpoint's health, and records what settled in batches. It wakes
//! when this process commits events, and polls for work committed by other replicas or coming
//! due. There is no queue in memory: the database is the queue, and the engine holds only the
//! attempts in flight.

use std::sync::Arc;
use std::time::Duration;

use assent_auth::standard_webhooks::{self, WebhookSigningKey};
use assent_auth::{Secret, SecretKey, random};
use assent_core::delivery::{
    Attempt, EndpointHealth, Failure, NextStep, RetrySchedule, endpoint_health, next_step,
};
use assent_core::{EndpointFormat, Timestamp, WebhookUrlPolicy};
use assent_store::{LeasedDelivery, SealedSigningKey, Settled, Store};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;

use crate::client::{ClientError, SafeClient};

/// The waits before each new try of a batch whose outcomes could not be written. A database
/// restart leaves broken connections in the pool, each found only when it is next used, so a
/// batch can fail on one after the database is back; tried again on another connection, it
/// settles under its leases instead of being sent again when they lapse. Trying again is
/// harmless: a delivery is settled only under the lease it was sent with, so a batch whose
/// commit did land changes nothing the second time (only its endpoints' health would count
/// twice, if the commit's answer was what got lost).
const RECORD_RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(400),
    Duration::from_millis(1600),
];

/// The room that makes a lease worth its transaction while attempts are in flight: a
/// quarter of the concurrency.
fn lease_batch(concurrency: usize) -> usize {
    (concurrency / 4).max(1)
}

/// How the engine behaves; every field has an `ASSENT_*` setting.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub schedule: RetrySchedule,
    /// How long a leased delivery stays leased; past it, another sender may take it.
    pub lease: Duration,
    /// The whole of one attempt.
    pub timeout: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How often to look for due work when nothing wakes the engine.
    pub poll_interval: Duration,
    /// An endpoint failing without a success for longer than this is disabled.
    pub disable_after: Duration,
    pub policy: WebhookUrlPolicy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            concurrency: 32,
            poll_interval: Duration::from_secs(1),
            disable_after: Duration::from_secs(5 * 86_400),
            policy: WebhookUrlPolicy::default(),
        }
    }
}

/// The engine of one process. Start it with [`Engine::spawn`]; stop it through the watch
/// channel: in-flight attempts finish and are recorded, nothing new is leased.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    key: SecretKey,
    config: Arc<EngineConfig>,
    client: SafeClient,
    wake: Arc<Notify>,
    attempts: AttemptCounter,
}

/// Delivery attempts by outcome (`succeeded`, `retried`, `exhausted`, `failed`, `skipped`):
/// a `prometheus-client` family the front end registers (see [`Engine::count_attempts`]).
pub type AttemptCounter = Family<[(&'static str, &'static str); 1], Counter>;

impl Engine {
    /// Counts this engine's attempts into `counter` (one of its own otherwise).
    #[must_use]
    pub fn count_attempts(mut self, counter: AttemptCounter) -> Self {
        self.attempts = counter;
        self
    }

    pub fn new(store: Store, key: SecretKey, config: EngineConfig) -> Result<Self, ClientError> {
        let client = SafeClient::new(config.policy, config.timeout)?;
        Ok(Self {
            store,
            key,
            config: Arc::new(config),
            client,
            wake: Arc::new(Notify::new()),
            attempts: AttemptCounter::default(),
        })
    }

    /// Runs the loop until `shutdown` turns true, on a runtime of its own with a worker per
    /// core, so that sending, signing and handling results use every core rather than only
    /// the caller's thread (the actix System runtime is single-threaded). The returned handle,
    /// on the caller's runtime, completes when the loop has stopped; if the caller's runtime
    /// drops it instead, the engine stops at once.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let wake = Arc::clone(&self.wake);
        self.store
            .set_delivery_waker(Arc::new(move || wake.notify_one()));
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("assent-delivery")
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::warn!(error = %e, "the delivery engine runs on the caller's runtime");
                return tokio::spawn(self.run(shutdown));
            }
        };
        let (mut done, finished) = oneshot::channel::<()>();
        let driver = std::thread::Builder::new()
            .name("assent-delivery-loop".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        () = self.run(shutdown) => {}
                        () = done.closed() => tracing::info!("delivery engine dropped by its caller"),
                    }
                });
                // The runtime is dropped here, after the store calls it still runs.
                drop(runtime);
                let _ = done.send(());
            });
        if let Err(e) = driver {
            tracing::error!(error = %e, "the delivery engine's thread did not start");
        }
        tokio::spawn(async move {
            let _ = finished.await;
        })
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut in_flight: JoinSet<Settled> = JoinSet::new();
        // One batch of outcomes is written at a time; what settles meanwhile waits in
        // `settled` and goes into the next. Each write is a transaction (on SQLite, one after
        // another anyway), so the batches grow with the load instead of being one delivery
        // each: with every attempt written as it finished, a backlog cost two transactions
        // for about eight deliveries, most of them for one.
        let mut recording: Option<tokio::task::JoinHandle<()>> = None;
        let mut recording_size = 0_usize;
        let mut settled: Vec<Settled> = Vec::new();
        // True after leasing found less than it asked for: wait for a wake-up or the poll.
        let mut drained = false;
        let batch = lease_batch(this.config.concurrency);
        loop {
            let stopping = *shutdown.borrow();
            if recording.is_none() && !settled.is_empty() {
                recording_size = settled.len();
                let outcomes = std::mem::take(&mut settled);
                let recorder = Arc::clone(&this);
                recording = Some(tokio::spawn(async move { recorder.record(outcomes).await }));
            }
            if stopping && in_flight.is_empty() && recording.is_none() {
                break;
            }
            // Outcomes not yet written count against the concurrency, so leasing never runs
            // ahead of recording.
            let room = this
                .config
                .concurrency
                .saturating_sub(in_flight.len() + settled.len() + recording_size);
            // A lease is a transaction too: taken when a batch's worth of room is free, or
            // at once when nothing is in flight (low load: no waiting for company).
            if !stopping && !drained && room > 0 && (room >= batch || in_flight.is_empty()) {
                match this.lease(room).await {
                    Ok(leased) => {
                        drained = leased.len() < room;
                        for delivery in leased {
                            in_flight.spawn(attempt(
                                delivery,
                                this.client.clone(),
                                this.key.clone(),
                                Arc::clone(&this.config),
                            ));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "leasing due deliveries failed");
                        drained = true;
                    }
                }
            }
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    settled.extend(done);
                    // Everything that finished meanwhile joins the same batch.
                    while let Some(Some(done)) = futures_util::FutureExt::now_or_never(in_flight.join_next()) {
                        settled.extend(done);
                    }
                }
                written = async {
                    match recording.as_mut() {
                        Some(task) => task.await.is_ok(),
                        None => std::future::pending().await,
                    }
                }, if recording.is_some() => {
                    if !written {
                        tracing::error!("recording settled deliveries panicked");
                    }
                    recording = None;
                    recording_size = 0;
                }
                () = this.wake.notified(), if !stopping => drained = false,
                () = tokio::time::sleep(this.config.poll_interval), if !stopping => drained = false,
                changed = shutdown.changed(), if !stopping => {
                    if changed.is_err() {
                        // The sender is gone: treat as a stop.
                        break;
                    }
                }
            }
        }
        tracing::info!("delivery engine stopped");
    }

    async fn lease(&self, limit: usize) -> Result<Vec<LeasedDelivery>, String> {
        let store = self.store.clone();
        let lease = self.config.lease;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        tokio::task::spawn_blocking(move || store.lease_due(Timestamp::now(), lease, limit))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn record(&self, settled: Vec<Settled>) {
        for one in &settled {
            let outcome = match one.next {
                NextStep::Succeeded => "succeeded",
                NextStep::RetryAt(_) => "retried",
                NextStep::Exhausted => "exhausted",
                NextStep::Failed => "failed",
                NextStep::Skipped => "skipped",
            };
            self.attempts.get_or_create(&[("outcome", outcome)]).inc();
        }
        let count = settled.len();
        let settled = Arc::new(settled);
        let mut waits = RECORD_RETRY_WAITS.iter();
        loop {
            let store = self.store.clone();
            let batch = Arc::clone(&settled);
            let result = tokio::task::spawn_blocking(move || store.record_settled(&batch)).await;
            let error = match result {
                Ok(Ok(())) => {
                    tracing::debug!(count, "recorded settled deliveries");
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => {
                    tracing::error!(error = %e, count, "recording settled deliveries panicked");
                    return;
                }
            };
            match waits.next() {
                Some(wait) => {
                    tracing::warn!(error = %error, count, "recording settled deliveries failed; trying again");
                    tokio::time::sleep(*wait).await;
                }
                // The leases lapse and the deliveries are attempted again: at least once.
                // These attempts stay in the log as interrupted (the lease wrote them so).
                None => {
                    tracing::error!(error = %error, count, "recording settled deliveries failed");
                    return;
                }
            }
        }
    }
}

/// One attempt of one leased delivery, from signing to the decided next step. Its span names
/// the delivery, endpoint and event; the secret and the body stay out of it.
#[tracing::instrument(
    name = "delivery_attempt",
    skip_all,
    fields(
        delivery_id = %delivery.delivery_id,
        endpoint_id = %delivery.endpoint.id,
        event_id = %delivery.event_id,
    )
)]
async fn attempt(
    delivery: LeasedDelivery,
    client: SafeClient,
    key: SecretKey,
    config: Arc<EngineConfig>,
) -> Settled {
    let endpoint = &delivery.endpoint;
    let settled = |attempt, headers, next, health| Settled {
        delivery_id: delivery.delivery_id.clone(),
        lease_until: delivery.lease_until,
        endpoint_id: endpoint.id.clone(),
        attempt_id: delivery.attempt_id.clone(),
        attempt,
        headers,
        next,
        endpoint: health,
    };
    // The lease started no attempt: the endpoint is disabled.
    if delivery.attempt_id.is_none() {
        return settled(
            None,
            Vec::new(),
            NextStep::Skipped,
            EndpointHealth::Unchanged,
        );
    }
    let number = usize::try_from(delivery.attempt_count)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let signed_at = Timestamp::now();
    let (attempt, headers) = match signed_headers(&delivery, &key, signed_at) {
        Ok(headers) => {
            let attempt = client
                .post(
                    &endpoint.url,
                    &headers,
                    delivery.payload.clone().into_bytes(),
                )
                .await;
            (attempt, headers)
        }
        Err(failure) => (
            Attempt {
                attempted_at: signed_at,
                duration: Duration::ZERO,
                result: Err(failure),
            },
            Vec::new(),
        ),
    };
    // The rules decide, here and only here: what becomes of the delivery and of its endpoint.
    let next = next_step(&config.schedule, number, &attempt, jitter());
    let health = endpoint_health(&attempt, endpoint.failing_since, config.disable_after);
    if let Some(failure) = attempt.failure() {
        tracing::warn!(
            delivery_id = %delivery.delivery_id,
            endpoint_id = %endpoint.id,
            kind = failure.kind(),
            status = attempt.status(),
            attempt = number,
            retried = matches!(next, NextStep::RetryAt(_)),
            "webhook delivery attempt failed"
        );
    }
    settled(Some(attempt), headers, next, health)
}

/// The headers of one attempt: the format's family, signed with the current secret and, while
/// a rotation's grace period runs, the previous one too. A secret that does not open means the
/// server's key changed: the owner can rotate it, so the attempt is retried.
pub fn signed_headers(
    delivery: &LeasedDelivery,
    key: &SecretKey,
    now: Timestamp,
) -> Result<Vec<(String, String)>, Failure> {
    let endpoint = &delivery.endpoint;
    let unreadable = |_| Failure::SecretUnreadable;
    let current = key
        .open(&endpoint.secret_sealed, &endpoint.id)
        .map_err(unreadable)?;
    let previous = match (
        &endpoint.previous_secret_sealed,
        endpoint.previous_secret_expires_at,
    ) {
        (Some(sealed), Some(until)) if until > now => {
            Some(key.open(sealed, &endpoint.id).map_err(unreadable)?)
        }
        _ => None,
    };
    if endpoint.format == EndpointFormat::Standard {
        return standard_headers(delivery, key, now, &current, previous.as_ref());
    }
    let mut secrets = vec![current.expose().as_bytes()];
    if let Some(previous) = &previous {
        secrets.push(previous.expose().as_bytes());
    }
    let unix = now.as_millis().div_euclid(1000);
    let signature = assent_signing::signature_header(&secrets, unix, delivery.payload.as_bytes());
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    match endpoint.format {
        EndpointFormat::Sigilum => headers.extend([
            ("X-Sigilum-Signature".to_owned(), signature),
            ("X-Sigilum-Event".to_owned(), delivery.event_type.clone()),
            ("X-Sigilum-Webhook-Id".to_owned(), endpoint.id.clone()),
            (
                "X-Sigilum-Delivery-Id".to_owned(),
                delivery.delivery_id.clone(),
            ),
        ]),
        EndpointFormat::Atp => headers.extend([
            ("X-ATP-Signature".to_owned(), signature),
            ("X-ATP-Request-ID".to_owned(), delivery.delivery_id.clone()),
        ]),
        EndpointFormat::Standard => {}
    }
    Ok(headers)
}

/// The Standard Webhooks headers: the event's id as `webhook-id` (the same for every attempt
/// and every replay, so receivers can use it as their idempotency key), the attempt's time, and
/// one `v1` per secret (current first, previous while its grace runs) plus a `v1a` when the
/// endpoint has an Ed25519 key, space-separated.
fn standard_headers(
    delivery: &LeasedDelivery,
    key: &SecretKey,
    now: Timestamp,
    current: &Secret,
    previous: Option<&Secret>,
) -> Result<Vec<(String, String)>, Failure> {
    let unix = now.as_millis().div_euclid(1000);
    let content =
        standard_webhooks::signed_content(&delivery.event_id, unix, delivery.payload.as_bytes());
    let mut signatures = Vec::with_capacity(3);
    for secret in std::iter::once(current).chain(previous) {
        let hmac_key = standard_webhooks::symmetric_key(secret).ok_or(Failure::SecretUnreadable)?;
        signatures.push(standard_webhooks::sign_symmetric(&hmac_key, &content));
    }
    if let Some(signing) = &delivery.endpoint.signing_key {
        let data = SealedSigningKey::associated_data(&delivery.endpoint.id);
        let pair = key
            .open(&signing.sealed, &data)
            .ok()
            .and_then(|secret| WebhookSigningKey::from_secret(&secret))
            .ok_or(Failure::SecretUnreadable)?;
        signatures.push(pair.sign(&content));
    }
    Ok(vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), delivery.event_id.clone()),
        ("webhook-timestamp".to_owned(), unix.to_string()),
        ("webhook-signature".to_owned(), signatures.join(" ")),
    ])
}

/// A number in [-1, 1].
fn jitter() -> f64 {
    let raw = u32::from_le_bytes(random::bytes::<4>());
    f64::from(raw) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use assent_core::EventType;
    use assent_store::WebhookEndpoint;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Everything the fmt subscriber writes, kept to be read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[tokio::test]
    async fn a_failed_attempt_is_logged_with_its_ids_and_kind_never_its_secret_or_body() {
        let key = SecretKey::generate();
        let secret = Secret::new("whsec_never-in-a-log");
        let now = Timestamp::now();
        let delivery = LeasedDelivery {
            delivery_id: "dlv_1".into(),
            lease_until: now.as_millis() + 30_000,
            attempt_count: 0,
            attempt_id: Some("att_1".into()),
            event_id: "evt_1".into(),
            event_type: "request.approved".into(),
            payload: r#"{"data":"body-never-in-a-log"}"#.into(),
            endpoint: WebhookEndpoint {
                id: "wh_1".into(),
                service_id: "svc_1".into(),
                // Refused by the policy before any connection: no network needed.
                url: "https://127.0.0.1/hook".into(),
                format: EndpointFormat::Sigilum,
                events: vec![EventType::RequestApproved],
                secret_sealed: key.seal(&secret, "wh_1"),
                enabled: true,
                created_at: now,
                updated_at: now,
                previous_secret_sealed: None,
                previous_secret_expires_at: None,
                failing_since: None,
                disabled_at: None,
                disabled_reason: None,
                consecutive_failures: 0,
                last_error: None,
                signing_key: None,
            },
        };
        let config = EngineConfig::default();
        let client = SafeClient::new(config.policy, config.timeout).unwrap();
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let settled = {
            let _guard = tracing::subscriber::set_default(subscriber);
            attempt(delivery, client, key, Arc::new(config)).await
        };

        assert!(matches!(settled.next, NextStep::RetryAt(_)), "{settled:?}");
        assert_eq!(settled.endpoint, EndpointHealth::Failing);
        let log = captured.text();
        let warning = log
            .lines()
            .find(|line| line.contains("webhook delivery attempt failed"))
            .unwrap_or_else(|| panic!("no warning in {log}"));
        assert!(warning.contains("WARN"), "{warning}");
        for field in [
            "delivery_attempt{delivery_id=dlv_1 endpoint_id=wh_1 event_id=evt_1}",
            "kind=\"refused\"",
        ] {
            assert!(warning.contains(field), "{field} missing from {warning}");
        }
        assert!(!log.contains("never-in-a-log"), "{log}");
    }
}
