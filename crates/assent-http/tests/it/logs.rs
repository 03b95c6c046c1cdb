//! No secret reaches the logs: every log line of a whole owner and service workflow, at every
//! level down to TRACE (the framework's included), is captured and searched for each secret
//! the workflow created or presented. And the access line says what an operator needs.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

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

/// The process's one global subscriber, installed by the first test that asks (no other
/// module installs one): in this crate's single test binary it also captures every test that
/// runs beside or after the ones here. Their checks still hold: a workflow's secrets are its
/// own, the fixed ones (the harness's password, the seed's webhook secret) may not be logged
/// by any test either, and the access line is found by its own user agent.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        captured
    })
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[actix_web::test]
async fn no_secret_is_ever_logged() {
    let captured = captured();

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

    let logs = captured.text();
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

/// One line per request: the route template (not the path with its id, nor the query), the
/// client address (the forwarded one, behind a trusted proxy), the user agent, the status and
/// the latency.
async fn the_access_line_names_the_route_client_and_user_agent(engine: Engine) {
    let captured = captured();
    let server = TestServer::start_with(engine, |s| {
        s.trusted_proxies = assent_http::TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let session = server.signup("lin").await;
    let id = server.create_service(&session, "s").await;
    let agent = &format!("assent-log-test/1.0 ({engine:?})");
    let reply = server
        .send(
            server
                .client
                .get(server.url(&format!("/v1/services/{id}/keys?marker=query-text-1234")))
                .bearer_auth(&session)
                .header("user-agent", agent)
                .header("x-forwarded-for", "198.51.100.7"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    server.stop().await;

    let logs = captured.text();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(agent) && line.contains("handled"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines[0];
    for expected in [
        "route=\"/v1/services/{service_id}/keys\"",
        "client=198.51.100.7",
        "method=GET",
        "status=200",
        "latency_ms=",
        &format!("request_id={}", reply.request_id()),
    ] {
        assert!(line.contains(expected), "{expected} is not in {line}");
    }
    assert!(!line.contains(&id), "{line}");
    assert!(
        !logs.contains("query-text-1234"),
        "a query string was logged"
    );
}

on_both_engines!(the_access_line_names_the_route_client_and_user_agent);
