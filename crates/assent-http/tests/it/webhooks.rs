//! The owner's webhook tools over HTTP, on SQLite and PostgreSQL: the delivery log, retry,
//! test events, secret rotation and changes. (The engine that sends is tested in
//! assent-delivery; here nothing sends, so deliveries stay pending.)

use crate::common;

use assent_store::testing::Engine;
use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Hook {
    service: String,
    id: String,
    session: String,
}

impl Hook {
    fn path(&self, rest: &str) -> String {
        format!("/v1/services/{}/webhooks/{}{rest}", self.service, self.id)
    }
}

async fn hook(server: &TestServer, namespace: &str) -> Hook {
    let session = server.signup(namespace).await;
    let service = server.create_service(&session, "s").await;
    let created = server
        .call(
            Method::POST,
            &format!("/v1/services/{service}/webhooks"),
            &session,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    Hook {
        service,
        id: created.body["id"].as_str().unwrap().to_owned(),
        session,
    }
}

async fn test_events_appear_in_the_delivery_log(engine: Engine) {
    let server = TestServer::start(engine).await;
    let h = hook(&server, "lin").await;
    let sent = server
        .call(Method::POST, &h.path("/test"), &h.session, None)
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);
    let delivery_id = sent.body["delivery_id"].as_str().unwrap().to_owned();
    assert!(delivery_id.starts_with("dlv_"));
    assert!(sent.body["event_id"].as_str().unwrap().starts_with("evt_"));

    let log = server
        .call(Method::GET, &h.path("/deliveries"), &h.session, None)
        .await;
    assert_eq!(log.status, StatusCode::OK);
    let delivery = &log.body["deliveries"][0];
    assert_eq!(delivery["id"], delivery_id.as_str());
    assert_eq!(delivery["event_type"], "webhook.test");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempts"], json!([]));
    assert!(delivery["next_attempt_at"].is_string());
    assert_eq!(log.body["next_cursor"], Value::Null);

    let filtered = server
        .call(
            Method::GET,
            &h.path("/deliveries?status=succeeded"),
            &h.session,
            None,
        )
        .await;
    assert_eq!(filtered.body["deliveries"], json!([]));
    for bad in ["status=done", "limit=0", "cursor=nope"] {
        let reply = server
            .call(
                Method::GET,
                &h.path(&format!("/deliveries?{bad}")),
                &h.session,
                None,
            )
            .await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")),
            "{bad}"
        );
    }

    // Paging: three more, two per page.
    for _ in 0..3 {
        server
            .call(Method::POST, &h.path("/test"), &h.session, None)
            .await;
    }
    let first = server
        .call(
            Method::GET,
            &h.path("/deliveries?limit=2"),
            &h.session,
            None,
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = server
        .call(
            Method::GET,
            &h.path(&format!("/deliveries?limit=2&cursor={cursor}")),
            &h.session,
            None,
        )
        .await;
    let ids: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|p| {
            p.body["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        4,
        "no delivery on two pages"
    );
    assert_eq!(second.body["next_cursor"], Value::Null);

    let retried = server
        .call(
            Method::POST,
            &h.path(&format!("/deliveries/{delivery_id}/retry")),
            &h.session,
            None,
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    assert_eq!(retried.body["status"], "pending");
    let missing = server
        .call(
            Method::POST,
            &h.path("/deliveries/dlv_nope/retry"),
            &h.session,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn rotating_shows_the_new_secret_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let h = hook(&server, "lin").await;
    let before = server.db.store.list_webhook_endpoints(&h.service).unwrap()[0].clone();
    let rotated = server
        .call(Method::POST, &h.path("/rotate-secret"), &h.session, None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let secret = rotated.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    let after = server.db.store.list_webhook_endpoints(&h.service).unwrap()[0].clone();
    assert_eq!(
        server
            .secret_key
            .open(&after.secret_sealed, &h.id)
            .unwrap()
            .expose(),
        secret
    );
    assert_eq!(
        after.previous_secret_sealed.as_deref(),
        Some(before.secret_sealed.as_str())
    );
    let listed = server
        .call(
            Method::GET,
            &format!("/v1/services/{}/webhooks", h.service),
            &h.session,
            None,
        )
        .await;
    assert!(!listed.body.to_string().contains(secret));
}

async fn webhooks_are_changed_disabled_and_reenabled(engine: Engine) {
    let server = TestServer::start(engine).await;
    let h = hook(&server, "lin").await;
    let path = h.path("");
    let patch = |body: Value| server.call(Method::PATCH, &path, &h.session, Some(body));
    let reply =
        patch(json!({ "url": "https://new.example/hook", "events": ["request.revoked"] })).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["url"], "https://new.example/hook");
    assert_eq!(reply.body["events"], json!(["request.revoked"]));
    assert_eq!(reply.body["missed_events"], 0);
    assert_eq!(patch(json!({})).await.body["code"], "VALIDATION_ERROR");
    assert_eq!(
        patch(json!({ "url": "http://new.example" })).await.body["code"],
        "INVALID_WEBHOOK_URL"
    );
    assert_eq!(
        patch(json!({ "url": "https://192.168.1.1/" })).await.body["code"],
        "INVALID_WEBHOOK_URL"
    );
    assert_eq!(
        patch(json!({ "events": ["nope"] })).await.body["code"],
        "INVALID_EVENT_TYPE"
    );
    assert_eq!(
        patch(json!({ "enabled": "yes" })).await.body["code"],
        "INVALID_PARAMETER"
    );

    let reply = patch(json!({ "enabled": false })).await;
    assert_eq!(
        (
            reply.body["enabled"].as_bool(),
            reply.body["disabled_reason"].as_str()
        ),
        (Some(false), Some("owner"))
    );
    let test = server
        .call(Method::POST, &h.path("/test"), &h.session, None)
        .await;
    assert_eq!(test.status, StatusCode::CONFLICT);
    assert_eq!(test.body["code"], "WEBHOOK_DISABLED");
    let reply = patch(json!({ "enabled": true, "replay": true })).await;
    assert_eq!(
        (
            reply.body["enabled"].as_bool(),
            reply.body["disabled_reason"].as_str()
        ),
        (Some(true), None)
    );
    assert_eq!(
        server
            .call(Method::POST, &h.path("/test"), &h.session, None)
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

async fn another_owners_webhook_tools_are_404(engine: Engine) {
    let server = TestServer::start(engine).await;
    let h = hook(&server, "lin").await;
    let sent = server
        .call(Method::POST, &h.path("/test"), &h.session, None)
        .await;
    let delivery_id = sent.body["delivery_id"].as_str().unwrap().to_owned();
    let stranger = server.signup("kay").await;
    for (method, path, body) in [
        (Method::GET, h.path("/deliveries"), None),
        (
            Method::POST,
            h.path(&format!("/deliveries/{delivery_id}/retry")),
            None,
        ),
        (Method::POST, h.path("/test"), None),
        (Method::POST, h.path("/rotate-secret"), None),
        (Method::PATCH, h.path(""), Some(json!({ "enabled": false }))),
    ] {
        let reply = server.call(method.clone(), &path, &stranger, body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
            "{method} {path}"
        );
    }
    let mine = server
        .call(Method::GET, &h.path("/deliveries"), &h.session, None)
        .await;
    assert_eq!(
        mine.body["deliveries"].as_array().unwrap().len(),
        1,
        "nothing was added or changed"
    );
    let endpoint = server.db.store.list_webhook_endpoints(&h.service).unwrap()[0].clone();
    assert!(endpoint.enabled && endpoint.previous_secret_sealed.is_none());
}

async fn an_atp_callbacks_events_cannot_change(engine: Engine) {
    let server = TestServer::start(engine).await;
    assert_eq!(
        server.register(&common::seed_registration()).await.status,
        StatusCode::CREATED
    );
    let login = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&json!({ "email": "ada@example.com", "password": common::PASSWORD })),
        )
        .await;
    let session = login.body["session"]["token"].as_str().unwrap().to_owned();
    let services = server
        .call(Method::GET, "/v1/services", &session, None)
        .await;
    let service = services.body["services"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hooks = server
        .call(
            Method::GET,
            &format!("/v1/services/{service}/webhooks"),
            &session,
            None,
        )
        .await;
    let id = hooks.body["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let h = Hook {
        service,
        id,
        session,
    };
    let reply = server
        .call(
            Method::PATCH,
            &h.path(""),
            &h.session,
            Some(json!({ "events": ["request.approved"] })),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_EVENT_TYPE"))
    );
    let unchanged = server
        .call(
            Method::GET,
            &format!("/v1/services/{}/webhooks", h.service),
            &h.session,
            None,
        )
        .await;
    assert_eq!(
        unchanged.body["webhooks"][0]["events"],
        json!(["notification.responded"])
    );
    let moved = server
        .call(
            Method::PATCH,
            &h.path(""),
            &h.session,
            Some(json!({ "url": "https://lovelace.dev/atp/v2" })),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "its url may change");
}

on_both_engines!(
    an_atp_callbacks_events_cannot_change,
    test_events_appear_in_the_delivery_log,
    rotating_shows_the_new_secret_once,
    webhooks_are_changed_disabled_and_reenabled,
    another_owners_webhook_tools_are_404,
);
