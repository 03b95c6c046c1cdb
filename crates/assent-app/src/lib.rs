//! assent's operations, shared by every front end.
//!
//! The JSON API, the dashboard, the CLI and any program that embeds assent call these
//! functions; none of them repeats a rule another has. Each module holds one concept
//! (accounts, services, keys, webhooks, deliveries, notifications, audit); each operation takes
//! the [`App`] and typed input, and returns domain types or an [`Error`] that belongs to no
//! front end. Storage work runs on blocking threads through [`App::run`], never on an async
//! worker.
//!
//! Embedding assent without its web layer:
//!
//! ```
//! use assent_app::{App, Settings, accounts, services};
//! use assent_auth::SecretKey;
//! use assent_core::{ServiceInput, SignupInput};
//! use assent_store::{PoolOptions, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let url = dir.path().join("assent.db");
//! let store = Store::connect(url.to_str().unwrap(), &PoolOptions::default())?;
//! store.migrate()?;
//! let app = App::new(store, SecretKey::generate(), Settings::default());
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let signup = SignupInput {
//!         email: Some("ada@example.com".into()),
//!         namespace: Some("ada".into()),
//!         password: Some("correct horse battery".into()),
//!         invite: None,
//!     };
//!     let (ada, _session) = accounts::sign_up(&app, signup, Default::default()).await?;
//!     let input = ServiceInput {
//!         slug: Some("lovelace-ide".into()),
//!         name: Some("Lovelace IDE".into()),
//!         description: None,
//!     };
//!     let service = services::create(&app, &ada, input).await?;
//!     assert_eq!(service.namespace, "ada");
//!
//!     // The same slug again is refused with a stable code, whoever asks.
//!     let again = ServiceInput {
//!         slug: Some("lovelace-ide".into()),
//!         name: Some("Another".into()),
//!         description: None,
//!     };
//!     let refused = services::create(&app, &ada, again).await.unwrap_err();
//!     assert_eq!(refused.code(), assent_app::code::SERVICE_ALREADY_EXISTS);
//!     Ok::<_, assent_app::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```

pub mod accounts;
pub mod agents;
pub mod audit;
pub mod channels;
pub mod claims;
pub mod code;
pub mod credentials;
pub mod deliveries;
mod error;
pub mod grants;
mod group_commit;
pub mod inbox;
pub mod keys;
pub mod metrics;
pub mod notifications;
pub mod pagination;
pub mod policies;
pub mod services;
pub mod throttle;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use assent_auth::SecretKey;
use assent_core::{SignupPolicy, WebhookUrlPolicy};
use assent_store::{Account, Actor, Store};

pub use error::{Error, Kind, Result, sentence};

use crate::throttle::LoginThrottle;

/// What the operations need to know of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which webhook targets are allowed.
    pub webhook_policy: WebhookUrlPolicy,
    /// How long an owner's session lasts after login.
    pub session_ttl: Duration,
    pub quotas: Quotas,
    /// `false` turns off the failed-login throttle (with every other rate limit).
    pub login_throttle: bool,
    /// How long a rotated-out webhook secret keeps signing next to the new one.
    pub secret_grace: Duration,
    /// How long a claim stays pending before it expires.
    pub claim_ttl: Duration,
    /// Where an ATP registration that names no namespace puts its service.
    pub default_namespace: Option<String>,
    /// Who may sign up by themselves.
    pub signup: SignupPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            webhook_policy: WebhookUrlPolicy::default(),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            quotas: Quotas::default(),
            login_throttle: true,
            secret_grace: Duration::from_secs(24 * 3600),
            claim_ttl: Duration::from_secs(24 * 3600),
            default_namespace: None,
            signup: SignupPolicy::default(),
        }
    }
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

/// The application: storage, the key that seals secrets at rest, the settings, and the
/// in-memory state operations share. Cheap to clone (the store is a pool handle).
#[derive(Debug, Clone)]
pub struct App {
    store: Store,
    secret_key: SecretKey,
    settings: Settings,
    login_throttle: Arc<LoginThrottle>,
    decisions: metrics::Decisions,
    /// Group commit of new notifications and of owners' answers (see `group_commit`).
    creates: Arc<group_commit::GroupCommit<group_commit::Creates>>,
    answers: Arc<group_commit::GroupCommit<group_commit::Answers>>,
}

impl App {
    pub fn new(store: Store, secret_key: SecretKey, settings: Settings) -> Self {
        Self {
            login_throttle: Arc::new(LoginThrottle::for_backend(store.backend())),
            store,
            secret_key,
            settings,
            decisions: metrics::Decisions::default(),
            creates: Arc::default(),
            answers: Arc::default(),
        }
    }

    /// Decisions counted since start, for a metrics endpoint.
    pub fn decisions(&self) -> &metrics::Decisions {
        &self.decisions
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs blocking storage work on a blocking thread and waits for it, so that an async
    /// worker never waits on the database. The one place store work leaves the async world.
    pub async fn run<T, E>(
        &self,
        work: impl FnOnce(&Store) -> std::result::Result<T, E> + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        E: Into<Error> + Send + 'static,
    {
        let store = self.store.clone();
        let client_addr = CLIENT_ADDR.try_with(|addr| *addr).ok();
        let work = move || assent_store::with_client_addr(client_addr, || work(&store));
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result.map_err(Into::into),
            Err(e) => Err(Error::internal(&e)),
        }
    }
}

tokio::task_local! {
    /// The client address of the request being served, set by [`as_client`].
    static CLIENT_ADDR: std::net::IpAddr;
}

/// The client address of the request being served (see [`as_client`]), if any.
pub(crate) fn client_addr() -> Option<std::net::IpAddr> {
    CLIENT_ADDR.try_with(|addr| *addr).ok()
}

/// Runs `work`, the handling of one request, as coming from `client_addr`: every audit entry
/// its operations write records that address. A front end wraps each request in it once (the
/// HTTP server does, with the address trusted proxies forwarded); operations called outside
/// it (the command line) record none.
pub async fn as_client<F: Future>(client_addr: std::net::IpAddr, work: F) -> F::Output {
    CLIENT_ADDR.scope(client_addr, work).await
}

/// The audit log's name for an owner acting.
pub fn actor(owner: &Account) -> Actor {
    Actor::Account(owner.id.clone())
}
