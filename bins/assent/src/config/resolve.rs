//! From the merged settings to what the server runs with: each value parsed, checked against
//! its row's minimum and turned into the types of the library crates. Every setting is read
//! here once; its default, minimum and name come from the table in `settings.rs`. A problem
//! is an error that names the setting, never a panic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use assent_auth::{Secret, SecretKey};

use crate::config::settings::{LogFormat, ServeArgs, StorageArgs, Switch, setting};

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
        let data_dir = self.data_dir().value()?;
        let database_url = self
            .database_url()
            .get()?
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("assent.db").display()));
        assent_store::DatabaseUrl::parse(&database_url)
            .map_err(|e| setting::database_url.error(e))?;
        let pool = assent_store::PoolOptions {
            max_connections: self.database_pool_size().value()?,
            ..Default::default()
        };
        Ok(StorageConfig {
            data_dir,
            database_url,
            pool,
            log: self.log().value()?,
            log_format: self.log_format().value()?,
        })
    }
}

/// Everything `assent serve` needs, resolved and validated.
#[derive(Debug)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub public_url: Option<url::Url>,
    pub trusted_proxies: assent_http::TrustedProxies,
    pub cors_origins: Vec<String>,
    pub admin_token: Option<Secret>,
    pub default_namespace: Option<assent_core::Namespace>,
    pub allow_private_webhooks: bool,
    pub secret_key: Option<SecretKey>,
    pub max_body_bytes: usize,
    pub workers: Option<usize>,
    pub session_ttl: Duration,
    pub signup: assent_core::SignupPolicy,
    pub rate_limits: bool,
    pub quotas: assent_http::Quotas,
    pub secret_grace: Duration,
    pub claim_ttl: Duration,
    pub rate: assent_http::rate_limit::RateLimits,
    pub stream_heartbeat: Duration,
    pub stream_idle_timeout: Duration,
    pub change_poll_interval: Duration,
    pub engine: assent_delivery::EngineConfig,
    pub metrics: assent_http::metrics::MetricsSettings,
    /// Where `/metrics` is served alone, if not on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    pub retention: assent_store::Retention,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub vapid_key: Option<assent_auth::web_push::VapidKey>,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let bind = self.bind().value()?;
        let bind: SocketAddr = bind.parse().with_context(|| {
            setting::bind.error(format!("`{bind}` is not an address like 127.0.0.1:8080"))
        })?;
        let public_url = self.public_url().read_optional(|setting, raw| {
            let url = url::Url::parse(&raw)
                .with_context(|| setting.error(format!("`{raw}` is not a URL")))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("{} must be an http or https URL", setting.env);
            }
            Ok(url)
        })?;
        let trusted_proxies = self
            .trusted_proxies()
            .read_optional(|setting, raw| {
                assent_http::TrustedProxies::parse(&raw).map_err(|why| setting.error(why))
            })?
            .unwrap_or_default();
        let cors_origins = self
            .cors_origins()
            .read_optional(|setting, raw| cors_origins(&raw).map_err(|why| setting.error(why)))?
            .unwrap_or_default();
        let admin_token = self.admin_token().read_optional(|setting, token| {
            let min = setting.min_chars.unwrap_or_default();
            if token.trim() != token || token.chars().count() < min {
                bail!(
                    "{} must be at least {min} characters, without surrounding spaces",
                    setting.env
                );
            }
            Ok(Secret::new(token))
        })?;
        let default_namespace = self.default_namespace().read_optional(|setting, ns| {
            assent_core::Namespace::parse(&ns).map_err(|why| setting.error(format!("`{ns}` {why}")))
        })?;
        let secret_key = self.secret_key().read_optional(|setting, text| {
            SecretKey::from_base64(&text).map_err(|e| setting.error(e))
        })?;
        let max_body_bytes = self.max_body_bytes().value()?;
        let workers = self.workers().get()?;
        let session_ttl = self
            .session_ttl()
            .duration_or("is not a duration of at least a minute, like 30m, 12h or 7d")?;
        let allow_private_webhooks = self.allow_private_webhooks().value()?;
        let schedule = self.webhook_retry_schedule().read(|setting, raw| {
            assent_core::delivery::RetrySchedule::parse(&raw).map_err(|why| setting.error(why))
        })?;
        let engine = assent_delivery::EngineConfig {
            schedule,
            lease: self.delivery_lease().duration()?,
            timeout: self.delivery_timeout().duration()?,
            concurrency: self.delivery_concurrency().value()?,
            poll_interval: self.delivery_poll_interval().duration()?,
            disable_after: self.webhook_disable_after().duration()?,
            policy: assent_core::WebhookUrlPolicy {
                allow_private: allow_private_webhooks,
            },
        };
        let secret_grace = self.webhook_secret_grace().duration()?;
        let claim_ttl = self.claim_ttl().duration()?;
        if engine.lease <= engine.timeout {
            bail!(
                "{} ({:?}) must be longer than {} ({:?}), or a slow attempt could be sent again \
                 by another replica while it runs",
                setting::delivery_lease.env,
                engine.lease,
                setting::delivery_timeout.env,
                engine.timeout
            );
        }
        let rate = assent_http::rate_limit::RateLimits {
            registration: self.rate_limit_registration().rate()?,
            submission: self.rate_limit_notifications().rate()?,
            status_update: self.rate_limit_status_updates().rate()?,
            polling: self.rate_limit_polling().rate()?,
            response: self.rate_limit_responses().rate()?,
            websockets_per_user: self.max_websockets_per_user().value()?,
            sse_per_user: self.max_event_streams_per_user().value()?,
        };
        let quotas = assent_http::Quotas {
            services_per_namespace: self.max_services_per_namespace().value()?,
            keys_per_service: self.max_keys_per_service().value()?,
            webhooks_per_service: self.max_webhooks_per_service().value()?,
        };
        let metrics_bind = self.metrics_bind().read_optional(|setting, raw| {
            raw.parse::<SocketAddr>().with_context(|| {
                setting.error(format!("`{raw}` is not an address like 127.0.0.1:9464"))
            })
        })?;
        let metrics_token = self.metrics_token().read_optional(|setting, token| {
            let min = setting.min_chars.unwrap_or_default();
            if token.trim() != token || token.chars().count() < min {
                bail!(
                    "{} must be at least {min} characters, without surrounding spaces",
                    setting.env
                );
            }
            Ok(Secret::new(token))
        })?;
        let metrics = assent_http::metrics::MetricsSettings {
            // A separate address asks for the metrics as clearly as the switch does.
            enabled: self.metrics().value()? == Switch::On || metrics_bind.is_some(),
            token: metrics_token,
            separate: metrics_bind.is_some(),
        };
        let retention = assent_store::Retention {
            deliveries: self.retain_deliveries().retention()?,
            response_bodies: self.retain_response_bodies().retention()?,
            events: self.retain_events().retention()?,
            notifications: self.retain_notifications().retention()?,
            claim_history: self.retain_claim_history().retention()?,
            nonces: self.retain_expired_nonces().retention()?,
            audit_log: self.retain_audit_log().retention()?,
        };
        let smtp_url = self.smtp_url().read_optional(|setting, raw| {
            assent_delivery::messages::check_smtp_url(&raw).map_err(|why| setting.error(why))?;
            Ok(raw)
        })?;
        let mail_from = self.mail_from().read(|setting, raw| {
            assent_delivery::messages::check_mail_from(&raw).map_err(|why| setting.error(why))?;
            Ok(raw)
        })?;
        let vapid_key = self.vapid_private_key().read_optional(|setting, text| {
            assent_auth::web_push::VapidKey::from_base64url(&text).map_err(|e| setting.error(e))
        })?;
        Ok(ServeConfig {
            vapid_key,
            metrics,
            metrics_bind,
            retention,
            smtp_url,
            mail_from,
            bind,
            public_url,
            trusted_proxies,
            cors_origins,
            admin_token,
            default_namespace,
            allow_private_webhooks,
            secret_key,
            max_body_bytes,
            workers,
            session_ttl,
            signup: self.signup().value()?.into(),
            rate_limits: self.rate_limits().value()? == Switch::On,
            quotas,
            secret_grace,
            claim_ttl,
            rate,
            stream_heartbeat: self.stream_heartbeat().duration()?,
            stream_idle_timeout: self.stream_idle_timeout().duration()?,
            change_poll_interval: self.change_poll_interval().duration()?,
            engine,
        })
    }
}

/// Origins separated by commas or spaces, each `scheme://host[:port]` of http or https, in
/// the form browsers send in `Origin` (so `https://App.example.com:443` is
/// `https://app.example.com`).
fn cors_origins(text: &str) -> Result<Vec<String>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let not_an_origin =
                || format!("`{entry}` is not an origin like https://app.example.com");
            let url = url::Url::parse(entry).map_err(|_| not_an_origin())?;
            let bare = url.path() == "/"
                && !entry.ends_with('/')
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none();
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
                return Err(not_an_origin());
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}
