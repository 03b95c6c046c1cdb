//! The figures of a run, as a human-readable block and as one JSON line for the docs.
//!
//! One report per kind of run, each in its file: `load.rs` for the scenarios that load one
//! endpoint (health, register, verify, notify), `deliveries.rs` and `respond.rs` for the two
//! that time webhooks. This file holds what they share: where the run ran ([`Run`]) and how
//! latencies, memory and rounding are written.

mod deliveries;
mod load;
mod respond;

use serde_json::{Value, json};

use crate::stats::Percentiles;

pub use deliveries::DeliveryReport;
pub use load::{Baseline, Figures, Report};
pub use respond::RespondReport;

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
    pub(crate) fn target_text(&self, sharing: &str) -> String {
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
    pub(crate) fn insert_json(&self, line: &mut Value) {
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

/// `p50 … ms | p90 … | p99 … | max …`, or `n/a (<why>)`.
pub(crate) fn percentiles_text(latency: Option<&Percentiles>, why_none: &str) -> String {
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
pub(crate) fn insert_percentiles(line: &mut Value, prefix: &str, latency: Option<&Percentiles>) {
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
