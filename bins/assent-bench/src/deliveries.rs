//! The `deliveries` scenario: how fast the server's delivery engine empties a backlog of
//! webhook deliveries, and how long one delivery takes at low load.
//!
//! 1. A receiver ([`Receiver`]) listens on 127.0.0.1; an owner signs up over the API, creates
//!    a service and a webhook pointing at the receiver.
//! 2. Throughput: `events` events (and their deliveries) are written in one transaction
//!    straight into the server's database with `assent-store`; the clock starts at the commit
//!    and stops at the last distinct delivery id received. The engine is not woken by another
//!    process's commit, so the first receipt includes up to one poll interval.
//! 3. Latency: one `POST …/webhooks/{id}/test` every [`LATENCY_INTERVAL`], one after the
//!    other; each sample is from just before the POST to the receipt of its delivery id, so
//!    it includes the API call that commits the event: an upper bound of commit-to-receipt.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use assent_store::{NewEvent, PoolOptions, Store, StoreError};
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{Api, string_at};
use crate::load::Target;
use crate::receiver::Receiver;
use crate::stats::Percentiles;

/// The server's poll interval in this scenario (ASSENT_DELIVERY_POLL_INTERVAL).
pub const POLL_INTERVAL: &str = "100ms";
/// Time between the starts of two test events in the latency phase.
pub const LATENCY_INTERVAL: Duration = Duration::from_millis(20);
/// The bulk transaction; 200,000 events take well under this on the bench machine.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(180);
/// After the last test event is sent, how long its delivery may take (the server's attempt
/// timeout is 10 s).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Between the phases, so the engine has recorded the last outcomes of the first.
const SETTLE: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct DeliveryPlan {
    pub events: u32,
    pub latency_samples: u32,
    /// The throughput phase's deadline, from the commit.
    pub deadline: Duration,
    /// The server's database, for the bulk enqueue.
    pub database_url: String,
    /// Makes the namespace and slug unique in a reused database.
    pub run_id: String,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFigures {
    /// Events enqueued in the throughput phase.
    pub events: u32,
    /// Deliveries those events made (one each: there is one webhook).
    pub expected: u64,
    /// Distinct deliveries received within the deadline.
    pub delivered: u64,
    /// The bulk transaction, from its start to its commit.
    pub enqueue: Duration,
    /// From the commit to the first receipt.
    pub first_receipt: Option<Duration>,
    /// From the commit to the last distinct receipt.
    pub drain: Option<Duration>,
    /// Test events sent in the latency phase.
    pub latency_sent: u32,
    /// Test deliveries that did not arrive within [`RECEIPT_TIMEOUT`].
    pub latency_lost: u32,
    /// Per test event, from just before the POST to the receipt, in microseconds.
    pub latency: Option<Percentiles>,
    /// Requests for a delivery id already received, over the whole run.
    pub duplicates: u64,
    /// Requests without a delivery id, and malformed ones (neither is expected).
    pub unexpected: u64,
}

impl DeliveryFigures {
    /// Whether every enqueued delivery arrived within the deadline.
    pub fn complete(&self) -> bool {
        self.expected > 0 && self.delivered >= self.expected
    }

    /// Distinct deliveries per second, from the commit to the last distinct receipt.
    pub fn deliveries_per_s(&self) -> Option<f64> {
        let drain = self.drain?.as_secs_f64();
        (drain > 0.0).then(|| self.delivered as f64 / drain)
    }
}

/// The owner-side objects the scenario creates.
#[derive(Debug)]
struct Owner {
    token: String,
    namespace: String,
    service_id: String,
    webhook_id: String,
}

/// Runs both phases against a server that is up.
pub async fn run(plan: &DeliveryPlan, target: &Target) -> Result<DeliveryFigures> {
    let receiver = Receiver::start().await?;
    let api = Api::new(&target.base)?;
    let owner = api.set_up(receiver.addr(), &plan.run_id).await?;
    eprintln!(
        "webhook {} -> http://{}/hook; enqueueing {} events in one transaction",
        owner.webhook_id,
        receiver.addr(),
        plan.events
    );

    let mut figures = throughput(plan, &owner, &receiver).await?;
    if figures.complete() && plan.latency_samples > 0 {
        tokio::time::sleep(SETTLE).await;
        eprintln!(
            "latency: {} test events, one every {} ms",
            plan.latency_samples,
            LATENCY_INTERVAL.as_millis()
        );
        latency(plan, &api, &owner, &receiver, &mut figures).await?;
    } else if plan.latency_samples > 0 {
        eprintln!("latency phase skipped: the backlog was not delivered in time");
    }
    receiver.with_log(|log| {
        figures.duplicates = log.duplicates;
        figures.unexpected = log.unexpected();
    });
    Ok(figures)
}

/// Enqueues the backlog and waits for it to arrive.
async fn throughput(
    plan: &DeliveryPlan,
    owner: &Owner,
    receiver: &Receiver,
) -> Result<DeliveryFigures> {
    let url = plan.database_url.clone();
    let (events, service_id, namespace) = (
        plan.events,
        owner.service_id.clone(),
        owner.namespace.clone(),
    );
    let job = tokio::task::spawn_blocking(move || enqueue(&url, events, &service_id, &namespace));
    let (expected, started, committed) = tokio::time::timeout(ENQUEUE_TIMEOUT, job)
        .await
        .map_err(|_| anyhow!("enqueueing did not finish within {ENQUEUE_TIMEOUT:?}"))?
        .context("the enqueue task failed")??;
    let enqueue = committed.duration_since(started);
    eprintln!(
        "committed {expected} deliveries in {:.0} ms; waiting up to {:?} for them",
        enqueue.as_secs_f64() * 1000.0,
        plan.deadline
    );

    let deadline = tokio::time::Instant::from_std(committed + plan.deadline);
    let target = usize::try_from(expected).unwrap_or(usize::MAX);
    receiver
        .wait_until(deadline, |log| log.distinct() >= target)
        .await;
    let since_commit = |at: Option<Instant>| at.map(|at| at.saturating_duration_since(committed));
    Ok(receiver.with_log(|log| DeliveryFigures {
        events,
        expected,
        delivered: log.distinct() as u64,
        enqueue,
        first_receipt: since_commit(log.first_receipt),
        drain: since_commit(log.last_new_receipt),
        ..DeliveryFigures::default()
    }))
}

/// Writes `events` events and their deliveries in one transaction; returns how many
/// deliveries were written, and when the transaction started and committed. Blocking.
fn enqueue(
    database_url: &str,
    events: u32,
    service_id: &str,
    namespace: &str,
) -> Result<(u64, Instant, Instant)> {
    let options = PoolOptions {
        max_connections: 1,
        ..PoolOptions::default()
    };
    let store = Store::connect(database_url, &options)
        .context("opening the server's database for the bulk enqueue")?;
    let started = Instant::now();
    let written = store.write_with_outbox(|conn, outbox| -> Result<u64, StoreError> {
        let mut written = 0u64;
        for i in 0..events {
            let id = assent_auth::random::Id::Event.mint();
            let payload = json!({
                "event": "request.approved",
                "timestamp": assent_core::Timestamp::now(),
                "data": {"event_id": id, "n": i},
            })
            .to_string();
            let event = NewEvent {
                id,
                service_id: service_id.to_owned(),
                namespace: namespace.to_owned(),
                event_type: assent_core::EventType::RequestApproved,
                payload,
            };
            written += outbox.emit(conn, &event, None)?.delivery_ids.len() as u64;
        }
        Ok(written)
    })?;
    let committed = Instant::now();
    if written != u64::from(events) {
        bail!("{events} events made {written} deliveries; expected one each (one webhook)");
    }
    Ok((written, started, committed))
}

/// Sends the test events and matches their receipts.
async fn latency(
    plan: &DeliveryPlan,
    api: &Api,
    owner: &Owner,
    receiver: &Receiver,
    figures: &mut DeliveryFigures,
) -> Result<()> {
    let mut ticks = tokio::time::interval(LATENCY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = Vec::with_capacity(plan.latency_samples as usize);
    for _ in 0..plan.latency_samples {
        ticks.tick().await;
        let started = Instant::now();
        let delivery_id = api.send_test(owner).await?;
        sent.push((delivery_id, started));
    }
    let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
    receiver
        .wait_until(deadline, |log| {
            sent.iter().all(|(id, _)| log.received_at(id).is_some())
        })
        .await;
    let mut latencies_us: Vec<u64> = receiver.with_log(|log| {
        sent.iter()
            .filter_map(|(id, started)| {
                let at = log.received_at(id)?;
                Some(
                    u64::try_from(at.saturating_duration_since(*started).as_micros())
                        .unwrap_or(u64::MAX),
                )
            })
            .collect()
    });
    figures.latency_sent = plan.latency_samples;
    figures.latency_lost = plan.latency_samples - latencies_us.len() as u32;
    figures.latency = Percentiles::compute(&mut latencies_us);
    Ok(())
}

/// The scenario's setup and test events, over the owner API.
impl Api {
    /// Signs up a fresh owner, creates a service and a webhook to `receiver`.
    async fn set_up(&self, receiver: SocketAddr, run_id: &str) -> Result<Owner> {
        let namespace = format!("dlv-{run_id}");
        let token = self.signup(&namespace).await?;
        let service_id = self
            .create_service(
                &token,
                &format!("bench-dlv-{run_id}"),
                "assent-bench deliveries",
            )
            .await?;
        let webhook = self
            .post(
                &format!("/v1/services/{service_id}/webhooks"),
                Some(&token),
                json!({"url": format!("http://{receiver}/hook")}),
                StatusCode::CREATED,
            )
            .await?;
        let webhook_id = string_at(&webhook, "/id")?;
        Ok(Owner {
            token,
            namespace,
            service_id,
            webhook_id,
        })
    }

    /// `POST …/test`; returns the delivery id.
    async fn send_test(&self, owner: &Owner) -> Result<String> {
        let path = format!(
            "/v1/services/{}/webhooks/{}/test",
            owner.service_id, owner.webhook_id
        );
        let sent = self
            .post(&path, Some(&owner.token), json!({}), StatusCode::ACCEPTED)
            .await?;
        string_at(&sent, "/delivery_id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_over_the_drain_time() {
        let figures = DeliveryFigures {
            expected: 1000,
            delivered: 1000,
            drain: Some(Duration::from_millis(500)),
            ..DeliveryFigures::default()
        };
        assert!(figures.complete());
        assert_eq!(figures.deliveries_per_s(), Some(2000.0));
        let partial = DeliveryFigures {
            delivered: 10,
            ..figures.clone()
        };
        assert!(!partial.complete());
        let none = DeliveryFigures::default();
        assert!(!none.complete());
        assert_eq!(none.deliveries_per_s(), None);
    }
}
