//! `POST /api/v1/services` against a real server, on SQLite and PostgreSQL: the success and
//! every error, with exact statuses, codes and bodies, and proof that errors change nothing.

use crate::common;

use std::collections::BTreeSet;

use assent_auth::{MintedToken, TokenHash, TokenKind};
use assent_core::{EndpointFormat, EventType};
use assent_store::testing::Engine;
use common::{TestServer, seed_registration};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn without(field: &str) -> Value {
    let mut body = seed_registration();
    body.as_object_mut().unwrap().remove(field);
    body
}

fn with(field: &str, value: Value) -> Value {
    let mut body = seed_registration();
    body[field] = value;
    body
}

/// Errors must leave the database as it was.
fn assert_no_services(server: &TestServer) {
    assert_eq!(server.db.store.list_services("ada").unwrap(), vec![]);
}

async fn registers_the_seed_service(engine: Engine) {
    let server = TestServer::start(engine).await;
    let reply = server.register(&seed_registration()).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let keys: BTreeSet<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["service_id", "api_key", "webhook_secret"])
    );
    assert_eq!(reply.body["service_id"], "lovelace-ide");
    assert_eq!(reply.body["webhook_secret"], "your-secure-random-string");
    let api_key = reply.body["api_key"].as_str().unwrap();
    assert!(
        api_key.starts_with("sk_live_") && api_key.len() == 56,
        "{api_key}"
    );
    assert!(api_key[8..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(reply.request_id().starts_with("req_"));

    // Stored: the service, its key by hash only, and the callback as an ATP endpoint whose
    // secret is sealed to its row.
    let services = server.db.store.list_services("ada").unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "Lovelace IDE");
    assert_eq!(
        services[0].description.as_deref(),
        Some("AI-powered integrated development environment")
    );
    let owner = server
        .db
        .store
        .find_api_key(&TokenHash::of(api_key))
        .unwrap()
        .unwrap();
    assert_eq!(owner.service_id, services[0].id);
    let endpoints = server
        .db
        .store
        .list_webhook_endpoints(&services[0].id)
        .unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].url, "https://lovelace.dev/atp/webhook");
    assert_eq!(endpoints[0].format, EndpointFormat::Atp);
    assert_eq!(endpoints[0].events, vec![EventType::NotificationResponded]);
    assert!(
        !endpoints[0]
            .secret_sealed
            .contains("your-secure-random-string")
    );
    let opened = server
        .secret_key
        .open(&endpoints[0].secret_sealed, &endpoints[0].id)
        .unwrap();
    assert_eq!(opened.expose(), "your-secure-random-string");
}

async fn the_same_name_again_is_a_conflict(engine: Engine) {
    let server = TestServer::start(engine).await;
    assert_eq!(
        server.register(&seed_registration()).await.status,
        StatusCode::CREATED
    );
    // Another spelling with the same slug is the same service.
    for name in ["Lovelace IDE", "lovelace ide", "Lovelace-IDE!"] {
        let reply = server.register(&with("name", json!(name))).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{name}");
        assert_eq!(
            reply.body,
            reply.atp_error(
                "SERVICE_ALREADY_EXISTS",
                "A service with this name already exists in the namespace."
            )
        );
    }
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
}

async fn each_missing_field_is_named(engine: Engine) {
    let server = TestServer::start(engine).await;
    for field in ["name", "description", "callback_url", "webhook_secret"] {
        for body in [
            without(field),
            with(field, Value::Null),
            with(field, json!("")),
        ] {
            let reply = server.register(&body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}");
            let mut expected = reply.atp_error(
                "MISSING_REQUIRED_FIELD",
                &format!("The field `{field}` is required."),
            );
            expected["details"] = json!({ "field": field });
            assert_eq!(reply.body, expected);
        }
    }
    let reply = server.register(&json!({})).await;
    assert_eq!(
        reply.body["details"]["field"], "name",
        "the first missing field, in documented order"
    );
    assert_no_services(&server);
}

async fn callback_urls_must_be_public_https(engine: Engine) {
    let server = TestServer::start(engine).await;
    let cases = [
        (
            "http://lovelace.dev/hook",
            "must use https (a development server started with --allow-private-webhooks also accepts http)",
        ),
        (
            "https://127.0.0.1/hook",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
        (
            "https://[::ffff:169.254.169.254]/",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
        (
            "https://10.0.0.8/hook",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
        (
            "https://localhost/hook",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
        ("lovelace.dev/hook", "is not a valid absolute URL"),
        (
            "https://user:pass@lovelace.dev/hook",
            "must not contain a user name or password",
        ),
    ];
    for (url, why) in cases {
        let reply = server.register(&with("callback_url", json!(url))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        let mut expected =
            reply.atp_error("INVALID_CALLBACK_URL", &format!("The callback_url {why}."));
        expected["details"] = json!({ "field": "callback_url" });
        assert_eq!(reply.body, expected, "{url}");
    }
    assert_no_services(&server);
}

async fn the_development_switch_allows_local_http_callbacks(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let reply = server
        .register(&with("callback_url", json!("http://127.0.0.1:9999/hook")))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

async fn only_an_admin_token_may_register(engine: Engine) {
    let server = TestServer::start(engine).await;
    let url = server.url("/api/v1/services");
    let body = seed_registration().to_string();

    let reply = server
        .send(server.client.post(&url).body(body.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        reply.atp_error("AUTH_INVALID_TOKEN", "An admin bearer token is required.")
    );
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    for token in ["adm_not-a-real-token", "Basic x"] {
        let reply = server
            .send(
                server
                    .client
                    .post(&url)
                    .bearer_auth(token)
                    .body(body.clone()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            reply.body,
            reply.atp_error(
                "AUTH_INVALID_TOKEN",
                "The admin token is invalid or revoked."
            )
        );
    }

    // A service API key is a valid credential of the wrong kind.
    let created = server.register(&seed_registration()).await;
    let api_key = created.body["api_key"].as_str().unwrap();
    let reply = server
        .send(
            server
                .client
                .post(&url)
                .bearer_auth(api_key)
                .body(with("name", json!("Other")).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "AUTH_INSUFFICIENT_PERMISSIONS",
            "This credential is not an admin token."
        )
    );

    // A revoked admin token stops working at once.
    let tokens = server.db.store.list_admin_tokens().unwrap();
    server.db.store.revoke_admin_token(&tokens[0].id).unwrap();
    let reply = server.register(&with("name", json!("Third"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
}

async fn authentication_comes_before_body_validation(engine: Engine) {
    let server = TestServer::start(engine).await;
    let reply = server
        .send(
            server
                .client
                .post(server.url("/api/v1/services"))
                .body("not json"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn the_namespace_comes_from_the_body_or_the_default(engine: Engine) {
    let server = TestServer::start(engine).await;
    let missing = |reply: &common::Reply, message: &str| {
        let mut expected = reply.atp_error("MISSING_REQUIRED_FIELD", message);
        expected["details"] = json!({ "field": "namespace" });
        expected
    };
    let reply = server.register(&without("namespace")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        missing(
            &reply,
            "The body names no `namespace` and the server has no default namespace."
        )
    );
    let reply = server.register(&with("namespace", json!("grace"))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        missing(&reply, "The namespace `grace` does not exist.")
    );
    let reply = server
        .register(&with("namespace", json!("Not Valid")))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "INVALID_PARAMETER");
    assert_eq!(reply.body["details"]["field"], "namespace");
    assert_no_services(&server);

    let server = TestServer::start_with(engine, |s| s.default_namespace = Some("ada".into())).await;
    let reply = server.register(&without("namespace")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
}

async fn field_rules_are_enforced(engine: Engine) {
    let server = TestServer::start(engine).await;
    let cases = [
        (
            "name",
            json!("!!!"),
            "The field `name` must contain at least one ASCII letter or digit.",
        ),
        (
            "name",
            json!("n".repeat(101)),
            "The field `name` must be at most 100 characters.",
        ),
        (
            "description",
            json!("d".repeat(501)),
            "The field `description` must be at most 500 characters.",
        ),
        (
            "webhook_secret",
            json!("too-short"),
            "The field `webhook_secret` must be 16 to 256 characters long.",
        ),
        (
            "icon_url",
            json!("javascript:alert(1)"),
            "The field `icon_url` must be an http or https URL.",
        ),
    ];
    for (field, value, message) in cases {
        let reply = server.register(&with(field, value)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}");
        let mut expected = reply.atp_error("INVALID_PARAMETER", message);
        expected["details"] = json!({ "field": field });
        assert_eq!(reply.body, expected);
    }
    assert_no_services(&server);
    let reply = server
        .register(&with("icon_url", json!("https://lovelace.dev/icon.png")))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        server.db.store.list_services("ada").unwrap()[0]
            .icon_url
            .as_deref(),
        Some("https://lovelace.dev/icon.png")
    );
}

async fn malformed_bodies_are_400_never_500(engine: Engine) {
    let server = TestServer::start(engine).await;
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let bodies: Vec<(String, &str)> = vec![
        ("not json".into(), "INVALID_JSON"),
        ("".into(), "INVALID_JSON"),
        ("[1,2,3]".into(), "INVALID_JSON"),
        ("\"a string\"".into(), "INVALID_JSON"),
        ("{\"name\": \"x\"".into(), "INVALID_JSON"),
        ("{} trailing".into(), "INVALID_JSON"),
        (deep, "INVALID_JSON"),
        ("{\"name\": 42}".into(), "INVALID_PARAMETER"),
        ("{\"name\": [\"Lovelace\"]}".into(), "INVALID_PARAMETER"),
        (
            "{\"callback_url\": {\"url\": \"https://x\"}}".into(),
            "INVALID_PARAMETER",
        ),
        ("{\"webhook_secret\": true}".into(), "INVALID_PARAMETER"),
        ("{\"name\": \"\\u0000\\ud800\"}".into(), "INVALID_JSON"),
    ];
    for (body, code) in bodies {
        let preview: String = body.chars().take(40).collect();
        let reply = server.register_raw(body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{preview}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["code"], code, "{preview}");
        assert_eq!(reply.body["request_id"], reply.request_id());
    }
    let reply = server.register_raw("{\"name\": 42}").await;
    assert_eq!(reply.body["details"], json!({ "field": "name" }));
    assert_no_services(&server);
}

async fn oversized_bodies_are_413(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.max_body_bytes = 4096).await;
    let mut body = seed_registration();
    body["padding"] = json!("x".repeat(8192));
    let reply = server.register(&body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.body,
        reply.atp_error(
            "PAYLOAD_TOO_LARGE",
            "The request body is larger than the server accepts."
        )
    );
    assert_no_services(&server);
}

async fn concurrent_registrations_of_one_name_create_one_service(engine: Engine) {
    let server = TestServer::start(engine).await;
    let body = seed_registration();
    let replies = futures_util::future::join_all((0..12).map(|_| server.register(&body))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    let mut expected = vec![409; 11];
    expected.insert(0, 201);
    assert_eq!(statuses, expected);
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
}

async fn the_same_name_may_exist_in_two_namespaces(engine: Engine) {
    let server = TestServer::start(engine).await;
    server
        .db
        .store
        .create_account(
            assent_store::NewAccount {
                email: "grace@example.com".into(),
                namespace: "grace".into(),
                password_hash: "x".into(),
            },
            None,
        )
        .unwrap();
    let first = server.register(&seed_registration()).await;
    let second = server.register(&with("namespace", json!("grace"))).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(first.body["api_key"], second.body["api_key"]);
    // Each key belongs to its own namespace's service.
    let owner = |reply: &common::Reply| {
        let key = reply.body["api_key"].as_str().unwrap();
        server
            .db
            .store
            .find_api_key(&TokenHash::of(key))
            .unwrap()
            .unwrap()
            .namespace
    };
    assert_eq!(
        (owner(&first), owner(&second)),
        ("ada".to_owned(), "grace".to_owned())
    );
}

async fn a_valid_key_of_an_unknown_kind_is_401(engine: Engine) {
    let server = TestServer::start(engine).await;
    let stranger = MintedToken::new(TokenKind::ApiKey);
    let reply = server
        .send(
            server
                .client
                .post(server.url("/api/v1/services"))
                .bearer_auth(stranger.plaintext.expose())
                .body(seed_registration().to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

on_both_engines!(
    registers_the_seed_service,
    the_same_name_again_is_a_conflict,
    each_missing_field_is_named,
    callback_urls_must_be_public_https,
    the_development_switch_allows_local_http_callbacks,
    only_an_admin_token_may_register,
    authentication_comes_before_body_validation,
    the_namespace_comes_from_the_body_or_the_default,
    field_rules_are_enforced,
    malformed_bodies_are_400_never_500,
    oversized_bodies_are_413,
    concurrent_registrations_of_one_name_create_one_service,
    the_same_name_may_exist_in_two_namespaces,
    a_valid_key_of_an_unknown_kind_is_401,
);
