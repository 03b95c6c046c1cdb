//! Quotas over HTTP under concurrent requests, on SQLite and PostgreSQL: of many creations sent
//! at once, exactly the quota is created and every other one gets the quota's 409 and code.

use crate::common;

use assent_store::testing::Engine;
use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Requests sent at once, well over the quota.
const REQUESTS: usize = 50;

/// `REQUESTS` POSTs to `path` at once, request `i` with `body(i)`; returns how many were
/// created and how many were refused with `code`. Any other answer fails the test.
async fn race(
    server: &TestServer,
    session: &str,
    path: &str,
    body: impl Fn(usize) -> Option<Value>,
    code: &str,
) -> (usize, usize) {
    let replies = futures_util::future::join_all(
        (0..REQUESTS).map(|i| server.call(Method::POST, path, session, body(i))),
    )
    .await;
    let mut counts = (0, 0);
    for reply in replies {
        match (reply.status, reply.body["code"].as_str()) {
            (StatusCode::CREATED, _) => counts.0 += 1,
            (StatusCode::CONFLICT, Some(c)) if c == code => counts.1 += 1,
            other => panic!(
                "expected 201 or 409 {code}, got {other:?}: {:?}",
                reply.body
            ),
        }
    }
    counts
}

/// A server whose three quotas are `quota`, an owner `lin` signed up, and one service of
/// theirs: the session and the service id.
pub(crate) async fn one_service_under_quotas(
    engine: Engine,
    quota: u32,
) -> (TestServer, String, String) {
    let server = TestServer::start_with(engine, |s| {
        s.quotas = assent_http::Quotas {
            services_per_namespace: quota,
            keys_per_service: quota,
            webhooks_per_service: quota,
        };
    })
    .await;
    let session = server.signup("lin").await;
    let service = server
        .call(
            Method::POST,
            "/v1/services",
            &session,
            Some(json!({ "slug": "a", "name": "A" })),
        )
        .await;
    assert_eq!(service.status, StatusCode::CREATED);
    let id = service.body["id"].as_str().unwrap().to_owned();
    (server, session, id)
}

async fn concurrent_creations_stop_exactly_at_each_quota(engine: Engine) {
    let (server, session, id) = one_service_under_quotas(engine, 20).await;
    let hooks = format!("/v1/services/{id}/webhooks");
    let hook = |_| Some(json!({ "url": "https://h.example/x" }));
    assert_eq!(
        race(&server, &session, &hooks, hook, "WEBHOOK_LIMIT_REACHED").await,
        (20, REQUESTS - 20)
    );
    let keys = format!("/v1/services/{id}/keys");
    assert_eq!(
        race(&server, &session, &keys, |_| None, "KEY_LIMIT_REACHED").await,
        (20, REQUESTS - 20)
    );
    // One service exists already; the others race with slugs of their own.
    let service = |i| Some(json!({ "slug": format!("s{i}"), "name": format!("S{i}") }));
    assert_eq!(
        race(
            &server,
            &session,
            "/v1/services",
            service,
            "SERVICE_LIMIT_REACHED"
        )
        .await,
        (19, REQUESTS - 19)
    );
}

on_both_engines!(concurrent_creations_stop_exactly_at_each_quota);
