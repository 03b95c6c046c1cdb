//! No secret reaches the logs: every log line of a whole owner and service workflow, at every
//! level down to TRACE (the framework's included), is captured and searched for each secret
//! the workflow created or presented.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use assent_store::testing::Engine;
use common::{PASSWORD, TestServer, seed_registration};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn no_secret_is_ever_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The process's one global subscriber (no other test installs one): in this crate's single
    // test binary it also captures every test that runs beside or after this one. The checks
    // below still hold: this workflow's secrets are its own, and the fixed ones (the harness's
    // password, the seed's webhook secret) may not be logged by any test either.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let server = TestServer::start(Engine::Sqlite).await;
    let session = server.signup("lin").await;
    let login = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&json!({ "email": "lin@example.com", "password": PASSWORD })),
        )
        .await;
    let second_session = login.body["session"]["token"].as_str().unwrap().to_owned();
    let id = server.create_service(&session, "s").await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_owned();
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/webhooks"),
            &session,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    let webhook_secret = hook.body["secret"].as_str().unwrap().to_owned();
    let token = server
        .call(Method::POST, "/v1/auth/tokens", &session, None)
        .await;
    let user_token = token.body["token"].as_str().unwrap().to_owned();
    let registered = server.register(&seed_registration()).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let atp_key = registered.body["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/services/me", &key, None)
            .await
            .status,
        StatusCode::OK
    );
    // Failures log too, and credentials in query strings must not be echoed.
    server
        .call(
            Method::GET,
            &format!("/v1/auth/me?token={user_token}"),
            "sk_live_wrong",
            None,
        )
        .await;
    server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&json!({ "email": "lin@example.com", "password": "a wrong password" })),
        )
        .await;
    server
        .call(Method::POST, "/v1/auth/logout", &second_session, None)
        .await;
    let admin_token = server.admin_token.clone();
    server.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("handled") && logs.contains("/v1/services"),
        "the capture works"
    );
    for secret in [
        PASSWORD,
        "a wrong password",
        &session,
        &second_session,
        &key,
        &atp_key,
        &webhook_secret,
        &user_token,
        &admin_token,
        "your-secure-random-string",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret was logged: {}…",
            &secret[..6]
        );
    }
}
