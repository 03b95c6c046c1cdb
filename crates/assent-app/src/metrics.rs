//! Counters of what the operations decide, for the metrics endpoint of a front end. Each is a
//! `prometheus-client` metric (an atomic behind an `Arc`): incrementing one costs an atomic
//! add and, for a labelled family, a read lock; the front end registers them to expose them.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Labels of [`Decisions`]: what was decided (`claim`, `notification`) and how (`owner`,
/// `expiry`, or whatever else decides: a policy, a grant).
pub type DecisionLabels = [(&'static str, &'static str); 2];

/// Decisions made, by kind and by how they were made.
#[derive(Debug, Clone, Default)]
pub struct Decisions(Family<DecisionLabels, Counter>);

impl Decisions {
    /// Counts `n` decisions of `kind` made `by`.
    pub fn add(&self, kind: &'static str, by: &'static str, n: u64) {
        self.0
            .get_or_create(&[("kind", kind), ("by", by)])
            .inc_by(n);
    }

    /// Counts one decision of `kind` made automatically by `decided_by` (`policy:<id>`,
    /// `grant:<id>`, `limit:<name>`), labelled by what decided (`policy`, `grant`, `limit`)
    /// so that the label set stays small.
    pub fn add_automatic(&self, kind: &'static str, decided_by: &str) {
        let by = match decided_by.split_once(':').map(|(what, _)| what) {
            Some("policy") => "policy",
            Some("grant") => "grant",
            Some("limit") => "limit",
            _ => "automatic",
        };
        self.add(kind, by, 1);
    }

    /// The family, for a registry.
    pub fn family(&self) -> Family<DecisionLabels, Counter> {
        self.0.clone()
    }
}
