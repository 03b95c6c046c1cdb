//! Configuration: a typed struct from, in order of precedence, command-line flags,
//! `ASSENT_*` environment variables, an optional TOML file (`--config`), and defaults.
//! Every problem is reported at start with the name of the setting, never as a panic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assent_core::time::parse_duration;

use anyhow::{Context, bail};
use assent_auth::{Secret, SecretKey};
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Settings shared by every subcommand: where the data lives and how to log.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageArgs {
    /// Directory for the embedded SQLite database and the generated secret key.
    /// [default: ./data]
    #[arg(long, env = "ASSENT_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Database URL: sqlite://<path> or postgres://user@host/db.
    /// [default: sqlite://<data dir>/assent.db]
    #[arg(
        long,
        env = "ASSENT_DATABASE_URL",
        value_name = "URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections. [default: 16]
    #[arg(
        long,
        env = "ASSENT_DATABASE_POOL_SIZE",
        value_name = "N",
        global = true
    )]
    pub database_pool_size: Option<u32>,

    /// Log filter, in tracing's env-filter syntax (e.g. `info`, `assent_http=debug`).
    /// [default: info]
    #[arg(long, env = "ASSENT_LOG", value_name = "FILTER", global = true)]
    pub log: Option<String>,

    /// Log line format. [default: text]
    #[arg(long, env = "ASSENT_LOG_FORMAT", value_name = "FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings of `assent serve`.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// Address to listen on. [default: 127.0.0.1:8080]
    #[arg(long, env = "ASSENT_BIND", value_name = "ADDR")]
    pub bind: Option<String>,

    /// The URL users reach this server at (e.g. https://assent.example.com).
    #[arg(long, env = "ASSENT_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Admin token to create on first start with an empty database (at least 16
    /// characters). Without it a token is generated and printed once.
    #[arg(
        long,
        env = "ASSENT_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Namespace for ATP registrations whose body names none.
    #[arg(long, env = "ASSENT_DEFAULT_NAMESPACE", value_name = "NAMESPACE")]
    pub default_namespace: Option<String>,

    /// Development only: allow http and loopback or private webhook targets.
    /// [default: false]
    #[arg(long, env = "ASSENT_ALLOW_PRIVATE_WEBHOOKS", value_name = "BOOL")]
    pub allow_private_webhooks: Option<bool>,

    /// Key that encrypts webhook secrets at rest: 32 bytes, base64. Without it a key is
    /// generated once into <data dir>/secret.key. Replicas sharing a database must share it.
    #[arg(
        long,
        env = "ASSENT_SECRET_KEY",
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// Largest accepted request body, in bytes. [default: 1048576]
    #[arg(long, env = "ASSENT_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// HTTP worker threads. [default: the number of CPUs]
    #[arg(long, env = "ASSENT_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// How long an owner's session lasts after login, e.g. 12h, 7d. [default: 7d]
    #[arg(long, env = "ASSENT_SESSION_TTL", value_name = "DURATION")]
    pub session_ttl: Option<String>,

    /// `off` disables every rate limit (login throttling included), for tests and trusted
    /// deployments. [default: on]
    #[arg(long, env = "ASSENT_RATE_LIMITS", value_name = "on|off")]
    pub rate_limits: Option<Switch>,

    /// Most services a namespace may have. [default: 100]
    #[arg(long, env = "ASSENT_MAX_SERVICES_PER_NAMESPACE", value_name = "N")]
    pub max_services_per_namespace: Option<u32>,

    /// Most active API keys a service may have. [default: 20]
    #[arg(long, env = "ASSENT_MAX_KEYS_PER_SERVICE", value_name = "N")]
    pub max_keys_per_service: Option<u32>,

    /// Most webhooks a service may have. [default: 20]
    #[arg(long, env = "ASSENT_MAX_WEBHOOKS_PER_SERVICE", value_name = "N")]
    pub max_webhooks_per_service: Option<u32>,

    /// Delays before each delivery attempt, comma-separated; its length is the number of
    /// attempts. [default: 0s,5s,5m,30m,2h,5h,10h,10h]
    #[arg(long, env = "ASSENT_WEBHOOK_RETRY_SCHEDULE", value_name = "DELAYS")]
    pub webhook_retry_schedule: Option<String>,

    /// How long a leased delivery stays leased before another sender may take it. [default: 30s]
    #[arg(long, env = "ASSENT_DELIVERY_LEASE", value_name = "DURATION")]
    pub delivery_lease: Option<String>,

    /// The whole of one delivery attempt. [default: 10s]
    #[arg(long, env = "ASSENT_DELIVERY_TIMEOUT", value_name = "DURATION")]
    pub delivery_timeout: Option<String>,

    /// Delivery attempts in flight at once in this process. [default: 32]
    #[arg(long, env = "ASSENT_DELIVERY_CONCURRENCY", value_name = "N")]
    pub delivery_concurrency: Option<usize>,

    /// How often to look for due deliveries when nothing wakes the engine. [default: 1s]
    #[arg(long, env = "ASSENT_DELIVERY_POLL_INTERVAL", value_name = "DURATION")]
    pub delivery_poll_interval: Option<String>,

    /// Disable an endpoint that has failed without a success for this long. [default: 5d]
    #[arg(long, env = "ASSENT_WEBHOOK_DISABLE_AFTER", value_name = "DURATION")]
    pub webhook_disable_after: Option<String>,

    /// How long a rotated-out webhook secret keeps signing beside the new one. [default: 24h]
    #[arg(long, env = "ASSENT_WEBHOOK_SECRET_GRACE", value_name = "DURATION")]
    pub webhook_secret_grace: Option<String>,

    /// How long a claim stays pending before it expires. [default: 24h]
    #[arg(long, env = "ASSENT_CLAIM_TTL", value_name = "DURATION")]
    pub claim_ttl: Option<String>,

    /// ATP service registrations per client address. [default: 10/1h]
    #[arg(
        long,
        env = "ASSENT_RATE_LIMIT_REGISTRATION",
        value_name = "N/DURATION"
    )]
    pub rate_limit_registration: Option<String>,

    /// Notifications a service may send. [default: 100/1m]
    #[arg(
        long,
        env = "ASSENT_RATE_LIMIT_NOTIFICATIONS",
        value_name = "N/DURATION"
    )]
    pub rate_limit_notifications: Option<String>,

    /// Notification status updates (invalidations) per service. [default: 200/1m]
    #[arg(
        long,
        env = "ASSENT_RATE_LIMIT_STATUS_UPDATES",
        value_name = "N/DURATION"
    )]
    pub rate_limit_status_updates: Option<String>,

    /// Client reads of notifications per user. [default: 60/1m]
    #[arg(long, env = "ASSENT_RATE_LIMIT_POLLING", value_name = "N/DURATION")]
    pub rate_limit_polling: Option<String>,

    /// Responses per user. [default: 100/1m]
    #[arg(long, env = "ASSENT_RATE_LIMIT_RESPONSES", value_name = "N/DURATION")]
    pub rate_limit_responses: Option<String>,

    /// Open WebSocket connections per user. [default: 5]
    #[arg(long, env = "ASSENT_MAX_WEBSOCKETS_PER_USER", value_name = "N")]
    pub max_websockets_per_user: Option<usize>,

    /// Open Server-Sent Events connections per user. [default: 10]
    #[arg(long, env = "ASSENT_MAX_EVENT_STREAMS_PER_USER", value_name = "N")]
    pub max_event_streams_per_user: Option<usize>,

    /// How often the client streams send a heartbeat. [default: 30s]
    #[arg(long, env = "ASSENT_STREAM_HEARTBEAT", value_name = "DURATION")]
    pub stream_heartbeat: Option<String>,

    /// Close a WebSocket that has sent nothing for this long. [default: 60s]
    #[arg(long, env = "ASSENT_STREAM_IDLE_TIMEOUT", value_name = "DURATION")]
    pub stream_idle_timeout: Option<String>,

    /// How often to look for notification changes made by other replicas. [default: 500ms]
    #[arg(long, env = "ASSENT_CHANGE_POLL_INTERVAL", value_name = "DURATION")]
    pub change_poll_interval: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// The optional TOML file: the same keys as the flags, in snake case, at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(flatten)]
    pub storage: StorageArgs,
    #[serde(flatten)]
    pub serve: ServeArgs,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

macro_rules! merge_fields {
    ($winner:expr, $fallback:expr, [$($field:ident),+ $(,)?]) => {
        $( if $winner.$field.is_none() { $winner.$field = $fallback.$field.take(); } )+
    };
}

impl StorageArgs {
    /// Fills every unset field from `file`.
    pub fn or(mut self, mut file: Self) -> Self {
        merge_fields!(
            self,
            file,
            [data_dir, database_url, database_pool_size, log, log_format]
        );
        self
    }
}

impl ServeArgs {
    /// Fills every unset field from `file`.
    pub fn or(mut self, mut file: Self) -> Self {
        merge_fields!(
            self,
            file,
            [
                bind,
                public_url,
                admin_token,
                default_namespace,
                allow_private_webhooks,
                secret_key,
                max_body_bytes,
                workers,
                session_ttl,
                rate_limits,
                max_services_per_namespace,
                max_keys_per_service,
                max_webhooks_per_service,
                webhook_retry_schedule,
                delivery_lease,
                delivery_timeout,
                delivery_concurrency,
                delivery_poll_interval,
                webhook_disable_after,
                webhook_secret_grace,
                claim_ttl,
                rate_limit_registration,
                rate_limit_notifications,
                rate_limit_status_updates,
                rate_limit_polling,
                rate_limit_responses,
                max_websockets_per_user,
                max_event_streams_per_user,
                stream_heartbeat,
                stream_idle_timeout,
                change_poll_interval,
            ]
        );
        self
    }
}

/// Where the data lives, resolved.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub pool: assent_store::PoolOptions,
    pub log: String,
    pub log_format: LogFormat,
}

impl StorageArgs {
    pub fn resolve(self) -> anyhow::Result<StorageConfig> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("assent.db").display()));
        assent_store::DatabaseUrl::parse(&database_url)
            .map_err(|e| anyhow::anyhow!("ASSENT_DATABASE_URL: {e}"))?;
        let mut pool = assent_store::PoolOptions::default();
        if let Some(size) = self.database_pool_size {
            if size == 0 {
                bail!("ASSENT_DATABASE_POOL_SIZE must be at least 1");
            }
            pool.max_connections = size;
        }
        Ok(StorageConfig {
            data_dir,
            database_url,
            pool,
            log: self.log.unwrap_or_else(|| "info".to_owned()),
            log_format: self.log_format.unwrap_or_default(),
        })
    }
}

/// Everything `assent serve` needs, resolved and validated.
#[derive(Debug)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub public_url: Option<url::Url>,
    pub admin_token: Option<Secret>,
    pub default_namespace: Option<assent_core::Namespace>,
    pub allow_private_webhooks: bool,
    pub secret_key: Option<SecretKey>,
    pub max_body_bytes: usize,
    pub workers: Option<usize>,
    pub session_ttl: Duration,
    pub rate_limits: bool,
    pub quotas: assent_http::Quotas,
    pub secret_grace: Duration,
    pub claim_ttl: Duration,
    pub rate: assent_http::rate_limit::RateLimits,
    pub stream_heartbeat: Duration,
    pub stream_idle_timeout: Duration,
    pub change_poll_interval: Duration,
    pub engine: assent_delivery::EngineConfig,
}

pub const ADMIN_TOKEN_MIN_CHARS: usize = 16;

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let bind = self.bind.as_deref().unwrap_or("127.0.0.1:8080");
        let bind: SocketAddr = bind.parse().with_context(|| {
            format!("ASSENT_BIND: `{bind}` is not an address like 127.0.0.1:8080")
        })?;
        let public_url = self
            .public_url
            .map(|raw| {
                let url = url::Url::parse(&raw)
                    .with_context(|| format!("ASSENT_PUBLIC_URL: `{raw}` is not a URL"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    bail!("ASSENT_PUBLIC_URL must be an http or https URL");
                }
                Ok(url)
            })
            .transpose()?;
        let admin_token = self
            .admin_token
            .map(|token| {
                if token.trim() != token || token.chars().count() < ADMIN_TOKEN_MIN_CHARS {
                    bail!(
                        "ASSENT_ADMIN_TOKEN must be at least {ADMIN_TOKEN_MIN_CHARS} characters, \
                         without surrounding spaces"
                    );
                }
                Ok(Secret::new(token))
            })
            .transpose()?;
        let default_namespace = self
            .default_namespace
            .map(|ns| {
                assent_core::Namespace::parse(&ns)
                    .map_err(|why| anyhow::anyhow!("ASSENT_DEFAULT_NAMESPACE: `{ns}` {why}"))
            })
            .transpose()?;
        let secret_key = self
            .secret_key
            .map(|text| {
                SecretKey::from_base64(&text).map_err(|e| anyhow::anyhow!("ASSENT_SECRET_KEY: {e}"))
            })
            .transpose()?;
        let max_body_bytes = self.max_body_bytes.unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("ASSENT_MAX_BODY_BYTES must be at least 1024");
        }
        if self.workers == Some(0) {
            bail!("ASSENT_WORKERS must be at least 1");
        }
        let session_ttl = match self.session_ttl.as_deref() {
            None => Duration::from_secs(7 * 24 * 3600),
            Some(raw) => parse_duration(raw)
                .filter(|d| *d >= Duration::from_secs(60))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "ASSENT_SESSION_TTL: `{raw}` is not a duration of at least a minute, \
                         like 30m, 12h or 7d"
                    )
                })?,
        };
        let duration = |value: &Option<String>, name: &str, default: Duration, min: Duration| {
            match value {
            None => Ok(default),
            Some(raw) => parse_duration(raw).filter(|d| *d >= min).ok_or_else(|| {
                anyhow::anyhow!("{name}: `{raw}` is not a duration of at least {min:?}, like 500ms, 10s or 5m")
            }),
        }
        };
        let engine_defaults = assent_delivery::EngineConfig::default();
        let schedule = match &self.webhook_retry_schedule {
            None => engine_defaults.schedule.clone(),
            Some(raw) => assent_core::delivery::RetrySchedule::parse(raw)
                .map_err(|why| anyhow::anyhow!("ASSENT_WEBHOOK_RETRY_SCHEDULE: {why}"))?,
        };
        let millis = Duration::from_millis;
        let engine = assent_delivery::EngineConfig {
            schedule,
            lease: duration(
                &self.delivery_lease,
                "ASSENT_DELIVERY_LEASE",
                engine_defaults.lease,
                millis(100),
            )?,
            timeout: duration(
                &self.delivery_timeout,
                "ASSENT_DELIVERY_TIMEOUT",
                engine_defaults.timeout,
                millis(100),
            )?,
            concurrency: match self.delivery_concurrency {
                Some(0) => bail!("ASSENT_DELIVERY_CONCURRENCY must be at least 1"),
                Some(n) => n,
                None => engine_defaults.concurrency,
            },
            poll_interval: duration(
                &self.delivery_poll_interval,
                "ASSENT_DELIVERY_POLL_INTERVAL",
                engine_defaults.poll_interval,
                millis(10),
            )?,
            disable_after: duration(
                &self.webhook_disable_after,
                "ASSENT_WEBHOOK_DISABLE_AFTER",
                engine_defaults.disable_after,
                millis(1),
            )?,
            policy: assent_core::WebhookUrlPolicy {
                allow_private: self.allow_private_webhooks.unwrap_or(false),
            },
        };
        let secret_grace = duration(
            &self.webhook_secret_grace,
            "ASSENT_WEBHOOK_SECRET_GRACE",
            Duration::from_secs(24 * 3600),
            Duration::ZERO,
        )?;
        let claim_ttl = duration(
            &self.claim_ttl,
            "ASSENT_CLAIM_TTL",
            Duration::from_secs(24 * 3600),
            Duration::from_secs(1),
        )?;
        if engine.lease <= engine.timeout {
            bail!(
                "ASSENT_DELIVERY_LEASE ({:?}) must be longer than ASSENT_DELIVERY_TIMEOUT ({:?}), \
                 or a slow attempt could be sent again by another replica while it runs",
                engine.lease,
                engine.timeout
            );
        }
        let rate_defaults = assent_http::rate_limit::RateLimits::default();
        let rate = |value: &Option<String>, name: &str, default| match value {
            None => Ok(default),
            Some(raw) => assent_http::rate_limit::Rate::parse(raw).ok_or_else(|| {
                anyhow::anyhow!("{name}: `{raw}` is not a rate like 100/1m or 10/1h")
            }),
        };
        let connections = |value: Option<usize>, name: &str, default: usize| match value {
            Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let rate = assent_http::rate_limit::RateLimits {
            registration: rate(
                &self.rate_limit_registration,
                "ASSENT_RATE_LIMIT_REGISTRATION",
                rate_defaults.registration,
            )?,
            submission: rate(
                &self.rate_limit_notifications,
                "ASSENT_RATE_LIMIT_NOTIFICATIONS",
                rate_defaults.submission,
            )?,
            status_update: rate(
                &self.rate_limit_status_updates,
                "ASSENT_RATE_LIMIT_STATUS_UPDATES",
                rate_defaults.status_update,
            )?,
            polling: rate(
                &self.rate_limit_polling,
                "ASSENT_RATE_LIMIT_POLLING",
                rate_defaults.polling,
            )?,
            response: rate(
                &self.rate_limit_responses,
                "ASSENT_RATE_LIMIT_RESPONSES",
                rate_defaults.response,
            )?,
            websockets_per_user: connections(
                self.max_websockets_per_user,
                "ASSENT_MAX_WEBSOCKETS_PER_USER",
                rate_defaults.websockets_per_user,
            )?,
            sse_per_user: connections(
                self.max_event_streams_per_user,
                "ASSENT_MAX_EVENT_STREAMS_PER_USER",
                rate_defaults.sse_per_user,
            )?,
        };
        let stream_heartbeat = duration(
            &self.stream_heartbeat,
            "ASSENT_STREAM_HEARTBEAT",
            Duration::from_secs(30),
            millis(100),
        )?;
        let stream_idle_timeout = duration(
            &self.stream_idle_timeout,
            "ASSENT_STREAM_IDLE_TIMEOUT",
            Duration::from_secs(60),
            millis(100),
        )?;
        let change_poll_interval = duration(
            &self.change_poll_interval,
            "ASSENT_CHANGE_POLL_INTERVAL",
            Duration::from_millis(500),
            millis(10),
        )?;
        let defaults = assent_http::Quotas::default();
        let quota = |value: Option<u32>, default: u32, name: &str| match value {
            Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let quotas = assent_http::Quotas {
            services_per_namespace: quota(
                self.max_services_per_namespace,
                defaults.services_per_namespace,
                "ASSENT_MAX_SERVICES_PER_NAMESPACE",
            )?,
            keys_per_service: quota(
                self.max_keys_per_service,
                defaults.keys_per_service,
                "ASSENT_MAX_KEYS_PER_SERVICE",
            )?,
            webhooks_per_service: quota(
                self.max_webhooks_per_service,
                defaults.webhooks_per_service,
                "ASSENT_MAX_WEBHOOKS_PER_SERVICE",
            )?,
        };
        Ok(ServeConfig {
            bind,
            public_url,
            admin_token,
            default_namespace,
            allow_private_webhooks: self.allow_private_webhooks.unwrap_or(false),
            secret_key,
            max_body_bytes,
            workers: self.workers,
            session_ttl,
            rate_limits: self.rate_limits != Some(Switch::Off),
            quotas,
            secret_grace,
            claim_ttl,
            rate,
            stream_heartbeat,
            stream_idle_timeout,
            change_poll_interval,
            engine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup() {
        let storage = StorageArgs::default().resolve().unwrap();
        assert_eq!(storage.data_dir, PathBuf::from("./data"));
        assert_eq!(storage.database_url, "sqlite://./data/assent.db");
        assert_eq!(storage.log, "info");
        let serve = ServeArgs::default().resolve().unwrap();
        assert_eq!(serve.bind.to_string(), "127.0.0.1:8080");
        assert!(!serve.allow_private_webhooks);
        assert_eq!(serve.max_body_bytes, 1024 * 1024);
        assert!(serve.admin_token.is_none());
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            "bind = \"0.0.0.0:9000\"\ndefault_namespace = \"ada\"\ndata_dir = \"/srv/assent\"",
        )
        .unwrap();
        let cli = ServeArgs {
            bind: Some("127.0.0.1:7000".into()),
            ..ServeArgs::default()
        };
        let serve = cli.or(file.serve).resolve().unwrap();
        assert_eq!(serve.bind.to_string(), "127.0.0.1:7000");
        assert_eq!(
            serve.default_namespace.map(|n| n.to_string()),
            Some("ada".into())
        );
        let storage = StorageArgs::default().or(file.storage).resolve().unwrap();
        assert_eq!(storage.database_url, "sqlite:///srv/assent/assent.db");
    }

    #[test]
    fn durations_and_switches() {
        let serve = ServeArgs {
            rate_limits: Some(Switch::Off),
            session_ttl: Some("12h".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert!(!serve.rate_limits);
        assert_eq!(serve.session_ttl, Duration::from_secs(43_200));
        assert!(ServeArgs::default().resolve().unwrap().rate_limits);
        assert!(
            ServeArgs {
                session_ttl: Some("10s".into()),
                ..Default::default()
            }
            .resolve()
            .is_err()
        );
        assert!(
            ServeArgs {
                max_keys_per_service: Some(0),
                ..Default::default()
            }
            .resolve()
            .is_err()
        );
    }

    #[test]
    fn delivery_settings_are_checked() {
        let fast = ServeArgs {
            webhook_retry_schedule: Some("0s,100ms".into()),
            delivery_lease: Some("2s".into()),
            delivery_timeout: Some("500ms".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(fast.engine.schedule.attempts(), 2);
        assert_eq!(fast.engine.timeout, Duration::from_millis(500));
        let error = ServeArgs {
            delivery_lease: Some("5s".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("ASSENT_DELIVERY_LEASE"),
            "the lease must outlast an attempt"
        );
        for bad in [
            ServeArgs {
                webhook_retry_schedule: Some("soon".into()),
                ..Default::default()
            },
            ServeArgs {
                delivery_concurrency: Some(0),
                ..Default::default()
            },
            ServeArgs {
                claim_ttl: Some("0s".into()),
                ..Default::default()
            },
            ServeArgs {
                delivery_poll_interval: Some("1ms".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve().is_err());
        }
    }

    /// Every setting can come from the file: a field missing from `merge_fields!` would stay
    /// `None` here (and show in the Debug output), whatever its name.
    #[test]
    fn every_setting_is_read_from_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            data_dir = "/srv/assent"
            database_url = "sqlite:///srv/assent/a.db"
            database_pool_size = 4
            log = "debug"
            log_format = "json"
            bind = "127.0.0.1:9000"
            public_url = "https://assent.example.com"
            admin_token = "adm_file_token_0123456789"
            default_namespace = "ada"
            allow_private_webhooks = false
            secret_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            max_body_bytes = 4096
            workers = 2
            session_ttl = "12h"
            rate_limits = "off"
            max_services_per_namespace = 5
            max_keys_per_service = 5
            max_webhooks_per_service = 5
            webhook_retry_schedule = "0s,1s"
            delivery_lease = "20s"
            delivery_timeout = "5s"
            delivery_concurrency = 8
            delivery_poll_interval = "2s"
            webhook_disable_after = "1d"
            webhook_secret_grace = "1h"
            claim_ttl = "2h"
            rate_limit_registration = "5/1h"
            rate_limit_notifications = "50/1m"
            rate_limit_status_updates = "60/1m"
            rate_limit_polling = "30/1m"
            rate_limit_responses = "20/1m"
            max_websockets_per_user = 3
            max_event_streams_per_user = 4
            stream_heartbeat = "15s"
            stream_idle_timeout = "45s"
            change_poll_interval = "250ms"
            "#,
        )
        .unwrap();
        let storage = StorageArgs::default().or(file.storage);
        let serve = ServeArgs::default().or(file.serve);
        assert!(!format!("{storage:?}").contains("None"), "{storage:?}");
        assert!(!format!("{serve:?}").contains("None"), "{serve:?}");
        let resolved = serve.resolve().unwrap();
        assert_eq!(resolved.session_ttl, Duration::from_secs(43_200));
        assert!(!resolved.rate_limits);
        assert_eq!(resolved.claim_ttl, Duration::from_secs(7200));
        assert_eq!(resolved.engine.concurrency, 8);
        assert_eq!(
            resolved.rate.submission,
            assent_http::rate_limit::Rate::per_minute(50)
        );
        assert_eq!(resolved.rate.websockets_per_user, 3);
        assert_eq!(resolved.stream_idle_timeout, Duration::from_secs(45));
        assert_eq!(resolved.change_poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn rates_and_connection_limits_are_checked() {
        for bad in [
            ServeArgs {
                rate_limit_notifications: Some("many".into()),
                ..Default::default()
            },
            ServeArgs {
                rate_limit_polling: Some("0/1m".into()),
                ..Default::default()
            },
            ServeArgs {
                max_websockets_per_user: Some(0),
                ..Default::default()
            },
            ServeArgs {
                stream_heartbeat: Some("1ms".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve().is_err());
        }
        let defaults = ServeArgs::default().resolve().unwrap();
        assert_eq!(
            defaults.rate,
            assent_http::rate_limit::RateLimits::default()
        );
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("bnid = \"x\"").is_err());
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let cases: [(ServeArgs, &str); 6] = [
            (
                ServeArgs {
                    bind: Some("nonsense".into()),
                    ..Default::default()
                },
                "ASSENT_BIND",
            ),
            (
                ServeArgs {
                    admin_token: Some("short".into()),
                    ..Default::default()
                },
                "ASSENT_ADMIN_TOKEN",
            ),
            (
                ServeArgs {
                    default_namespace: Some("Not Valid".into()),
                    ..Default::default()
                },
                "ASSENT_DEFAULT_NAMESPACE",
            ),
            (
                ServeArgs {
                    secret_key: Some("abc".into()),
                    ..Default::default()
                },
                "ASSENT_SECRET_KEY",
            ),
            (
                ServeArgs {
                    public_url: Some("ftp://x".into()),
                    ..Default::default()
                },
                "ASSENT_PUBLIC_URL",
            ),
            (
                ServeArgs {
                    max_body_bytes: Some(10),
                    ..Default::default()
                },
                "ASSENT_MAX_BODY_BYTES",
            ),
        ];
        for (args, name) in cases {
            let error = format!("{:#}", args.resolve().unwrap_err());
            assert!(error.contains(name), "{error}");
        }
        let storage = StorageArgs {
            database_url: Some("mysql://x/y".into()),
            ..Default::default()
        };
        assert!(format!("{:#}", storage.resolve().unwrap_err()).contains("ASSENT_DATABASE_URL"));
    }
}
