//! The `respond` scenario: how long after a user answers a notification its service hears of
//! it, at low load.
//!
//! 1. A receiver ([`Receiver`]) listens on 127.0.0.1; the ATP service (see `crate::atp`) has
//!    its callback there, and the owner makes a user token (`POST /v1/auth/tokens`).
//! 2. Samples, one after the other, at most one every [`LATENCY_INTERVAL`]: create a
//!    notification (not timed), then answer its choice action
//!    (`POST /api/v1/client/respond`, user token) and wait for the `notification.responded`
//!    webhook whose body names it (`notification_id`). Each sample is from just before the
//!    respond call to the receipt: the call, its commit, and the delivery engine's attempt.
//!    The call's own latency (to the last byte of its answer) is recorded too; the webhook
//!    may arrive before the answer does.
//!
//! 3. Meanwhile the user holds an event stream open (`GET /api/v1/client/events`), and each
//!    sample also records the push: from just before the notification is created
//!    (`POST /api/v1/notifications`) to the arrival of its `notification` event on the stream.
//!
//! The first [`WARMUP_SAMPLES`] are not recorded. A webhook that does not arrive within
//! [`RECEIPT_TIMEOUT`] ends the run (the figures then say so).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::Api;
use crate::atp;
use crate::deliveries::LATENCY_INTERVAL;
use crate::load::{self, Target, micros};
use crate::receiver::Receiver;
use crate::scenario::{CHOICE_ACTION, CHOICE_ANSWER};
use crate::stats::Percentiles;

/// Samples sent first and not recorded: the first connections, statements and attempts.
pub const WARMUP_SAMPLES: u32 = 10;
/// How long one webhook may take (the server's attempt timeout is 10 s).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(15);

/// What to run.
#[derive(Debug, Clone)]
pub struct RespondPlan {
    /// Recorded samples.
    pub samples: u32,
    /// Makes the namespace unique in a reused database.
    pub run_id: String,
    /// Where to open the user's event stream (another replica), when not on the server that
    /// takes the notifications.
    pub stream_base: Option<String>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct RespondFigures {
    /// Recorded samples planned.
    pub samples: u32,
    /// Recorded samples whose webhook arrived.
    pub received: u32,
    /// A webhook that did not arrive within [`RECEIPT_TIMEOUT`] (the run stopped there).
    pub lost: bool,
    /// From just before the respond call to the webhook's receipt, in microseconds.
    pub webhook: Option<Percentiles>,
    /// The respond call alone, in microseconds.
    pub call: Option<Percentiles>,
    /// From just before creating a notification to its event on the user's open stream, in
    /// microseconds.
    pub push: Option<Percentiles>,
    /// Requests for a notification whose webhook had already arrived, over the whole run.
    pub duplicates: u64,
    /// Requests without a notification id (or a delivery id), and malformed ones.
    pub unexpected: u64,
}

impl RespondFigures {
    /// Whether every recorded sample's webhook arrived.
    pub fn complete(&self) -> bool {
        self.samples > 0 && self.received == self.samples
    }
}

/// The body of `POST /api/v1/client/respond` that answers `notification_id`'s choice action.
pub fn response(notification_id: &str) -> Value {
    json!({
        "notification_id": notification_id,
        "action_id": CHOICE_ACTION,
        "response_data": CHOICE_ANSWER,
    })
}

/// Sets up, then takes the samples, against a server that is up.
pub async fn run(plan: &RespondPlan, target: &Target) -> Result<RespondFigures> {
    let receiver = Receiver::start().await?;
    let api = Api::new(&target.base)?;
    let callback = format!("http://{}/hook", receiver.addr());
    let service = atp::set_up(&api, target, &plan.run_id, &callback).await?;
    let user_token = api
        .create_user_token(&service.session, "assent-bench respond")
        .await?;
    eprintln!(
        "service `{}` of `{}` -> {callback}; {} samples after {WARMUP_SAMPLES} unrecorded, \
         at most one every {} ms",
        service.service_id,
        service.namespace,
        plan.samples,
        LATENCY_INTERVAL.as_millis()
    );

    let pushes = Pushes::default();
    let events = "/api/v1/client/events?types=notification";
    let stream_url = match &plan.stream_base {
        Some(base) => format!("{base}{events}"),
        None => api.url(events),
    };
    let stream = tokio::spawn(pushes.clone().listen(stream_url, user_token.clone()));
    // The stream is open once its first bytes (the retry hint) arrived.
    let opened = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
    while !pushes.opened() && tokio::time::Instant::now() < opened && !stream.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if !pushes.opened() {
        bail!("the user's event stream did not open");
    }

    let mut ticks = tokio::time::interval(LATENCY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut webhook_us = Vec::with_capacity(plan.samples as usize);
    let mut call_us = Vec::with_capacity(plan.samples as usize);
    let mut push_us = Vec::with_capacity(plan.samples as usize);
    let mut lost = false;
    for n in 0..WARMUP_SAMPLES + plan.samples {
        ticks.tick().await;
        let title = format!("bench respond {} {n}", plan.run_id);
        let created = Instant::now();
        let notification_id = api.notify(&service.api_key, &title).await?;
        let Some(pushed) = pushes.wait_for(&notification_id).await else {
            eprintln!(
                "notification {notification_id} did not reach the open event stream within \
                 {RECEIPT_TIMEOUT:?}; stopping"
            );
            lost = true;
            break;
        };
        let (call, receipt) = sample(&api, &receiver, &user_token, &notification_id).await?;
        let Some(receipt) = receipt else {
            eprintln!(
                "the webhook for notification {notification_id} did not arrive within \
                 {RECEIPT_TIMEOUT:?}; stopping"
            );
            lost = true;
            break;
        };
        if n >= WARMUP_SAMPLES {
            push_us.push(micros(pushed.saturating_duration_since(created)));
            call_us.push(micros(call));
            webhook_us.push(micros(receipt));
        }
    }
    let mut figures = RespondFigures {
        samples: plan.samples,
        received: u32::try_from(webhook_us.len()).unwrap_or(u32::MAX),
        lost,
        webhook: Percentiles::compute(&mut webhook_us),
        call: Percentiles::compute(&mut call_us),
        push: Percentiles::compute(&mut push_us),
        ..RespondFigures::default()
    };
    stream.abort();
    receiver.with_log(|log| {
        figures.duplicates = log.duplicates;
        figures.unexpected = log.unexpected();
    });
    Ok(figures)
}

/// When each notification reached the user's open event stream, by notification id.
#[derive(Debug, Clone, Default)]
struct Pushes(Arc<Mutex<(bool, HashMap<String, Instant>)>>);

impl Pushes {
    fn opened(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Reads the stream until it ends, noting when each `notification` event arrived.
    async fn listen(self, url: String, token: String) -> Result<()> {
        let client = load::client(None)?;
        let mut response = client.get(url).bearer_auth(token).send().await?;
        if !response.status().is_success() {
            bail!("GET /api/v1/client/events answered {}", response.status());
        }
        let mut buffer = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let now = Instant::now();
            buffer.extend_from_slice(&chunk);
            let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            seen.0 = true;
            while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buffer.drain(..end + 2).collect();
                for id in notification_ids(&event) {
                    seen.1.entry(id).or_insert(now);
                }
            }
        }
        Ok(())
    }

    /// When `notification_id` arrived on the stream, waiting for it up to
    /// [`RECEIPT_TIMEOUT`].
    async fn wait_for(&self, notification_id: &str) -> Option<Instant> {
        let deadline = Instant::now() + RECEIPT_TIMEOUT;
        loop {
            let arrived = self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .1
                .get(notification_id)
                .copied();
            if arrived.is_some() || Instant::now() >= deadline {
                return arrived;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// The ids of the notifications in one server-sent event (its `data:` lines).
fn notification_ids(event: &[u8]) -> Vec<String> {
    event
        .split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data: "))
        .filter_map(|data| serde_json::from_slice::<Value>(data).ok())
        .filter_map(|value| value["id"].as_str().map(str::to_owned))
        .collect()
}

/// Answers `notification_id` and waits for its webhook: the call's latency, and the time
/// from just before the call to the receipt (`None` if it did not arrive in time).
async fn sample(
    api: &Api,
    receiver: &Receiver,
    user_token: &str,
    notification_id: &str,
) -> Result<(Duration, Option<Duration>)> {
    let started = Instant::now();
    let answer = api
        .post(
            "/api/v1/client/respond",
            Some(user_token),
            response(notification_id),
            StatusCode::OK,
        )
        .await?;
    let call = started.elapsed();
    if answer["status"] != "responded" {
        bail!("POST /api/v1/client/respond did not record the response: {answer}");
    }
    let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
    receiver
        .wait_until(deadline, |log| log.received_at(notification_id).is_some())
        .await;
    let receipt = receiver
        .with_log(|log| log.received_at(notification_id))
        .map(|at| at.saturating_duration_since(started));
    Ok((call, receipt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn the_response_answers_the_choice_action_with_an_offered_option() {
        let body = response("0b7c2a52-0000-4000-8000-000000000001");
        assert_eq!(
            body["notification_id"],
            "0b7c2a52-0000-4000-8000-000000000001"
        );
        assert_eq!(body["action_id"], CHOICE_ACTION);
        let offered = scenario::notification("t")["actions"]
            .as_array()
            .and_then(|actions| actions.iter().find(|a| a["id"] == CHOICE_ACTION))
            .map(|action| action["options"].clone())
            .expect("the notification has the choice action");
        assert!(
            offered
                .as_array()
                .is_some_and(|options| options.iter().any(|o| o["value"] == body["response_data"])),
            "{offered}"
        );
    }

    #[test]
    fn notification_events_name_their_notification() {
        let event = b"id: 7\nevent: notification\ndata: {\"id\":\"n1\",\"status\":\"created\"}\n\n";
        assert_eq!(notification_ids(event), ["n1"]);
        assert!(notification_ids(b"retry: 3000\n\n").is_empty());
        assert!(notification_ids(b"event: heartbeat\ndata: {\"timestamp\":\"t\"}\n\n").is_empty());
    }

    #[test]
    fn a_run_is_complete_only_when_every_sample_arrived() {
        let figures = RespondFigures {
            samples: 3,
            received: 3,
            ..RespondFigures::default()
        };
        assert!(figures.complete());
        let lost = RespondFigures {
            received: 2,
            lost: true,
            ..figures.clone()
        };
        assert!(!lost.complete());
        assert!(!RespondFigures::default().complete());
    }
}
