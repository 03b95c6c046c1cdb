//! The MCP server with a real MCP client: the Python `mcp` SDK (`mcp_agent.py`, run by
//! `ASSENT_TEST_PYTHON`) over stdio (spawning `assent mcp`) and over Streamable HTTP, against
//! the real `assent serve` on both engines; the human answers through the ATP client API of
//! the same (or another) server, and the service's webhook receives the answer. A server
//! SIGKILLed while a call waits loses nothing; two replicas on one PostgreSQL share decisions.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use assent_auth::{MintedToken, SecretKey, TokenKind, random, webhook_secret};
use assent_core::canonical::digest;
use assent_core::notification::{Notification, NotificationStatus};
use assent_core::{EndpointFormat, EventType, Timestamp};
use assent_store::NewUserToken;
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{Actor, NewAccount, NewApiKey, NewService, NewWebhookEndpoint, Store};
use common::{Running, assent, serve};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AGENT: &str = include_str!("mcp_agent.py");

/// Which Python runs the agent: `ASSENT_TEST_PYTHON`; else the virtualenv of
/// `.ci/install-test-tools`; else `python3`.
fn python() -> String {
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

struct Seeded {
    account_id: String,
    service_id: String,
    api_key: String,
    user_token: String,
}

/// Ada, a service with an API key, her user token, and a webhook for answers to `hook`.
fn seed(store: &Store, key: &SecretKey, hook: &str) -> Seeded {
    let account = store
        .create_account(
            NewAccount {
                email: "ada@example.com".into(),
                namespace: "ada".into(),
                password_hash: "x".into(),
            },
            None,
        )
        .expect("account");
    let service = store
        .create_service(
            NewService {
                namespace: "ada".into(),
                slug: "deployer".into(),
                name: "Deployer".into(),
                description: None,
                icon_url: None,
            },
            &Actor::Cli,
            10,
        )
        .expect("service");
    let api_key = MintedToken::new(TokenKind::ApiKey);
    store
        .create_api_key(
            "ada",
            &service.id,
            &NewApiKey {
                id: random::Id::ApiKey.mint(),
                name: "agent".into(),
                prefix: api_key.display_prefix(),
                hash: api_key.hash.clone(),
            },
            &Actor::Cli,
            10,
        )
        .expect("api key");
    let user_token = MintedToken::new(TokenKind::User);
    store
        .create_user_token(
            &account,
            &NewUserToken {
                id: random::Id::UserToken.mint(),
                name: "phone".into(),
                prefix: user_token.display_prefix(),
                hash: user_token.hash.clone(),
            },
            &Actor::Cli,
        )
        .expect("user token");
    let webhook_id = random::id("wh_");
    let endpoint = NewWebhookEndpoint {
        secret_sealed: key.seal(&webhook_secret(), &webhook_id),
        id: webhook_id,
        url: hook.to_owned(),
        format: EndpointFormat::Atp,
        events: vec![EventType::NotificationResponded],
        signing_key: None,
    };
    store
        .create_webhook_endpoint("ada", &service.id, &endpoint, &Actor::Cli, 10)
        .expect("webhook");
    Seeded {
        account_id: account.id,
        service_id: service.id,
        api_key: api_key.plaintext.expose().to_owned(),
        user_token: user_token.plaintext.expose().to_owned(),
    }
}

/// A webhook receiver: keeps every body it is sent, answers 200.
#[derive(Clone, Default)]
struct Hook {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let bodies = Arc::clone(&self.bodies);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let bodies = Arc::clone(&bodies);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buffer).to_string();
                        let Some(head_end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buffer.len() >= head_end + 4 + length {
                            let body = &buffer[head_end + 4..head_end + 4 + length];
                            if let Ok(value) = serde_json::from_slice(body) {
                                bodies.lock().expect("lock").push(value);
                            }
                            let _ = socket
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("lock").clone()
    }
}

fn server(dir: &std::path::Path, database_url: &str, key: &SecretKey) -> Running {
    let mut command = assent(dir);
    command
        .env("ASSENT_DATABASE_URL", database_url)
        .env("ASSENT_SECRET_KEY", key.to_base64().expose())
        .env("ASSENT_ALLOW_PRIVATE_WEBHOOKS", "true")
        .env("ASSENT_PUBLIC_URL", "https://assent.example.com")
        .env("ASSENT_DELIVERY_POLL_INTERVAL", "100ms")
        .env("ASSENT_CHANGE_POLL_INTERVAL", "100ms");
    serve(command)
}

/// A running agent: its events, one JSON object a line.
struct Agent {
    child: Child,
    events: mpsc::Receiver<Value>,
    _script: tempfile::NamedTempFile,
}

impl Agent {
    fn start(config: &Value) -> Self {
        let script = tempfile::Builder::new()
            .suffix(".py")
            .tempfile()
            .expect("script");
        std::fs::write(script.path(), AGENT).expect("write the agent");
        let mut child = Command::new(python())
            .arg(script.path())
            .arg(config.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && tx.send(event).is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            events,
            _script: script,
        }
    }

    /// The next event, which must be `name`.
    fn next(&self, name: &str) -> Value {
        let event = self
            .events
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no `{name}` event from the agent"));
        assert_eq!(event["event"], name, "{event}");
        event
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("wait for the agent");
        assert!(status.success(), "the agent failed");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn over_stdio(running: &Running, seeded: &Seeded, scenario: &str) -> Value {
    json!({
        "transport": "stdio",
        "command": common::BIN,
        "args": ["mcp"],
        "env": { "ASSENT_URL": running.url(""), "ASSENT_API_KEY": seeded.api_key, "ASSENT_LOG": "warn" },
        "scenario": scenario,
    })
}

fn over_http(running: &Running, api_key: &str, scenario: &str) -> Value {
    json!({ "transport": "http", "url": running.url("/mcp"), "api_key": api_key, "scenario": scenario })
}

/// The one pending notification of Ada's inbox, as the ATP client API lists it.
async fn pending(running: &Running, seeded: &Seeded) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value = reqwest::Client::new()
            .get(running.url("/api/v1/client/notifications"))
            .bearer_auth(&seeded.user_token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let open: Vec<Value> = list["notifications"]
            .as_array()
            .expect("notifications")
            .iter()
            .filter(|n| {
                ["created", "delivered", "acknowledged"]
                    .contains(&n["status"].as_str().unwrap_or(""))
            })
            .cloned()
            .collect();
        if open.len() == 1 {
            return open[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no single pending notification: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The human answers through the ATP client API.
async fn respond(running: &Running, seeded: &Seeded, id: &str, action: &str, data: Value) {
    let reply = reqwest::Client::new()
        .post(running.url("/api/v1/client/respond"))
        .bearer_auth(&seeded.user_token)
        .json(&json!({ "notification_id": id, "action_id": action, "response_data": data }))
        .send()
        .await
        .expect("respond");
    let status = reply.status();
    let body = reply.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
}

/// One JSON-RPC message posted to `/mcp`; the response (read from an event stream too).
async fn rpc(running: &Running, api_key: &str, message: Value) -> Value {
    let reply = reqwest::Client::new()
        .post(running.url("/mcp"))
        .bearer_auth(api_key)
        .header("accept", "application/json, text/event-stream")
        .json(&message)
        .send()
        .await
        .expect("post /mcp");
    let text = reply.text().await.expect("body");
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .chain(std::iter::once(text.as_str()))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|m| m.get("id").is_some())
        .unwrap_or_else(|| panic!("no response in {text}"))
}

fn deploy_digest() -> String {
    digest(&json!({ "name": "deploy", "args": { "env": "production", "build": 42 } }))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Over stdio: the tools are listed with their schemas, `request_approval` waits (with
/// progress) until the human approves in the client API, and returns the approval bound to
/// the exact action; `get_decision` agrees; the service's webhook carries the answer.
async fn an_agent_over_stdio_is_approved(engine: Engine) {
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let hook = Hook::default();
    let seeded = seed(&db.store, &key, &hook.start().await);
    let dir = tempfile::tempdir().expect("tempdir");
    let running = server(dir.path(), &db.url, &key);

    let agent = Agent::start(&over_stdio(&running, &seeded, "approve"));
    let tools = agent.next("tools");
    for name in [
        "request_approval",
        "get_decision",
        "ask_human",
        "permission_prompt",
    ] {
        assert_eq!(tools["tools"][name]["input"]["type"], "object", "{name}");
        assert_eq!(tools["tools"][name]["output"]["type"], "object", "{name}");
    }
    let waiting = agent.next("waiting");
    assert_eq!(waiting["total"].as_f64(), Some(60.0));
    let note = pending(&running, &seeded).await;
    let id = note["id"].as_str().expect("id").to_owned();
    assert_eq!(note["context"]["metadata"]["action"], "deploy");
    assert_eq!(
        note["context"]["metadata"]["arguments"],
        r#"{"build":42,"env":"production"}"#
    );
    assert_eq!(
        note["context"]["metadata"]["action_digest"],
        deploy_digest()
    );
    assert_eq!(note["actions"][0]["flags"], json!(["irreversible"]));
    respond(&running, &seeded, &id, "approve", Value::Null).await;

    let result = agent.next("result");
    assert_eq!(result["is_error"], false);
    let decision = &result["structured"];
    assert_eq!(decision["status"], "approved");
    assert_eq!(decision["decision_id"], id);
    assert_eq!(decision["decided_by"], seeded.account_id);
    assert_eq!(decision["action_digest"], deploy_digest());
    assert_eq!(decision["action"]["args"]["build"], 42);
    assert!(decision["decided_at"].is_string());
    let again = agent.next("get");
    assert_eq!(again["structured"]["status"], "approved");
    agent.finish();

    wait_for("the webhook", || {
        hook.bodies()
            .iter()
            .any(|b| b.to_string().contains(&id) && b.to_string().contains("approve"))
    })
    .await;
    let _ = running.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_stdio_is_approved_on_sqlite() {
    an_agent_over_stdio_is_approved(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_stdio_is_approved_on_postgres() {
    an_agent_over_stdio_is_approved(Engine::Postgres).await;
}

/// Over Streamable HTTP: `ask_human` returns the human's choice, and `permission_prompt`
/// answers Claude Code's shape: a rejection is a deny with a message.
async fn an_agent_over_http_gets_answers(engine: Engine) {
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let hook = Hook::default();
    let seeded = seed(&db.store, &key, &hook.start().await);
    let dir = tempfile::tempdir().expect("tempdir");
    let running = server(dir.path(), &db.url, &key);

    let agent = Agent::start(&over_http(&running, &seeded.api_key, "ask"));
    agent.next("tools");
    agent.next("waiting");
    let note = pending(&running, &seeded).await;
    assert_eq!(note["context"]["title"], "Which region?");
    let id = note["id"].as_str().expect("id").to_owned();
    respond(&running, &seeded, &id, "answer", json!("eu-west")).await;
    let result = agent.next("result");
    assert_eq!(result["structured"]["status"], "answered");
    assert_eq!(result["structured"]["answer"], "eu-west");
    assert_eq!(result["structured"]["kind"], "question");
    agent.finish();

    let agent = Agent::start(&over_http(&running, &seeded.api_key, "permission"));
    agent.next("tools");
    agent.next("waiting");
    let note = pending(&running, &seeded).await;
    assert_eq!(note["context"]["metadata"]["action"], "Bash");
    let id = note["id"].as_str().expect("id").to_owned();
    respond(&running, &seeded, &id, "reject", Value::Null).await;
    let result = agent.next("result");
    let answer: Value =
        serde_json::from_str(result["text"][0].as_str().expect("text")).expect("json");
    assert_eq!(answer["behavior"], "deny");
    assert!(answer["message"].as_str().expect("message").contains(&id));
    agent.finish();

    // The owner may allow with an edited input, which Claude Code then runs instead.
    let agent = Agent::start(&over_http(&running, &seeded.api_key, "permission"));
    agent.next("tools");
    agent.next("waiting");
    let note = pending(&running, &seeded).await;
    let id = note["id"].as_str().expect("id").to_owned();
    respond(
        &running,
        &seeded,
        &id,
        "edit",
        json!(r#"{"command": "rm -rf build/tmp"}"#),
    )
    .await;
    let result = agent.next("result");
    let answer: Value =
        serde_json::from_str(result["text"][0].as_str().expect("text")).expect("json");
    assert_eq!(answer["behavior"], "allow", "{answer}");
    assert_eq!(
        answer["updatedInput"],
        json!({ "command": "rm -rf build/tmp" })
    );
    agent.finish();
    let _ = running.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_http_gets_answers_on_sqlite() {
    an_agent_over_http_gets_answers(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_http_gets_answers_on_postgres() {
    an_agent_over_http_gets_answers(Engine::Postgres).await;
}

/// A decision request of Ada's service whose deadline has passed.
fn expired_request(store: &Store, seeded: &Seeded) -> String {
    let now = Timestamp::now();
    let mut context = serde_json::Map::new();
    context.insert("title".into(), "Old".into());
    context.insert("description".into(), "Too late".into());
    context.insert(
        "metadata".into(),
        json!({ "mcp_tool": "request_approval", "action": "deploy", "arguments": "{}", "action_digest": "sha256:00" }),
    );
    let notification = Notification {
        id: random::Id::Notification.mint(),
        namespace: "ada".into(),
        service_id: seeded.service_id.clone(),
        service_slug: "deployer".into(),
        service_name: "Deployer".into(),
        service_icon: None,
        project: None,
        context,
        actions: serde_json::from_value(json!([
            { "id": "approve", "label": "Approve", "response_type": "simple" },
            { "id": "reject", "label": "Reject", "response_type": "simple" }
        ]))
        .expect("actions"),
        status: NotificationStatus::Created,
        sent_at: now.plus_millis(-120_000),
        created_at: now.plus_millis(-120_000),
        updated_at: now.plus_millis(-120_000),
        deadline: Some(now.plus_millis(-60_000)),
        status_reason: None,
        response: None,
    };
    store
        .create_notification(&notification)
        .expect("notification")
        .id
}

/// Hostile and broken input: clear errors, no crash, nothing decided or created.
async fn bad_input_is_refused(engine: Engine) {
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let hook = Hook::default();
    let seeded = seed(&db.store, &key, &hook.start().await);
    let expired = expired_request(&db.store, &seeded);
    let dir = tempfile::tempdir().expect("tempdir");
    let running = server(dir.path(), &db.url, &key);
    let client = reqwest::Client::new();
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });

    // No key, a wrong key: 401, and the real client fails to connect.
    let none = client
        .post(running.url("/mcp"))
        .json(&list)
        .send()
        .await
        .expect("post");
    assert_eq!(none.status(), 401);
    let wrong = client
        .post(running.url("/mcp"))
        .bearer_auth("sk_live_wrong")
        .json(&list)
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 401);
    let agent = Agent::start(&over_http(&running, "sk_live_wrong", "connect"));
    agent.next("failed");
    let mut stdio = over_stdio(&running, &seeded, "connect");
    stdio["env"]["ASSENT_API_KEY"] = json!("sk_live_wrong");
    let agent = Agent::start(&stdio);
    agent.next("failed");
    // A web page of another origin (DNS rebinding) is refused; the public origin is not.
    for (origin, status) in [
        ("https://evil.example", 403),
        ("https://assent.example.com", 200),
    ] {
        let reply = client
            .post(running.url("/mcp"))
            .bearer_auth(&seeded.api_key)
            .header("origin", origin)
            .json(&list)
            .send()
            .await
            .expect("post");
        assert_eq!(reply.status(), status, "{origin}");
    }
    // Not JSON; an unknown protocol version; a body over the limit; GET (no stream here).
    let garbage = client
        .post(running.url("/mcp"))
        .bearer_auth(&seeded.api_key)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        garbage.json::<Value>().await.expect("json")["error"]["code"],
        -32700
    );
    let version = client
        .post(running.url("/mcp"))
        .bearer_auth(&seeded.api_key)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&list)
        .send()
        .await
        .expect("post");
    assert_eq!(version.status(), 400);
    let huge = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "request_approval", "arguments": { "title": "x".repeat(2 * 1024 * 1024) } } });
    let oversized = client
        .post(running.url("/mcp"))
        .bearer_auth(&seeded.api_key)
        .json(&huge)
        .send()
        .await
        .expect("post");
    assert_eq!(oversized.status(), 413);
    let get = client
        .get(running.url("/mcp"))
        .bearer_auth(&seeded.api_key)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);
    let unknown = rpc(
        &running,
        &seeded.api_key,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/list" }),
    )
    .await;
    assert_eq!(unknown["error"]["code"], -32601);

    // Through the real client: unknown tool, schema violations, an unknown and an expired
    // decision.
    let mut config = over_http(&running, &seeded.api_key, "bad");
    config["expired_id"] = json!(expired);
    let agent = Agent::start(&config);
    agent.next("tools");
    let unknown_tool = agent.next("unknown_tool");
    assert_eq!(unknown_tool["code"], -32602, "{unknown_tool}");
    for case in [
        "missing_title",
        "wrong_type",
        "unknown_field",
        "bad_risk",
        "oversized",
        "long_wait",
        "unknown_decision",
    ] {
        let event = agent.next("case");
        assert_eq!(event["case"], case);
        assert_eq!(event["is_error"], true, "{event}");
        assert!(
            !event["text"][0].as_str().unwrap_or("").is_empty(),
            "{event}"
        );
    }
    let event = agent.next("case");
    assert_eq!(event["case"], "expired");
    assert_eq!(event["is_error"], false, "{event}");
    assert_eq!(event["structured"]["status"], "expired");
    agent.finish();

    // Nothing was created but the expired request, and nothing decided.
    let (rows, total) = db
        .store
        .list_notifications(
            "ada",
            &assent_store::NotificationQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(total, 1, "{rows:?}");
    assert_eq!(rows[0].status, NotificationStatus::Expired);
    assert!(hook.bodies().is_empty());
    let (exit, _, stderr) = running.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_on_sqlite() {
    bad_input_is_refused(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_on_postgres() {
    bad_input_is_refused(Engine::Postgres).await;
}

/// SIGKILL while a call waits and while a task runs; a new server on the same database
/// answers `get_decision` and `tasks/get` once the human has decided there.
async fn a_waiting_call_survives_a_sigkill(engine: Engine) {
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let hook = Hook::default();
    let seeded = seed(&db.store, &key, &hook.start().await);
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let first = server(a.path(), &db.url, &key);

    let created = rpc(&first, &seeded.api_key, json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "request_approval", "task": { "ttl": 60000 },
            "arguments": { "title": "Pay", "description": "Pay invoice 7", "action": { "name": "pay", "args": { "invoice": 7 } } } } })).await;
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    let task_id = task["taskId"].as_str().expect("taskId").to_owned();

    let agent = Agent::start(&over_http(&first, &seeded.api_key, "wait"));
    agent.next("tools");
    agent.next("waiting");
    first.kill();
    agent.next("failed");

    let second = server(b.path(), &db.url, &key);
    let list: Value = reqwest::Client::new()
        .get(second.url("/api/v1/client/notifications"))
        .bearer_auth(&seeded.user_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let waited = list["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .find(|n| n["context"]["title"] == "Deploy build 42")
        .expect("the waiting call's request survived")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let get = |id: &str| json!({ "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": { "taskId": id } });
    let before = rpc(&second, &seeded.api_key, get(&task_id)).await;
    assert_eq!(before["result"]["status"], "working", "{before}");
    respond(&second, &seeded, &waited, "approve", Value::Null).await;
    respond(&second, &seeded, &task_id, "reject", Value::Null).await;

    let mut config = over_stdio(&second, &seeded, "get");
    config["decision_id"] = json!(waited);
    let agent = Agent::start(&config);
    agent.next("tools");
    let result = agent.next("result");
    assert_eq!(result["structured"]["status"], "approved");
    assert_eq!(result["structured"]["action_digest"], deploy_digest());
    agent.finish();

    let after = rpc(&second, &seeded.api_key, get(&task_id)).await;
    assert_eq!(after["result"]["status"], "completed", "{after}");
    let outcome = rpc(&second, &seeded.api_key, json!({ "jsonrpc": "2.0", "id": 3, "method": "tasks/result", "params": { "taskId": task_id } })).await;
    assert_eq!(
        outcome["result"]["structuredContent"]["status"], "rejected",
        "{outcome}"
    );
    assert_eq!(
        outcome["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task_id
    );
    let _ = second.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_survives_a_sigkill_on_sqlite() {
    a_waiting_call_survives_a_sigkill(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_survives_a_sigkill_on_postgres() {
    a_waiting_call_survives_a_sigkill(Engine::Postgres).await;
}

/// Two replicas on one PostgreSQL: the call waits on one, the human decides on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_one_replica_is_decided_on_another() {
    let db = TestDatabase::new(Engine::Postgres);
    let key = SecretKey::generate();
    let hook = Hook::default();
    let seeded = seed(&db.store, &key, &hook.start().await);
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let first = server(a.path(), &db.url, &key);
    let second = server(b.path(), &db.url, &key);
    let agent = Agent::start(&over_http(&first, &seeded.api_key, "wait"));
    agent.next("tools");
    agent.next("waiting");
    let note = pending(&second, &seeded).await;
    respond(
        &second,
        &seeded,
        note["id"].as_str().expect("id"),
        "approve",
        Value::Null,
    )
    .await;
    let result = agent.next("result");
    assert_eq!(result["structured"]["status"], "approved");
    agent.finish();
    let _ = first.terminate();
    let _ = second.terminate();
}
