//! The ATP notification REST endpoints against a real server, on SQLite and PostgreSQL: a
//! service sends, reads and invalidates its notifications; the user lists, reads and answers
//! them. Every documented error with its status, code and `details.field`, proof that refusals
//! store nothing, the lifecycle's conflicts, deadline expiry, concurrent answers and the rate
//! limits.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use assent_core::Timestamp;
use assent_core::notification::parse_uuid;
use assent_http::rate_limit::Rate;
use assent_store::ChangeKind;
use assent_store::testing::Engine;
use common::{Reply, TestServer, seed_registration};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NOTIFICATIONS: &str = "/api/v1/notifications";
const CLIENT_NOTIFICATIONS: &str = "/api/v1/client/notifications";
const RESPOND: &str = "/api/v1/client/respond";

/// A server with the parties every test needs: two services of ada's (Lovelace IDE and
/// Hopper Bot), ada's session and user token, and grace with her own token and service.
struct World {
    server: TestServer,
    /// Lovelace IDE's API key (namespace ada).
    key: String,
    /// Hopper Bot's API key: another service of ada's.
    other_key: String,
    /// ada's session token.
    session: String,
    /// ada's user token (`ut_…`).
    token: String,
    /// ada's account id: the responder of her answers.
    ada_id: String,
    grace_token: String,
    /// A service in grace's namespace.
    grace_key: String,
}

impl World {
    async fn start(engine: Engine) -> Self {
        Self::on(TestServer::start(engine).await).await
    }

    async fn on(server: TestServer) -> Self {
        let key = registered_key(&server, &seed_registration()).await;
        let mut hopper = seed_registration();
        hopper["name"] = json!("Hopper Bot");
        let other_key = registered_key(&server, &hopper).await;

        let (session, ada_id) = server.login("ada@example.com").await;
        let token = server.user_token(&session, "phone").await;

        let grace_session = server.signup("grace").await;
        let grace_token = server.user_token(&grace_session, "phone").await;
        let mut grace_service = seed_registration();
        grace_service["namespace"] = json!("grace");
        let grace_key = registered_key(&server, &grace_service).await;
        Self {
            server,
            key,
            other_key,
            session,
            token,
            ada_id,
            grace_token,
            grace_key,
        }
    }

    /// `POST /api/v1/notifications` with `key`.
    async fn notify(&self, key: &str, body: &Value) -> Reply {
        self.server
            .call(Method::POST, NOTIFICATIONS, key, Some(body.clone()))
            .await
    }

    /// `POST /api/v1/notifications` with a raw body.
    async fn notify_raw(&self, key: &str, body: impl Into<reqwest::Body>) -> Reply {
        let request = self
            .server
            .client
            .post(self.server.url(NOTIFICATIONS))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body);
        self.server.send(request).await
    }

    /// Sends a notification that must be accepted; returns its id.
    async fn create(&self, key: &str, body: &Value) -> String {
        let reply = self.notify(key, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["notification_id"].as_str().unwrap().to_owned()
    }

    /// `GET /api/v1/notifications/{id}` with `key`.
    async fn service_get(&self, key: &str, id: &str) -> Reply {
        let path = format!("{NOTIFICATIONS}/{id}");
        self.server.call(Method::GET, &path, key, None).await
    }

    /// The status a notification's service sees.
    async fn status_of(&self, id: &str) -> Value {
        let reply = self.service_get(&self.key, id).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body["status"].clone()
    }

    /// `PATCH /api/v1/notifications/{id}` with `key`.
    async fn patch(&self, key: &str, id: &str, body: Value) -> Reply {
        let path = format!("{NOTIFICATIONS}/{id}");
        self.server
            .call(Method::PATCH, &path, key, Some(body))
            .await
    }

    async fn invalidate(&self, key: &str, id: &str) -> Reply {
        self.patch(key, id, json!({ "status": "invalidated" }))
            .await
    }

    /// `GET /api/v1/client/notifications?{query}` with `token`.
    async fn list(&self, token: &str, query: &str) -> Reply {
        let path = format!("{CLIENT_NOTIFICATIONS}?{query}");
        self.server.call(Method::GET, &path, token, None).await
    }

    /// The ids a listing must return, in order.
    async fn listed_ids(&self, token: &str, query: &str) -> Vec<String> {
        let reply = self.list(token, query).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
        ids_of(&reply)
    }

    /// `GET /api/v1/client/notifications/{id}` with `token`.
    async fn client_get(&self, token: &str, id: &str) -> Reply {
        let path = format!("{CLIENT_NOTIFICATIONS}/{id}");
        self.server.call(Method::GET, &path, token, None).await
    }

    /// `POST /api/v1/client/respond` with `token`; `data` is left out when `None`.
    async fn respond(&self, token: &str, id: &str, action: &str, data: Option<Value>) -> Reply {
        let mut body = json!({ "notification_id": id, "action_id": action });
        if let Some(data) = data {
            body["response_data"] = data;
        }
        self.server
            .call(Method::POST, RESPOND, token, Some(body))
            .await
    }

    /// Refusals must store nothing: no notification and no change for any client.
    async fn assert_nothing_stored(&self) {
        let reply = self.list(&self.token, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(
            reply.body,
            json!({
                "notifications": [],
                "pagination": { "next_cursor": null, "has_more": false, "total_count": 0 },
            })
        );
        assert_eq!(
            self.server.db.store.changes_after(None, 0, 100).unwrap(),
            vec![]
        );
    }
}

/// Registers an ATP service; returns its API key.
async fn registered_key(server: &TestServer, body: &Value) -> String {
    let reply = server.register(body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["api_key"].as_str().unwrap().to_owned()
}

/// The smallest valid notification: one simple action.
fn notification() -> Value {
    json!({
        "context": { "title": "Deploy release 1.2?", "description": "All checks passed." },
        "actions": [{ "id": "approve", "label": "Deploy", "response_type": "simple" }],
    })
}

/// A notification with one action of each response type.
fn every_type() -> Value {
    json!({
        "context": { "title": "Review the refactor", "description": "Three files changed." },
        "actions": [
            { "id": "approve", "label": "Approve", "response_type": "simple" },
            { "id": "ok", "label": "Merge now?", "response_type": "binary",
              "options": { "true_label": "Yes", "false_label": "No" } },
            { "id": "pick", "label": "Strategy", "response_type": "choice",
              "options": [{ "value": "a", "label": "Rebase" }, { "value": "b", "label": "Squash" }] },
            { "id": "many", "label": "Reviewers", "response_type": "multi_choice",
              "options": [{ "value": "a", "label": "Ada" }, { "value": "b", "label": "Grace" },
                          { "value": "c", "label": "Linus" }],
              "constraints": { "min_selections": 1, "max_selections": 2 } },
            { "id": "why", "label": "Code", "response_type": "text",
              "constraints": { "min_length": 2, "max_length": 3 } },
            { "id": "n", "label": "How many", "response_type": "number",
              "constraints": { "min": 1, "max": 10, "integer": true } },
        ],
    })
}

/// `notification()` with the value at `pointer` replaced (or removed when `None`).
fn changed(pointer: &str, value: Option<Value>) -> Value {
    let mut body = notification();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = body.pointer_mut(parent).unwrap();
    match (value, parent) {
        (Some(value), Value::Object(map)) => {
            map.insert(key.to_owned(), value);
        }
        (None, Value::Object(map)) => {
            map.remove(key);
        }
        (Some(value), Value::Array(items)) => items[key.parse::<usize>().unwrap()] = value,
        (None, _) => unreachable!("only object members are removed"),
        (Some(_), _) => unreachable!("{pointer} is not in an object or array"),
    }
    body
}

/// `notification()` whose actions are `actions`.
fn with_actions(actions: Value) -> Value {
    changed("/actions", Some(actions))
}

/// The `n`th of a series of UUIDs that sort in the order they are made.
fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn with_id(mut body: Value, id: &str) -> Value {
    body["id"] = json!(id);
    body
}

fn with_project(mut body: Value, project: &str) -> Value {
    body["context"]["project"] = json!(project);
    body
}

fn ids_of(reply: &Reply) -> Vec<String> {
    reply.body["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("no notifications: {:?}", reply.body))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

fn keys_of(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// An ATP error of `status` and `code`, naming `field` in its details (or with no
/// `details.field` when `None`).
#[track_caller]
fn assert_error(reply: &Reply, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(reply.status, status, "{code}: {:?}", reply.body);
    assert_eq!(reply.body["code"], code, "{:?}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.ends_with('.')),
        "{:?}",
        reply.body
    );
    assert!(reply.request_id().starts_with("req_"));
    assert_eq!(reply.body["request_id"], reply.request_id());
    match field {
        Some(field) => assert_eq!(reply.body["details"]["field"], field, "{:?}", reply.body),
        None => assert!(
            reply.body["details"].get("field").is_none(),
            "{:?}",
            reply.body
        ),
    }
}

/// The exact 409 for a notification that accepts no more changes.
#[track_caller]
fn assert_conflict(reply: &Reply, code: &str, id: &str, status: &str) {
    assert_eq!(reply.status, StatusCode::CONFLICT, "{:?}", reply.body);
    let message = match code {
        "NOTIFICATION_ALREADY_RESPONDED" => "The notification has already been answered.",
        "NOTIFICATION_INVALIDATED" => "The service has invalidated this notification.",
        "NOTIFICATION_EXPIRED" => {
            "The notification deadline has passed and no longer accepts responses."
        }
        other => unreachable!("no message for {other}"),
    };
    let mut expected = reply.atp_error(code, message);
    expected["details"] = json!({ "notification_id": id, "status": status });
    if let Some(expired_at) = reply.body["details"].get("expired_at") {
        expected["details"]["expired_at"] = expired_at.clone();
    }
    assert_eq!(reply.body, expected);
}

#[track_caller]
fn assert_rate_limited(reply: &Reply, period_seconds: u64) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(reply.body["request_id"], reply.request_id());
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=period_seconds).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
}

// ---------------------------------------------------------------------------------------
// POST /api/v1/notifications

async fn a_service_sends_a_notification_named_by_its_key(engine: Engine) {
    let w = World::start(engine).await;
    let mut body = with_project(every_type(), "lovelace");
    // What the body claims about the sender is ignored: the key says who sends.
    body["service"] = json!({ "id": "impostor", "name": "Impostor" });
    let reply = w.notify(&w.key, &body).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(
        keys_of(&reply.body),
        BTreeSet::from(["notification_id", "status", "estimated_delivery"])
    );
    assert_eq!(reply.body["status"], "created");
    let id = reply.body["notification_id"].as_str().unwrap();
    assert_eq!(parse_uuid(id).as_deref(), Some(id), "a generated UUID");
    let estimated = reply.body["estimated_delivery"].as_str().unwrap();
    assert!(Timestamp::parse_rfc3339(estimated).is_some(), "{estimated}");

    let got = w.service_get(&w.key, id).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.body["id"], id);
    assert_eq!(got.body["version"], "1.0");
    assert_eq!(
        got.body["service"],
        json!({ "id": "lovelace-ide", "name": "Lovelace IDE" })
    );
    assert_eq!(got.body["status"], "created");
    assert_eq!(
        got.body["context"],
        json!({
            "title": "Review the refactor",
            "description": "Three files changed.",
            "project": "lovelace",
        })
    );
    assert_eq!(got.body["actions"], body["actions"]);
    assert_eq!(got.body["created_at"], got.body["updated_at"]);
    for absent in ["deadline", "response", "status_reason"] {
        assert!(got.body.get(absent).is_none(), "{absent}: {:?}", got.body);
    }

    // The other service's key names the other service.
    let id = w.create(&w.other_key, &notification()).await;
    let got = w.service_get(&w.other_key, &id).await;
    assert_eq!(
        got.body["service"],
        json!({ "id": "hopper-bot", "name": "Hopper Bot" })
    );
    // Each was recorded as one change for ada's clients, and both are listed for her.
    let changes = w
        .server
        .db
        .store
        .changes_after(Some("ada"), 0, 100)
        .unwrap();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Notification));
    assert_eq!(w.listed_ids(&w.token, "").await.len(), 2);

    // A service registered with an icon: the key names it with its icon too, for the service
    // and for the user alike.
    let mut iconic = seed_registration();
    iconic["name"] = json!("Babbage Engine");
    iconic["icon_url"] = json!("https://babbage.dev/icon.png");
    let iconic_key = registered_key(&w.server, &iconic).await;
    let id = w.create(&iconic_key, &notification()).await;
    let expected = json!({
        "id": "babbage-engine",
        "name": "Babbage Engine",
        "icon": "https://babbage.dev/icon.png",
    });
    let got = w.service_get(&iconic_key, &id).await;
    assert_eq!(got.body["service"], expected, "{:?}", got.body);
    let shown = w.client_get(&w.token, &id).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert_eq!(shown.body["service"], expected, "{:?}", shown.body);
}

async fn a_given_uuid_is_kept_and_sending_it_again_is_a_conflict(engine: Engine) {
    let w = World::start(engine).await;
    let given = "550E8400-E29B-41D4-A716-446655440000";
    let reply = w.notify(&w.key, &with_id(notification(), given)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let id = "550e8400-e29b-41d4-a716-446655440000";
    assert_eq!(reply.body["notification_id"], id, "kept, lowercased");
    assert_eq!(w.service_get(&w.key, id).await.body["id"], id);

    // Ids are unique across services, whatever their case.
    for (key, sent) in [(&w.key, given), (&w.key, id), (&w.other_key, id)] {
        let reply = w.notify(key, &with_id(notification(), sent)).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{:?}", reply.body);
        let mut expected = reply.atp_error(
            "NOTIFICATION_ALREADY_EXISTS",
            "A notification with this id already exists.",
        );
        expected["details"] = json!({ "field": "id" });
        assert_eq!(reply.body, expected);
    }
    assert_eq!(w.listed_ids(&w.token, "").await, vec![id.to_owned()]);
    assert_eq!(
        w.status_of(id).await,
        "delivered",
        "the original is untouched"
    );
}

async fn concurrent_sends_of_one_id_store_one_notification(engine: Engine) {
    let w = World::start(engine).await;
    let body = with_id(notification(), &uuid(7));
    let replies = futures_util::future::join_all(
        (0..10).map(|i| w.notify(if i % 2 == 0 { &w.key } else { &w.other_key }, &body)),
    )
    .await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    for reply in replies.iter().filter(|r| r.status == StatusCode::CONFLICT) {
        assert_error(
            reply,
            StatusCode::CONFLICT,
            "NOTIFICATION_ALREADY_EXISTS",
            Some("id"),
        );
    }
    assert_eq!(w.listed_ids(&w.token, "").await, vec![uuid(7)]);
    let created = w
        .server
        .db
        .store
        .changes_after(Some("ada"), 0, 100)
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == ChangeKind::Notification)
        .count();
    assert_eq!(created, 1);
}

async fn each_refused_notification_names_its_code_status_and_field(engine: Engine) {
    let w = World::start(engine).await;
    let bad = StatusCode::BAD_REQUEST;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let past = Timestamp::now().plus_millis(-60_000).to_rfc3339();
    let simple = |id: &str| json!({ "id": id, "label": "Go", "response_type": "simple" });
    let many_actions: Vec<Value> = (0..21).map(|i| simple(&format!("a{i}"))).collect();
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        // Missing required fields, in the documented order.
        (json!({}), bad, "MISSING_REQUIRED_FIELD", "context"),
        (
            changed("/context", None),
            bad,
            "MISSING_REQUIRED_FIELD",
            "context",
        ),
        (
            changed("/context", Some(Value::Null)),
            bad,
            "MISSING_REQUIRED_FIELD",
            "context",
        ),
        (
            changed("/context/title", None),
            bad,
            "MISSING_REQUIRED_FIELD",
            "context.title",
        ),
        (
            changed("/context/title", Some(json!("  "))),
            bad,
            "MISSING_REQUIRED_FIELD",
            "context.title",
        ),
        (
            changed("/context/description", None),
            bad,
            "MISSING_REQUIRED_FIELD",
            "context.description",
        ),
        (
            changed("/actions", None),
            bad,
            "MISSING_REQUIRED_FIELD",
            "actions",
        ),
        (
            changed("/actions", Some(Value::Null)),
            bad,
            "MISSING_REQUIRED_FIELD",
            "actions",
        ),
        // Wrong types and unreadable values.
        (
            changed("/context", Some(json!("Deploy?"))),
            bad,
            "INVALID_PARAMETER",
            "context",
        ),
        (
            changed("/context/title", Some(json!(5))),
            bad,
            "INVALID_PARAMETER",
            "context.title",
        ),
        (
            changed("/context/project", Some(json!(["a"]))),
            bad,
            "INVALID_PARAMETER",
            "context.project",
        ),
        (
            changed("/context/metadata", Some(json!([1]))),
            bad,
            "INVALID_PARAMETER",
            "context.metadata",
        ),
        (
            changed("/actions", Some(json!({}))),
            bad,
            "INVALID_PARAMETER",
            "actions",
        ),
        (
            changed("/id", Some(json!("not-a-uuid"))),
            bad,
            "INVALID_PARAMETER",
            "id",
        ),
        (
            changed("/id", Some(json!(42))),
            bad,
            "INVALID_PARAMETER",
            "id",
        ),
        (
            changed("/deadline", Some(json!("tomorrow"))),
            bad,
            "INVALID_PARAMETER",
            "deadline",
        ),
        (
            changed("/deadline", Some(json!(1_900_000_000))),
            bad,
            "INVALID_PARAMETER",
            "deadline",
        ),
        (
            changed("/timestamp", Some(json!("yesterday"))),
            bad,
            "INVALID_PARAMETER",
            "timestamp",
        ),
        (
            changed("/version", Some(json!("2.0"))),
            bad,
            "INVALID_PARAMETER",
            "version",
        ),
        (
            changed("/version", Some(json!(1.0))),
            bad,
            "INVALID_PARAMETER",
            "version",
        ),
        // An unknown response type.
        (
            changed("/actions/0/response_type", Some(json!("select"))),
            bad,
            "INVALID_RESPONSE_TYPE",
            "actions[0].response_type",
        ),
        // Malformed actions.
        (with_actions(json!([])), bad, "MALFORMED_ACTION", "actions"),
        (
            with_actions(json!(["approve"])),
            bad,
            "MALFORMED_ACTION",
            "actions[0]",
        ),
        (
            changed("/actions/0/id", None),
            bad,
            "MALFORMED_ACTION",
            "actions[0].id",
        ),
        (
            changed("/actions/0/label", Some(json!(""))),
            bad,
            "MALFORMED_ACTION",
            "actions[0].label",
        ),
        (
            changed("/actions/0/response_type", None),
            bad,
            "MALFORMED_ACTION",
            "actions[0].response_type",
        ),
        (
            with_actions(json!([{ "id": "ok", "label": "OK?", "response_type": "binary" }])),
            bad,
            "MALFORMED_ACTION",
            "actions[0].options",
        ),
        (
            with_actions(
                json!([{ "id": "ok", "label": "OK?", "response_type": "binary",
                                  "options": { "true_label": "Yes" } }]),
            ),
            bad,
            "MALFORMED_ACTION",
            "actions[0].options.false_label",
        ),
        (
            with_actions(json!([{ "id": "pick", "label": "Pick", "response_type": "choice" }])),
            bad,
            "MALFORMED_ACTION",
            "actions[0].options",
        ),
        (
            with_actions(
                json!([{ "id": "pick", "label": "Pick", "response_type": "multi_choice",
                                  "options": [] }]),
            ),
            bad,
            "MALFORMED_ACTION",
            "actions[0].options",
        ),
        (
            with_actions(json!([simple("go"), simple("stop"), simple("go")])),
            bad,
            "MALFORMED_ACTION",
            "actions[2].id",
        ),
        // Well-formed values that break a limit.
        (
            json!({
                "context": notification()["context"],
                "actions": notification()["actions"],
                "timestamp": Timestamp::now().plus_millis(7_200_000).to_rfc3339(),
                "deadline": Timestamp::now().plus_millis(3_600_000).to_rfc3339(),
            }),
            unprocessable,
            "CONSTRAINT_VIOLATION",
            "deadline",
        ),
        (
            changed("/deadline", Some(json!(past))),
            unprocessable,
            "CONSTRAINT_VIOLATION",
            "deadline",
        ),
        (
            changed("/context/title", Some(json!("t".repeat(201)))),
            unprocessable,
            "CONSTRAINT_VIOLATION",
            "context.title",
        ),
        (
            with_actions(json!(many_actions)),
            unprocessable,
            "CONSTRAINT_VIOLATION",
            "actions",
        ),
    ];
    for (body, status, code, field) in cases {
        let reply = w.notify(&w.key, &body).await;
        assert_error(&reply, status, code, Some(field));
    }

    // The messages name the field.
    let reply = w.notify(&w.key, &changed("/context/title", None)).await;
    let mut expected = reply.atp_error(
        "MISSING_REQUIRED_FIELD",
        "The field `context.title` is required.",
    );
    expected["details"] = json!({ "field": "context.title" });
    assert_eq!(reply.body, expected);
    let reply = w
        .notify(&w.key, &changed("/deadline", Some(json!(past))))
        .await;
    let mut expected = reply.atp_error(
        "CONSTRAINT_VIOLATION",
        "The field `deadline` is in the past.",
    );
    expected["details"] = json!({ "field": "deadline" });
    assert_eq!(reply.body, expected);

    w.assert_nothing_stored().await;
}

async fn bodies_that_are_not_json_objects_are_invalid_json(engine: Engine) {
    let w = World::start(engine).await;
    let bodies = [
        "not json",
        "",
        "   ",
        "[1, 2]",
        "\"a string\"",
        "{\"context\": ",
        "{} trailing",
    ];
    for body in bodies {
        let reply = w.notify_raw(&w.key, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_JSON", None);
    }
    w.assert_nothing_stored().await;
}

async fn a_notification_over_the_body_limit_is_413(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.max_body_bytes = 4096).await;
    let w = World::on(server).await;
    let body = changed("/context/description", Some(json!("d".repeat(8192))));
    let reply = w.notify(&w.key, &body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "PAYLOAD_TOO_LARGE",
            "The request body is larger than the server accepts."
        )
    );
    w.assert_nothing_stored().await;
    // Under the limit, the same server accepts it.
    w.create(&w.key, &notification()).await;
}

async fn only_a_service_api_key_may_send_notifications(engine: Engine) {
    let w = World::start(engine).await;
    let url = w.server.url(NOTIFICATIONS);

    let reply = w
        .server
        .send(w.server.client.post(&url).json(&notification()))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        reply.atp_error("AUTH_INVALID_TOKEN", "A service API key is required.")
    );
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    let forged = format!("sk_live_{}", "0".repeat(48));
    for key in [forged.as_str(), "not-a-key"] {
        let reply = w.notify(key, &notification()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{key}");
        assert_eq!(
            reply.body,
            reply.atp_error("AUTH_INVALID_TOKEN", "The API key is invalid or revoked.")
        );
    }

    // Valid credentials of the wrong kind.
    let admin = w.server.admin_token.clone();
    for credential in [&admin, &w.token, &w.session] {
        let reply = w.notify(credential, &notification()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            reply.atp_error(
                "AUTH_INSUFFICIENT_PERMISSIONS",
                "This credential is not a service API key."
            )
        );
    }
    // Authentication comes before the body is read.
    let reply = w
        .server
        .send(w.server.client.post(&url).body("not json"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    w.assert_nothing_stored().await;

    // Nor may a user read or invalidate on the service side.
    let id = w.create(&w.key, &notification()).await;
    for reply in [
        w.service_get(&w.token, &id).await,
        w.invalidate(&w.token, &id).await,
        w.invalidate(&admin, &id).await,
    ] {
        assert_error(
            &reply,
            StatusCode::FORBIDDEN,
            "AUTH_INSUFFICIENT_PERMISSIONS",
            None,
        );
    }
    assert_eq!(w.status_of(&id).await, "created");
}

// ---------------------------------------------------------------------------------------
// GET /api/v1/notifications/{id}

async fn a_service_reads_only_its_own_notifications(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &notification()).await;

    let reply = w.service_get(&w.key, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "created");

    for key in [&w.other_key, &w.grace_key] {
        let reply = w.service_get(key, &id).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            reply.atp_error("SERVICE_NOT_OWNER", "This notification is not yours.")
        );
    }
    for unknown in [uuid(404), "not-a-uuid".to_owned()] {
        let reply = w.service_get(&w.key, &unknown).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(
            reply.body,
            reply.atp_error("NOTIFICATION_NOT_FOUND", "No notification has this id.")
        );
    }
    // Once the user's client fetched it, the service sees it delivered.
    w.listed_ids(&w.token, "").await;
    assert_eq!(w.status_of(&id).await, "delivered");
}

// ---------------------------------------------------------------------------------------
// PATCH /api/v1/notifications/{id}

async fn an_invalidated_notification_takes_no_response_and_no_second_invalidation(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &notification()).await;
    let reply = w
        .patch(
            &w.key,
            &id,
            json!({ "status": "invalidated", "reason": "  Superseded by release 1.3  " }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        keys_of(&reply.body),
        BTreeSet::from(["notification_id", "status", "updated_at"])
    );
    assert_eq!(reply.body["notification_id"], id);
    assert_eq!(reply.body["status"], "invalidated");

    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.body["status"], "invalidated");
    assert_eq!(got.body["status_reason"], "Superseded by release 1.3");
    assert_eq!(got.body["updated_at"], reply.body["updated_at"]);

    let reply = w.respond(&w.token, &id, "approve", None).await;
    assert_conflict(&reply, "NOTIFICATION_INVALIDATED", &id, "invalidated");
    let reply = w.invalidate(&w.key, &id).await;
    assert_conflict(&reply, "NOTIFICATION_INVALIDATED", &id, "invalidated");
    // Still invalidated, with its first reason.
    let again = w.service_get(&w.key, &id).await;
    assert_eq!(again.body, got.body);
    assert_eq!(
        w.listed_ids(&w.token, "status=invalidated").await,
        vec![id.clone()]
    );
}

async fn invalidation_refusals_name_their_reason(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &notification()).await;

    let reply = w.patch(&w.key, &id, json!({ "status": "responded" })).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let mut expected = reply.atp_error(
        "INVALID_STATUS",
        "A service may set only the status `invalidated`, not `responded`.",
    );
    expected["details"] = json!({ "field": "status" });
    assert_eq!(reply.body, expected);
    for status in ["expired", "delivered", "INVALIDATED", ""] {
        let reply = w.patch(&w.key, &id, json!({ "status": status })).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_STATUS",
            Some("status"),
        );
    }
    for body in [
        json!({}),
        json!({ "status": null }),
        json!({ "reason": "x" }),
    ] {
        let reply = w.patch(&w.key, &id, body).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "MISSING_REQUIRED_FIELD",
            Some("status"),
        );
    }
    let reply = w.patch(&w.key, &id, json!({ "status": 5 })).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
        Some("status"),
    );
    let reply = w
        .patch(
            &w.key,
            &id,
            json!({ "status": "invalidated", "reason": "r".repeat(501) }),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CONSTRAINT_VIOLATION",
        Some("reason"),
    );
    let raw = w
        .server
        .send(
            w.server
                .client
                .patch(w.server.url(&format!("{NOTIFICATIONS}/{id}")))
                .bearer_auth(&w.key)
                .body("status=invalidated"),
        )
        .await;
    assert_error(&raw, StatusCode::BAD_REQUEST, "INVALID_JSON", None);

    for key in [&w.other_key, &w.grace_key] {
        let reply = w.invalidate(key, &id).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            reply.atp_error("SERVICE_NOT_OWNER", "This notification is not yours.")
        );
    }
    let reply = w.invalidate(&w.key, &uuid(404)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        reply.atp_error("NOTIFICATION_NOT_FOUND", "No notification has this id.")
    );

    // None of that changed it; once answered it cannot be invalidated.
    assert_eq!(w.status_of(&id).await, "created");
    let reply = w.respond(&w.token, &id, "approve", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let reply = w
        .patch(
            &w.key,
            &id,
            json!({ "status": "invalidated", "reason": "too late" }),
        )
        .await;
    assert_conflict(&reply, "NOTIFICATION_ALREADY_RESPONDED", &id, "responded");
    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.body["status"], "responded");
    assert!(got.body.get("status_reason").is_none(), "{:?}", got.body);
}

// ---------------------------------------------------------------------------------------
// GET /api/v1/client/notifications

async fn a_client_lists_only_its_own_namespace(engine: Engine) {
    let w = World::start(engine).await;
    let first = w.create(&w.key, &with_id(notification(), &uuid(1))).await;
    let second = w
        .create(&w.other_key, &with_id(notification(), &uuid(2)))
        .await;
    let graces = w
        .create(&w.grace_key, &with_id(notification(), &uuid(3)))
        .await;

    let reply = w.list(&w.token, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(ids_of(&reply), vec![second.clone(), first.clone()]);
    assert_eq!(
        reply.body["pagination"],
        json!({ "next_cursor": null, "has_more": false, "total_count": 2 })
    );
    // Each item is the notification object.
    let item = &reply.body["notifications"][1];
    assert_eq!(item["service"]["id"], "lovelace-ide");
    assert_eq!(item["context"], notification()["context"]);
    assert_eq!(item["actions"], notification()["actions"]);
    assert_eq!(item["version"], "1.0");

    assert_eq!(w.listed_ids(&w.grace_token, "").await, vec![graces.clone()]);
    // A filter naming another namespace's service finds nothing of it.
    assert_eq!(
        w.listed_ids(&w.token, "service_id=lovelace-ide").await,
        vec![first]
    );
}

async fn client_listings_filter_by_status_service_and_project_and_sort(engine: Engine) {
    let w = World::start(engine).await;
    // Ids that sort in creation order keep the order exact even within a millisecond.
    let pending = w
        .create(
            &w.key,
            &with_project(with_id(notification(), &uuid(1)), "alpha"),
        )
        .await;
    let responded = w
        .create(
            &w.key,
            &with_project(with_id(notification(), &uuid(2)), "beta"),
        )
        .await;
    let invalidated = w
        .create(
            &w.other_key,
            &with_project(with_id(notification(), &uuid(3)), "alpha"),
        )
        .await;
    let other_pending = w
        .create(&w.other_key, &with_id(notification(), &uuid(4)))
        .await;
    assert_eq!(
        w.respond(&w.token, &responded, "approve", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        w.invalidate(&w.other_key, &invalidated).await.status,
        StatusCode::OK
    );

    let all_newest = [
        other_pending.clone(),
        invalidated.clone(),
        responded.clone(),
        pending.clone(),
    ];
    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("", all_newest.iter().collect()),
        ("sort=newest", all_newest.iter().collect()),
        ("sort=oldest", all_newest.iter().rev().collect()),
        ("status=pending", vec![&other_pending, &pending]),
        ("status=created,delivered", vec![&other_pending, &pending]),
        (
            "status=responded,invalidated",
            vec![&invalidated, &responded],
        ),
        ("status=responded", vec![&responded]),
        ("status=expired", vec![]),
        ("service_id=hopper-bot", vec![&other_pending, &invalidated]),
        (
            "service_id=lovelace-ide&sort=oldest",
            vec![&pending, &responded],
        ),
        ("service_id=nobody", vec![]),
        ("project=alpha", vec![&invalidated, &pending]),
        ("project=alpha&status=pending", vec![&pending]),
        ("project=gamma", vec![]),
        (
            "status=pending,responded&sort=oldest",
            vec![&pending, &responded, &other_pending],
        ),
    ];
    for (query, expected) in cases {
        let reply = w.list(&w.token, query).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids_of(&reply), expected, "{query}");
        assert_eq!(
            reply.body["pagination"]["total_count"],
            expected.len(),
            "{query}"
        );
        assert_eq!(reply.body["pagination"]["has_more"], false, "{query}");
    }
    // Listing delivered the pending ones; the ended ones kept their states.
    let reply = w.list(&w.token, "sort=oldest").await;
    let statuses: Vec<&Value> = reply.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("delivered"),
            &json!("responded"),
            &json!("invalidated"),
            &json!("delivered")
        ]
    );
}

async fn pages_of_a_listing_walk_every_notification_once(engine: Engine) {
    let w = World::start(engine).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(w.create(&w.key, &with_id(notification(), &uuid(n))).await);
    }
    // Grace's notifications are never on ada's pages.
    w.create(&w.grace_key, &notification()).await;

    for (sort, expected) in [
        ("newest", ids.iter().rev().cloned().collect::<Vec<_>>()),
        ("oldest", ids.clone()),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query = format!("limit=2&sort={sort}");
            if let Some(cursor) = &cursor {
                query.push_str(&format!("&cursor={cursor}"));
            }
            let reply = w.list(&w.token, &query).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
            pages += 1;
            let page = ids_of(&reply);
            let pagination = &reply.body["pagination"];
            assert_eq!(pagination["total_count"], 5, "{query}");
            seen.extend(page.clone());
            if pages < 3 {
                assert_eq!(page.len(), 2, "{query}");
                assert_eq!(pagination["has_more"], true, "{query}");
                cursor = Some(pagination["next_cursor"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(page.len(), 1, "{query}");
                assert_eq!(pagination["has_more"], false, "{query}");
                assert_eq!(pagination["next_cursor"], Value::Null, "{query}");
                break;
            }
        }
        assert_eq!(seen, expected, "{sort}: each once, in order");
    }

    // A filter holds across pages too.
    w.respond(&w.token, &ids[1], "approve", None).await;
    let first = w.list(&w.token, "status=pending&limit=3").await;
    assert_eq!(
        ids_of(&first),
        vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    assert_eq!(first.body["pagination"]["total_count"], 4);
    let cursor = first.body["pagination"]["next_cursor"].as_str().unwrap();
    let rest = w
        .list(&w.token, &format!("status=pending&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ids_of(&rest), vec![ids[0].clone()]);
    assert_eq!(rest.body["pagination"]["has_more"], false);
    // The whole set fits a page of the largest size.
    let all = w.list(&w.token, "limit=100").await;
    assert_eq!(ids_of(&all).len(), 5);
    assert_eq!(all.body["pagination"]["next_cursor"], Value::Null);
}

async fn bad_listing_parameters_are_invalid_parameter(engine: Engine) {
    let w = World::start(engine).await;
    w.create(&w.key, &notification()).await;
    let cases = [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("sort=random", "sort"),
        ("sort=NEWEST", "sort"),
        ("status=nope", "status"),
        ("status=pending,nope", "status"),
        ("status=", "status"),
        ("cursor=garbage", "cursor"),
        ("cursor=abc.def", "cursor"),
    ];
    for (query, field) in cases {
        let reply = w.list(&w.token, query).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            Some(field),
        );
    }
    let reply = w.list(&w.token, "status=nope").await;
    let mut expected = reply.atp_error(
        "INVALID_PARAMETER",
        "`nope` is not a status: use pending, created, delivered, acknowledged, responded, \
         completed, expired or invalidated.",
    );
    expected["details"] = json!({ "field": "status" });
    assert_eq!(reply.body, expected);
    let reply = w.list(&w.token, "limit=0").await;
    assert_eq!(
        reply.body["message"],
        "The limit must be a number from 1 to 100."
    );
}

async fn reading_notifications_marks_created_ones_delivered(engine: Engine) {
    let w = World::start(engine).await;
    let listed = w.create(&w.key, &notification()).await;
    assert_eq!(w.status_of(&listed).await, "created");
    assert_eq!(
        w.listed_ids(&w.token, "status=created").await,
        vec![listed.clone()]
    );
    // That listing delivered it (and showed it as delivered).
    assert_eq!(w.status_of(&listed).await, "delivered");
    assert_eq!(
        w.listed_ids(&w.token, "status=created").await,
        Vec::<String>::new()
    );
    let reply = w.list(&w.token, "").await;
    assert_eq!(reply.body["notifications"][0]["status"], "delivered");

    // Reading one delivers it too.
    let fetched = w.create(&w.key, &notification()).await;
    let reply = w.client_get(&w.token, &fetched).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "delivered");
    assert_eq!(w.status_of(&fetched).await, "delivered");

    // Each delivery told the clients once.
    let updates: Vec<_> = w
        .server
        .db
        .store
        .changes_after(Some("ada"), 0, 100)
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == ChangeKind::StatusUpdate)
        .map(|c| (c.subject_id, c.payload["status"].clone()))
        .collect();
    assert_eq!(
        updates,
        vec![(listed, json!("delivered")), (fetched, json!("delivered"))]
    );
}

async fn a_session_serves_as_a_user_token_and_other_credentials_do_not(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &notification()).await;

    let by_token = w.list(&w.token, "").await;
    let by_session = w.list(&w.session, "").await;
    assert_eq!(by_session.status, StatusCode::OK, "{:?}", by_session.body);
    assert_eq!(by_session.body, by_token.body);
    assert_eq!(w.client_get(&w.session, &id).await.status, StatusCode::OK);

    let admin = w.server.admin_token.clone();
    for credential in [&w.key, &admin] {
        for reply in [
            w.list(credential, "").await,
            w.client_get(credential, &id).await,
            w.respond(credential, &id, "approve", None).await,
        ] {
            assert_eq!(reply.status, StatusCode::FORBIDDEN);
            assert_eq!(
                reply.body,
                reply.atp_error(
                    "AUTH_INSUFFICIENT_PERMISSIONS",
                    "This credential is not a user token."
                )
            );
        }
    }
    let reply = w
        .server
        .send(w.server.client.get(w.server.url(CLIENT_NOTIFICATIONS)))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        reply.atp_error("AUTH_INVALID_TOKEN", "A user token is required.")
    );
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
    for bad in ["ut_not-a-real-token", "garbage"] {
        let reply = w.list(bad, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            reply.body,
            reply.atp_error(
                "AUTH_INVALID_TOKEN",
                "The user token is invalid, revoked or expired."
            )
        );
    }
    // A response by session is a response by ada.
    let reply = w.respond(&w.session, &id, "approve", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.body["response"]["responder"]["id"], w.ada_id.as_str());
}

// ---------------------------------------------------------------------------------------
// GET /api/v1/client/notifications/{id}

async fn a_client_reads_only_its_own_notifications(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &notification()).await;

    let reply = w.client_get(&w.grace_token, &id).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "NOTIFICATION_ACCESS_DENIED",
            "This notification is not yours."
        )
    );
    // Grace's attempt delivered nothing.
    assert_eq!(w.status_of(&id).await, "created");

    let reply = w.client_get(&w.token, &uuid(404)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        reply.atp_error("NOTIFICATION_NOT_FOUND", "No notification has this id.")
    );

    let reply = w.client_get(&w.token, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let as_service_sees_it = w.service_get(&w.key, &id).await;
    assert_eq!(reply.body, as_service_sees_it.body);
}

// ---------------------------------------------------------------------------------------
// POST /api/v1/client/respond

async fn every_response_type_accepts_its_data(engine: Engine) {
    let w = World::start(engine).await;
    let cases = [
        ("approve", Some(Value::Null), Value::Null),
        ("approve", None, Value::Null),
        ("ok", Some(json!(true)), json!(true)),
        ("ok", Some(json!(false)), json!(false)),
        ("pick", Some(json!("b")), json!("b")),
        ("many", Some(json!(["a", "c"])), json!(["a", "c"])),
        ("many", Some(json!(["b"])), json!(["b"])),
        ("why", Some(json!("héé")), json!("héé")),
        ("n", Some(json!(10)), json!(10)),
        ("n", Some(json!(1.0)), json!(1.0)),
    ];
    for (action, sent, recorded) in cases {
        let id = w.create(&w.key, &every_type()).await;
        let reply = w.respond(&w.token, &id, action, sent.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{action} {sent:?}: {:?}",
            reply.body
        );
        assert_eq!(
            keys_of(&reply.body),
            BTreeSet::from(["notification_id", "action_id", "status", "responded_at"])
        );
        assert_eq!(reply.body["notification_id"], id.as_str());
        assert_eq!(reply.body["action_id"], action);
        assert_eq!(reply.body["status"], "responded");
        let responded_at = reply.body["responded_at"].as_str().unwrap();
        assert!(Timestamp::parse_rfc3339(responded_at).is_some());

        // The service reads the answer as its callback receives it.
        let got = w.service_get(&w.key, &id).await;
        assert_eq!(got.body["status"], "responded");
        assert_eq!(
            got.body["response"],
            json!({
                "notification_id": id,
                "action_id": action,
                "response_data": recorded,
                "responded_at": responded_at,
                "responder": { "id": w.ada_id, "type": "human" },
            }),
            "{action}"
        );
        assert_eq!(got.body["updated_at"], responded_at);
    }
}

async fn response_data_of_the_wrong_json_type_is_invalid_response_data(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &every_type()).await;
    let cases = [
        ("approve", json!(true), "simple"),
        ("approve", json!("yes"), "simple"),
        ("ok", json!("yes"), "binary"),
        ("ok", Value::Null, "binary"),
        ("ok", json!(1), "binary"),
        ("pick", json!(["a"]), "choice"),
        ("pick", json!(1), "choice"),
        ("many", json!("a"), "multi_choice"),
        ("many", json!([1]), "multi_choice"),
        ("why", json!(5), "text"),
        ("why", json!(["ab"]), "text"),
        ("n", json!("5"), "number"),
        ("n", Value::Null, "number"),
    ];
    for (action, data, response_type) in cases {
        let reply = w.respond(&w.token, &id, action, Some(data.clone())).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_RESPONSE_DATA",
            Some("response_data"),
        );
        assert_eq!(
            reply.body["details"],
            json!({ "field": "response_data", "response_type": response_type }),
            "{action} {data}"
        );
    }
    // Still open for a good answer.
    assert_eq!(w.status_of(&id).await, "created");
    let reply = w.respond(&w.token, &id, "ok", Some(json!(true))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

async fn response_data_outside_the_constraints_is_a_constraint_violation(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &every_type()).await;
    let cases = [
        ("pick", json!("c"), "choice"),
        ("pick", json!("Rebase"), "choice"),
        ("many", json!([]), "multi_choice"),
        ("many", json!(["a", "b", "c"]), "multi_choice"),
        ("many", json!(["a", "a"]), "multi_choice"),
        ("many", json!(["z"]), "multi_choice"),
        ("why", json!("h"), "text"),
        ("why", json!("hello"), "text"),
        ("n", json!(0), "number"),
        ("n", json!(11), "number"),
        ("n", json!(2.5), "number"),
    ];
    for (action, data, response_type) in cases {
        let reply = w.respond(&w.token, &id, action, Some(data.clone())).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "CONSTRAINT_VIOLATION",
            Some("response_data"),
        );
        assert_eq!(
            reply.body["details"],
            json!({ "field": "response_data", "response_type": response_type }),
            "{action} {data}"
        );
    }
    assert_eq!(w.status_of(&id).await, "created");
    assert!(
        w.service_get(&w.key, &id)
            .await
            .body
            .get("response")
            .is_none()
    );
    let reply = w
        .respond(&w.token, &id, "many", Some(json!(["c", "a"])))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

async fn response_refusals_name_their_reason(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &every_type()).await;

    let reply = w.respond(&w.token, &id, "deploy", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let mut expected = reply.atp_error(
        "INVALID_ACTION_ID",
        "The notification has no action `deploy`.",
    );
    expected["details"] = json!({ "field": "action_id" });
    assert_eq!(reply.body, expected);

    let missing = [
        (json!({}), "notification_id"),
        (json!({ "action_id": "approve" }), "notification_id"),
        (
            json!({ "notification_id": " ", "action_id": "approve" }),
            "notification_id",
        ),
        (json!({ "notification_id": id }), "action_id"),
        (
            json!({ "notification_id": id, "action_id": null }),
            "action_id",
        ),
        // Only a simple action may leave its data out.
        (
            json!({ "notification_id": id, "action_id": "ok" }),
            "response_data",
        ),
        (
            json!({ "notification_id": id, "action_id": "why" }),
            "response_data",
        ),
    ];
    for (body, field) in missing {
        let reply = w
            .server
            .call(Method::POST, RESPOND, &w.token, Some(body))
            .await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "MISSING_REQUIRED_FIELD",
            Some(field),
        );
    }
    for (body, field) in [
        (
            json!({ "notification_id": 5, "action_id": "approve" }),
            "notification_id",
        ),
        (
            json!({ "notification_id": id, "action_id": ["approve"] }),
            "action_id",
        ),
    ] {
        let reply = w
            .server
            .call(Method::POST, RESPOND, &w.token, Some(body))
            .await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            Some(field),
        );
    }
    let raw = w
        .server
        .send(
            w.server
                .client
                .post(w.server.url(RESPOND))
                .bearer_auth(&w.token)
                .body("{\"notification_id\": "),
        )
        .await;
    assert_error(&raw, StatusCode::BAD_REQUEST, "INVALID_JSON", None);

    let reply = w.respond(&w.token, &uuid(404), "approve", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        reply.atp_error("NOTIFICATION_NOT_FOUND", "No notification has this id.")
    );
    let reply = w.respond(&w.grace_token, &id, "approve", None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "NOTIFICATION_ACCESS_DENIED",
            "This notification is not yours."
        )
    );
    assert_eq!(w.status_of(&id).await, "created", "no refusal changed it");

    let reply = w.respond(&w.token, &id, "pick", Some(json!("a"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // A second answer, of any action, is refused; the state is named before the action.
    for (action, data) in [
        ("pick", Some(json!("b"))),
        ("approve", None),
        ("deploy", None),
    ] {
        let reply = w.respond(&w.token, &id, action, data).await;
        assert_conflict(&reply, "NOTIFICATION_ALREADY_RESPONDED", &id, "responded");
    }
    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.body["response"]["action_id"], "pick");
    assert_eq!(got.body["response"]["response_data"], "a");
}

async fn a_response_after_the_deadline_is_refused_as_expired(engine: Engine) {
    let w = World::start(engine).await;
    let deadline = Timestamp::now().plus_millis(1_500);
    let mut body = notification();
    body["deadline"] = json!(deadline.to_rfc3339());
    let id = w.create(&w.key, &body).await;
    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.body["deadline"], deadline.to_rfc3339());
    assert_eq!(got.body["status"], "created");
    assert_eq!(
        w.listed_ids(&w.token, "status=pending").await,
        vec![id.clone()]
    );

    while Timestamp::now() <= deadline.plus_millis(100) {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    let reply = w.respond(&w.token, &id, "approve", None).await;
    assert_conflict(&reply, "NOTIFICATION_EXPIRED", &id, "expired");
    assert_eq!(reply.body["details"]["expired_at"], deadline.to_rfc3339());

    let got = w.service_get(&w.key, &id).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["status"], "expired");
    assert!(got.body.get("response").is_none());
    let reply = w.invalidate(&w.key, &id).await;
    assert_conflict(&reply, "NOTIFICATION_EXPIRED", &id, "expired");
    assert_eq!(
        w.listed_ids(&w.token, "status=pending").await,
        Vec::<String>::new()
    );
    assert_eq!(
        w.listed_ids(&w.token, "status=expired").await,
        vec![id.clone()]
    );
    assert_eq!(w.client_get(&w.token, &id).await.body["status"], "expired");
}

async fn concurrent_responses_record_exactly_one(engine: Engine) {
    let w = World::start(engine).await;
    let id = w.create(&w.key, &every_type()).await;
    let replies = futures_util::future::join_all(
        (0..20).map(|i| w.respond(&w.token, &id, "ok", Some(json!(i % 2 == 0)))),
    )
    .await;
    let winners: Vec<usize> = replies
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == StatusCode::OK)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for (i, reply) in replies.iter().enumerate() {
        if i != winners[0] {
            assert_conflict(reply, "NOTIFICATION_ALREADY_RESPONDED", &id, "responded");
        }
    }
    let got = w.service_get(&w.key, &id).await;
    assert_eq!(
        got.body["response"]["response_data"],
        winners[0].is_multiple_of(2)
    );
    assert_eq!(
        got.body["response"]["responded_at"],
        replies[winners[0]].body["responded_at"]
    );
    // One status change to `responded` was recorded.
    let responded = w
        .server
        .db
        .store
        .changes_after(Some("ada"), 0, 100)
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == ChangeKind::StatusUpdate && c.payload["status"] == "responded")
        .count();
    assert_eq!(responded, 1);
}

// ---------------------------------------------------------------------------------------
// Rate limits

async fn submissions_are_rate_limited_per_service(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate.submission = Rate::per_minute(2)).await;
    let w = World::on(server).await;
    w.create(&w.key, &notification()).await;
    // Refused bodies count too: the limit is on requests.
    let reply = w.notify(&w.key, &json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = w.notify(&w.key, &notification()).await;
    assert_rate_limited(&reply, 60);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "RATE_LIMIT_EXCEEDED",
            "The rate limit of 2 requests per 60s is reached."
        )
    );
    // Another service has its own window.
    w.create(&w.other_key, &notification()).await;
    assert_eq!(w.listed_ids(&w.token, "").await.len(), 2);
}

async fn polling_is_rate_limited_per_user(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate.polling = Rate::per_minute(2)).await;
    let w = World::on(server).await;
    let id = w.create(&w.key, &notification()).await;
    assert_eq!(w.list(&w.token, "").await.status, StatusCode::OK);
    assert_eq!(w.client_get(&w.session, &id).await.status, StatusCode::OK);
    // The user's window, whichever credential and read.
    assert_rate_limited(&w.list(&w.token, "").await, 60);
    assert_rate_limited(&w.client_get(&w.token, &id).await, 60);
    assert_rate_limited(&w.list(&w.session, "").await, 60);
    // Grace has her own.
    assert_eq!(w.list(&w.grace_token, "").await.status, StatusCode::OK);
}

async fn responses_are_rate_limited_per_user(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate.response = Rate::per_minute(2)).await;
    let w = World::on(server).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(w.create(&w.key, &notification()).await);
    }
    for id in &ids[..2] {
        let reply = w.respond(&w.token, id, "approve", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    assert_rate_limited(&w.respond(&w.token, &ids[2], "approve", None).await, 60);
    assert_eq!(
        w.status_of(&ids[2]).await,
        "created",
        "the refused answer is not kept"
    );
    let graces = w.create(&w.grace_key, &notification()).await;
    let reply = w.respond(&w.grace_token, &graces, "approve", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

async fn status_updates_are_rate_limited_per_service(engine: Engine) {
    let server =
        TestServer::start_with(engine, |s| s.rate.status_update = Rate::per_minute(2)).await;
    let w = World::on(server).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(w.create(&w.key, &notification()).await);
    }
    for id in &ids[..2] {
        assert_eq!(w.invalidate(&w.key, id).await.status, StatusCode::OK);
    }
    assert_rate_limited(&w.invalidate(&w.key, &ids[2]).await, 60);
    assert_eq!(w.status_of(&ids[2]).await, "created");
    let others = w.create(&w.other_key, &notification()).await;
    assert_eq!(
        w.invalidate(&w.other_key, &others).await.status,
        StatusCode::OK
    );
}

async fn registrations_are_rate_limited_per_address(engine: Engine) {
    let server =
        TestServer::start_with(engine, |s| s.rate.registration = Rate::per_minute(1)).await;
    let first = server.register(&seed_registration()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let mut other = seed_registration();
    other["name"] = json!("Hopper Bot");
    assert_rate_limited(&server.register(&other).await, 60);
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);

    // The default is ten an hour.
    let server = TestServer::start_with(engine, |s| {
        s.rate.registration = assent_http::rate_limit::RateLimits::default().registration;
    })
    .await;
    for n in 0..10 {
        let mut body = seed_registration();
        body["name"] = json!(format!("Service {n}"));
        let reply = server.register(&body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{n}: {:?}", reply.body);
    }
    assert_rate_limited(&server.register(&other).await, 3600);
}

/// PostgreSQL refuses NUL in text, so it must never reach a query: every way in is a 400.
async fn nul_characters_are_refused_before_they_reach_the_database(engine: Engine) {
    let world = World::start(engine).await;
    let id = world.create(&world.key, &notification()).await;
    let cases = [
        world.service_get(&world.key, "%00").await,
        world
            .patch(&world.key, "a%00b", json!({ "status": "invalidated" }))
            .await,
        world.client_get(&world.token, "%00").await,
        world.list(&world.token, "project=%00").await,
        world.list(&world.token, "service_id=a%00").await,
        world.list(&world.token, "cursor=1.%00").await,
        world
            .server
            .call(Method::GET, "/v1/services/%00", &world.session, None)
            .await,
        world
            .notify(&world.key, &with_project(notification(), "a\u{0}b"))
            .await,
        world
            .notify_raw(
                &world.key,
                r#"{"context": {"title": "t\u0000", "description": "d"}, "actions": []}"#,
            )
            .await,
        world
            .patch(
                &world.key,
                &id,
                json!({ "status": "invalidated", "reason": "x\u{0}" }),
            )
            .await,
        world.respond(&world.token, "a\u{0}b", "go", None).await,
    ];
    for reply in cases {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
        assert_eq!(
            reply.body["code"],
            json!("INVALID_PARAMETER"),
            "{:?}",
            reply.body
        );
    }
    // The notification was not touched by the refused invalidation.
    assert_eq!(world.status_of(&id).await, json!("created"));
}

/// UUIDs are case-insensitive: a service that sent an uppercase id may use it again.
async fn a_notification_is_found_by_its_uuid_in_any_letter_case(engine: Engine) {
    let world = World::start(engine).await;
    let upper = "550E8400-E29B-41D4-A716-4466554400AB";
    world
        .create(&world.key, &with_id(notification(), upper))
        .await;
    let reply = world.service_get(&world.key, upper).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["id"], json!(upper.to_lowercase()));
    assert_eq!(
        world.client_get(&world.token, upper).await.status,
        StatusCode::OK
    );
    let reply = world.invalidate(&world.key, upper).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

on_both_engines!(
    nul_characters_are_refused_before_they_reach_the_database,
    a_notification_is_found_by_its_uuid_in_any_letter_case,
    a_service_sends_a_notification_named_by_its_key,
    a_given_uuid_is_kept_and_sending_it_again_is_a_conflict,
    concurrent_sends_of_one_id_store_one_notification,
    each_refused_notification_names_its_code_status_and_field,
    bodies_that_are_not_json_objects_are_invalid_json,
    a_notification_over_the_body_limit_is_413,
    only_a_service_api_key_may_send_notifications,
    a_service_reads_only_its_own_notifications,
    an_invalidated_notification_takes_no_response_and_no_second_invalidation,
    invalidation_refusals_name_their_reason,
    a_client_lists_only_its_own_namespace,
    client_listings_filter_by_status_service_and_project_and_sort,
    pages_of_a_listing_walk_every_notification_once,
    bad_listing_parameters_are_invalid_parameter,
    reading_notifications_marks_created_ones_delivered,
    a_session_serves_as_a_user_token_and_other_credentials_do_not,
    a_client_reads_only_its_own_notifications,
    every_response_type_accepts_its_data,
    response_data_of_the_wrong_json_type_is_invalid_response_data,
    response_data_outside_the_constraints_is_a_constraint_violation,
    response_refusals_name_their_reason,
    a_response_after_the_deadline_is_refused_as_expired,
    concurrent_responses_record_exactly_one,
    submissions_are_rate_limited_per_service,
    polling_is_rate_limited_per_user,
    responses_are_rate_limited_per_user,
    status_updates_are_rate_limited_per_service,
    registrations_are_rate_limited_per_address,
);
