//! A real assent HTTP server on a random local port, over a fresh database of either engine,
//! and a real HTTP client.

use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use assent_auth::rfc9421::{AgentKey, RequestToSign};
use assent_auth::{MintedToken, SecretKey, TokenKind};
use assent_http::rate_limit::Rate;
use assent_http::{AppState, HttpSettings, ServerOptions};
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{NewAccount, NewClaim, Submitted};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestServer {
    pub base: String,
    pub db: TestDatabase,
    pub admin_token: String,
    pub secret_key: SecretKey,
    pub client: reqwest::Client,
    /// The server's metrics (the delivery engine of `start_delivery` counts into them).
    pub metrics: std::sync::Arc<assent_http::metrics::Metrics>,
    handle: ServerHandle,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn request_id(&self) -> &str {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The ATP error envelope this reply should carry.
    pub fn atp_error(&self, code: &str, message: &str) -> Value {
        json!({ "code": code, "message": message, "request_id": self.request_id() })
    }
}

impl TestServer {
    /// A server whose database has one account, namespace `ada`, and one admin token.
    pub async fn start(engine: Engine) -> Self {
        Self::start_with(engine, |_| {}).await
    }

    pub async fn start_with(engine: Engine, configure: impl FnOnce(&mut HttpSettings)) -> Self {
        let db = TestDatabase::new(engine);
        db.store
            .create_account(
                NewAccount {
                    email: "ada@example.com".to_owned(),
                    namespace: "ada".to_owned(),
                    password_hash: assent_auth::hash_password("correct horse battery").unwrap(),
                },
                None,
            )
            .unwrap();
        let admin = MintedToken::new(TokenKind::Admin);
        db.store.create_admin_token(&admin.hash, "tests").unwrap();
        Self::start_on(
            db,
            SecretKey::generate(),
            admin.plaintext.expose().to_owned(),
            configure,
        )
    }

    /// A server over an existing database, with its key and an admin token it holds.
    pub fn start_on(
        db: TestDatabase,
        secret_key: SecretKey,
        admin_token: String,
        configure: impl FnOnce(&mut HttpSettings),
    ) -> Self {
        let state = AppState::new(db.store.clone(), secret_key.clone(), settings(configure));
        let metrics = std::sync::Arc::clone(&state.metrics);
        let (base, handle) = serve(state);
        Self {
            base,
            db,
            admin_token,
            secret_key,
            client: reqwest::Client::new(),
            metrics,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Another replica of this server: its own pool, state (and so in-memory counts) and HTTP
    /// server on the same database, with the same key and the settings `configure` makes.
    pub fn replica(&self, configure: impl FnOnce(&mut HttpSettings)) -> Replica {
        let store =
            assent_store::Store::connect(&self.db.url, &assent_store::PoolOptions::default())
                .expect("a second pool on the same database");
        let state = AppState::new(store, self.secret_key.clone(), settings(configure));
        let (base, handle) = serve(state);
        Replica { base, handle }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    /// `POST /api/v1/services` with the admin token and a raw body.
    pub async fn register_raw(&self, body: impl Into<reqwest::Body>) -> Reply {
        let request = self
            .client
            .post(self.url("/api/v1/services"))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body(body);
        self.send(request).await
    }

    pub async fn register(&self, body: &Value) -> Reply {
        self.register_raw(body.to_string()).await
    }

    /// Signs up `<namespace>@example.com` over the API; returns the session token.
    pub async fn signup(&self, namespace: &str) -> String {
        let body = json!({
            "email": format!("{namespace}@example.com"),
            "namespace": namespace,
            "password": PASSWORD,
        });
        let reply = self
            .send(self.client.post(self.url("/v1/auth/signup")).json(&body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["session"]["token"].as_str().unwrap().to_owned()
    }

    /// Creates a service `slug` with the owner's session; returns its id.
    pub async fn create_service(&self, session: &str, slug: &str) -> String {
        let body = json!({ "slug": slug, "name": slug.to_uppercase() });
        let reply = self
            .call(reqwest::Method::POST, "/v1/services", session, Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates an API key for a service of the owner's; returns the key.
    pub async fn create_api_key(&self, session: &str, service_id: &str) -> String {
        let path = format!("/v1/services/{service_id}/keys");
        let reply = self.call(reqwest::Method::POST, &path, session, None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["key"].as_str().unwrap().to_owned()
    }

    /// Logs `email` in with the harness's password; returns the session token and the
    /// account's id.
    pub async fn login(&self, email: &str) -> (String, String) {
        let body = json!({ "email": email, "password": PASSWORD });
        let reply = self
            .send(self.client.post(self.url("/v1/auth/login")).json(&body))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        (
            reply.body["session"]["token"].as_str().unwrap().to_owned(),
            reply.body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes a user token (`ut_…`, for the ATP client API) named `name` with an owner's
    /// session; returns it.
    pub async fn user_token(&self, session: &str, name: &str) -> String {
        let reply = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/tokens",
                session,
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        assert_eq!(reply.body["name"], name);
        let token = reply.body["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("ut_"), "{token}");
        token
    }

    /// Runs the real delivery engine on this server's database (polling every 50 ms, private
    /// targets allowed, for a local receiver). Send `true` on the sender to stop it, then
    /// await the handle.
    pub fn start_delivery(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let config = assent_delivery::EngineConfig {
            poll_interval: Duration::from_millis(50),
            policy: assent_core::WebhookUrlPolicy {
                allow_private: true,
            },
            ..assent_delivery::EngineConfig::default()
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let engine =
            assent_delivery::Engine::new(self.db.store.clone(), self.secret_key.clone(), config)
                .expect("the delivery engine starts")
                .count_attempts(self.metrics.delivery_attempts());
        (stop, engine.spawn(stopped))
    }

    /// A request with a session (or any) bearer token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Sends a notification over ATP with a service's API key; returns its id.
    pub async fn notify(&self, api_key: &str, body: &Value) -> String {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/notifications",
                api_key,
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["notification_id"].as_str().unwrap().to_owned()
    }

    /// The notification's status as its service sees it (`GET /api/v1/notifications/{id}`).
    pub async fn notification_status(&self, api_key: &str, id: &str) -> String {
        let reply = self
            .call(
                Method::GET,
                &format!("/api/v1/notifications/{id}"),
                api_key,
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body["status"].as_str().unwrap().to_owned()
    }

    /// The service withdraws the notification (`PATCH …` to `invalidated`, with `reason`).
    pub async fn invalidate_notification(&self, api_key: &str, id: &str, reason: &str) {
        let reply = self
            .call(
                Method::PATCH,
                &format!("/api/v1/notifications/{id}"),
                api_key,
                Some(json!({ "status": "invalidated", "reason": reason })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The harness's settings: tests register and send far more than ATP's limits allow a
/// minute, so those are generous; tests of the limits themselves set them low again.
fn settings(configure: impl FnOnce(&mut HttpSettings)) -> HttpSettings {
    let generous = Rate::per_minute(100_000);
    let mut settings = HttpSettings {
        rate: assent_http::rate_limit::RateLimits {
            registration: generous,
            submission: generous,
            status_update: generous,
            polling: generous,
            response: generous,
            ..Default::default()
        },
        ..HttpSettings::default()
    };
    configure(&mut settings);
    settings
}

/// Serves `state` on a free port of 127.0.0.1 with one worker: its base URL and handle.
fn serve(state: AppState) -> (String, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = ServerOptions {
        workers: 1,
        shutdown_timeout: Duration::from_secs(1),
    };
    let server = assent_http::start(state, listener, &options).unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}

/// A second replica started by [`TestServer::replica`].
pub struct Replica {
    pub base: String,
    handle: ServerHandle,
}

impl Replica {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A webhook as received: its headers (names lowercased) and its raw body.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hook {
    /// A header's value, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }
}

/// A real webhook receiver on a random local port that records every request and answers
/// 200, or the status given to [`Receiver::answer`].
#[derive(Clone, Default)]
pub struct Receiver {
    hooks: std::sync::Arc<std::sync::Mutex<Vec<Hook>>>,
    /// The status it answers with; 0 for 200.
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Receiver {
    /// Starts it on the current runtime; returns its URL (`http://127.0.0.1:<port><path>`).
    pub fn start(&self, path: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let this = self.clone();
        let server = actix_web::HttpServer::new(move || {
            let this = this.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let headers = req
                        .headers()
                        .iter()
                        .filter_map(|(name, value)| {
                            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                        })
                        .collect();
                    this.hooks.lock().unwrap().push(Hook {
                        headers,
                        body: body.to_vec(),
                    });
                    let status = match this.status.load(std::sync::atomic::Ordering::SeqCst) {
                        0 => actix_web::http::StatusCode::OK,
                        code => actix_web::http::StatusCode::from_u16(code).unwrap(),
                    };
                    async move { actix_web::HttpResponse::build(status).body("receiver said no") }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        url
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Everything received so far, in order of arrival.
    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }

    /// The JSON bodies of everything received so far, in order of arrival.
    pub fn events(&self) -> Vec<Value> {
        self.hooks().iter().map(Hook::json).collect()
    }
}

/// Hostile text, to check that pages escape it.
pub const XSS_SCRIPT: &str = "<script>alert(1)</script>";
pub const XSS_ATTRIBUTE: &str = "\"><img src=x onerror=alert(1)>";

/// A response, read whole as text.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `assent_session` cookie this response sets, whole (`assent_session=…; Path=/; …`).
    pub fn session_cookie(&self) -> Option<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("assent_session="))
    }

    /// The page's CSRF token (every form of a page carries the same one).
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.text.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = start + self.text[start..].find('"').unwrap();
        self.text[start..end].to_owned()
    }

    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(
            (self.status, self.location()),
            (StatusCode::SEE_OTHER, to),
            "{}",
            self.text
        );
    }

    /// The page answers with `status` and shows `text`.
    pub fn assert_shows(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(self.text.contains(text), "{text} in {}", self.text);
    }
}

/// A browser without JavaScript: no redirects followed, the session cookie carried by hand,
/// and the page's own origin on every form post.
pub struct Browser<'a> {
    pub server: &'a TestServer,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Page {
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        };
        if let Some(set) = page.session_cookie() {
            let pair = set.split(';').next().unwrap().trim();
            self.cookie = (pair != "assent_session=").then(|| pair.to_owned());
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.server.url(path));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(self.server.url(path))
            .header("origin", &self.server.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Posts a form with only its CSRF token (a button's form).
    pub async fn submit(&mut self, path: &str, csrf: &str) -> Page {
        self.post(path, &[("csrf", csrf)]).await
    }

    /// Logs in through the form as `email`.
    pub async fn login(&mut self, email: &str) -> &mut Self {
        let page = self
            .post(
                "/dashboard/login",
                &[("email", email), ("password", PASSWORD)],
            )
            .await;
        page.assert_redirect("/dashboard");
        self
    }

    /// The inbox's CSRF token.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/dashboard").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        page.csrf()
    }
}

/// The dashboard's security headers.
pub fn assert_security_headers(page: &Page, what: &str) {
    assert_eq!(
        page.header("content-security-policy"),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
         connect-src 'self'; form-action 'self'; manifest-src 'self'; worker-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        "{what}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(page.header("referrer-policy"), "same-origin", "{what}");
    assert_eq!(page.header("cache-control"), "no-store", "{what}");
}

/// The password of every account the harness makes.
pub const PASSWORD: &str = "correct horse battery";

/// The seed's "Lovelace IDE" registration body.
pub fn seed_registration() -> Value {
    json!({
        "name": "Lovelace IDE",
        "description": "AI-powered integrated development environment",
        "callback_url": "https://lovelace.dev/atp/webhook",
        "webhook_secret": "your-secure-random-string",
        "namespace": "ada",
    })
}

/// Declares each async test function (taking an [`Engine`]) once per engine.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name(assent_store::testing::Engine::Sqlite).await } )+
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() { super::$name(assent_store::testing::Engine::Postgres).await } )+
        }
    };
}

/// An agent key certified for a namespace.
pub struct Agent {
    pub key: AgentKey,
    pub namespace: String,
    pub cert: String,
}

impl Agent {
    pub fn new(namespace: &str) -> Self {
        let key = AgentKey::from_seed(&assent_auth::random::bytes::<32>());
        let cert = key.certificate(namespace, "2026-11-22T00:00:00Z", None);
        Self {
            key,
            namespace: namespace.to_owned(),
            cert,
        }
    }

    pub fn headers(&self, method: &str, url: &str, body: &[u8]) -> Vec<(String, String)> {
        let created = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        let nonce = assent_auth::random::id("n-");
        self.key
            .sign(&RequestToSign {
                method,
                target_uri: url,
                body,
                namespace: &self.namespace,
                subject: "customer-42",
                certificate: &self.cert,
                created,
                nonce: &nonce,
            })
            .unwrap()
    }
}

/// A request signed by `agent` (RFC 9421), with `api_key` as bearer when given.
pub async fn signed(
    server: &TestServer,
    agent: &Agent,
    method: Method,
    path: &str,
    body: Option<Value>,
    api_key: Option<&str>,
) -> Reply {
    let url = server.url(path);
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut request = server.client.request(method.clone(), &url);
    for (name, value) in agent.headers(method.as_str(), &url, &bytes) {
        request = request.header(name, value);
    }
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    if !bytes.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(bytes);
    }
    server.send(request).await
}

/// `GET /v1/verify` of `agent`'s key on `service`, signed by the agent; its answer.
pub async fn verify(server: &TestServer, agent: &Agent, service: &str) -> Value {
    let key: String =
        url::form_urlencoded::byte_serialize(agent.key.public_key().as_bytes()).collect();
    let path = format!(
        "/v1/verify?namespace={}&public_key={key}&service={service}",
        agent.namespace
    );
    let reply = signed(server, agent, Method::GET, &path, None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

/// Submits a pending claim through the store to the (only) service of `namespace`, from a
/// fresh agent key named `agent_name`: a `request.submitted` event. Returns the claim's id.
pub fn pending_claim(server: &TestServer, namespace: &str, agent_name: &str) -> String {
    pending_claim_for(server, namespace, agent_name, Duration::from_secs(3600))
}

/// [`pending_claim`] that expires after `ttl`.
pub fn pending_claim_for(
    server: &TestServer,
    namespace: &str,
    agent_name: &str,
    ttl: Duration,
) -> String {
    let mut services = server.db.store.list_services(namespace).unwrap();
    assert_eq!(services.len(), 1, "one service of {namespace}");
    let service = services.remove(0);
    let key = assent_auth::random::id("ed25519:");
    let new = NewClaim {
        namespace: namespace.to_owned(),
        service_id: service.id,
        service_slug: service.slug,
        agent_key: format!("did:key:{key}"),
        public_key: key,
        agent_ip: Some("203.0.113.7".to_owned()),
        subject: Some("customer-42".to_owned()),
        agent_id: Some("bot-7".to_owned()),
        agent_name: Some(agent_name.to_owned()),
    };
    match server.db.store.submit_claim(&new, ttl).unwrap() {
        Submitted::Created(claim) => claim.id,
        Submitted::Existing(claim) => panic!("a new key has no claim yet: {claim:?}"),
    }
}

/// A claim request of `agent` for `service`, with a fresh body nonce.
pub fn claim_body(agent: &Agent, service: &str) -> Value {
    json!({
        "namespace": agent.namespace,
        "public_key": agent.key.public_key(),
        "service": service,
        "nonce": assent_auth::random::id("body-"),
        "subject": "customer-42",
        "agent_name": "Support bot",
        "agent_ip": "203.0.113.7",
    })
}

/// The text between `start` and the next `end` after it.
pub fn between<'t>(text: &'t str, start: &str, end: &str) -> &'t str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = from + text[from..].find(end).expect("the end marker");
    &text[from..to]
}

/// The secret shown once on a page.
pub fn shown_secret(page: &Page) -> String {
    between(&page.text, "<code id=\"new-secret\">", "</code>").to_owned()
}

/// Creates a service from the form; returns its id.
pub async fn create_service(
    browser: &mut Browser<'_>,
    slug: &str,
    name: &str,
    description: &str,
) -> String {
    let csrf = browser.get("/dashboard/services").await.csrf();
    let page = browser
        .post(
            "/dashboard/services",
            &[
                ("csrf", &csrf),
                ("slug", slug),
                ("name", name),
                ("description", description),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    page.location()
        .strip_prefix("/dashboard/services/")
        .expect("on to the service's page")
        .to_owned()
}

/// Signs `namespace` up from the dashboard's form (`<namespace>@example.com`).
pub async fn signup(browser: &mut Browser<'_>, namespace: &str) {
    let email = format!("{namespace}@example.com");
    browser
        .post(
            "/dashboard/signup",
            &[
                ("email", &email),
                ("namespace", namespace),
                ("password", PASSWORD),
            ],
        )
        .await
        .assert_redirect("/dashboard");
}

/// The Python that runs the tests' real peers (the signing walk-through, an SMTP server, the
/// metrics parser, webhook verifiers): `ASSENT_TEST_PYTHON`; else the virtualenv that
/// `.ci/install-test-tools` makes (pinned in `.ci/python-requirements.txt`); else `python3`.
pub fn python() -> String {
    if let Ok(python) = std::env::var("ASSENT_TEST_PYTHON") {
        return python;
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|home| std::path::Path::new(&home).join(".cache")));
    cache
        .map(|cache| cache.join("assent-ci/venv/bin/python"))
        .ok()
        .filter(|venv| venv.is_file())
        .map_or_else(|| "python3".to_owned(), |venv| venv.display().to_string())
}
