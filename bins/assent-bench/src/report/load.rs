//! The report of a scenario that loads one endpoint (health, register, verify, notify):
//! requests per second, latency, errors by status, and for `verify` what signing cost.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Run, insert_percentiles, percentiles_text, round_to};
use crate::scenario::Scenario;
use crate::stats::{Percentiles, Recording};
use crate::verify::SigningFigures;

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
    /// `verify`, `did`: what they are compared with, measured in the same sitting.
    pub baseline: Option<Baseline>,
}

/// `GET /health` on the same server and connections just before the scenario's load, and for
/// `verify` one Ed25519 verification's CPU time: together they give L
/// ([`crate::verify::limit_l`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub health_rps: f64,
    pub ed25519: Option<Duration>,
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
        if let Some(baseline) = &self.baseline {
            line(
                "baseline",
                format!(
                    "GET /health {:.1} req/s just before (same server and connections): {} is {:.3} × health",
                    baseline.health_rps,
                    self.scenario.name(),
                    self.over_health(baseline)
                ),
            );
            if let (Some(ed25519), Some(l)) = (baseline.ed25519, self.limit_l(baseline)) {
                line(
                    "L",
                    format!(
                        "{} cores ÷ ({} ÷ {:.1} req/s + {:.1} µs for one Ed25519 verification) = {l:.1} req/s: {} is {:.3} × L",
                        self.run.cpus,
                        self.run.cpus,
                        baseline.health_rps,
                        ed25519.as_secs_f64() * 1e6,
                        self.scenario.name(),
                        self.rps() / l
                    ),
                );
            }
        }
        line("rss", self.run.rss_text());
        out
    }

    fn over_health(&self, baseline: &Baseline) -> f64 {
        if baseline.health_rps > 0.0 {
            self.rps() / baseline.health_rps
        } else {
            0.0
        }
    }

    fn limit_l(&self, baseline: &Baseline) -> Option<f64> {
        baseline
            .ed25519
            .map(|each| crate::verify::limit_l(self.run.cpus, baseline.health_rps, each))
            .filter(|l| *l > 0.0)
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
        if let (Some(baseline), Some(fields)) = (&self.baseline, line.as_object_mut()) {
            fields.insert("health_rps".into(), json!(round_to(baseline.health_rps, 1)));
            fields.insert(
                "over_health".into(),
                json!(round_to(self.over_health(baseline), 4)),
            );
            if let (Some(each), Some(l)) = (baseline.ed25519, self.limit_l(baseline)) {
                fields.insert(
                    "ed25519_us".into(),
                    json!(round_to(each.as_secs_f64() * 1e6, 2)),
                );
                fields.insert("limit_l".into(), json!(round_to(l, 1)));
                fields.insert("over_l".into(), json!(round_to(self.rps() / l, 4)));
            }
        }
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
            baseline: None,
        }
    }

    #[test]
    fn verify_is_reported_against_health_and_l() {
        let recording = Recording {
            // 60,000 in 4 s: 15,000 req/s.
            latencies_us: vec![1_000; 60_000],
            ..Recording::default()
        };
        let mut report = report(recording);
        report.scenario = Scenario::Verify;
        report.baseline = Some(Baseline {
            health_rps: 50_000.0,
            ed25519: Some(Duration::from_micros(40)),
        });
        let json = report.json();
        assert_eq!(json["health_rps"], 50_000.0);
        assert_eq!(json["over_health"], 0.3);
        assert_eq!(json["ed25519_us"], 40.0);
        // 2 cores ÷ (2 ÷ 50,000 + 40 µs) = 25,000 req/s.
        assert_eq!(json["limit_l"], 25_000.0);
        assert_eq!(json["over_l"], 0.6);
        let human = report.human();
        assert!(human.contains("verify is 0.600 × L"), "{human}");
        report.scenario = Scenario::Did;
        report.baseline = Some(Baseline {
            health_rps: 50_000.0,
            ed25519: None,
        });
        let json = report.json();
        assert_eq!(json["over_health"], 0.3);
        assert!(json.get("limit_l").is_none(), "L is verify's alone");
        assert!(report.human().contains("did is 0.300 × health"));
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

    #[test]
    fn nothing_succeeded_gives_null_latencies() {
        let report = report(Recording::default());
        assert!(report.json()["p50_ms"].is_null());
        assert!(report.human().contains("no successful requests"));
        assert!(report.human().contains("errors     none"));
    }
}
