//! The report of a `deliveries` run: how fast a backlog of webhook deliveries drained, and
//! the latency of single deliveries at low load.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Run, insert_percentiles, percentiles_text, round_to};
use crate::deliveries::{DeliveryFigures, LATENCY_INTERVAL, POLL_INTERVAL};
use crate::scenario::Scenario;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

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
}
