//! Webhook delivery rules (`docs/webhooks.md`, "Retries" and "Disabling and re-enabling"):
//! what one attempt came to, whether and when it is tried again, and when its endpoint is
//! disabled. The client reports what happened on the wire as an [`Attempt`]; only the functions
//! here decide what that means. Pure: the engine supplies the attempt and the randomness.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Timestamp;

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

/// One attempt of one delivery: what the client returns, the rules read and the store records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When the attempt started.
    pub attempted_at: Timestamp,
    /// Its wall time, until the response excerpt was read or the attempt gave up.
    pub duration: Duration,
    pub result: Result<Delivered, Failure>,
}

/// A 2xx response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    /// The first bytes of the response body, lossily UTF-8 decoded (empty when none).
    pub response_excerpt: String,
}

/// Why an attempt did not succeed: everything the client tells apart. `Display` is the
/// sentence the delivery log shows, word for word as it always has been (stored data and the
/// API's `error` and `last_error` strings depend on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A response other than 2xx, 3xx included (redirects are not followed). Shown as
    /// `HTTP 503`; the attempt's log keeps the status instead of an error.
    Status {
        status: u16,
        /// The `Retry-After` header as a delay, when present, parseable and not in the past.
        retry_after: Option<Duration>,
        response_excerpt: String,
    },
    /// No response within the attempt's timeout.
    Timeout { after: Duration },
    /// The host name resolved to no address.
    Dns { host: String },
    /// No connection could be made, or it broke: refused, reset, unreachable, or the innermost
    /// cause (a TLS certificate problem, for instance).
    Connect { reason: String },
    /// The request failed otherwise; the innermost cause.
    Request { reason: String },
    /// The outbound policy refused the target; nothing was sent.
    Refused(Refusal),
    /// The URL does not parse.
    InvalidUrl,
    /// The URL names no host.
    NoHost,
    /// A header name the sender built is not valid HTTP.
    BadHeaderName { name: String },
    /// A header value the sender built is not valid HTTP; only its name is kept, the value
    /// (a signature) is never echoed.
    BadHeaderValue { name: String },
    /// The endpoint's secret cannot be opened with this server's key, so nothing was signed
    /// or sent. Made by the engine, never by the client.
    SecretUnreadable,
    /// The attempt started but its outcome was never recorded: the sender stopped (a crash, a
    /// kill) or lost its database first. The receiver may have got it. Written by the store
    /// when it leases the delivery, and replaced by the real outcome when that is recorded.
    Interrupted,
}

/// Why the outbound policy refused a target at an attempt (`docs/webhooks.md`, "Outbound
/// safety").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    PlainHttp,
    /// A scheme other than https and http.
    Scheme(String),
    Credentials,
    /// An IP-literal host that is not public.
    NotPublic(IpAddr),
    /// A host name with a non-public address among its answers (the first such is named).
    ResolvesToNotPublic {
        host: String,
        address: IpAddr,
    },
}

impl Attempt {
    /// A 2xx response arrived.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }

    /// The retry rule applied to this attempt: it failed, and in a way worth another attempt.
    pub fn is_retried(&self) -> bool {
        self.failure().is_some_and(Failure::is_retried)
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match &self.result {
            Ok(delivered) => Some(delivered.status),
            Err(Failure::Status { status, .. }) => Some(*status),
            Err(_) => None,
        }
    }

    /// Why no response arrived, as the delivery log says it; `None` when one did (its status
    /// tells the rest).
    pub fn error(&self) -> Option<String> {
        match &self.result {
            Ok(_) | Err(Failure::Status { .. }) => None,
            Err(failure) => Some(failure.to_string()),
        }
    }

    /// The first bytes of the response body; empty when no response arrived.
    pub fn response_excerpt(&self) -> &str {
        match &self.result {
            Ok(Delivered {
                response_excerpt, ..
            })
            | Err(Failure::Status {
                response_excerpt, ..
            }) => response_excerpt,
            Err(_) => "",
        }
    }

    /// The receiver's `Retry-After`, when it failed with one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.failure().and_then(Failure::retry_after)
    }

    /// When the attempt ended: retries are scheduled from here.
    pub fn ended_at(&self) -> Timestamp {
        later(self.attempted_at, self.duration)
    }
}

impl Failure {
    /// The retry rule, "whether". Retried: 429 and 5xx, and everything that kept the request
    /// from being answered at all: timeouts, connection and DNS errors, refused or invalid
    /// targets (DNS answers change and the owner may fix the URL; the refusal is logged at
    /// every attempt), and an unreadable secret (the owner can rotate it). Not retried: 410
    /// and every other status (the receiver said no, and asking again will not change that),
    /// and a header the sender built wrong (the same request would fail again).
    pub fn is_retried(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 429 | 500..=599),
            Self::BadHeaderName { .. } | Self::BadHeaderValue { .. } => false,
            Self::Timeout { .. }
            | Self::Dns { .. }
            | Self::Connect { .. }
            | Self::Request { .. }
            | Self::Refused(_)
            | Self::InvalidUrl
            | Self::NoHost
            | Self::SecretUnreadable
            | Self::Interrupted => true,
        }
    }

    /// The receiver's `Retry-After`: only a response carries one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A stable one-word name of the failure, for logs.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Timeout { .. } => "timeout",
            Self::Dns { .. } => "dns",
            Self::Connect { .. } => "connect",
            Self::Request { .. } => "request",
            Self::Refused(_) => "refused",
            Self::InvalidUrl | Self::NoHost => "invalid_url",
            Self::BadHeaderName { .. } | Self::BadHeaderValue { .. } => "invalid_header",
            Self::SecretUnreadable => "secret_unreadable",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, .. } => write!(f, "HTTP {status}"),
            Self::Timeout { after } => write!(f, "timed out after {}", human_duration(*after)),
            Self::Dns { host } => write!(f, "DNS lookup failed for {host}"),
            Self::Connect { reason } => write!(f, "could not connect: {reason}"),
            Self::Request { reason } => write!(f, "request failed: {reason}"),
            Self::Refused(refusal) => write!(f, "refused: {refusal}"),
            Self::InvalidUrl => f.write_str("invalid URL"),
            Self::NoHost => f.write_str("invalid URL: no host"),
            Self::BadHeaderName { name } => write!(f, "invalid request: bad header name {name:?}"),
            Self::BadHeaderValue { name } => {
                write!(f, "invalid request: bad value for header {name:?}")
            }
            Self::SecretUnreadable => f.write_str(
                "the webhook secret cannot be read with this server's key (ASSENT_SECRET_KEY changed?)",
            ),
            Self::Interrupted => f.write_str(
                "interrupted: the sender stopped before recording the outcome (the endpoint may have received it)",
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlainHttp => f.write_str("plain http is not allowed, use https"),
            Self::Scheme(scheme) => write!(f, "the {scheme:?} scheme is not allowed, use https"),
            Self::Credentials => f.write_str("the URL must not contain a user name or password"),
            Self::NotPublic(ip) => write!(f, "{ip} is not a public address"),
            Self::ResolvesToNotPublic { host, address } => {
                write!(
                    f,
                    "{host} resolves to {address}, which is not a public address"
                )
            }
        }
    }
}

/// "10 s", "300 ms", "1.5 s".
fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn later(at: Timestamp, by: Duration) -> Timestamp {
    at.plus_millis(i64::try_from(by.as_millis()).unwrap_or(i64::MAX))
}

/// The retry rule, "when": the wait before attempt number `number + 1` after attempt `number`
/// (1-based) failed in a way worth retrying; `None` when the schedule is used up. The
/// schedule's delay varies by up to [`JITTER`] either way (`jitter` is a number in [-1, 1] from
/// the caller's randomness); the receiver's `Retry-After` lengthens it up to
/// [`MAX_RETRY_AFTER`] and never shortens it.
pub fn retry_delay(
    schedule: &RetrySchedule,
    number: usize,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    let delay = schedule.delay_before(number.saturating_add(1))?;
    let jittered = delay.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
    let asked = retry_after.map_or(Duration::ZERO, |d| d.min(MAX_RETRY_AFTER));
    Some(jittered.max(asked))
}

/// What becomes of a delivery once it came due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    /// Attempt it again then.
    RetryAt(Timestamp),
    /// It failed in a way worth retrying, but that was the schedule's last attempt.
    Exhausted,
    /// It failed in a way not worth retrying ([`Failure::is_retried`]).
    Failed,
    /// Its endpoint was disabled when it came due: no attempt was made.
    Skipped,
}

/// The step after `attempt`, attempt number `number` (1-based). A retry is due
/// [`retry_delay`] after the attempt ended.
pub fn next_step(
    schedule: &RetrySchedule,
    number: usize,
    attempt: &Attempt,
    jitter: f64,
) -> NextStep {
    match &attempt.result {
        Ok(_) => NextStep::Succeeded,
        Err(failure) if !failure.is_retried() => NextStep::Failed,
        Err(failure) => match retry_delay(schedule, number, failure.retry_after(), jitter) {
            Some(delay) => NextStep::RetryAt(later(attempt.ended_at(), delay)),
            None => NextStep::Exhausted,
        },
    }
}

/// What an attempt does to its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointHealth {
    /// Nothing: no attempt was made.
    Unchanged,
    /// A success: a failing streak ends.
    Healthy,
    /// A failure: a failing streak starts now, unless one already runs.
    Failing,
    Disable(DisableReason),
}

/// Why the rules disable an endpoint; stored as `disabled_reason` (an owner's `owner` is set
/// by the store, not by a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// It answered 410 Gone.
    Gone,
    /// It kept failing for too long.
    Failing,
}

impl DisableReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gone => "gone",
            Self::Failing => "failing",
        }
    }
}

/// An endpoint's health as its owner sees it, in the API (`status`) and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    Healthy,
    /// Enabled, and its last attempts failed: a streak runs.
    Failing,
    /// Disabled by its owner or by the rules; nothing is sent to it.
    Disabled,
}

impl EndpointStatus {
    /// The status of an endpoint that is `enabled` or not, with a failing streak or not.
    pub const fn of(enabled: bool, failing: bool) -> Self {
        match (enabled, failing) {
            (false, _) => Self::Disabled,
            (true, true) => Self::Failing,
            (true, false) => Self::Healthy,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Failing => "failing",
            Self::Disabled => "disabled",
        }
    }
}

/// The disable rule: a 410 disables the endpoint at once; any other failure disables it when
/// it has been failing without a success since `failing_since` for `disable_after` or longer
/// (counted to this attempt's start), and otherwise starts or continues the streak. A success
/// ends the streak.
pub fn endpoint_health(
    attempt: &Attempt,
    failing_since: Option<Timestamp>,
    disable_after: Duration,
) -> EndpointHealth {
    match &attempt.result {
        Ok(_) => EndpointHealth::Healthy,
        Err(Failure::Status { status: 410, .. }) => EndpointHealth::Disable(DisableReason::Gone),
        Err(_) => match failing_since {
            Some(since) if later(since, disable_after) <= attempt.attempted_at => {
                EndpointHealth::Disable(DisableReason::Failing)
            }
            _ => EndpointHealth::Failing,
        },
    }
}

/// The state of a delivery, as stored and shown in the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (the first, or a retry).
    Pending,
    Succeeded,
    /// Not retried: see [`Failure::is_retried`].
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
mod tests;
