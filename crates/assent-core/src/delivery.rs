//! Webhook delivery rules (`docs/webhooks.md`, "Retries"): what happens after an attempt, and when to try again.
//! Pure: the engine supplies the clock, the randomness and the attempt's result.

use std::fmt;
use std::time::Duration;

/// Retry-After may lengthen a delay up to this, never beyond: a receiver cannot park a
/// delivery for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Each scheduled delay is varied by up to this fraction either way, so that retries of many
/// deliveries that failed together do not arrive together.
pub const JITTER: f64 = 0.2;

/// The delays before each attempt: entry `i` is the wait before attempt `i + 1` (the first is
/// usually zero). Its length is the number of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self(vec![
            Duration::ZERO,
            Duration::from_secs(5),
            minutes(5),
            minutes(30),
            minutes(120),
            minutes(300),
            minutes(600),
            minutes(600),
        ])
    }
}

impl RetrySchedule {
    /// Parses `0s,5s,5m,30m,2h` (also `ms` and `d`). At least one entry, at most 50.
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(|part| {
                crate::time::parse_duration(part)
                    .ok_or_else(|| format!("`{}` is not a delay like 5s, 5m or 2h", part.trim()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 50 {
            return Err("a schedule has 1 to 50 delays".to_owned());
        }
        Ok(Self(delays))
    }

    pub fn attempts(&self) -> usize {
        self.0.len()
    }

    /// The wait before attempt number `attempt` (1-based); `None` past the last.
    pub fn delay_before(&self, attempt: usize) -> Option<Duration> {
        attempt.checked_sub(1).and_then(|i| self.0.get(i)).copied()
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| format!("{}ms", d.as_millis()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// What one attempt came to, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// Any 2xx.
    Success,
    /// 410: the receiver says the endpoint is gone for good.
    Gone,
    /// Worth trying again: timeout, connection or DNS error, refused target, 429, 5xx.
    Retryable { retry_after: Option<Duration> },
    /// Not worth trying again: any other 4xx, or a 3xx (redirects are not followed).
    Failed,
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextStep {
    Succeeded,
    RetryIn(Duration),
    Exhausted,
    /// Not retried (a 4xx other than 429, a 3xx, or a 410, which also disables the endpoint).
    Failed,
}

/// The step after attempt number `attempt` (1-based) ended with `result`. `jitter` is a number
/// in [-1, 1] from the caller's randomness.
pub fn next_step(
    schedule: &RetrySchedule,
    attempt: usize,
    result: AttemptResult,
    jitter: f64,
) -> NextStep {
    match result {
        AttemptResult::Success => NextStep::Succeeded,
        AttemptResult::Gone | AttemptResult::Failed => NextStep::Failed,
        AttemptResult::Retryable { retry_after } => match schedule.delay_before(attempt + 1) {
            None => NextStep::Exhausted,
            Some(delay) => {
                let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
                let jittered = delay.mul_f64(factor);
                let asked = retry_after.map_or(Duration::ZERO, |d| d.min(MAX_RETRY_AFTER));
                NextStep::RetryIn(jittered.max(asked))
            }
        },
    }
}

/// The state of a delivery, as stored and shown in the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (the first, or a retry).
    Pending,
    Succeeded,
    /// Not retried: see [`NextStep::Failed`].
    Failed,
    /// Every scheduled attempt failed.
    Exhausted,
    /// Its endpoint was disabled when it came due.
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Succeeded,
        Self::Failed,
        Self::Exhausted,
        Self::Skipped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Exhausted => "exhausted",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_default_schedule_is_the_contracts() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(
            schedule,
            RetrySchedule::parse("0s,5s,5m,30m,2h,5h,10h,10h").unwrap()
        );
        assert_eq!(schedule.delay_before(1), Some(Duration::ZERO));
        assert_eq!(schedule.delay_before(2), Some(secs(5)));
        assert_eq!(schedule.delay_before(9), None);
        assert_eq!(schedule.delay_before(0), None);
    }

    #[test]
    fn parsing_rejects_nonsense() {
        assert_eq!(
            RetrySchedule::parse("10ms, 1s").unwrap().delay_before(1),
            Some(Duration::from_millis(10))
        );
        for bad in ["", "5", "5x", "5s,,1s", "-1s"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_follow_the_schedule_with_bounded_jitter() {
        let schedule = RetrySchedule::default();
        let retry = AttemptResult::Retryable { retry_after: None };
        assert_eq!(
            next_step(&schedule, 1, retry, 0.0),
            NextStep::RetryIn(secs(5))
        );
        assert_eq!(
            next_step(&schedule, 1, retry, 1.0),
            NextStep::RetryIn(secs(6))
        );
        assert_eq!(
            next_step(&schedule, 1, retry, -1.0),
            NextStep::RetryIn(secs(4))
        );
        assert_eq!(
            next_step(&schedule, 1, retry, 7.0),
            NextStep::RetryIn(secs(6)),
            "jitter is clamped"
        );
        assert_eq!(
            next_step(&schedule, 2, retry, 0.0),
            NextStep::RetryIn(secs(300))
        );
        assert_eq!(next_step(&schedule, 8, retry, 0.0), NextStep::Exhausted);
    }

    #[test]
    fn retry_after_lengthens_within_bounds_and_never_shortens() {
        let schedule = RetrySchedule::default();
        let asked = |s| AttemptResult::Retryable {
            retry_after: Some(secs(s)),
        };
        assert_eq!(
            next_step(&schedule, 1, asked(30), 0.0),
            NextStep::RetryIn(secs(30))
        );
        assert_eq!(
            next_step(&schedule, 1, asked(1), 0.0),
            NextStep::RetryIn(secs(5))
        );
        assert_eq!(
            next_step(&schedule, 1, asked(86_400), 0.0),
            NextStep::RetryIn(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn final_results() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            next_step(&schedule, 3, AttemptResult::Success, 0.0),
            NextStep::Succeeded
        );
        assert_eq!(
            next_step(&schedule, 1, AttemptResult::Gone, 0.0),
            NextStep::Failed
        );
        assert_eq!(
            next_step(&schedule, 1, AttemptResult::Failed, 0.0),
            NextStep::Failed
        );
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
    }
}
