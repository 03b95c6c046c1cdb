//! Command-line arguments and the pure parsers behind them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use reqwest::Url;

use crate::scenario::Scenario;

/// The admin token floor the server enforces (`docs/configuration.md`: at least 16 characters).
pub const ADMIN_TOKEN_MIN_CHARS: usize = 16;

/// Starts the `assent` server, drives concurrent keep-alive connections at one endpoint for a
/// fixed time and prints requests/s and latency percentiles; or, with `--scenario deliveries`,
/// measures webhook delivery into a receiver of its own, and with `--scenario respond` the time
/// from a user's ATP response to its service's webhook. `--scenario verify` signs every
/// request (mostly before the load starts) and reports what signing costs. A measuring tool,
/// not a test.
#[derive(Debug, Parser)]
#[command(name = "assent-bench", version)]
pub struct Args {
    /// Which request every connection sends in a loop.
    #[arg(long, value_enum, default_value_t = Scenario::Health)]
    pub scenario: Scenario,

    /// Concurrent keep-alive connections, one task each (not used by `deliveries` and
    /// `respond`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,

    /// How long to measure, e.g. `10s`, `500ms`, `1m` [default: 10s]. For `deliveries`, the
    /// deadline for the enqueued events to arrive, counted from their commit [default: 60s].
    /// For `mail`, the burst's window, from its first claim [default: 70s]. Not used by
    /// `respond`.
    #[arg(long, value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// How long to send requests before measuring (they are not recorded); `0s` to skip (not
    /// used by `deliveries` and `respond`).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Database for the spawned server (ASSENT_DATABASE_URL, e.g. `postgres://...`); default
    /// is SQLite in a temporary directory. A reused database keeps its first admin token, so
    /// pass that with --admin-token.
    #[arg(long, conflicts_with = "url")]
    pub database_url: Option<String>,

    /// The `assent` binary to spawn; default is `assent` next to this executable.
    #[arg(long, conflicts_with = "url")]
    pub server_bin: Option<PathBuf>,

    /// Port for the spawned server on 127.0.0.1; default is a free one.
    #[arg(long, conflicts_with = "url", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Target an already running server instead of spawning one (loopback only).
    #[arg(long, value_parser = parse_loopback_url)]
    pub url: Option<Url>,

    /// Admin token: required with --url for scenarios that need it; with a spawned server it
    /// becomes ASSENT_ADMIN_TOKEN (default: a fresh random one).
    #[arg(long, value_parser = parse_admin_token)]
    pub admin_token: Option<String>,

    /// Namespace that registered services go to (created for a spawned server). `verify`
    /// signs its owner up over the API instead, so it must not exist yet.
    #[arg(long, default_value = "bench")]
    pub namespace: String,

    /// `verify`: requests signed before the load starts, each with its own nonce; should they
    /// run out, connections sign inline and the report says how many [default: 12000 a second
    /// of warmup plus duration, at most 300000].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_PRESIGNED))]
    pub presigned: Option<u32>,

    /// `deliveries`: events enqueued in one transaction for the throughput phase
    /// [default: 20000].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_EVENTS))]
    pub events: Option<u32>,

    /// `deliveries`: test events sent one per 20 ms for the low-load latency phase; `0` skips
    /// the phase. `respond`: notifications answered one after the other [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub latency_samples: Option<u32>,

    /// `deliveries`: the server's ASSENT_DELIVERY_CONCURRENCY [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub delivery_concurrency: Option<u32>,

    /// `respond`: start a second replica on the same PostgreSQL database (--database-url) and
    /// open the user's event stream there, so `push` is from a commit on one replica to the
    /// event on another replica's stream.
    #[arg(long, requires = "database_url")]
    pub stream_replica: bool,

    /// Run the spawned server with ASSENT_METRICS=on (every request timed for `/metrics`), to
    /// compare with a run without it.
    #[arg(long, conflicts_with = "url")]
    pub metrics: bool,

    /// Also print the figures as one JSON line on stdout (the human block then goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The most events one `deliveries` run enqueues (in one transaction).
pub const MAX_EVENTS: i64 = 200_000;
/// The most requests `verify` signs ahead (about 400 bytes each in memory).
pub const MAX_PRESIGNED: i64 = 5_000_000;

impl Args {
    /// `--duration`, or the scenario's default.
    pub fn duration(&self) -> Duration {
        self.duration
            .unwrap_or_else(|| self.scenario.default_duration())
    }

    /// `--presigned`, or the default for this run's length.
    pub fn presigned(&self) -> usize {
        self.presigned.map_or_else(
            || crate::verify::default_presigned(self.warmup + self.duration()),
            |n| n as usize,
        )
    }

    /// Refuses flag combinations that would be silently ignored or cannot work.
    pub fn check(&self) -> Result<(), String> {
        if self.presigned.is_some() && self.scenario != Scenario::Verify {
            return Err("--presigned only applies to --scenario verify".into());
        }
        let deliveries: &[Scenario] = &[Scenario::Deliveries];
        let scenario_flags = [
            ("--events", self.events.is_some(), deliveries),
            (
                "--latency-samples",
                self.latency_samples.is_some(),
                &[Scenario::Deliveries, Scenario::Respond, Scenario::Mcp],
            ),
            (
                "--delivery-concurrency",
                self.delivery_concurrency.is_some(),
                deliveries,
            ),
        ];
        for (flag, given, scenarios) in scenario_flags {
            if given && !scenarios.contains(&self.scenario) {
                let names: Vec<_> = scenarios.iter().map(|s| s.name()).collect();
                return Err(format!(
                    "{flag} only applies to --scenario {}",
                    names.join(" or ")
                ));
            }
        }
        if self.stream_replica && self.scenario != Scenario::Respond {
            return Err("--stream-replica only applies to --scenario respond".into());
        }
        if self.stream_replica
            && !self
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err("--stream-replica needs a PostgreSQL --database-url".into());
        }
        if self.scenario == Scenario::Respond && self.latency_samples == Some(0) {
            return Err("--scenario respond needs --latency-samples of at least 1".into());
        }
        if self.scenario.needs_spawned_server() && self.url.is_some() {
            return Err(format!(
                "--scenario {} starts its own server; it cannot use --url",
                self.scenario.name()
            ));
        }
        Ok(())
    }
}

/// Parses `500ms`, `10s`, `1m`: a whole number and a unit. A bare number is refused because
/// it is ambiguous.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit; use e.g. `10s`, `500ms` or `1m`"))?;
    let (number, unit) = raw.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` does not start with a whole number"))?;
    let per_unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return Err(format!("unknown unit `{unit}` in `{raw}`; use ms, s or m")),
    };
    let ms = value
        .checked_mul(per_unit_ms)
        .ok_or_else(|| format!("`{raw}` is too long"))?;
    Ok(Duration::from_millis(ms))
}

/// Like [`parse_duration`], but zero is refused: a zero-length run measures nothing.
pub fn parse_positive_duration(raw: &str) -> Result<Duration, String> {
    let duration = parse_duration(raw)?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

fn parse_admin_token(raw: &str) -> Result<String, String> {
    if raw.chars().count() < ADMIN_TOKEN_MIN_CHARS {
        return Err(format!(
            "must be at least {ADMIN_TOKEN_MIN_CHARS} characters"
        ));
    }
    Ok(raw.to_owned())
}

/// Accepts an http(s) URL whose host is loopback: a load generator must never be pointed at
/// someone else's machine by a typo.
pub fn parse_loopback_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme must be http or https, not `{}`",
            url.scheme()
        ));
    }
    // Request paths are appended to the base, which a query or fragment would break.
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or fragment".to_owned());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    if !is_loopback_host(host) {
        return Err(format!(
            "refusing to target `{host}`: only loopback hosts (127.0.0.1, localhost, [::1]) are allowed"
        ));
    }
    Ok(url)
}

/// `localhost` or a loopback IP literal (IPv6 as the URL spells it, in brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The base URL that request paths are appended to, without a trailing slash.
pub fn base_url(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_each_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "10",
            "s",
            "1.5s",
            "-1s",
            "10 s",
            "10h",
            "10sec",
            "99999999999999999999m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_positive_duration("0ms").is_err());
        assert!(parse_positive_duration("1ms").is_ok());
    }

    #[test]
    fn loopback_urls_are_accepted() {
        for good in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://localhost:1234",
            "http://LOCALHOST",
            "http://[::1]:8080",
            "https://127.0.0.1",
            "http://127.0.0.2:80/prefix",
        ] {
            assert!(parse_loopback_url(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn other_urls_are_refused() {
        for bad in [
            "http://example.com",
            "http://10.0.0.1:8080",
            "http://192.168.1.1",
            "http://[::ffff:127.0.0.1]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "ftp://127.0.0.1",
            "http://127.0.0.1/?q=1",
            "not a url",
        ] {
            assert!(parse_loopback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_url_has_no_trailing_slash() {
        let url = parse_loopback_url("http://127.0.0.1:8080/").expect("valid");
        assert_eq!(base_url(&url), "http://127.0.0.1:8080");
        let url = parse_loopback_url("http://127.0.0.1:8080/api/").expect("valid");
        assert_eq!(base_url(&url), "http://127.0.0.1:8080/api");
    }

    #[test]
    fn short_admin_tokens_are_refused() {
        assert!(parse_admin_token("short").is_err());
        assert!(parse_admin_token("0123456789abcdef").is_ok());
    }

    #[test]
    fn durations_default_by_scenario() {
        let args = Args::parse_from(["assent-bench"]);
        assert_eq!(args.duration(), Duration::from_secs(10));
        let args = Args::parse_from(["assent-bench", "--scenario", "deliveries"]);
        assert_eq!(args.duration(), Duration::from_secs(60));
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "deliveries",
            "--duration",
            "5s",
        ]);
        assert_eq!(args.duration(), Duration::from_secs(5));
    }

    #[test]
    fn delivery_flags_need_the_deliveries_scenario() {
        let args = Args::parse_from(["assent-bench", "--events", "10"]);
        assert!(args.check().is_err());
        let args = Args::parse_from(["assent-bench", "--scenario", "deliveries", "--events", "10"]);
        assert!(args.check().is_ok());
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "deliveries",
            "--url",
            "http://127.0.0.1:8080",
        ]);
        assert!(args.check().is_err());
        assert!(
            Args::parse_from(["assent-bench", "--scenario", "register"])
                .check()
                .is_ok()
        );
        assert!(Args::try_parse_from(["assent-bench", "--events", "0"]).is_err());
        assert!(
            Args::parse_from(["assent-bench", "--presigned", "10"])
                .check()
                .is_err()
        );
        let args = Args::parse_from(["assent-bench", "--scenario", "verify", "--presigned", "10"]);
        assert!(args.check().is_ok());
        assert_eq!(args.presigned(), 10);
        assert!(Args::try_parse_from(["assent-bench", "--presigned", "0"]).is_err());
        assert!(Args::try_parse_from(["assent-bench", "--delivery-concurrency", "0"]).is_err());
    }

    #[test]
    fn respond_takes_latency_samples_and_no_url() {
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "respond",
            "--latency-samples",
            "20",
        ]);
        assert!(args.check().is_ok());
        for flags in [
            &["--latency-samples", "0"][..],
            &["--events", "10"],
            &["--delivery-concurrency", "8"],
            &["--url", "http://127.0.0.1:8080"],
        ] {
            let args = Args::parse_from(
                ["assent-bench", "--scenario", "respond"]
                    .iter()
                    .chain(flags),
            );
            assert!(args.check().is_err(), "{flags:?}");
        }
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "notify",
            "--latency-samples",
            "20",
        ]);
        assert!(args.check().is_err());
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "notify",
            "--url",
            "http://127.0.0.1:8080",
        ]);
        assert!(args.check().is_ok());
    }

    #[test]
    fn verify_presigns_for_the_whole_run_by_default() {
        // 2 s warmup + 10 s.
        let args = Args::parse_from(["assent-bench", "--scenario", "verify"]);
        assert_eq!(args.presigned(), 144_000);
        let args = Args::parse_from([
            "assent-bench",
            "--scenario",
            "verify",
            "--warmup",
            "0s",
            "--duration",
            "20s",
        ]);
        assert_eq!(args.presigned(), 240_000);
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
