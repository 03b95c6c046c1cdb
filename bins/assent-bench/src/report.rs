//! The figures of a run, as a human-readable block and as one JSON line for the docs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::scenario::Scenario;
use crate::stats::{Percentiles, Recording};

/// Everything printed about a run.
#[derive(Debug)]
pub struct Report {
    pub scenario: Scenario,
    pub connections: u32,
    pub warmup: Duration,
    pub duration: Duration,
    /// What was targeted, e.g. `http://127.0.0.1:41234 (spawned, sqlite)`.
    pub target: String,
    /// `sqlite`, `postgres`, `other` or `external` (a server we did not start).
    pub backend: &'static str,
    /// Client and server share these cores, which bounds the figures.
    pub cpus: usize,
    pub figures: Figures,
    pub rss_idle_mb: Option<f64>,
    pub rss_end_mb: Option<f64>,
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
        line(
            "target",
            format!(
                "{}; {} CPUs shared by client and server",
                self.target, self.cpus
            ),
        );
        line(
            "requests",
            format!("{} ok, {:.1} req/s", self.figures.requests, self.rps()),
        );
        line(
            "latency",
            match self.figures.latency {
                Some(p) => format!(
                    "p50 {} ms | p90 {} ms | p99 {} ms | max {} ms",
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p99),
                    ms(p.max)
                ),
                None => "n/a (no successful requests)".to_owned(),
            },
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
        line(
            "rss",
            format!(
                "idle {}, end {}",
                mib_text(self.rss_idle_mb),
                mib_text(self.rss_end_mb)
            ),
        );
        out
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
        let latency =
            |pick: fn(&Percentiles) -> u64| self.figures.latency.as_ref().map(|p| ms_f64(pick(p)));
        json!({
            "scenario": self.scenario.name(),
            "connections": self.connections,
            "duration_s": self.duration.as_secs_f64(),
            "warmup_s": self.warmup.as_secs_f64(),
            "backend": self.backend,
            "cpus": self.cpus,
            "requests": self.figures.requests,
            "rps": round_to(self.rps(), 1),
            "p50_ms": latency(|p| p.p50),
            "p90_ms": latency(|p| p.p90),
            "p99_ms": latency(|p| p.p99),
            "max_ms": latency(|p| p.max),
            "errors": self.figures.errors,
            "unfinished": self.figures.unfinished,
            "rss_idle_mb": self.rss_idle_mb.map(|mb| round_to(mb, 1)),
            "rss_end_mb": self.rss_end_mb.map(|mb| round_to(mb, 1)),
        })
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
            target: "http://127.0.0.1:1 (spawned, sqlite)".to_owned(),
            backend: "sqlite",
            cpus: 2,
            figures: Figures::from_recording(recording),
            rss_idle_mb: Some(12.345),
            rss_end_mb: None,
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
    }

    #[test]
    fn nothing_succeeded_gives_null_latencies() {
        let report = report(Recording::default());
        assert!(report.json()["p50_ms"].is_null());
        assert!(report.human().contains("no successful requests"));
        assert!(report.human().contains("errors     none"));
    }
}
