//! The figures of a run, as a human-readable block and as one JSON line for the docs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::deliveries::{DeliveryFigures, LATENCY_INTERVAL, POLL_INTERVAL};
use crate::respond::{RespondFigures, WARMUP_SAMPLES};
use crate::scenario::Scenario;
use crate::stats::{Percentiles, Recording};
use crate::verify::SigningFigures;

/// Where a run ran, as every report tells it.
#[derive(Debug)]
pub struct Run {
    /// What was targeted, e.g. `http://127.0.0.1:41234 (spawned, sqlite)`.
    pub target: String,
    /// `sqlite`, `postgres`, `other` or `external` (a server we did not start).
    pub backend: &'static str,
    /// The bench and the server share these cores, which bounds the figures.
    pub cpus: usize,
    /// The server's resident memory before the load and at its end.
    pub rss_idle_mb: Option<f64>,
    pub rss_end_mb: Option<f64>,
}

impl Run {
    /// The `target` line: the target, and who shares its cores.
    fn target_text(&self, sharing: &str) -> String {
        format!("{}; {} CPUs shared by {sharing}", self.target, self.cpus)
    }

    fn rss_text(&self) -> String {
        format!(
            "idle {}, end {}",
            mib_text(self.rss_idle_mb),
            mib_text(self.rss_end_mb)
        )
    }

    /// Adds `backend`, `cpus`, `rss_idle_mb` and `rss_end_mb` to a report's JSON object.
    fn insert_json(&self, line: &mut Value) {
        if let Some(fields) = line.as_object_mut() {
            fields.insert("backend".into(), json!(self.backend));
            fields.insert("cpus".into(), json!(self.cpus));
            fields.insert(
                "rss_idle_mb".into(),
                json!(self.rss_idle_mb.map(|mb| round_to(mb, 1))),
            );
            fields.insert(
                "rss_end_mb".into(),
                json!(self.rss_end_mb.map(|mb| round_to(mb, 1))),
            );
        }
    }
}

/// Everything printed about a run.
#[derive(Debug)]
pub struct Report {
    pub scenario: Scenario,
    pub connections: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub run: Run,
    pub figures: Figures,
    /// `verify`: what signing the requests cost the client.
    pub signing: Option<SigningFigures>,
}

/// The parts of a report that come from the load itself.
#[derive(Debug)]
pub struct Figures {
    /// 2xx responses in the measured window: the only ones in the latency figures.
    pub requests: u64,
    pub latency: Option<Percentiles>,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, String>,
    pub unfinished: u64,
}

impl Figures {
    pub fn from_recording(mut recording: Recording) -> Self {
        Self {
            requests: recording.latencies_us.len() as u64,
            latency: Percentiles::compute(&mut recording.latencies_us),
            errors: recording.errors,
            error_samples: recording.error_samples,
            unfinished: recording.unfinished,
        }
    }
}

impl Report {
    /// Successful requests per second of the measured window.
    pub fn rps(&self) -> f64 {
        self.figures.requests as f64 / self.duration.as_secs_f64()
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, text: String| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{label:<11}{text}");
        };
        line(
            "scenario",
            format!(
                "{}, {} connections, {:.1} s measured after {:.1} s warmup",
                self.scenario.name(),
                self.connections,
                self.duration.as_secs_f64(),
                self.warmup.as_secs_f64()
            ),
        );
        line("target", self.run.target_text("client and server"));
        line(
            "requests",
            format!("{} ok, {:.1} req/s", self.figures.requests, self.rps()),
        );
        line(
            "latency",
            percentiles_text(self.figures.latency.as_ref(), "no successful requests"),
        );
        line("errors", self.errors_text());
        for (key, sample) in &self.figures.error_samples {
            line("", format!("first {key}: {sample}"));
        }
        if self.figures.unfinished > 0 {
            line(
                "unfinished",
                format!(
                    "{} (in flight at the deadline; in neither figure)",
                    self.figures.unfinished
                ),
            );
        }
        if let Some(signing) = &self.signing {
            line("signing", signing_text(signing));
            line(
                "",
                format!(
                    "signed inline, {:.1} req/s would take {:.1} % of one core",
                    self.rps(),
                    self.inline_share(signing) * 100.0
                ),
            );
        }
        line("rss", self.run.rss_text());
        out
    }

    /// The share of one core that signing every measured request inline would take.
    fn inline_share(&self, signing: &SigningFigures) -> f64 {
        self.rps() * signing.per_request.as_secs_f64()
    }

    fn errors_text(&self) -> String {
        if self.figures.errors.is_empty() {
            return "none".to_owned();
        }
        let total: u64 = self.figures.errors.values().sum();
        let parts: Vec<String> = self
            .figures
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        format!("{total} ({})", parts.join(", "))
    }

    /// One JSON object; times in milliseconds, memory in MiB, `null` where not measured.
    pub fn json(&self) -> Value {
        let mut line = json!({
            "scenario": self.scenario.name(),
            "connections": self.connections,
            "duration_s": self.duration.as_secs_f64(),
            "warmup_s": self.warmup.as_secs_f64(),
            "requests": self.figures.requests,
            "rps": round_to(self.rps(), 1),
            "errors": self.figures.errors,
            "unfinished": self.figures.unfinished,
        });
        self.run.insert_json(&mut line);
        insert_percentiles(&mut line, "", self.figures.latency.as_ref());
        if let (Some(signing), Some(fields)) = (&self.signing, line.as_object_mut()) {
            let micros = |d: Duration| round_to(d.as_secs_f64() * 1e6, 1);
            let inline_us = (signing.inline > 0).then(|| {
                micros(signing.inline_time / u32::try_from(signing.inline).unwrap_or(u32::MAX))
            });
            fields.insert("sign_us".into(), json!(micros(signing.per_request)));
            fields.insert("presigned".into(), json!(signing.presigned));
            fields.insert("presigned_used".into(), json!(signing.presigned_used));
            fields.insert(
                "presign_s".into(),
                json!(round_to(signing.presign_wall.as_secs_f64(), 2)),
            );
            fields.insert("signed_inline".into(), json!(signing.inline));
            fields.insert("inline_sign_us".into(), json!(inline_us));
            fields.insert(
                "inline_core_share".into(),
                json!(round_to(self.inline_share(signing), 3)),
            );
        }
        line
    }
}

/// The `signing` line of a `verify` report.
fn signing_text(signing: &SigningFigures) -> String {
    let inline = if signing.inline == 0 {
        "none signed during the load".to_owned()
    } else {
        let each = signing.inline_time / u32::try_from(signing.inline).unwrap_or(u32::MAX);
        format!(
            "{} signed during the load ({:.1} µs each; raise --presigned)",
            signing.inline,
            each.as_secs_f64() * 1e6
        )
    };
    format!(
        "{:.1} µs a request on one core; {} signed before the load ({:.2} s on {} threads), \
         {} of them sent; {inline}",
        signing.per_request.as_secs_f64() * 1e6,
        signing.presigned,
        signing.presign_wall.as_secs_f64(),
        signing.threads,
        signing.presigned_used
    )
}

/// Everything printed about a `deliveries` run.
#[derive(Debug)]
pub struct DeliveryReport {
    pub run: Run,
    /// ASSENT_DELIVERY_CONCURRENCY of the server.
    pub delivery_concurrency: u32,
    /// The throughput phase's deadline.
    pub deadline: Duration,
    pub figures: DeliveryFigures,
}

impl DeliveryReport {
    pub fn human(&self) -> String {
        let f = &self.figures;
        let mut out = String::new();
        let mut line = |label: &str, text: String| {
            let _ = writeln!(out, "{label:<11}{text}");
        };
        line(
            "scenario",
            format!(
                "deliveries: {} events to one webhook, delivery concurrency {}, poll {POLL_INTERVAL}",
                f.events, self.delivery_concurrency
            ),
        );
        line(
            "target",
            self.run
                .target_text("the server and the bench (load and receiver)"),
        );
        line(
            "enqueue",
            format!(
                "{} deliveries in one transaction, committed after {:.0} ms",
                f.expected,
                f.enqueue.as_secs_f64() * 1000.0
            ),
        );
        let rate = f
            .deliveries_per_s()
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.1} deliveries/s"));
        let drain = f
            .drain
            .map_or_else(|| "n/a".to_owned(), |d| format!("{:.3} s", d.as_secs_f64()));
        let verdict = if f.complete() {
            String::new()
        } else {
            format!(
                " INCOMPLETE: {} of {} within {:?}",
                f.delivered, f.expected, self.deadline
            )
        };
        line(
            "throughput",
            format!(
                "{rate} ({} distinct in {drain} from the commit to the last){verdict}",
                f.delivered
            ),
        );
        line(
            "first",
            match f.first_receipt {
                Some(d) => format!(
                    "{:.1} ms from the commit to the first receipt (includes up to one {POLL_INTERVAL} poll)",
                    d.as_secs_f64() * 1000.0
                ),
                None => "n/a (nothing arrived)".to_owned(),
            },
        );
        line("duplicates", f.duplicates.to_string());
        line(
            "latency",
            percentiles_text(
                f.latency.as_ref(),
                "no test event arrived, or the phase was skipped",
            ),
        );
        if f.latency_sent > 0 {
            line(
                "",
                format!(
                    "{} test events, one per {} ms; from just before the API call that commits \
                     the event to the receipt: an upper bound of commit-to-receipt",
                    f.latency_sent,
                    LATENCY_INTERVAL.as_millis()
                ),
            );
        }
        if f.latency_lost > 0 {
            line(
                "lost",
                format!("{} test deliveries did not arrive in time", f.latency_lost),
            );
        }
        if f.unexpected > 0 {
            line(
                "unexpected",
                format!(
                    "{} requests without a delivery id or malformed",
                    f.unexpected
                ),
            );
        }
        line("rss", self.run.rss_text());
        out
    }

    /// One JSON object; times in milliseconds, memory in MiB, `null` where not measured.
    pub fn json(&self) -> Value {
        let f = &self.figures;
        let millis = |d: Option<Duration>| d.map(|d| round_to(d.as_secs_f64() * 1000.0, 1));
        let mut line = json!({
            "scenario": Scenario::Deliveries.name(),
            "delivery_concurrency": self.delivery_concurrency,
            "events": f.events,
            "delivered": f.delivered,
            "complete": f.complete(),
            "enqueue_ms": millis(Some(f.enqueue)),
            "deliveries_per_s": f.deliveries_per_s().map(|r| round_to(r, 1)),
            "first_receipt_ms": millis(f.first_receipt),
            "drain_ms": millis(f.drain),
            "duplicates": f.duplicates,
            "latency_samples": f.latency_sent,
            "latency_lost": f.latency_lost,
        });
        self.run.insert_json(&mut line);
        insert_percentiles(&mut line, "latency_", f.latency.as_ref());
        line
    }
}

/// Everything printed about a `respond` run.
#[derive(Debug)]
pub struct RespondReport {
    pub run: Run,
    pub figures: RespondFigures,
}

impl RespondReport {
    pub fn human(&self) -> String {
        let f = &self.figures;
        let mut out = String::new();
        let mut line = |label: &str, text: String| {
            let _ = writeln!(out, "{label:<11}{text}");
        };
        line(
            "scenario",
            format!(
                "respond: {} notifications answered one after the other, at most one per {} ms, \
                 after {WARMUP_SAMPLES} unrecorded",
                f.samples,
                LATENCY_INTERVAL.as_millis()
            ),
        );
        line(
            "target",
            self.run
                .target_text("the server and the bench (client and receiver)"),
        );
        line(
            "webhook",
            percentiles_text(f.webhook.as_ref(), "no webhook arrived"),
        );
        line(
            "",
            format!(
                "{} of {} arrived; from just before POST /api/v1/client/respond to the receipt of \
                 its notification.responded webhook",
                f.received, f.samples
            ),
        );
        line(
            "push",
            percentiles_text(f.push.as_ref(), "no notification was pushed"),
        );
        line(
            "",
            "from just before POST /api/v1/notifications to its event on the user's open \
             event stream"
                .to_owned(),
        );
        line(
            "respond",
            percentiles_text(f.call.as_ref(), "no call was recorded"),
        );
        line(
            "",
            "the call alone, to the last byte of its answer".to_owned(),
        );
        if f.lost {
            line(
                "lost",
                "a webhook did not arrive in time; the run stopped there".to_owned(),
            );
        }
        line("duplicates", f.duplicates.to_string());
        if f.unexpected > 0 {
            line(
                "unexpected",
                format!(
                    "{} requests without a notification id or malformed",
                    f.unexpected
                ),
            );
        }
        line("rss", self.run.rss_text());
        out
    }

    /// One JSON object; times in milliseconds, memory in MiB, `null` where not measured.
    pub fn json(&self) -> Value {
        let f = &self.figures;
        let mut line = json!({
            "scenario": Scenario::Respond.name(),
            "samples": f.samples,
            "received": f.received,
            "complete": f.complete(),
            "duplicates": f.duplicates,
            "unexpected": f.unexpected,
        });
        self.run.insert_json(&mut line);
        insert_percentiles(&mut line, "webhook_", f.webhook.as_ref());
        insert_percentiles(&mut line, "respond_", f.call.as_ref());
        insert_percentiles(&mut line, "push_", f.push.as_ref());
        line
    }
}

/// `p50 … ms | p90 … | p99 … | max …`, or `n/a (<why>)`.
fn percentiles_text(latency: Option<&Percentiles>, why_none: &str) -> String {
    match latency {
        Some(p) => format!(
            "p50 {} ms | p90 {} ms | p99 {} ms | max {} ms",
            ms(p.p50),
            ms(p.p90),
            ms(p.p99),
            ms(p.max)
        ),
        None => format!("n/a ({why_none})"),
    }
}

/// Adds `<prefix>p50_ms`, `<prefix>p90_ms`, `<prefix>p99_ms` and `<prefix>max_ms` to a JSON
/// object, `null` when nothing was measured.
fn insert_percentiles(line: &mut Value, prefix: &str, latency: Option<&Percentiles>) {
    let Some(fields) = line.as_object_mut() else {
        return;
    };
    let values = latency.map(|p| [p.p50, p.p90, p.p99, p.max]);
    for (i, name) in ["p50", "p90", "p99", "max"].into_iter().enumerate() {
        fields.insert(
            format!("{prefix}{name}_ms"),
            json!(values.map(|v| ms_f64(v[i]))),
        );
    }
}

fn ms(micros: u64) -> String {
    format!("{:.3}", ms_f64(micros))
}

fn ms_f64(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn mib_text(mb: Option<f64>) -> String {
    mb.map_or_else(|| "n/a".to_owned(), |mb| format!("{mb:.1} MiB"))
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(recording: Recording) -> Report {
        Report {
            scenario: Scenario::Register,
            connections: 8,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(4),
            run: Run {
                target: "http://127.0.0.1:1 (spawned, sqlite)".to_owned(),
                backend: "sqlite",
                cpus: 2,
                rss_idle_mb: Some(12.345),
                rss_end_mb: None,
            },
            figures: Figures::from_recording(recording),
            signing: None,
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let mut recording = Recording {
            latencies_us: vec![1_500, 500, 2_000, 1_000, 10_250],
            ..Recording::default()
        };
        recording.record_error("409".to_owned(), || "conflict".to_owned());
        let json = report(recording).json();
        assert_eq!(json["scenario"], "register");
        assert_eq!(json["connections"], 8);
        assert_eq!(json["duration_s"], 4.0);
        assert_eq!(json["requests"], 5);
        assert_eq!(json["rps"], 1.3);
        assert_eq!(json["p50_ms"], 1.5);
        assert_eq!(json["p90_ms"], 10.25);
        assert_eq!(json["max_ms"], 10.25);
        assert_eq!(json["errors"]["409"], 1);
        assert_eq!(json["rss_idle_mb"], 12.3);
        assert!(json["rss_end_mb"].is_null());
        assert!(json.get("sign_us").is_none(), "only verify reports signing");
    }

    #[test]
    fn verify_reports_what_signing_cost() {
        let recording = Recording {
            latencies_us: vec![1_000; 8_000],
            ..Recording::default()
        };
        let mut report = report(recording);
        report.scenario = Scenario::Verify;
        report.signing = Some(SigningFigures {
            presigned: 10_000,
            presigned_used: 9_990,
            per_request: Duration::from_micros(25),
            presign_wall: Duration::from_millis(130),
            threads: 2,
            inline: 10,
            inline_time: Duration::from_micros(400),
        });
        let json = report.json();
        assert_eq!(json["scenario"], "verify");
        assert_eq!(json["rps"], 2000.0);
        assert_eq!(json["sign_us"], 25.0);
        assert_eq!(json["presigned"], 10_000);
        assert_eq!(json["presigned_used"], 9_990);
        assert_eq!(json["signed_inline"], 10);
        assert_eq!(json["inline_sign_us"], 40.0);
        // 2,000 req/s × 25 µs = 5 % of a core.
        assert_eq!(json["inline_core_share"], 0.05);
        let human = report.human();
        assert!(human.contains("25.0 µs a request on one core"), "{human}");
        assert!(
            human.contains("10 signed during the load (40.0 µs each"),
            "{human}"
        );
        assert!(human.contains("5.0 % of one core"), "{human}");
    }

    fn delivery_report(figures: DeliveryFigures) -> DeliveryReport {
        DeliveryReport {
            run: Run {
                target: "http://127.0.0.1:1 (spawned, sqlite)".to_owned(),
                backend: "sqlite",
                cpus: 2,
                rss_idle_mb: Some(11.04),
                rss_end_mb: Some(30.06),
            },
            delivery_concurrency: 64,
            deadline: Duration::from_secs(60),
            figures,
        }
    }

    #[test]
    fn delivery_json_has_the_documented_fields() {
        let figures = DeliveryFigures {
            events: 1000,
            expected: 1000,
            delivered: 1000,
            enqueue: Duration::from_millis(80),
            first_receipt: Some(Duration::from_micros(101_260)),
            drain: Some(Duration::from_millis(400)),
            latency_sent: 3,
            latency_lost: 0,
            latency: Percentiles::compute(&mut [4_000, 2_500, 9_000]),
            duplicates: 2,
            unexpected: 0,
        };
        let report = delivery_report(figures);
        let json = report.json();
        assert_eq!(json["scenario"], "deliveries");
        assert_eq!(json["backend"], "sqlite");
        assert_eq!(json["events"], 1000);
        assert_eq!(json["complete"], true);
        assert_eq!(json["deliveries_per_s"], 2500.0);
        assert_eq!(json["first_receipt_ms"], 101.3);
        assert_eq!(json["duplicates"], 2);
        assert_eq!(json["latency_p50_ms"], 4.0);
        assert_eq!(json["latency_p99_ms"], 9.0);
        assert_eq!(json["latency_max_ms"], 9.0);
        assert_eq!(json["rss_idle_mb"], 11.0);
        assert_eq!(json["rss_end_mb"], 30.1);
        let human = report.human();
        assert!(human.contains("2500.0 deliveries/s"), "{human}");
        assert!(human.contains("upper bound"), "{human}");
        assert!(!human.contains("INCOMPLETE"), "{human}");
    }

    #[test]
    fn an_incomplete_delivery_run_says_so() {
        let report = delivery_report(DeliveryFigures {
            events: 10,
            expected: 10,
            delivered: 4,
            drain: Some(Duration::from_secs(2)),
            ..DeliveryFigures::default()
        });
        assert_eq!(report.json()["complete"], false);
        assert!(report.json()["latency_p50_ms"].is_null());
        assert!(report.human().contains("INCOMPLETE: 4 of 10 within 60s"));
    }

    #[test]
    fn nothing_succeeded_gives_null_latencies() {
        let report = report(Recording::default());
        assert!(report.json()["p50_ms"].is_null());
        assert!(report.human().contains("no successful requests"));
        assert!(report.human().contains("errors     none"));
    }

    fn respond_report(figures: RespondFigures) -> RespondReport {
        RespondReport {
            run: Run {
                target: "http://127.0.0.1:1 (spawned, postgres)".to_owned(),
                backend: "postgres",
                cpus: 2,
                rss_idle_mb: Some(17.0),
                rss_end_mb: Some(21.04),
            },
            figures,
        }
    }

    #[test]
    fn respond_json_has_both_latencies() {
        let report = respond_report(RespondFigures {
            samples: 3,
            received: 3,
            lost: false,
            webhook: Percentiles::compute(&mut [3_000, 2_500, 9_000]),
            call: Percentiles::compute(&mut [1_000, 1_200, 4_000]),
            push: Percentiles::compute(&mut [800, 900, 2_000]),
            duplicates: 0,
            unexpected: 0,
        });
        let json = report.json();
        assert_eq!(json["scenario"], "respond");
        assert_eq!(json["backend"], "postgres");
        assert_eq!(json["samples"], 3);
        assert_eq!(json["complete"], true);
        assert_eq!(json["webhook_p50_ms"], 3.0);
        assert_eq!(json["webhook_max_ms"], 9.0);
        assert_eq!(json["respond_p50_ms"], 1.2);
        assert_eq!(json["respond_p99_ms"], 4.0);
        assert_eq!(json["push_p50_ms"], 0.9);
        assert_eq!(json["rss_end_mb"], 21.0);
        let human = report.human();
        assert!(human.contains("webhook    p50 3.000 ms"), "{human}");
        assert!(human.contains("respond    p50 1.200 ms"), "{human}");
        assert!(human.contains("3 of 3 arrived"), "{human}");
        assert!(!human.contains("lost"), "{human}");
    }

    #[test]
    fn a_lost_respond_webhook_is_reported() {
        let report = respond_report(RespondFigures {
            samples: 200,
            received: 7,
            lost: true,
            ..RespondFigures::default()
        });
        assert_eq!(report.json()["complete"], false);
        assert!(report.json()["webhook_p50_ms"].is_null());
        let human = report.human();
        assert!(human.contains("7 of 200 arrived"), "{human}");
        assert!(human.contains("did not arrive in time"), "{human}");
    }
}
