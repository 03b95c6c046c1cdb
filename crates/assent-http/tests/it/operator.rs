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

/// `/docs` is Swagger UI, served by the server itself and reading the server's own document.
async fn the_api_docs_are_served_from_the_server_itself(engine: Engine) {
    let server = TestServer::start(engine).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = client.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(html.contains("./swagger-initializer.js"), "{html}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let reply = client
            .get(server.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "{asset}");
    }
    let initializer = client
        .get(server.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("\"url\": \"/openapi.json\""),
        "{initializer}"
    );
    // No badge from validator.swagger.io, which would send it the document's URL.
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
}

on_both_engines!(
    the_api_docs_are_served_from_the_server_itself,
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
            "/mcp",
            "/metrics",
            "/ready",
            "/v1/audit-log",
            "/v1/auth/channels",
            "/v1/auth/channels/verify",
            "/v1/auth/channels/{channel_id}",
            "/v1/auth/channels/{channel_id}/test",
            "/v1/auth/channels/{channel_id}/verification",
            "/v1/auth/login",
            "/v1/auth/logout",
            "/v1/auth/me",
            "/v1/auth/messages",
            "/v1/auth/password",
            "/v1/auth/sessions",
            "/v1/auth/sessions/{session_id}",
            "/v1/auth/settings",
            "/v1/auth/signup",
            "/v1/auth/tokens",
            "/v1/auth/tokens/{token_id}",
            "/v1/auth/web-push",
            "/v1/claims",
            "/v1/claims/{claim_id}",
            "/v1/claims/{claim_id}/approve",
            "/v1/claims/{claim_id}/reject",
            "/v1/claims/{claim_id}/revoke",
            "/v1/grants",
            "/v1/grants/{grant_id}",
            "/v1/invites",
            "/v1/namespaces/claims",
            "/v1/namespaces/{namespace}",
            "/v1/namespaces/{namespace}/claims",
            "/v1/namespaces/{namespace}/jwks.json",
            "/v1/policies",
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

/// Every operation of the document, as `(method, path, operation)`.
fn operations(document: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

/// Every successful JSON answer has a described shape, so that clients, code generators and
/// schemathesis know its fields: no 2xx body is a bare `object`. The DID documents are the
/// exception: JSON-LD, extensible by design, and served as such.
#[test]
fn openapi_describes_every_successful_json_body() {
    let document: serde_json::Value =
        serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    let schemas = &document["components"]["schemas"];
    let resolve = |schema: &serde_json::Value| match schema["$ref"].as_str() {
        Some(reference) => schemas[reference.trim_start_matches("#/components/schemas/")].clone(),
        None => schema.clone(),
    };
    let bare = |schema: &serde_json::Value| {
        schema["type"] == "object"
            && schema.get("properties").is_none()
            && schema.get("additionalProperties").is_none()
    };
    let mut undescribed = Vec::new();
    for (method, path, operation) in operations(&document) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(content) = response["content"].as_object() else {
                continue;
            };
            for (media_type, body) in content {
                let schema = resolve(&body["schema"]);
                let items = resolve(&schema["items"]);
                let described =
                    !bare(&schema)
                        && schema["properties"].as_object().into_iter().flatten().all(
                            |(_, field)| {
                                !bare(&resolve(field)) || field.get("description").is_some()
                            },
                        )
                        && !bare(&items);
                if status.starts_with('2') && media_type == "application/json" && !described {
                    undescribed.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert_eq!(undescribed, Vec::<String>::new());
}

/// Code generators name methods after operation ids, so each must be unique, and a parameter
/// must be where the server reads it: a path parameter in the path's template, and nothing
/// else declared as one.
#[test]
fn openapi_operation_ids_are_unique_and_parameters_are_where_the_server_reads_them() {
    let document: serde_json::Value =
        serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operation id");
        assert!(ids.insert(id.to_owned()), "operation id {id} is repeated");
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let in_template = path.contains(&format!("{{{name}}}"));
            assert_eq!(
                parameter["in"] == "path",
                in_template,
                "{method} {path}: parameter {name} is declared in {}",
                parameter["in"]
            );
        }
    }
}

/// Each operation that takes a credential says which, by a scheme the document defines; the
/// operations without one are exactly the public ones.
#[test]
fn openapi_declares_the_credentials_of_every_operation() {
    let document: serde_json::Value =
        serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    let mut public = Vec::new();
    for (method, path, operation) in operations(&document) {
        let Some(requirements) = operation["security"].as_array() else {
            public.push(format!("{method} {path}"));
            continue;
        };
        assert!(!requirements.is_empty(), "{method} {path}");
        for requirement in requirements {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
            }
        }
    }
    public.sort();
    assert_eq!(
        public,
        [
            "get /.well-known/did/{did}",
            "get /1.0/identifiers/{did}",
            "get /api/v1/health",
            "get /health",
            "get /metrics",
            "get /ready",
            "get /v1/namespaces/{namespace}/jwks.json",
            "post /v1/auth/login",
            "post /v1/auth/signup",
        ]
    );
    // The signed endpoints say which headers the signature takes.
    let signature = schemes["sigilumSignature"]["description"].as_str().unwrap();
    for header in [
        "Signature-Input",
        "Signature",
        "Content-Digest",
        "Sigilum-Namespace",
        "Sigilum-Subject",
        "Sigilum-Agent-Key",
        "Sigilum-Agent-Cert",
    ] {
        assert!(signature.contains(&format!("`{header}`")), "{header}");
    }
    assert_eq!(
        document["paths"]["/v1/claims"]["post"]["security"],
        json!([{ "sigilumSignature": [], "serviceApiKey": [] }])
    );
}
