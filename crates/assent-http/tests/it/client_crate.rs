//! `assent-client` against a real server, on SQLite and PostgreSQL: every function it exposes,
//! as a service and as an agent would call them, its errors carrying the server's codes; and
//! its operations held to `docs/openapi.json`.

use std::time::Duration;

use assent_client::{Agent, AgentKey, Client, Error, NewNotification, Registration};
use assent_store::testing::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestServer;

fn registration() -> Registration {
    Registration {
        name: "Lovelace IDE".into(),
        description: "Deploys releases".into(),
        callback_url: "https://lovelace.dev/atp/webhook".into(),
        webhook_secret: "your-secure-random-string".into(),
        namespace: Some("ada".into()),
    }
}

async fn a_service_registers_notifies_and_gets_its_answer(engine: Engine) {
    let server = TestServer::start(engine).await;
    let admin = Client::new(&server.base)
        .unwrap()
        .with_token(&server.admin_token);
    let service = admin.register_service(&registration()).await.unwrap();
    assert_eq!(service.service_id, "lovelace-ide");

    let refused = Client::new(&server.base)
        .unwrap()
        .with_token("ak_wrong")
        .register_service(&registration())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AUTH_INVALID_TOKEN"), "{refused}");

    let client = Client::new(&server.base)
        .unwrap()
        .with_token(&service.api_key);
    let sent = client
        .notify(&NewNotification::new(
            json!({ "title": "Deploy release 1.2?", "description": "All checks passed." }),
            vec![json!({ "id": "deploy", "label": "Deploy", "response_type": "simple" })],
        ))
        .await
        .unwrap();
    let pending = client.notification(&sent.notification_id).await.unwrap();
    assert_eq!(pending.id, sent.notification_id);
    assert!(!pending.is_decided(), "{pending:?}");
    let waited = client
        .await_decision(
            &sent.notification_id,
            Duration::from_millis(20),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(waited, Error::Timeout), "{waited}");

    // The owner answers while the service waits.
    let waiting = {
        let client = client.clone();
        let id = sent.notification_id.clone();
        actix_web::rt::spawn(async move {
            client
                .await_decision(&id, Duration::from_millis(50), Duration::from_secs(20))
                .await
        })
    };
    let (session, _) = server.login("ada@example.com").await;
    let token = server.user_token(&session, "phone").await;
    let answered = server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &token,
            Some(json!({ "notification_id": sent.notification_id, "action_id": "deploy" })),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    let decided = waiting.await.unwrap().unwrap();
    assert_eq!(decided.status, "responded");
    assert_eq!(decided.response.as_ref().unwrap()["action_id"], "deploy");

    let invalid = client
        .notify(&NewNotification::new(json!({}), vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(&invalid, Error::Api { status: 400, .. }),
        "{invalid}"
    );
    let missing = client.notification("ntf_nope").await.unwrap_err();
    assert_eq!(missing.code(), Some("NOTIFICATION_NOT_FOUND"), "{missing}");
}

async fn an_agent_asks_for_a_claim_and_is_verified_once_approved(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let service_id = server.create_service(&session, "api-gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let client = Client::new(&server.base).unwrap().with_token(&api_key);
    let agent = Agent::new(
        AgentKey::from_seed(&assent_auth::random::bytes::<32>()),
        "ada",
        "customer-42",
    );

    let before = client.verify(&agent, "api-gateway").await.unwrap();
    assert!(!before.authorized, "{before:?}");
    let claim = client
        .submit_claim(&agent, "api-gateway", Some("release bot"))
        .await
        .unwrap();
    assert_eq!(claim.status, "pending");
    let approved = server
        .call(
            Method::POST,
            &format!("/v1/claims/{}/approve", claim.claim_id),
            &session,
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    let after = client.verify(&agent, "api-gateway").await.unwrap();
    assert!(after.authorized, "{after:?}");
    assert_eq!(after.claim_id.as_deref(), Some(claim.claim_id.as_str()));

    // An agent of another namespace is refused with the server's code.
    let stranger = Agent::new(AgentKey::from_seed(&[3; 32]), "grace", "x");
    let refused = client
        .submit_claim(&stranger, "api-gateway", None)
        .await
        .unwrap_err();
    assert!(refused.code().is_some(), "{refused}");
    assert!(
        matches!(
            refused,
            Error::Api {
                status: 400..=404,
                ..
            }
        ),
        "{refused}"
    );
}

on_both_engines!(
    a_service_registers_notifies_and_gets_its_answer,
    an_agent_asks_for_a_claim_and_is_verified_once_approved,
);

/// The properties of a schema, following one `$ref`.
fn schema<'d>(document: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[test]
fn the_clients_operations_agree_with_the_openapi_document() {
    let document: Value = serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    for (method, path, request, response) in assent_client::paths::OPERATIONS {
        let operation = &document["paths"][path][method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        let body = &operation["requestBody"]["content"]["application/json"]["schema"];
        let body = schema(&document, body);
        for field in *request {
            assert!(
                body["properties"].get(field).is_some(),
                "{method} {path}: the client sends `{field}`, which the document does not know"
            );
        }
        if let Some(required) = body["required"].as_array() {
            for field in required {
                assert!(
                    request.contains(&field.as_str().unwrap()),
                    "{method} {path}: the document requires `{field}`, which the client never sends"
                );
            }
        }
        let answer = operation["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .map(|(_, r)| &r["content"]["application/json"]["schema"])
            .unwrap_or_else(|| panic!("{method} {path}: no success response"));
        let answer = schema(&document, answer);
        let required: Vec<&str> = answer["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for field in *response {
            assert!(
                required.contains(field),
                "{method} {path}: the client requires `{field}`, which the document does not promise"
            );
        }
    }
    let verify = &document["paths"][assent_client::paths::VERIFY]["get"]["parameters"];
    let names: Vec<&str> = verify
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in assent_client::paths::VERIFY_QUERY {
        assert!(names.contains(name), "GET /v1/verify has no `{name}`");
    }
}
