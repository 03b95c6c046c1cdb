use std::sync::Arc;
use std::time::Duration;

use assent_app::App;
use assent_auth::SecretKey;
use assent_auth::rfc9421::ProofCache;
use assent_core::{SignupPolicy, WebhookUrlPolicy};
use assent_store::{Backend, Store};
use url::Url;

use crate::client_addr::TrustedProxies;
use crate::feed::ChangeFeed;
use crate::nonces::NonceBatcher;
use crate::rate_limit::{ConnectionLimit, Leases, RateLimiter, RateLimits};

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
    /// Who may sign up by themselves (`ASSENT_SIGNUP`).
    pub signup: SignupPolicy,
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
    /// The reverse proxies whose `X-Forwarded-For` / `Forwarded` headers name the client
    /// (see `client_addr`); none by default.
    pub trusted_proxies: TrustedProxies,
    /// The origins (`https://app.example.com`) of browser apps allowed to call the API
    /// cross-origin with a bearer token; none by default, and then no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// `/metrics`: on or off, its token, its own listener or not.
    pub metrics: crate::metrics::MetricsSettings,
    /// The VAPID public key browsers subscribe to Web Push with; `None` without Web Push.
    pub vapid_public_key: Option<String>,
}

pub use assent_app::Quotas;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            default_namespace: None,
            signup: SignupPolicy::default(),
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
            trusted_proxies: TrustedProxies::default(),
            cors_origins: Vec::new(),
            metrics: crate::metrics::MetricsSettings::default(),
            vapid_public_key: None,
        }
    }
}

/// Shared by every request: cheap to clone (the store is a pool handle).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The operations every front end shares, with the store and the sealing key.
    pub app: App,
    pub settings: HttpSettings,
    /// Agent certificates whose proof verified (see `rfc9421::ProofCache`).
    pub certificate_proofs: Arc<ProofCache>,
    /// Consumes signed requests' nonces in shared transactions.
    pub nonces: Arc<NonceBatcher>,
    /// Counts requests against the ATP rate limits (in the database on PostgreSQL).
    pub limiter: Arc<RateLimiter>,
    /// Open WebSocket connections per user (leased in the database on PostgreSQL).
    pub websockets: Arc<ConnectionLimit>,
    /// Open Server-Sent Events connections per user (leased in the database on PostgreSQL).
    pub event_streams: Arc<ConnectionLimit>,
    /// Pushes notification changes to open client connections.
    pub feed: Arc<ChangeFeed>,
    /// The metrics registry and the request histogram.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    pub fn new(store: Store, secret_key: SecretKey, settings: HttpSettings) -> Self {
        let app_settings = assent_app::Settings {
            webhook_policy: settings.webhook_policy,
            session_ttl: settings.session_ttl,
            quotas: settings.quotas,
            login_throttle: settings.rate_limits,
            secret_grace: settings.secret_grace,
            claim_ttl: settings.claim_ttl,
            default_namespace: settings.default_namespace.clone(),
            signup: settings.signup,
        };
        // PostgreSQL may be shared by many replicas: limits count there, in total. A SQLite
        // database has one process, which counts in memory.
        let shared = (store.backend() == Backend::Postgres).then(|| store.clone());
        let limiter = Arc::new(RateLimiter::new(
            settings.rate,
            settings.rate_limits,
            shared.clone(),
        ));
        let leases = |kind| {
            shared.clone().map(|store| Leases {
                store,
                kind,
                renew_every: settings.stream_heartbeat,
            })
        };
        let websockets = Arc::new(ConnectionLimit::new(leases("websocket")));
        let event_streams = Arc::new(ConnectionLimit::new(leases("sse")));
        let app = App::new(store, secret_key, app_settings);
        let metrics = Arc::new(crate::metrics::Metrics::new(
            &app,
            &limiter,
            Arc::clone(&websockets),
            Arc::clone(&event_streams),
        ));
        Self {
            limiter,
            app,
            settings,
            certificate_proofs: Arc::new(ProofCache::new(CERTIFICATE_PROOFS_KEPT)),
            nonces: Arc::default(),
            websockets,
            event_streams,
            feed: Arc::default(),
            metrics,
        }
    }

    pub fn store(&self) -> &Store {
        self.app.store()
    }
}
