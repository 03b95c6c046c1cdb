//! The table of settings: each one's name, type, default, minimum and help text, written
//! here once. The flag (`--delivery-lease`), the environment variable
//! (`ASSENT_DELIVERY_LEASE`), the TOML key (`delivery_lease`), the checks, `--help` and the
//! reference in `docs/configuration.md` (`assent config-reference`) all come from these rows.
//! How a row becomes all of that is in `declare.rs`; what each value turns into is in
//! `resolve.rs`.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::Deserialize;

use crate::config::declare::{Duration, Rate, raw_value_enum, settings};

settings! {
    /// Settings shared by every subcommand: where the data lives and how to log.
    #[group(title = "Every subcommand", global = true)]
    pub struct StorageArgs {
        /// Directory for the embedded SQLite database and the generated secret key file.
        data_dir: PathBuf { value_name: "DIR", default: Some("./data") },
        /// Database URL: `sqlite://<path>` or `postgres://user:password@host:port/db`. Never
        /// logged.
        database_url: String {
            value_name: "URL",
            unset: "`sqlite://<data dir>/assent.db`",
            secret: true,
        },
        /// Most pooled database connections (the pool waits up to 5 s for one).
        database_pool_size: u32 { default: Some("16"), at_least: Some("1") },
        /// Log filter, in tracing's env-filter syntax, e.g. `info,assent_http=debug`.
        log: String { value_name: "FILTER", default: Some("info") },
        /// Log line format; `json` writes one object a line.
        log_format: LogFormat { value_name: "FORMAT", default: Some("text") },
    }

    /// Settings of `assent serve`.
    #[group(title = "`assent serve`", global = false)]
    pub struct ServeArgs {
        /// Address to listen on.
        bind: String { value_name: "ADDR", default: Some("127.0.0.1:8080") },
        /// The URL users reach this server at (e.g. `https://assent.example.com`). Its origin
        /// is the only one cookie-authenticated changes are accepted from (without it: the
        /// origin the request was addressed to), and an `https` URL makes the session cookie
        /// `Secure`. Set it behind a proxy.
        public_url: String { value_name: "URL" },
        /// The reverse proxies whose `X-Forwarded-For` or `Forwarded` header names the client,
        /// as addresses or CIDRs separated by commas (`10.0.0.0/8, ::1`). A request from one of
        /// them is taken to come from the first address, walking those headers from the
        /// right, that is not a trusted proxy; login throttling, rate limits and the logs use
        /// that address. Anyone else's forwarding headers are ignored (see `deployment.md`).
        trusted_proxies: String { value_name: "CIDRS" },
        /// Origins of browser apps allowed to call the API cross-origin with a bearer token,
        /// separated by commas (`https://app.example.com`). Cookies are never allowed
        /// cross-origin. Without it no CORS header is sent.
        cors_origins: String { value_name: "ORIGINS" },
        /// Admin token to create on first start with an empty database, without surrounding
        /// spaces. Without it a token is generated and printed once on stdout.
        admin_token: String {
            value_name: "TOKEN",
            unset: "generated",
            min_chars: Some(16),
            secret: true,
        },
        /// Namespace for ATP registrations whose body names none.
        default_namespace: String { value_name: "NAMESPACE" },
        /// Development only: accept `http` and loopback or private webhook targets;
        /// logged as a warning at start.
        allow_private_webhooks: bool { default: Some("false") },
        /// The key that encrypts webhook secrets at rest: 32 bytes, base64. Without it a key
        /// is generated once into `<data dir>/secret.key`. Replicas sharing a database must
        /// share it.
        secret_key: String { value_name: "BASE64", unset: "key file", secret: true },
        /// Largest accepted request body, in bytes; larger ones get `413 PAYLOAD_TOO_LARGE`.
        max_body_bytes: usize {
            value_name: "BYTES",
            default: Some("1048576"),
            at_least: Some("1024"),
        },
        /// HTTP worker threads.
        workers: usize { unset: "CPUs", at_least: Some("1") },
        /// Who may sign up by themselves, in the dashboard or with `POST /v1/auth/signup`:
        /// `open` (anyone who can reach the server), `invite` (only with an invite from
        /// `assent account invite`, for the invited email) or `closed` (nobody; the operator
        /// runs `assent account create`). `open` by default so that the first owner of a new
        /// install can sign up from the browser; set `invite` or `closed` on a server the
        /// public can reach, or anyone there can take namespaces.
        signup: Signup { value_name: "open|invite|closed", default: Some("open") },
        /// How long an owner's session lasts after login (`30m`, `12h`, `7d`).
        session_ttl: Duration { default: Some("7d"), at_least: Some("1m") },
        /// `off` disables every rate limit, login throttling included (tests, trusted
        /// deployments); logged as a warning.
        rate_limits: Switch { value_name: "on|off", default: Some("on") },
        /// Most services a namespace may have; both dialects count against it
        /// (`SERVICE_LIMIT_REACHED`).
        max_services_per_namespace: u32 { default: Some("100"), at_least: Some("1") },
        /// Most active API keys a service may have (`KEY_LIMIT_REACHED`).
        max_keys_per_service: u32 { default: Some("20"), at_least: Some("1") },
        /// Most webhooks a service may have, the ATP callback included
        /// (`WEBHOOK_LIMIT_REACHED`).
        max_webhooks_per_service: u32 { default: Some("20"), at_least: Some("1") },
        /// Delays before each delivery attempt, comma-separated; its length is the number of
        /// attempts (see `webhooks.md`).
        webhook_retry_schedule: String {
            value_name: "DELAYS",
            default: Some("0s,5s,5m,30m,2h,5h,10h,10h"),
        },
        /// How long a leased delivery stays leased before another sender may take it; must
        /// be longer than the delivery timeout.
        delivery_lease: Duration { default: Some("30s"), at_least: Some("100ms") },
        /// The whole of one delivery attempt.
        delivery_timeout: Duration { default: Some("10s"), at_least: Some("100ms") },
        /// Delivery attempts in flight at once, per process.
        delivery_concurrency: usize { default: Some("32"), at_least: Some("1") },
        /// How often to look for due deliveries when nothing wakes the engine (commits in this
        /// process wake it at once; on PostgreSQL so do other replicas' commits, through
        /// LISTEN/NOTIFY, and the poll is the fallback).
        delivery_poll_interval: Duration { default: Some("1s"), at_least: Some("10ms") },
        /// Disable an endpoint that has failed without a success for this long.
        webhook_disable_after: Duration { default: Some("5d"), at_least: Some("1ms") },
        /// How long a rotated-out webhook secret keeps signing beside the new one.
        webhook_secret_grace: Duration { default: Some("24h") },
        /// How long a claim stays pending before it expires (`request.expired`).
        claim_ttl: Duration { default: Some("24h"), at_least: Some("1s") },
        /// ATP service registrations per client address.
        rate_limit_registration: Rate { default: Some("10/1h") },
        /// Notifications a service may send.
        rate_limit_notifications: Rate { default: Some("100/1m") },
        /// Invalidations (`PATCH /api/v1/notifications/{id}`) per service.
        rate_limit_status_updates: Rate { default: Some("200/1m") },
        /// Client reads of notifications (list and get one) per user.
        rate_limit_polling: Rate { default: Some("60/1m") },
        /// Responses per user.
        rate_limit_responses: Rate { default: Some("100/1m") },
        /// Open WebSocket connections per user.
        max_websockets_per_user: usize { default: Some("5"), at_least: Some("1") },
        /// Open Server-Sent Events connections per user.
        max_event_streams_per_user: usize { default: Some("10"), at_least: Some("1") },
        /// How often the client streams send a heartbeat.
        stream_heartbeat: Duration { default: Some("30s"), at_least: Some("100ms") },
        /// Close a WebSocket that has sent nothing for this long (code 1008).
        stream_idle_timeout: Duration { default: Some("60s"), at_least: Some("100ms") },
        /// How often each replica looks for notification changes made by other replicas (its
        /// own commits push at once; on PostgreSQL other replicas' commits wake it at once
        /// through LISTEN/NOTIFY, and the poll is the fallback).
        change_poll_interval: Duration { default: Some("500ms"), at_least: Some("10ms") },
        /// Serve `GET /metrics` (Prometheus / OpenMetrics text) and time every request
        /// (see `operations.md`).
        metrics: Switch { value_name: "on|off", default: Some("off") },
        /// A bearer token `/metrics` requires (`Authorization: Bearer …`); without it anyone
        /// who reaches the listener may scrape.
        metrics_token: String { value_name: "TOKEN", min_chars: Some(16), secret: true },
        /// Serve `/metrics` on this address alone (say `127.0.0.1:9464`) instead of the main
        /// listener.
        metrics_bind: String { value_name: "ADDR" },
        /// Keep settled webhook deliveries (and their attempts) this long, or `forever`.
        retain_deliveries: Duration { value_name: "DURATION|forever", default: Some("30d") },
        /// Keep the response bodies of delivery attempts this long (the attempt itself stays
        /// as long as its delivery), or `forever`.
        retain_response_bodies: Duration { value_name: "DURATION|forever", default: Some("7d") },
        /// Keep events no delivery refers to any more this long, or `forever`.
        retain_events: Duration { value_name: "DURATION|forever", default: Some("30d") },
        /// Keep notifications in a final state (responded, completed, expired, invalidated)
        /// this long after their last change, or `forever`.
        retain_notifications: Duration { value_name: "DURATION|forever", default: Some("90d") },
        /// Keep archived claims (the claim history) this long, or `forever`.
        retain_claim_history: Duration { value_name: "DURATION|forever", default: Some("365d") },
        /// Keep spent nonces this long past their expiry, or `forever`.
        retain_expired_nonces: Duration { value_name: "DURATION|forever", default: Some("0s") },
        /// Keep audit log entries this long; `forever` (the default) keeps the whole log.
        retain_audit_log: Duration { value_name: "DURATION|forever", default: Some("forever") },
        /// The SMTP server that sends owners' email (see `channels.md`): `smtps://host` (TLS),
        /// `smtp://host?tls=required` (STARTTLS), or `smtp://127.0.0.1:25` (plain, loopback
        /// only); `user:password@` before the host to log in. Without it, email channels
        /// wait (their messages are retried). Never logged.
        smtp_url: String { value_name: "URL", secret: true },
        /// The sender of owners' email, `assent@example.com` or `assent <assent@example.com>`.
        mail_from: String { value_name: "ADDRESS", default: Some("assent@localhost") },
        /// The VAPID private key that signs Web Push messages (see `channels.md`): a P-256
        /// private key, 32 bytes in base64url. Without it a key is generated once into
        /// `<data dir>/vapid.key`. Replicas sharing a database must share it (browsers
        /// subscribed with its public half).
        vapid_private_key: String { value_name: "BASE64URL", unset: "key file", secret: true },
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// `ASSENT_SIGNUP`: [`assent_core::SignupPolicy`] as a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    Open,
    Invite,
    Closed,
}

impl From<Signup> for assent_core::SignupPolicy {
    fn from(signup: Signup) -> Self {
        match signup {
            Signup::Open => Self::Open,
            Signup::Invite => Self::Invite,
            Signup::Closed => Self::Closed,
        }
    }
}

raw_value_enum!(LogFormat, Switch, Signup);
