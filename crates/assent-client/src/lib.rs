//! An async client for [assent](https://github.com/assent), for the services and agents that
//! ask its humans for decisions. It speaks the server's HTTP API (`docs/openapi.json`) and
//! nothing else: no server crate is linked.
//!
//! - A **service** registers over ATP ([`Client::register_service`], with an admin token),
//!   then, with its API key, sends a notification ([`Client::notify`]) and waits for the
//!   owner's answer ([`Client::await_decision`], polling [`Client::notification`]).
//! - An **agent** holding an Ed25519 key ([`Agent`]) asks for a claim on a service
//!   ([`Client::submit_claim`], signed as `docs/signing.md` describes) and checks whether it is
//!   authorized ([`Client::verify`]).
//!
//! Every refusal is an [`Error::Api`] with the server's stable code (`docs/errors.md`).
//!
//! ```no_run
//! use std::time::Duration;
//! use assent_client::{Client, NewNotification, Registration};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), assent_client::Error> {
//! // Once, by the operator: register the service.
//! let admin = Client::new("https://assent.example")?.with_token("adm_...");
//! let service = admin
//!     .register_service(&Registration {
//!         name: "Lovelace IDE".into(),
//!         description: "Deploys releases".into(),
//!         callback_url: "https://lovelace.example/atp/webhook".into(),
//!         webhook_secret: "a-long-random-secret".into(),
//!         namespace: Some("ada".into()),
//!     })
//!     .await?;
//!
//! // The service: ask, then wait for the human's answer.
//! let client = Client::new("https://assent.example")?.with_token(&service.api_key);
//! let sent = client
//!     .notify(&NewNotification::new(
//!         json!({ "title": "Deploy release 1.2?", "description": "All checks passed." }),
//!         vec![json!({ "id": "deploy", "label": "Deploy", "response_type": "simple" })],
//!     ))
//!     .await?;
//! let decided = client
//!     .await_decision(&sent.notification_id, Duration::from_secs(2), Duration::from_secs(600))
//!     .await?;
//! println!("{}: {:?}", decided.status, decided.response);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

pub use assent_auth::rfc9421::AgentKey;
use assent_auth::rfc9421::RequestToSign;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused: its HTTP status, its stable code (`docs/errors.md`, e.g.
    /// `NOT_FOUND`, `UNAUTHORIZED`, `VALIDATION_ERROR`), its sentence and request id.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The server could not be reached, or answered with something that is not its API.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid base URL: {0}")]
    InvalidUrl(String),
    /// [`Client::await_decision`] gave up: the notification was still pending.
    #[error("no decision within the time allowed")]
    Timeout,
    /// The agent's request could not be signed (an unusable namespace or certificate).
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

impl Error {
    /// The server's stable code, for an [`Error::Api`].
    ///
    /// ```
    /// let e = assent_client::Error::Api {
    ///     status: 404,
    ///     code: "NOT_FOUND".into(),
    ///     message: "Not found.".into(),
    ///     request_id: None,
    /// };
    /// assert_eq!(e.code(), Some("NOT_FOUND"));
    /// ```
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A service to register over ATP (`POST /api/v1/services`, admin token).
///
/// ```
/// let r = assent_client::Registration {
///     name: "Lovelace IDE".into(),
///     description: "Deploys releases".into(),
///     callback_url: "https://lovelace.example/atp/webhook".into(),
///     webhook_secret: "a-long-random-secret".into(),
///     namespace: Some("ada".into()),
/// };
/// assert_eq!(r.namespace.as_deref(), Some("ada"));
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub name: String,
    pub description: String,
    /// Where `notification.responded` webhooks go (https, public).
    pub callback_url: String,
    /// The secret those webhooks are signed with.
    pub webhook_secret: String,
    /// The owner's namespace; the server's default owner when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A registered service: its slug and its API key (shown once).
///
/// ```
/// let s: assent_client::RegisteredService = serde_json::from_str(
///     r#"{"service_id":"lovelace-ide","api_key":"ak_1","webhook_secret":"s"}"#,
/// ).unwrap();
/// assert_eq!(s.service_id, "lovelace-ide");
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredService {
    pub service_id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

/// A notification to send (`POST /api/v1/notifications`): its context and actions as
/// `docs/atp.md` defines them.
///
/// ```
/// use serde_json::json;
/// let n = assent_client::NewNotification::new(
///     json!({ "title": "Deploy?", "description": "1.2" }),
///     vec![json!({ "id": "go", "label": "Deploy", "response_type": "simple" })],
/// );
/// assert!(n.deadline.is_none());
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct NewNotification {
    pub context: Value,
    pub actions: Vec<Value>,
    /// RFC 3339; the notification expires undecided after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl NewNotification {
    /// A notification with no deadline.
    ///
    /// ```
    /// let n = assent_client::NewNotification::new(serde_json::json!({}), vec![]);
    /// assert!(n.actions.is_empty());
    /// ```
    pub fn new(context: Value, actions: Vec<Value>) -> Self {
        Self {
            context,
            actions,
            deadline: None,
        }
    }
}

/// A notification just accepted.
///
/// ```
/// let c: assent_client::NotificationCreated = serde_json::from_str(
///     r#"{"notification_id":"n1","status":"pending","estimated_delivery":"x"}"#,
/// ).unwrap();
/// assert_eq!(c.status, "pending");
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationCreated {
    pub notification_id: String,
    pub status: String,
    pub estimated_delivery: String,
}

/// A notification as the service sees it (`GET /api/v1/notifications/{id}`).
///
/// ```
/// let n: assent_client::Notification = serde_json::from_str(
///     r#"{"id":"n1","status":"created","created_at":"t","updated_at":"t"}"#,
/// ).unwrap();
/// assert!(!n.is_decided());
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    /// `created`, `delivered`, `acknowledged` (waiting), then `responded`, `completed`,
    /// `expired` or `invalidated`.
    pub status: String,
    /// The owner's answer once responded: `action_id`, `response_data`, `responded_at`.
    #[serde(default)]
    pub response: Option<Value>,
    #[serde(default)]
    pub status_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Notification {
    /// Whether the notification is settled (answered, completed, expired or invalidated).
    ///
    /// ```
    /// let n: assent_client::Notification = serde_json::from_str(
    ///     r#"{"id":"n1","status":"responded","created_at":"t","updated_at":"t"}"#,
    /// ).unwrap();
    /// assert!(n.is_decided());
    /// ```
    pub fn is_decided(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "created" | "delivered" | "acknowledged"
        )
    }
}

/// A claim just submitted (`POST /v1/claims`).
///
/// ```
/// let c: assent_client::SubmittedClaim = serde_json::from_str(
///     r#"{"claim_id":"cl_1","status":"pending","service":"s","message":"m"}"#,
/// ).unwrap();
/// assert_eq!(c.status, "pending");
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct SubmittedClaim {
    pub claim_id: String,
    pub status: String,
    pub service: String,
    pub message: String,
}

/// The answer of `GET /v1/verify`.
///
/// ```
/// let v: assent_client::Verification =
///     serde_json::from_str(r#"{"authorized":false,"reason":"no claim"}"#).unwrap();
/// assert!(!v.authorized);
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct Verification {
    pub authorized: bool,
    #[serde(default)]
    pub claim_id: Option<String>,
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An agent: its Ed25519 key, certified (self-signed) for a namespace, acting for a subject.
///
/// ```
/// let agent = assent_client::Agent::new(
///     assent_client::AgentKey::from_seed(&[7; 32]),
///     "ada",
///     "customer-42",
/// );
/// assert!(agent.public_key().starts_with("ed25519:"));
/// ```
#[derive(Debug)]
pub struct Agent {
    key: AgentKey,
    namespace: String,
    subject: String,
    certificate: String,
}

impl Agent {
    /// The agent of `key` for `namespace`, with a certificate issued now and no expiry.
    ///
    /// ```
    /// let agent = assent_client::Agent::new(assent_client::AgentKey::from_seed(&[1; 32]), "ada", "me");
    /// assert_eq!(agent.namespace(), "ada");
    /// ```
    pub fn new(key: AgentKey, namespace: &str, subject: &str) -> Self {
        let certificate = key.certificate(namespace, &issued_now(), None);
        Self {
            key,
            namespace: namespace.to_owned(),
            subject: subject.to_owned(),
            certificate,
        }
    }

    /// `ed25519:<base64>`: the key a claim is for.
    ///
    /// ```
    /// let agent = assent_client::Agent::new(assent_client::AgentKey::from_seed(&[1; 32]), "ada", "me");
    /// assert!(agent.public_key().starts_with("ed25519:"));
    /// ```
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The namespace it is certified for.
    ///
    /// ```
    /// let agent = assent_client::Agent::new(assent_client::AgentKey::from_seed(&[1; 32]), "lin", "me");
    /// assert_eq!(agent.namespace(), "lin");
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn headers(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, Error> {
        let nonce = format!("n-{}", hex_nonce());
        self.key
            .sign(&RequestToSign {
                method,
                target_uri: url,
                body,
                namespace: &self.namespace,
                subject: &self.subject,
                certificate: &self.certificate,
                created: unix_now(),
                nonce: &nonce,
            })
            .map_err(|e| Error::Signing(e.to_string()))
    }
}

/// A client of one assent server. Cheap to clone; reuse it.
///
/// ```
/// let client = assent_client::Client::new("https://assent.example")?.with_token("ak_...");
/// # Ok::<(), assent_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of the server at `base_url` (`https://assent.example`), with no credential.
    ///
    /// ```
    /// assert!(assent_client::Client::new("not a url").is_err());
    /// assert!(assent_client::Client::new("http://127.0.0.1:8080/").is_ok());
    /// ```
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let url = url::Url::parse(base_url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::InvalidUrl(format!("{base_url} is not http(s)")));
        }
        Ok(Self {
            http: reqwest::Client::builder()
                .user_agent(concat!("assent-client/", env!("CARGO_PKG_VERSION")))
                .build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    /// The same client, sending `token` as its bearer credential: a service's API key, or an
    /// admin token for [`Client::register_service`].
    ///
    /// ```
    /// let c = assent_client::Client::new("https://assent.example")?.with_token("ak_...");
    /// # Ok::<(), assent_client::Error>(())
    /// ```
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Registers a service over ATP (admin token); its API key is in the answer, once.
    ///
    /// ```no_run
    /// # async fn run(admin: assent_client::Client, r: assent_client::Registration) -> Result<(), assent_client::Error> {
    /// let service = admin.register_service(&r).await?;
    /// println!("{} {}", service.service_id, service.api_key);
    /// # Ok(()) }
    /// ```
    pub async fn register_service(
        &self,
        registration: &Registration,
    ) -> Result<RegisteredService, Error> {
        self.call(Method::POST, paths::REGISTER, Some(registration), None)
            .await
    }

    /// Sends a notification to the service's owner (API key).
    ///
    /// ```no_run
    /// # async fn run(c: assent_client::Client, n: assent_client::NewNotification) -> Result<(), assent_client::Error> {
    /// let sent = c.notify(&n).await?;
    /// println!("{}", sent.notification_id);
    /// # Ok(()) }
    /// ```
    pub async fn notify(
        &self,
        notification: &NewNotification,
    ) -> Result<NotificationCreated, Error> {
        self.call(Method::POST, paths::NOTIFICATIONS, Some(notification), None)
            .await
    }

    /// One of the service's notifications, as it is now (API key).
    ///
    /// ```no_run
    /// # async fn run(c: assent_client::Client) -> Result<(), assent_client::Error> {
    /// let n = c.notification("ntf_...").await?;
    /// println!("{}", n.status);
    /// # Ok(()) }
    /// ```
    pub async fn notification(&self, id: &str) -> Result<Notification, Error> {
        let path = paths::NOTIFICATION.replace("{id}", &encode(id));
        self.call::<(), _>(Method::GET, &path, None, None).await
    }

    /// Polls a notification every `every` until it is decided ([`Notification::is_decided`]),
    /// or gives up with [`Error::Timeout`] after `within`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn run(c: assent_client::Client) -> Result<(), assent_client::Error> {
    /// let n = c.await_decision("ntf_...", Duration::from_secs(2), Duration::from_secs(300)).await?;
    /// println!("{:?}", n.response);
    /// # Ok(()) }
    /// ```
    pub async fn await_decision(
        &self,
        id: &str,
        every: Duration,
        within: Duration,
    ) -> Result<Notification, Error> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notification = self.notification(id).await?;
            if notification.is_decided() {
                return Ok(notification);
            }
            if tokio::time::Instant::now() + every > deadline {
                return Err(Error::Timeout);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Asks the namespace's owner to let `agent` act on `service` (the service's API key and
    /// the agent's signature). Submitting again for a pending or approved claim answers it.
    ///
    /// ```no_run
    /// # async fn run(c: assent_client::Client, agent: assent_client::Agent) -> Result<(), assent_client::Error> {
    /// let claim = c.submit_claim(&agent, "lovelace-ide", Some("release bot")).await?;
    /// println!("{} {}", claim.claim_id, claim.status);
    /// # Ok(()) }
    /// ```
    pub async fn submit_claim(
        &self,
        agent: &Agent,
        service: &str,
        agent_name: Option<&str>,
    ) -> Result<SubmittedClaim, Error> {
        let body = ClaimRequest {
            namespace: agent.namespace.clone(),
            public_key: agent.public_key(),
            service: service.to_owned(),
            nonce: format!("claim-{}", hex_nonce()),
            agent_name: agent_name.map(str::to_owned),
        };
        self.call(Method::POST, paths::CLAIMS, Some(&body), Some(agent))
            .await
    }

    /// Whether `agent` is authorized on `service` now (signed by the agent).
    ///
    /// ```no_run
    /// # async fn run(c: assent_client::Client, agent: assent_client::Agent) -> Result<(), assent_client::Error> {
    /// if c.verify(&agent, "lovelace-ide").await?.authorized { /* act */ }
    /// # Ok(()) }
    /// ```
    pub async fn verify(&self, agent: &Agent, service: &str) -> Result<Verification, Error> {
        let query = format!(
            "{}?namespace={}&service={}&public_key={}",
            paths::VERIFY,
            encode(&agent.namespace),
            encode(service),
            encode(&agent.public_key())
        );
        self.call::<(), _>(Method::GET, &query, None, Some(agent))
            .await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        signer: Option<&Agent>,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.base);
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| Error::Signing(e.to_string()))?,
            None => Vec::new(),
        };
        let mut request = self.http.request(method.clone(), &url);
        if let Some(agent) = signer {
            for (name, value) in agent.headers(method.as_str(), &url, &bytes)? {
                request = request.header(name, value);
            }
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(bytes);
        }
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        // Both dialects' envelopes carry `code`; the sentence is `message` (ATP) or `error`.
        let envelope: Value = response.json().await.unwrap_or(Value::Null);
        let text = |key: &str| envelope[key].as_str().map(str::to_owned);
        Err(Error::Api {
            status: status.as_u16(),
            code: text("code").unwrap_or_else(|| "UNKNOWN".to_owned()),
            message: text("message")
                .or_else(|| text("error"))
                .unwrap_or_else(|| status.to_string()),
            request_id: text("request_id"),
        })
    }
}

#[derive(Debug, Serialize)]
struct ClaimRequest {
    namespace: String,
    public_key: String,
    service: String,
    nonce: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<String>,
}

/// The operations this client calls, as `docs/openapi.json` names them: method, path, the
/// request body's fields, and the response's fields it reads. A test holds them to the
/// document.
#[doc(hidden)]
pub mod paths {
    pub const REGISTER: &str = "/api/v1/services";
    pub const NOTIFICATIONS: &str = "/api/v1/notifications";
    pub const NOTIFICATION: &str = "/api/v1/notifications/{id}";
    pub const CLAIMS: &str = "/v1/claims";
    pub const VERIFY: &str = "/v1/verify";

    /// (method, path, request fields, response fields the client requires).
    pub const OPERATIONS: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "post",
            REGISTER,
            &[
                "name",
                "description",
                "callback_url",
                "webhook_secret",
                "namespace",
            ],
            &["service_id", "api_key", "webhook_secret"],
        ),
        (
            "post",
            NOTIFICATIONS,
            &["context", "actions", "deadline"],
            &["notification_id", "status", "estimated_delivery"],
        ),
        (
            "get",
            NOTIFICATION,
            &[],
            &["id", "status", "created_at", "updated_at"],
        ),
        (
            "post",
            CLAIMS,
            &["namespace", "public_key", "service", "nonce", "agent_name"],
            &["claim_id", "status", "service", "message"],
        ),
        ("get", VERIFY, &[], &["authorized"]),
    ];

    /// The query parameters of `GET /v1/verify`.
    pub const VERIFY_QUERY: &[&str] = &["namespace", "service", "public_key"];
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn hex_nonce() -> String {
    assent_auth::random::bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 3339 of now, to the second (the certificate's `issuedAt`).
fn issued_now() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_certificate_date_is_rfc_3339() {
        let now = super::issued_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
