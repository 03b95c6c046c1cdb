//! Operator endpoints, request ids, framework errors and the OpenAPI document.

use crate::common;

use assent_store::testing::Engine;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

async fn health_answers_without_credentials(engine: Engine) {
    let server = TestServer::start(engine).await;
    for path in ["/health", "/api/v1/health", "/ready"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.body,
            json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
        );
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        assert!(reply.request_id().starts_with("req_"));
    }
}

async fn health_answers_head_requests_without_a_body(engine: Engine) {
    let server = TestServer::start(engine).await;
    for path in ["/health", "/api/v1/health", "/ready"] {
        let reply = server.send(server.client.head(server.url(path))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.body,
            serde_json::Value::Null,
            "{path}: a HEAD answer has no body"
        );
        assert!(reply.request_id().starts_with("req_"));
    }
    // Other operator routes still refuse methods they do not take.
    let reply = server
        .send(server.client.delete(server.url("/health")))
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn sane_request_ids_are_echoed_and_others_replaced(engine: Engine) {
    let server = TestServer::start(engine).await;
    let reply = server
        .send(
            server
                .client
                .get(server.url("/health"))
                .header("x-request-id", "trace-42.a:b_c"),
        )
        .await;
    assert_eq!(reply.request_id(), "trace-42.a:b_c");
    let reply = server
        .send(
            server
                .client
                .post(server.url("/api/v1/services"))
                .header("x-request-id", "abc-123"),
        )
        .await;
    assert_eq!(reply.request_id(), "abc-123");
    assert_eq!(
        reply.body["request_id"], "abc-123",
        "the error body carries the same id"
    );
    for hostile in ["has spaces", &"x".repeat(200), "semi;colon"] {
        let reply = server
            .send(
                server
                    .client
                    .get(server.url("/health"))
                    .header("x-request-id", hostile),
            )
            .await;
        assert!(reply.request_id().starts_with("req_"), "{hostile}");
    }
}

async fn unknown_routes_and_methods_get_the_dialects_envelope(engine: Engine) {
    let server = TestServer::start(engine).await;
    let reply = server.get("/no/such/path").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        json!({ "error": "No such resource.", "code": "NOT_FOUND", "request_id": reply.request_id() })
    );
    let reply = server.get("/api/v1/nothing").await;
    assert_eq!(
        reply.body,
        reply.atp_error("NOT_FOUND", "No such resource.")
    );
    let reply = server.get("/api/v1/services").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.body,
        reply.atp_error("METHOD_NOT_ALLOWED", "This method is not allowed here.")
    );
    assert_eq!(reply.headers["allow"], "POST");
}

/// Only PostgreSQL can vanish under a running server; an open SQLite file cannot.
#[actix_web::test]
async fn readiness_fails_when_the_database_is_gone() {
    let server = TestServer::start(Engine::Postgres).await;
    assert_eq!(server.get("/ready").await.status, StatusCode::OK);
    {
        // Dropping the database cuts the pool's connections.
        let name = server.db.url.rsplit('/').next().unwrap().to_owned();
        let admin_url = std::env::var("ASSENT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| assent_store::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
        let reply = server.get("/ready").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(
            server.get("/health").await.status,
            StatusCode::OK,
            "liveness needs no database"
        );
    }
}

async fn the_served_openapi_document_is_the_committed_one(engine: Engine) {
    let server = TestServer::start(engine).await;
    let served = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        served.text().await.unwrap(),
        assent_http::openapi::document_json()
    );
}

on_both_engines!(
    health_answers_head_requests_without_a_body,
    health_answers_without_credentials,
    sane_request_ids_are_echoed_and_others_replaced,
    unknown_routes_and_methods_get_the_dialects_envelope,
    the_served_openapi_document_is_the_committed_one,
);

/// The committed `docs/openapi.json` must match the code. Regenerate with `just openapi`
/// (`cargo run -p assent -- openapi > docs/openapi.json`).
#[test]
fn committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == assent_http::openapi::document_json(),
        "docs/openapi.json is stale: run `just openapi`"
    );
}

#[test]
fn openapi_documents_every_route() {
    let document: serde_json::Value =
        serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/.well-known/did/{did}",
            "/1.0/identifiers/{did}",
            "/api/v1/client/events",
            "/api/v1/client/notifications",
            "/api/v1/client/notifications/{id}",
            "/api/v1/client/notifications/{id}/acknowledge",
            "/api/v1/client/respond",
            "/api/v1/client/stream",
            "/api/v1/health",
            "/api/v1/notifications",
            "/api/v1/notifications/{id}",
            "/api/v1/services",
            "/api/v1/services/me",
            "/health",
            "/ready",
            "/v1/audit-log",
            "/v1/auth/login",
            "/v1/auth/logout",
            "/v1/auth/me",
            "/v1/auth/password",
            "/v1/auth/sessions",
            "/v1/auth/sessions/{session_id}",
            "/v1/auth/signup",
            "/v1/auth/tokens",
            "/v1/auth/tokens/{token_id}",
            "/v1/claims",
            "/v1/claims/{claim_id}",
            "/v1/claims/{claim_id}/approve",
            "/v1/claims/{claim_id}/reject",
            "/v1/claims/{claim_id}/revoke",
            "/v1/invites",
            "/v1/namespaces/claims",
            "/v1/namespaces/{namespace}",
            "/v1/namespaces/{namespace}/claims",
            "/v1/services",
            "/v1/services/{service_id}",
            "/v1/services/{service_id}/keys",
            "/v1/services/{service_id}/keys/{key_id}",
            "/v1/services/{service_id}/webhooks",
            "/v1/services/{service_id}/webhooks/{webhook_id}",
            "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries",
            "/v1/services/{service_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            "/v1/services/{service_id}/webhooks/{webhook_id}/rotate-secret",
            "/v1/services/{service_id}/webhooks/{webhook_id}/test",
            "/v1/verify",
        ]
    );
    let register = &document["paths"]["/api/v1/services"]["post"];
    for status in ["201", "400", "401", "403", "409", "413"] {
        assert!(register["responses"][status].is_object(), "{status}");
    }
    let required = &document["components"]["schemas"]["RegisterServiceRequest"]["required"];
    assert_eq!(
        required,
        &json!(["name", "description", "callback_url", "webhook_secret"])
    );
}
