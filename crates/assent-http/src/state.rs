use assent_auth::SecretKey;
use assent_core::WebhookUrlPolicy;
use assent_store::Store;

/// What the HTTP layer needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Where `POST /api/v1/services` puts a service whose body names no namespace.
    pub default_namespace: Option<String>,
    pub webhook_policy: WebhookUrlPolicy,
    /// Largest accepted request body; larger ones are a 413.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            default_namespace: None,
            webhook_policy: WebhookUrlPolicy::default(),
            max_body_bytes: 1024 * 1024,
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
}
