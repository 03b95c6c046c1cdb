//! The ATP client streams against a real server, on SQLite and PostgreSQL: Server-Sent Events
//! (`/api/v1/client/events`) read as a raw byte stream, WebSocket (`/api/v1/client/stream`)
//! through a real WebSocket client, and the ATP tutorial end to end, from a service's
//! notification to the signed webhook its callback receives.

use crate::common;

use std::time::{Duration, Instant};

use assent_http::HttpSettings;
use assent_store::testing::Engine;
use awc::error::{WsClientError, WsProtocolError};
use awc::ws::{CloseCode, Frame, Message};
use common::{Receiver, TestServer};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long anything asynchronous (a push, a webhook) may take to arrive.
const WAIT: Duration = Duration::from_secs(10);
/// The heartbeat interval most tests run with.
const HEARTBEAT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// Setup: a server, a registered ATP service of `ada`, and a user token of `ada`.

struct Setup {
    server: TestServer,
    /// The service's ATP API key (`sk_live_…`).
    api_key: String,
    /// `ada`'s user token (`ut_…`).
    user: String,
}

async fn setup(engine: Engine, configure: impl FnOnce(&mut HttpSettings)) -> Setup {
    let server = TestServer::start_with(engine, |s| {
        s.stream_heartbeat = HEARTBEAT;
        s.webhook_policy.allow_private = true;
        configure(s);
    })
    .await;
    let api_key = register(
        &server,
        "Lovelace IDE",
        "ada",
        "https://lovelace.dev/atp/webhook",
    )
    .await;
    let (user, _) = user_token(&server, "ada@example.com").await;
    Setup {
        server,
        api_key,
        user,
    }
}

/// Registers an ATP service in `namespace`; returns its API key.
async fn register(server: &TestServer, name: &str, namespace: &str, callback: &str) -> String {
    let reply = server
        .register(&json!({
            "name": name,
            "description": "Asks before it acts",
            "callback_url": callback,
            "webhook_secret": "tutorial-webhook-secret",
            "namespace": namespace,
        }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["api_key"].as_str().unwrap().to_owned()
}

/// Logs in and makes a user token; returns it and the account's id.
async fn user_token(server: &TestServer, email: &str) -> (String, String) {
    let (session, account_id) = server.login(email).await;
    (server.user_token(&session, "streams").await, account_id)
}

fn simple(title: &str) -> Value {
    json!({
        "context": { "title": title, "description": "Something needs a yes." },
        "actions": [{ "id": "go", "label": "Go", "response_type": "simple" }],
    })
}

/// One action of each response type.
fn every_response_type() -> Value {
    json!({
        "context": {
            "title": "Deploy release 1.2?",
            "description": "The release is built and tested.",
            "project": "lovelace",
        },
        "actions": [
            { "id": "approve", "label": "Approve", "response_type": "simple" },
            { "id": "confirm", "label": "Confirm?", "response_type": "binary",
              "options": { "true_label": "Yes", "false_label": "No" } },
            { "id": "region", "label": "Region", "response_type": "choice",
              "options": [{ "value": "eu", "label": "Europe" }, { "value": "us", "label": "America" }] },
            { "id": "checks", "label": "Checks to run", "response_type": "multi_choice",
              "options": [
                  { "value": "unit", "label": "Unit" },
                  { "value": "lint", "label": "Lint" },
                  { "value": "e2e", "label": "End to end" }
              ],
              "constraints": { "min_selections": 1, "max_selections": 2 } },
            { "id": "note", "label": "Note", "response_type": "text",
              "constraints": { "placeholder": "Why?", "max_length": 200 } },
            { "id": "replicas", "label": "Replicas", "response_type": "number",
              "constraints": { "min": 1, "max": 10, "integer": true } }
        ],
    })
}

/// Polls until the service sees the notification in `status`.
async fn wait_for_status(server: &TestServer, api_key: &str, id: &str, status: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = server.notification_status(api_key, id).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is still {now}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn respond(
    server: &TestServer,
    user: &str,
    id: &str,
    action: &str,
    data: Value,
) -> common::Reply {
    server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            user,
            Some(json!({ "notification_id": id, "action_id": action, "response_data": data })),
        )
        .await
}

// ---------------------------------------------------------------------------------------------
// A Server-Sent Events client over the raw response body.

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: Option<i64>,
    event: String,
    data: Value,
}

impl Event {
    fn notification_id(&self) -> &str {
        let field = if self.event == "notification" {
            "id"
        } else {
            "notification_id"
        };
        self.data[field].as_str().unwrap_or_default()
    }

    fn is(&self, event: &str, id: &str) -> bool {
        self.event == event && self.notification_id() == id
    }

    fn is_update(&self, id: &str, status: &str) -> bool {
        self.is("status_update", id) && self.data["status"] == status
    }
}

struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// The last `retry:` field seen.
    retry: Option<u64>,
}

/// Where an SSE client says it left off.
enum Resume<'a> {
    No,
    Header(&'a str),
}

/// `GET /api/v1/client/events{query}`, with `token` as the bearer token if given.
async fn sse_request(
    server: &TestServer,
    query: &str,
    token: Option<&str>,
    resume: &Resume<'_>,
) -> reqwest::Response {
    let mut request = server
        .client
        .get(server.url(&format!("/api/v1/client/events{query}")))
        .header("accept", "text/event-stream");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Resume::Header(id) = resume {
        request = request.header("last-event-id", *id);
    }
    request.send().await.unwrap()
}

async fn sse(server: &TestServer, query: &str, token: Option<&str>, resume: Resume<'_>) -> Sse {
    let response = sse_request(server, query, token, &resume).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    Sse {
        response,
        buffer: Vec::new(),
        retry: None,
    }
}

/// An error reply read whole: its status and JSON body.
async fn error_reply(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json::<Value>().await.unwrap();
    (status, body)
}

impl Sse {
    /// The next event (of any type), or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                if let Some(event) = self.parse(&block) {
                    return Some(event);
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    fn parse(&mut self, block: &str) -> Option<Event> {
        let (mut id, mut event, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.parse::<i64>().expect("numeric event ids")),
                "event" => event = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                "retry" => self.retry = Some(value.parse().expect("a numeric retry")),
                "" => {}
                other => panic!("unexpected SSE field {other:?} in {block:?}"),
            }
        }
        if event.is_none() && data.is_empty() {
            return None;
        }
        Some(Event {
            id,
            event: event.unwrap_or_else(|| "message".to_owned()),
            data: serde_json::from_str(&data.join("\n")).expect("JSON data"),
        })
    }

    /// The next event within [`WAIT`].
    async fn event(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.next())
            .await
            .expect("no event arrived in time")
            .expect("the stream ended")
    }

    /// The next event that is not a heartbeat.
    async fn change(&mut self) -> Event {
        loop {
            let event = self.event().await;
            if event.event != "heartbeat" {
                return event;
            }
        }
    }

    /// Reads until an event satisfies `wanted`; returns it and the events before it.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> (Event, Vec<Event>) {
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("{what} did not arrive; got {before:#?}"))
                .unwrap_or_else(|| panic!("the stream ended before {what}; got {before:#?}"));
            if wanted(&event) {
                return (event, before);
            }
            before.push(event);
        }
    }

    /// Reads until the next heartbeat; returns the events before it.
    async fn until_heartbeat(&mut self) -> Vec<Event> {
        self.until("a heartbeat", |e| e.event == "heartbeat")
            .await
            .1
    }
}

/// Change log entries as the events that carry them.
fn as_events(changes: &[assent_store::Change]) -> Vec<Event> {
    changes
        .iter()
        .map(|c| Event {
            id: Some(c.seq),
            event: c.kind.as_str().to_owned(),
            data: c.payload.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A WebSocket client.

struct Ws<S> {
    framed: S,
}

/// Opens `/api/v1/client/stream` with `token` as the bearer token (or `?token=` when `query`).
async fn ws_connect(
    server: &TestServer,
    token: &str,
    query: bool,
) -> Result<
    Ws<
        impl Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin,
    >,
    WsClientError,
> {
    let client = awc::Client::new();
    let request = if query {
        client.ws(server.url(&format!(
            "/api/v1/client/stream?token={token}&client_id=tests"
        )))
    } else {
        client
            .ws(server.url("/api/v1/client/stream"))
            .bearer_auth(token)
    };
    let (response, framed) = request.connect().await?;
    assert_eq!(response.status().as_u16(), 101);
    Ok(Ws { framed })
}

async fn ws(
    server: &TestServer,
    token: &str,
) -> Ws<
    impl Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin,
> {
    ws_connect(server, token, false)
        .await
        .unwrap_or_else(|e| panic!("the WebSocket did not open: {e:?}"))
}

impl<S> Ws<S>
where
    S: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin,
{
    /// The next frame within `wait`; `None` when the connection ends.
    async fn frame_within(&mut self, wait: Duration) -> Option<Frame> {
        match tokio::time::timeout(wait, self.framed.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(Some(Err(e))) => panic!("WebSocket protocol error: {e:?}"),
            Ok(None) => None,
            Err(_) => panic!("no frame arrived within {wait:?}"),
        }
    }

    /// The next message (a JSON text frame) within [`WAIT`].
    async fn message(&mut self) -> Value {
        match self.frame_within(WAIT).await {
            Some(Frame::Text(bytes)) => serde_json::from_slice(&bytes).expect("JSON text frames"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Reads until a message satisfies `wanted`, answering heartbeats; returns it and the
    /// messages before it.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{what} did not arrive; got {before:#?}");
            let message = match self.frame_within(left).await {
                Some(Frame::Text(bytes)) => serde_json::from_slice::<Value>(&bytes).unwrap(),
                other => {
                    panic!("expected a text frame before {what}, got {other:?}; got {before:#?}")
                }
            };
            if wanted(&message) {
                return (message, before);
            }
            if message["type"] == "heartbeat" {
                self.send(json!({ "type": "heartbeat_ack" })).await;
            }
            before.push(message);
        }
    }

    async fn send(&mut self, message: Value) {
        self.framed
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
}

fn is_ws(message: &Value, kind: &str, id: &str) -> bool {
    let field = if kind == "notification" {
        "id"
    } else {
        "notification_id"
    };
    message["type"] == kind && message["data"][field] == id
}

fn is_ws_update(message: &Value, id: &str, status: &str) -> bool {
    is_ws(message, "status_update", id) && message["data"]["status"] == status
}

// ---------------------------------------------------------------------------------------------
// 1. The ATP tutorial, end to end.

async fn the_atp_tutorial_runs_end_to_end_over_both_streams_to_a_signed_webhook(engine: Engine) {
    let server = TestServer::start_with(engine, |s| {
        s.stream_heartbeat = HEARTBEAT;
        s.webhook_policy.allow_private = true;
    })
    .await;
    let receiver = Receiver::default();
    let callback = receiver.start("/atp/webhook");
    let api_key = register(&server, "Lovelace IDE", "ada", &callback).await;
    let (user, account_id) = user_token(&server, "ada@example.com").await;
    let (stop, delivery) = server.start_delivery();

    let mut events = sse(&server, "", Some(&user), Resume::No).await;
    let mut socket = ws(&server, &user).await;
    // Nothing is pending yet: each stream's first message is a heartbeat.
    assert_eq!(events.event().await.event, "heartbeat");
    assert_eq!(events.retry, Some(3000), "retry comes first");
    assert_eq!(socket.message().await["type"], "heartbeat");

    let id = server.notify(&api_key, &every_response_type()).await;
    let (pushed, before) = events
        .until("the SSE notification", |e| e.is("notification", &id))
        .await;
    assert!(before.iter().all(|e| e.event == "heartbeat"), "{before:?}");
    assert!(pushed.id.is_some(), "change events carry ids");
    assert_eq!(pushed.data["status"], "created");
    assert_eq!(pushed.data["service"]["id"], "lovelace-ide");
    assert_eq!(pushed.data["service"]["name"], "Lovelace IDE");
    assert_eq!(pushed.data["context"]["title"], "Deploy release 1.2?");
    assert_eq!(pushed.data["actions"], every_response_type()["actions"]);
    let (frame, _) = socket
        .until("the WebSocket notification", |m| {
            is_ws(m, "notification", &id)
        })
        .await;
    assert_eq!(
        frame["data"], pushed.data,
        "both streams carry the same object"
    );
    wait_for_status(&server, &api_key, &id, "delivered").await;

    let answer = json!(["unit", "e2e"]);
    let reply = respond(&server, &user, &id, "checks", answer.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["notification_id"], id.as_str());
    assert_eq!(reply.body["action_id"], "checks");
    assert_eq!(reply.body["status"], "responded");
    let responded_at = reply.body["responded_at"].clone();

    let (update, _) = events
        .until("the SSE status update", |e| e.is_update(&id, "responded"))
        .await;
    assert!(
        update.id > pushed.id,
        "ids grow: {update:?} after {pushed:?}"
    );
    assert_eq!(update.data["updated_at"], responded_at);
    let (frame, _) = socket
        .until("the WebSocket status update", |m| {
            is_ws_update(m, &id, "responded")
        })
        .await;
    assert_eq!(frame["data"], update.data);

    // The callback receives the answer, signed with the registration's secret.
    let deadline = Instant::now() + WAIT;
    while receiver.hooks().is_empty() {
        assert!(Instant::now() < deadline, "the webhook did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected = json!({
        "notification_id": id,
        "action_id": "checks",
        "response_data": answer,
        "responded_at": responded_at,
        "responder": { "id": account_id, "type": "human" },
    });
    let second = respond(&server, &user, &id, "approve", Value::Null).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{:?}", second.body);
    assert_eq!(second.body["code"], "NOTIFICATION_ALREADY_RESPONDED");
    // Time for a duplicate to show up, were there one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), 1, "exactly one webhook: {hooks:?}");
    let hook = &hooks[0];
    assent_signing::Verifier::default()
        .verify_now(
            b"tutorial-webhook-secret",
            hook.header("x-atp-signature"),
            &hook.body,
        )
        .expect("a valid X-ATP-Signature");
    assert!(
        hook.header("x-atp-signature").starts_with("t="),
        "{:?}",
        hook.headers
    );
    assert!(
        !hook.header("x-atp-request-id").is_empty(),
        "X-ATP-Request-ID is sent"
    );
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body, expected);
    let seen = server
        .call(
            Method::GET,
            &format!("/api/v1/notifications/{id}"),
            &api_key,
            None,
        )
        .await;
    assert_eq!(seen.body["status"], "responded");
    assert_eq!(seen.body["response"], expected);

    let _ = stop.send(true);
    delivery.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. Server-Sent Events.

async fn sse_opens_with_the_pending_notifications_and_resumes_after_the_last_event_id(
    engine: Engine,
) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;
    let first = server.notify(&api_key, &simple("first")).await;
    let answered = server.notify(&api_key, &simple("answered")).await;
    let second = server.notify(&api_key, &simple("second")).await;
    let withdrawn = server.notify(&api_key, &simple("withdrawn")).await;
    let reply = respond(&server, &user, &answered, "go", Value::Null).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    server
        .invalidate_notification(&api_key, &withdrawn, "changed my mind")
        .await;
    let latest = server.db.store.latest_change().unwrap();

    // Without Last-Event-ID: every pending notification, oldest first, under the newest
    // change number; then the moves to delivered that sending them made.
    let mut events = sse(&server, "", Some(&user), Resume::No).await;
    let opening = events.until_heartbeat().await;
    assert_eq!(events.retry, Some(3000));
    let notifications: Vec<&Event> = opening
        .iter()
        .filter(|e| e.event == "notification")
        .collect();
    let ids: Vec<&str> = notifications.iter().map(|e| e.notification_id()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()], "{opening:#?}");
    for event in &notifications {
        assert_eq!(event.id, Some(latest));
        assert_eq!(event.data["status"], "created");
    }
    let mut last = latest;
    for id in [&first, &second] {
        let update = match opening.iter().find(|e| e.is_update(id, "delivered")) {
            Some(update) => update.clone(),
            None => {
                events
                    .until("delivered", |e| e.is_update(id, "delivered"))
                    .await
                    .0
            }
        };
        last = last.max(update.id.unwrap());
    }
    assert!(last > latest);
    drop(events);

    // While disconnected: a new notification, an invalidation and a response. (The server
    // may count the dropped stream as open until it next writes to it, and so push `third`
    // to it and record it delivered: the replay is whatever the change log holds.)
    let third = server.notify(&api_key, &simple("third")).await;
    server
        .invalidate_notification(&api_key, &first, "no longer needed")
        .await;
    let reply = respond(&server, &user, &second, "go", Value::Null).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let missed = as_events(
        &server
            .db
            .store
            .changes_after(Some("ada"), last, 100)
            .unwrap(),
    );
    let made: Vec<&Event> = missed
        .iter()
        .filter(|e| !e.is_update(&third, "delivered"))
        .collect();
    assert_eq!(made.len(), 3, "{missed:#?}");
    assert!(made[0].is("notification", &third));
    assert!(made[1].is_update(&first, "invalidated"));
    assert_eq!(made[1].data["reason"], "no longer needed");
    assert!(made[2].is_update(&second, "responded"));

    // Resuming with the header: exactly those changes, then live ones.
    let last_text = last.to_string();
    let mut events = sse(&server, "", Some(&user), Resume::Header(&last_text)).await;
    let mut replayed = Vec::new();
    for _ in &missed {
        replayed.push(events.change().await);
    }
    assert_eq!(replayed, missed);
    let mut last = replayed.last().unwrap().id.unwrap();
    // The replayed notification is now delivered, and that is pushed live.
    if !replayed.iter().any(|e| e.is_update(&third, "delivered")) {
        let (delivered, before) = events
            .until("delivered", |e| e.is_update(&third, "delivered"))
            .await;
        assert!(
            before.iter().all(|e| e.event == "heartbeat"),
            "nothing else: {before:#?}"
        );
        last = delivered.id.unwrap();
    }
    drop(events);

    // Resuming with the query parameter instead.
    let fourth = server.notify(&api_key, &simple("fourth")).await;
    let mut events = sse(
        &server,
        &format!("?last_event_id={last}"),
        Some(&user),
        Resume::No,
    )
    .await;
    let event = events.change().await;
    assert!(event.is("notification", &fourth), "{event:?}");
    let missed = server
        .db
        .store
        .changes_after(Some("ada"), last, 100)
        .unwrap();
    assert_eq!(event.id, Some(missed[0].seq));
    assert!(event.id > Some(last));
    let (_, before) = events
        .until("delivered", |e| e.is_update(&fourth, "delivered"))
        .await;
    assert!(before.iter().all(|e| e.event == "heartbeat"), "{before:#?}");
    drop(events);

    // The header wins over the query parameter; an id past the end replays nothing.
    let future = (last + 1000).to_string();
    let mut events = sse(
        &server,
        "?last_event_id=0",
        Some(&user),
        Resume::Header(&future),
    )
    .await;
    let opening = events.until_heartbeat().await;
    assert_eq!(opening, vec![], "nothing after an id past the end");
    let fifth = server.notify(&api_key, &simple("fifth")).await;
    let event = events.change().await;
    assert!(
        event.is("notification", &fifth),
        "live changes still come: {event:?}"
    );
}

async fn sse_filters_by_type_sends_heartbeats_and_takes_the_token_in_the_query(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;
    let pending = server.notify(&api_key, &simple("pending")).await;

    // `?token=` instead of the header; only status updates.
    let mut events = sse(
        &server,
        &format!("?token={user}&types=status_update&client_id=tests&version=1.0"),
        None,
        Resume::No,
    )
    .await;
    let fresh = server.notify(&api_key, &simple("fresh")).await;
    server
        .invalidate_notification(&api_key, &fresh, "withdrawn")
        .await;
    let (update, before) = events
        .until("the invalidation", |e| e.is_update(&fresh, "invalidated"))
        .await;
    assert!(update.id.is_some());
    assert_eq!(update.data["reason"], "withdrawn");
    assert!(
        before.iter().all(|e| e.event != "notification"),
        "no notification events: {before:#?}"
    );

    // Heartbeats: no id, a timestamp, and more than one.
    let mut heartbeats = 0;
    while heartbeats < 3 {
        let event = events.event().await;
        assert_ne!(event.event, "notification", "{event:?}");
        if event.event == "heartbeat" {
            assert_eq!(event.id, None);
            assert!(event.data["timestamp"].is_string(), "{event:?}");
            heartbeats += 1;
        }
    }
    drop(events);

    // Only notifications: the pending one first, and no status updates.
    let mut events = sse(&server, "?types=notification", Some(&user), Resume::No).await;
    let event = events.change().await;
    assert!(event.is("notification", &pending), "{event:?}");
    server
        .invalidate_notification(&api_key, &pending, "gone")
        .await;
    let later = server.notify(&api_key, &simple("later")).await;
    let event = events.change().await;
    assert!(
        event.is("notification", &later),
        "no status updates: {event:?}"
    );
    // Both, spelled out.
    let mut events = sse(
        &server,
        "?types=notification,%20status_update",
        Some(&user),
        Resume::No,
    )
    .await;
    let event = events.change().await;
    assert!(event.is("notification", &later), "{event:?}");
    server
        .invalidate_notification(&api_key, &later, "gone")
        .await;
    events
        .until("the invalidation", |e| e.is_update(&later, "invalidated"))
        .await;
}

async fn sse_refuses_missing_tokens_service_keys_and_bad_parameters(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;

    let (status, body) = error_reply(sse_request(&server, "", None, &Resume::No).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:?}");
    assert_eq!(body["code"], "AUTH_INVALID_TOKEN");
    let (status, body) =
        error_reply(sse_request(&server, "?token=ut_nonsense", None, &Resume::No).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:?}");
    assert_eq!(body["code"], "AUTH_INVALID_TOKEN");
    let (status, body) =
        error_reply(sse_request(&server, "", Some(&api_key), &Resume::No).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
    assert_eq!(body["code"], "AUTH_INSUFFICIENT_PERMISSIONS");
    let (status, body) =
        error_reply(sse_request(&server, &format!("?token={api_key}"), None, &Resume::No).await)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
    assert_eq!(body["code"], "AUTH_INSUFFICIENT_PERMISSIONS");

    for (query, resume, field) in [
        ("?last_event_id=abc", Resume::No, "last_event_id"),
        ("?last_event_id=-1", Resume::No, "last_event_id"),
        ("", Resume::Header("1.5"), "last_event_id"),
        ("?last_event_id=1", Resume::Header("x"), "last_event_id"),
        ("?types=bogus", Resume::No, "types"),
        // Claims reach the dashboard's stream only, never an ATP client.
        ("?types=claim", Resume::No, "types"),
        ("?types=notification,heartbeat", Resume::No, "types"),
        ("?version=2.0", Resume::No, "version"),
    ] {
        let (status, body) =
            error_reply(sse_request(&server, query, Some(&user), &resume).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body:?}");
        assert_eq!(body["code"], "INVALID_PARAMETER", "{query}: {body:?}");
        assert_eq!(body["details"]["field"], field, "{query}: {body:?}");
        assert!(body["request_id"].is_string(), "{body:?}");
    }
}

async fn sse_allows_only_so_many_open_streams_per_user(engine: Engine) {
    let Setup { server, user, .. } = setup(engine, |s| s.rate.sse_per_user = 2).await;
    let one = sse(&server, "", Some(&user), Resume::No).await;
    let mut two = sse(&server, "", Some(&user), Resume::No).await;
    let (status, body) =
        error_reply(sse_request(&server, "", Some(&user), &Resume::No).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    // Another user has streams of their own.
    let grace = server.signup("grace").await;
    let grace = server.user_token(&grace, "streams").await;
    let mut theirs = sse(&server, "", Some(&grace), Resume::No).await;
    assert_eq!(theirs.event().await.event, "heartbeat");
    // The ones open still work.
    assert_eq!(two.event().await.event, "heartbeat");
    // A closed stream frees its place (once the server notices).
    drop(one);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = sse_request(&server, "", Some(&user), &Resume::No).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /dashboard/events` with an owner's session as the bearer token.
async fn dashboard_events(server: &TestServer, session: &str) -> reqwest::Response {
    server
        .client
        .get(server.url("/dashboard/events"))
        .bearer_auth(session)
        .send()
        .await
        .unwrap()
}

/// The dashboard's stream and the ATP client's share one limit of open streams per user.
async fn dashboard_streams_count_against_the_per_user_stream_limit(engine: Engine) {
    let Setup { server, user, .. } = setup(engine, |s| s.rate.sse_per_user = 2).await;
    let (session, _) = server.login("ada@example.com").await;
    let one = dashboard_events(&server, &session).await;
    assert_eq!(one.status(), StatusCode::OK);
    let two = dashboard_events(&server, &session).await;
    assert_eq!(two.status(), StatusCode::OK);
    let (status, body) = error_reply(dashboard_events(&server, &session).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    // The ATP stream of the same user has no place left either.
    let (status, body) =
        error_reply(sse_request(&server, "", Some(&user), &Resume::No).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    // Another user has streams of their own.
    let grace = server.signup("grace").await;
    assert_eq!(
        dashboard_events(&server, &grace).await.status(),
        StatusCode::OK
    );
    // A closed stream frees its place (once the server notices).
    drop(one);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = dashboard_events(&server, &session).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(two);
}

// ---------------------------------------------------------------------------------------------
// 3. WebSocket.

async fn websocket_heartbeats_arrive_at_the_configured_interval(engine: Engine) {
    let heartbeat = Duration::from_millis(300);
    let Setup { server, user, .. } = setup(engine, |s| s.stream_heartbeat = heartbeat).await;
    let started = Instant::now();
    // Through `?token=` this time.
    let mut socket = ws_connect(&server, &user, true).await.unwrap();
    for _ in 0..3 {
        let message = socket.message().await;
        assert_eq!(message["type"], "heartbeat", "{message}");
        assert!(message["data"]["timestamp"].is_string(), "{message}");
    }
    // The n-th heartbeat is due n intervals after the connection opened, never sooner.
    assert!(
        started.elapsed() >= heartbeat * 3,
        "three heartbeats in {:?}",
        started.elapsed()
    );
}

async fn a_websocket_that_answers_heartbeats_stays_open_and_a_silent_one_is_closed(engine: Engine) {
    let idle = Duration::from_secs(1);
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |s| s.stream_idle_timeout = idle).await;
    let mut polite = ws(&server, &user).await;
    let opened = Instant::now();
    let mut silent = ws(&server, &user).await;

    // The silent one gets heartbeats, then a close frame: 1008 "idle timeout".
    let silent_side = async {
        loop {
            match silent.frame_within(WAIT).await {
                Some(Frame::Text(bytes)) => {
                    let message: Value = serde_json::from_slice(&bytes).unwrap();
                    assert_eq!(message["type"], "heartbeat", "{message}");
                }
                Some(Frame::Close(reason)) => break (reason, opened.elapsed()),
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    // Meanwhile the polite one answers every heartbeat, well past the timeout.
    let polite_side = async {
        while opened.elapsed() < idle * 3 {
            let message = polite.message().await;
            assert_eq!(message["type"], "heartbeat", "{message}");
            polite.send(json!({ "type": "heartbeat_ack" })).await;
        }
    };
    let ((reason, closed_after), ()) = futures_util::future::join(silent_side, polite_side).await;
    let reason = reason.expect("a close reason");
    assert_eq!(reason.code, CloseCode::Policy);
    assert_eq!(u16::from(reason.code), 1008);
    assert_eq!(reason.description.as_deref(), Some("idle timeout"));
    assert!(
        closed_after >= idle,
        "closed only after the idle timeout: {closed_after:?}"
    );
    // The silent one is gone; the polite one still gets notifications.
    match tokio::time::timeout(WAIT, silent.framed.next()).await {
        Ok(None | Some(Err(_))) => {}
        Ok(Some(Ok(frame))) => panic!("a frame after the close frame: {frame:?}"),
        Err(_) => panic!("the closed connection stayed open"),
    }
    let id = server.notify(&api_key, &simple("still there?")).await;
    polite
        .until("the notification", |m| is_ws(m, "notification", &id))
        .await;
}

async fn a_websocket_acknowledges_notifications_and_answers_bad_messages_with_errors(
    engine: Engine,
) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;
    let id = server.notify(&api_key, &simple("seen?")).await;
    let mut socket = ws(&server, &user).await;
    // Opens with the pending notification.
    let first = socket.message().await;
    assert!(is_ws(&first, "notification", &id), "{first}");
    // The feed may hand the notification to this connection (and mark it delivered) before
    // the opening reads it: then it opens as delivered, with no separate update.
    if first["data"]["status"] == "created" {
        socket
            .until("delivered", |m| is_ws_update(m, &id, "delivered"))
            .await;
    } else {
        assert_eq!(first["data"]["status"], "delivered", "{first}");
    }

    socket
        .send(json!({ "type": "acknowledge", "notification_id": id }))
        .await;
    let (update, _) = socket
        .until("acknowledged", |m| is_ws_update(m, &id, "acknowledged"))
        .await;
    assert!(update["data"]["updated_at"].is_string(), "{update}");
    let seen = server
        .call(
            Method::GET,
            &format!("/api/v1/client/notifications/{id}"),
            &user,
            None,
        )
        .await;
    assert_eq!(seen.body["status"], "acknowledged");
    assert_eq!(
        server.notification_status(&api_key, &id).await,
        "acknowledged"
    );
    // Acknowledging again changes nothing and says nothing.
    socket
        .send(json!({ "type": "acknowledge", "notification_id": id }))
        .await;

    let error =
        |code: &'static str| move |m: &Value| m["type"] == "error" && m["data"]["code"] == code;
    socket.send(json!({ "type": "subscribe" })).await;
    let (frame, before) = socket.until("the error", error("INVALID_PARAMETER")).await;
    assert!(
        before.iter().all(|m| m["type"] == "heartbeat"),
        "a second acknowledge is silent: {before:#?}"
    );
    assert_eq!(frame["data"]["details"]["field"], "type");
    assert!(
        frame["data"]["message"]
            .as_str()
            .unwrap()
            .contains("subscribe"),
        "{frame}"
    );
    socket
        .framed
        .send(Message::Text("not json".into()))
        .await
        .unwrap();
    socket.until("the error", error("INVALID_JSON")).await;
    socket.send(json!({ "type": "acknowledge" })).await;
    let (frame, _) = socket
        .until("the error", error("MISSING_REQUIRED_FIELD"))
        .await;
    assert_eq!(frame["data"]["details"]["field"], "notification_id");
    socket
        .send(json!({ "type": "acknowledge", "notification_id": "00000000-0000-4000-8000-000000000000" }))
        .await;
    socket
        .until("the error", error("NOTIFICATION_NOT_FOUND"))
        .await;
    // Another namespace's notification is not this user's to acknowledge.
    server.signup("grace").await;
    let theirs = register(&server, "Grace Tools", "grace", "https://grace.dev/atp").await;
    let foreign = server.notify(&theirs, &simple("grace's")).await;
    socket
        .send(json!({ "type": "acknowledge", "notification_id": foreign }))
        .await;
    socket
        .until("the error", error("NOTIFICATION_ACCESS_DENIED"))
        .await;
    assert_eq!(
        server.notification_status(&theirs, &foreign).await,
        "created"
    );
    // An answered notification cannot be acknowledged.
    let reply = respond(&server, &user, &id, "go", Value::Null).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    socket
        .until("responded", |m| is_ws_update(m, &id, "responded"))
        .await;
    socket
        .send(json!({ "type": "acknowledge", "notification_id": id }))
        .await;
    socket
        .until("the error", error("NOTIFICATION_ALREADY_RESPONDED"))
        .await;
    // The connection is still open after all of it.
    socket.send(json!({ "type": "heartbeat_ack" })).await;
    let later = server.notify(&api_key, &simple("later")).await;
    socket
        .until("the notification", |m| is_ws(m, "notification", &later))
        .await;
}

async fn websockets_are_limited_per_user_before_the_upgrade(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |s| s.rate.websockets_per_user = 2).await;
    let mut one = ws(&server, &user).await;
    let mut two = ws(&server, &user).await;
    match ws_connect(&server, &user, false).await {
        Err(WsClientError::InvalidResponseStatus(status)) => assert_eq!(status.as_u16(), 429),
        Err(other) => panic!("refused otherwise: {other:?}"),
        Ok(_) => panic!("a third WebSocket opened"),
    }
    // Refused with the ATP error, before any upgrade.
    let reply = server
        .send(
            server
                .client
                .get(server.url("/api/v1/client/stream"))
                .bearer_auth(&user)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.body["code"], "RATE_LIMIT_EXCEEDED");
    // No token (and no handshake either); a service key.
    let (status, body) = error_reply(
        server
            .client
            .get(server.url("/api/v1/client/stream"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH_INVALID_TOKEN"))
    );
    match ws_connect(&server, &api_key, false).await {
        Err(WsClientError::InvalidResponseStatus(status)) => assert_eq!(status.as_u16(), 403),
        Err(other) => panic!("refused otherwise: {other:?}"),
        Ok(_) => panic!("a service key opened a WebSocket"),
    }
    // The open ones keep working; closing one frees its place.
    let id = server.notify(&api_key, &simple("hello")).await;
    two.until("the notification", |m| is_ws(m, "notification", &id))
        .await;
    one.framed
        .send(Message::Close(Some(CloseCode::Normal.into())))
        .await
        .unwrap();
    drop(one);
    let deadline = Instant::now() + WAIT;
    loop {
        match ws_connect(&server, &user, false).await {
            Ok(_) => break,
            Err(WsClientError::InvalidResponseStatus(status)) if status.as_u16() == 429 => {}
            Err(other) => panic!("refused otherwise: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the closed socket's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_websocket_sees_invalidations_and_only_its_own_namespace(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;
    let grace = server.signup("grace").await;
    let grace_user = server.user_token(&grace, "streams").await;
    let theirs = register(&server, "Grace Tools", "grace", "https://grace.dev/atp").await;
    let mut socket = ws(&server, &user).await;
    let mut grace_socket = ws(&server, &grace_user).await;

    let id = server.notify(&api_key, &simple("deploy?")).await;
    socket
        .until("the notification", |m| is_ws(m, "notification", &id))
        .await;
    server
        .invalidate_notification(&api_key, &id, "superseded by 1.3")
        .await;
    let (update, _) = socket
        .until("the invalidation", |m| is_ws_update(m, &id, "invalidated"))
        .await;
    assert_eq!(update["data"]["reason"], "superseded by 1.3");

    // Grace's notification reaches her socket and not ada's: ada's next message about a
    // notification is the one sent after it.
    let foreign = server.notify(&theirs, &simple("grace's")).await;
    let (frame, _) = grace_socket
        .until("grace's notification", |m| {
            is_ws(m, "notification", &foreign)
        })
        .await;
    assert_eq!(frame["data"]["service"]["id"], "grace-tools");
    let mine = server.notify(&api_key, &simple("mine")).await;
    let (_, before) = socket
        .until("the next notification", |m| is_ws(m, "notification", &mine))
        .await;
    assert!(
        before
            .iter()
            .all(|m| m["type"] == "heartbeat" || m["data"]["notification_id"] == id.as_str()),
        "only ada's changes: {before:#?}"
    );
    let (_, before) = grace_socket
        .until("grace's delivered", |m| {
            is_ws_update(m, &foreign, "delivered")
        })
        .await;
    assert!(
        before.iter().all(|m| m["type"] == "heartbeat"),
        "{before:#?}"
    );
    // A new socket of ada's opens with only her pending notifications.
    let mut again = ws(&server, &user).await;
    let first = again.message().await;
    assert!(is_ws(&first, "notification", &mine), "{first}");
    let next = again.message().await;
    assert_ne!(next["type"], "notification", "{next}");
}

/// Claims reach the dashboard's stream only: a WebSocket hears nothing of a claim submitted
/// while it is open.
async fn a_websocket_never_carries_claims(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
    } = setup(engine, |_| {}).await;
    let mut socket = ws(&server, &user).await;
    // Open and listening: its first heartbeat has come.
    let first = socket.message().await;
    assert_eq!(first["type"], "heartbeat", "{first}");
    let claim = common::pending_claim(&server, "ada", "Support bot");
    let id = server.notify(&api_key, &simple("after the claim")).await;
    let (_, before) = socket
        .until("the notification after the claim", |m| {
            is_ws(m, "notification", &id)
        })
        .await;
    assert!(
        before.iter().all(|m| {
            ["heartbeat", "notification", "status_update"]
                .contains(&m["type"].as_str().unwrap_or_default())
        }),
        "{before:#?}"
    );
    assert!(
        !before.iter().any(|m| m.to_string().contains(&claim)),
        "{before:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Delivery.

async fn a_created_notification_becomes_delivered_once_pushed_to_an_open_stream(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
        ..
    } = setup(engine, |_| {}).await;
    // No stream open: it stays created.
    let early = server.notify(&api_key, &simple("early")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.notification_status(&api_key, &early).await,
        "created"
    );

    // Pushed live to a WebSocket.
    let mut socket = ws(&server, &user).await;
    let pushed = server.notify(&api_key, &simple("pushed")).await;
    wait_for_status(&server, &api_key, &pushed, "delivered").await;
    // Sent when the socket opened.
    wait_for_status(&server, &api_key, &early, "delivered").await;
    socket
        .until("the notification", |m| is_ws(m, "notification", &pushed))
        .await;
    drop(socket);

    // Pushed live to an SSE stream.
    let mut events = sse(&server, "", Some(&user), Resume::No).await;
    let streamed = server.notify(&api_key, &simple("streamed")).await;
    wait_for_status(&server, &api_key, &streamed, "delivered").await;
    events
        .until("the notification", |e| e.is("notification", &streamed))
        .await;
    let listed = server
        .call(
            Method::GET,
            &format!("/api/v1/client/notifications/{streamed}"),
            &user,
            None,
        )
        .await;
    assert_eq!(listed.body["status"], "delivered");
}

/// Two replicas on one database: a notification sent to one, and answered on it, reaches a
/// stream open on the other (its change feed finds other replicas' changes by polling).
async fn changes_made_on_another_replica_reach_open_streams(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
    } = setup(engine, |s| s.feed_poll = Duration::from_millis(100)).await;
    // The second replica: its own pool, feed and HTTP server on the same database.
    let store = assent_store::Store::connect(&server.db.url, &assent_store::PoolOptions::default())
        .expect("a second pool on the same database");
    let state =
        assent_http::AppState::new(store, server.secret_key.clone(), HttpSettings::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    let options = assent_http::ServerOptions {
        workers: 1,
        shutdown_timeout: Duration::from_secs(1),
    };
    let replica = assent_http::start(state, listener, &options).unwrap();
    let replica_handle = replica.handle();
    actix_web::rt::spawn(replica);

    let mut events = sse(&server, "", Some(&user), Resume::No).await;
    events.until_heartbeat().await;
    let sent = server
        .client
        .post(format!("{other}/api/v1/notifications"))
        .bearer_auth(&api_key)
        .json(&simple("from the other replica"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    let id = sent.json::<Value>().await.unwrap()["notification_id"]
        .as_str()
        .unwrap()
        .to_owned();
    events
        .until("the other replica's notification", |e| {
            e.is("notification", &id)
        })
        .await;
    let answered = server
        .client
        .post(format!("{other}/api/v1/client/respond"))
        .bearer_auth(&user)
        .json(&json!({ "notification_id": id, "action_id": "go" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    events
        .until("the other replica's answer", |e| {
            e.is_update(&id, "responded")
        })
        .await;
    replica_handle.stop(true).await;
}

/// The dashboard's stream: the owner's session (here as a bearer; browsers send the cookie)
/// hears `changed` for each new or changed notification of the namespace, and nothing of
/// another namespace's; a user token is not a session.
async fn the_dashboard_hears_every_change_of_its_namespace(engine: Engine) {
    let Setup {
        server,
        api_key,
        user,
    } = setup(engine, |_| {}).await;
    let (session, _) = server.login("ada@example.com").await;
    assert_eq!(
        dashboard_events(&server, &user).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = dashboard_events(&server, &session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = Sse {
        response,
        buffer: Vec::new(),
        retry: None,
    };
    server.signup("grace").await;
    let grace = register(&server, "Grace Tool", "grace", "https://grace.dev/hook").await;
    server.notify(&grace, &simple("for another inbox")).await;
    let id = server.notify(&api_key, &simple("for the inbox")).await;
    let (changed, skipped) = events.until("a change", |e| e.event == "changed").await;
    assert!(
        skipped.iter().all(|e| e.event == "heartbeat"),
        "{skipped:?}"
    );
    assert_eq!(changed.data, json!({ "kind": "notification", "id": id }));
    // The dashboard's stream delivers nothing itself.
    assert_eq!(server.notification_status(&api_key, &id).await, "created");

    // Claims reach the dashboard, never an ATP client. The ATP stream delivers the pending
    // notifications: the dashboard shows no change for that (its next event is the claim).
    let mut atp = sse(&server, "", Some(&user), Resume::No).await;
    let claim = common::pending_claim(&server, "ada", "Bot");
    let (changed, _) = events.until("the claim", |e| e.event == "changed").await;
    assert_eq!(changed.data, json!({ "kind": "claim", "id": claim }));
    // A change the inbox does show still reaches it: an answer removes the notification.
    let answered = respond(&server, &user, &id, "go", Value::Null).await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    let (changed, _) = events.until("the answer", |e| e.event == "changed").await;
    assert_eq!(changed.data, json!({ "kind": "status_update", "id": id }));
    let after = server.notify(&api_key, &simple("after the claim")).await;
    let (_, before) = atp
        .until("the notification after the claim", |e| {
            e.is("notification", &after)
        })
        .await;
    assert!(
        before
            .iter()
            .all(|e| ["heartbeat", "notification", "status_update"].contains(&e.event.as_str())),
        "{before:?}"
    );
}

on_both_engines!(
    the_dashboard_hears_every_change_of_its_namespace,
    changes_made_on_another_replica_reach_open_streams,
    the_atp_tutorial_runs_end_to_end_over_both_streams_to_a_signed_webhook,
    sse_opens_with_the_pending_notifications_and_resumes_after_the_last_event_id,
    sse_filters_by_type_sends_heartbeats_and_takes_the_token_in_the_query,
    sse_refuses_missing_tokens_service_keys_and_bad_parameters,
    sse_allows_only_so_many_open_streams_per_user,
    dashboard_streams_count_against_the_per_user_stream_limit,
    websocket_heartbeats_arrive_at_the_configured_interval,
    a_websocket_that_answers_heartbeats_stays_open_and_a_silent_one_is_closed,
    a_websocket_acknowledges_notifications_and_answers_bad_messages_with_errors,
    websockets_are_limited_per_user_before_the_upgrade,
    a_websocket_sees_invalidations_and_only_its_own_namespace,
    a_websocket_never_carries_claims,
    a_created_notification_becomes_delivered_once_pushed_to_an_open_stream,
);
