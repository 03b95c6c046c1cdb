//! The report of a `respond` run: from a user's answer to its service's webhook, to the push
//! on the user's event stream, and the call alone.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Run, insert_percentiles, percentiles_text};
use crate::deliveries::LATENCY_INTERVAL;
use crate::respond::{RespondFigures, WARMUP_SAMPLES};
use crate::scenario::Scenario;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

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
