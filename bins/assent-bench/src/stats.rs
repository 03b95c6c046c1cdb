//! Per-connection recordings, their merge, and the exact percentiles computed from them.

use std::collections::BTreeMap;

/// What one connection recorded during the measured window.
#[derive(Debug, Default)]
pub struct Recording {
    /// Latency of each 2xx response, in microseconds (body included).
    pub latencies_us: Vec<u64>,
    /// Failed requests by key: the status code (`"409"`) or a transport error kind.
    pub errors: BTreeMap<String, u64>,
    /// The first body or error message seen for each error key, to explain the failures.
    pub error_samples: BTreeMap<String, String>,
    /// Requests still in flight at the deadline: abandoned, in neither figure.
    pub unfinished: u64,
}

impl Recording {
    pub fn record_error(&mut self, key: String, sample: impl FnOnce() -> String) {
        if !self.error_samples.contains_key(&key) {
            self.error_samples.insert(key.clone(), sample());
        }
        *self.errors.entry(key).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recording) {
        self.latencies_us.extend(other.latencies_us);
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        for (key, sample) in other.error_samples {
            self.error_samples.entry(key).or_insert(sample);
        }
        self.unfinished += other.unfinished;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Exact nearest-rank percentiles; `None` when nothing succeeded. Sorts in place.
    pub fn compute(latencies_us: &mut [u64]) -> Option<Self> {
        latencies_us.sort_unstable();
        Some(Self {
            p50: nearest_rank(latencies_us, 50)?,
            p90: nearest_rank(latencies_us, 90)?,
            p99: nearest_rank(latencies_us, 99)?,
            max: *latencies_us.last()?,
        })
    }
}

/// The smallest value with at least `percent`% of the values at or below it.
fn nearest_rank(sorted: &[u64], percent: usize) -> Option<u64> {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_percentiles() {
        assert_eq!(Percentiles::compute(&mut []), None);
    }

    #[test]
    fn single_value_is_every_percentile() {
        let p = Percentiles::compute(&mut [42]).expect("one value");
        assert_eq!(
            p,
            Percentiles {
                p50: 42,
                p90: 42,
                p99: 42,
                max: 42
            }
        );
    }

    #[test]
    fn one_to_hundred_in_any_order() {
        let mut values: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::compute(&mut values).expect("values");
        assert_eq!(
            p,
            Percentiles {
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            }
        );
    }

    #[test]
    fn small_samples_round_up() {
        // 10 values: p50 is the 5th, p90 the 9th, p99 the 10th.
        let mut values: Vec<u64> = (1..=10).map(|v| v * 10).collect();
        let p = Percentiles::compute(&mut values).expect("values");
        assert_eq!(
            p,
            Percentiles {
                p50: 50,
                p90: 90,
                p99: 100,
                max: 100
            }
        );
        // 3 values: p50 is the 2nd.
        let p = Percentiles::compute(&mut [3, 1, 2]).expect("values");
        assert_eq!((p.p50, p.p90, p.p99, p.max), (2, 3, 3, 3));
    }

    #[test]
    fn merge_adds_counts_and_keeps_first_samples() {
        let mut a = Recording::default();
        a.latencies_us.push(1);
        a.record_error("409".into(), || "first".into());
        a.record_error("409".into(), || unreachable!("sample already taken"));
        let mut b = Recording {
            unfinished: 2,
            ..Recording::default()
        };
        b.latencies_us.push(2);
        b.record_error("409".into(), || "second".into());
        b.record_error("connect".into(), || "refused".into());
        a.merge(b);
        assert_eq!(a.latencies_us, [1, 2]);
        assert_eq!(a.errors["409"], 3);
        assert_eq!(a.errors["connect"], 1);
        assert_eq!(a.error_samples["409"], "first");
        assert_eq!(a.unfinished, 2);
    }
}
