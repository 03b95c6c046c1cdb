use std::sync::Arc;
use std::time::Duration;

use assent_auth::SecretKey;
use assent_auth::rfc9421::ProofCache;
use assent_core::WebhookUrlPolicy;
use assent_store::Store;
use url::Url;

use crate::feed::ChangeFeed;
use crate::nonces::NonceBatcher;
use crate::rate_limit::{ConnectionLimit, RateLimiter, RateLimits};
use crate::throttle::LoginThrottle;

/// Distinct agent certificates remembered as verified (32 bytes each): far more agents than
/// one deployment has, in a few MiB at most.
const CERTIFICATE_PROOFS_KEPT: usize = 100_000;

/// What the HTTP layer needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The URL users reach the server at: its origin is the one cookie-authenticated writes
    /// must come from, and an https URL makes the session cookie `Secure`.
    pub public_url: Option<Url>,
    /// Where `POST /api/v1/services` puts a service whose body names no namespace.
    pub default_namespace: Option<String>,
    pub webhook_policy: WebhookUrlPolicy,
    /// Largest accepted request body; larger ones are a 413.
    pub max_body_bytes: usize,
    /// How long an owner's session lasts after login.
    pub session_ttl: Duration,
    pub quotas: Quotas,
    /// `false` turns off every rate limit (`ASSENT_RATE_LIMITS=off`).
    pub rate_limits: bool,
    /// How long a rotated-out webhook secret keeps signing next to the new one.
    pub secret_grace: Duration,
    /// How long a claim stays pending before it expires.
    pub claim_ttl: Duration,
    /// The ATP rate limits (enforced unless `rate_limits` is off).
    pub rate: RateLimits,
    /// How often the client streams (SSE, WebSocket) send a heartbeat.
    pub stream_heartbeat: Duration,
    /// A WebSocket that sends nothing for this long is closed.
    pub stream_idle_timeout: Duration,
    /// How often the change feed looks for other replicas' changes (this process's own
    /// wake it at once).
    pub feed_poll: Duration,
}

/// Per-namespace and per-service limits; generous by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub services_per_namespace: u32,
    pub keys_per_service: u32,
    pub webhooks_per_service: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            services_per_namespace: 100,
            keys_per_service: 20,
            webhooks_per_service: 20,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            default_namespace: None,
            webhook_policy: WebhookUrlPolicy::default(),
            max_body_bytes: 1024 * 1024,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            quotas: Quotas::default(),
            rate_limits: true,
            secret_grace: Duration::from_secs(24 * 3600),
            claim_ttl: Duration::from_secs(24 * 3600),
            rate: RateLimits::default(),
            stream_heartbeat: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(60),
            feed_poll: Duration::from_millis(500),
        }
    }
}

/// Shared by every request: cheap to clone (the store is a pool handle).
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// Seals webhook secrets at rest.
    pub secret_key: SecretKey,
    pub settings: HttpSettings,
    pub login_throttle: Arc<LoginThrottle>,
    /// Agent certificates whose proof verified (see `rfc9421::ProofCache`).
    pub certificate_proofs: Arc<ProofCache>,
    /// Consumes signed requests' nonces in shared transactions.
    pub nonces: Arc<NonceBatcher>,
    /// Counts requests against the ATP rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Open WebSocket connections per user.
    pub websockets: Arc<ConnectionLimit>,
    /// Open Server-Sent Events connections per user.
    pub event_streams: Arc<ConnectionLimit>,
    /// Pushes notification changes to open client connections.
    pub feed: Arc<ChangeFeed>,
}

impl AppState {
    pub fn new(store: Store, secret_key: SecretKey, settings: HttpSettings) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::new(settings.rate, settings.rate_limits)),
            store,
            secret_key,
            settings,
            login_throttle: Arc::new(LoginThrottle::default()),
            certificate_proofs: Arc::new(ProofCache::new(CERTIFICATE_PROOFS_KEPT)),
            nonces: Arc::default(),
            websockets: Arc::default(),
            event_streams: Arc::default(),
            feed: Arc::default(),
        }
    }
}
