//! Behind a reverse proxy, and called from browser apps of other origins: the client address
//! that login throttling and the registration limit key on (`ASSENT_TRUSTED_PROXIES`), and
//! the CORS allow-list (`ASSENT_CORS_ORIGINS`), against a real server on both engines.
//!
//! The tests connect from 127.0.0.1, so a server that trusts `127.0.0.1/32` plays one behind
//! a proxy, and `X-Forwarded-For` is the header that proxy would have set.

use crate::common;

use assent_http::TrustedProxies;
use assent_http::rate_limit::Rate;
use assent_store::testing::Engine;
use common::{PASSWORD, Reply, TestServer, seed_registration};
use reqwest::StatusCode;
use serde_json::json;

const APP: &str = "https://app.example.com";

fn behind_a_proxy(settings: &mut assent_http::HttpSettings) {
    settings.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
}

/// `POST /v1/auth/login`, forwarded for `client` when there is one.
async fn login(server: &TestServer, client: Option<&str>, email: &str, password: &str) -> Reply {
    let mut request = server
        .client
        .post(server.url("/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    server.send(request).await
}

/// Fails a login for each of `MAX_FAILURES_PER_IP` unknown emails, forwarded for `client`.
async fn fail_logins_from(server: &TestServer, client: impl Fn(u32) -> String) {
    for i in 0..assent_http::throttle::MAX_FAILURES_PER_IP {
        let reply = login(
            server,
            Some(&client(i)),
            &format!("nobody{i}@example.com"),
            "a wrong password",
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{i}: {:?}",
            reply.body
        );
    }
}

async fn behind_a_trusted_proxy_one_client_cannot_lock_out_another(engine: Engine) {
    let server = TestServer::start_with(engine, behind_a_proxy).await;
    fail_logins_from(&server, |_| "203.0.113.1".to_owned()).await;

    let locked = login(&server, Some("203.0.113.1"), "ada@example.com", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.body["code"], "RATE_LIMIT_EXCEEDED");
    // The proxy put the client's address last; what the client wrote before it is ignored.
    let forged = login(
        &server,
        Some("203.0.113.2, 203.0.113.1"),
        "ada@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);

    let other = login(&server, Some("203.0.113.2"), "ada@example.com", PASSWORD).await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
    let other = login(
        &server,
        Some("6.6.6.6, 203.0.113.1, 203.0.113.3"),
        "ada@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
    // The proxy's own request (no forwarding header) is the proxy's address.
    let direct = login(&server, None, "ada@example.com", PASSWORD).await;
    assert_eq!(direct.status, StatusCode::OK, "{:?}", direct.body);
}

async fn without_trusted_proxies_a_forwarded_for_changes_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    // Every failure names another address; all of them are the peer's.
    fail_logins_from(&server, |i| format!("198.51.100.{i}")).await;
    let reply = login(&server, Some("203.0.113.9"), "ada@example.com", PASSWORD).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        reply.body
    );
    let reply = login(&server, None, "ada@example.com", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

/// `POST /api/v1/services` forwarded for `client`.
async fn register_from(server: &TestServer, client: &str, name: &str) -> Reply {
    let mut body = seed_registration();
    body["name"] = json!(name);
    let request = server
        .client
        .post(server.url("/api/v1/services"))
        .bearer_auth(&server.admin_token)
        .header("x-forwarded-for", client)
        .json(&body);
    server.send(request).await
}

async fn the_registration_limit_keys_on_the_client_address(engine: Engine) {
    let one_a_minute = |s: &mut assent_http::HttpSettings| {
        s.rate.registration = Rate::per_minute(1);
    };
    // Untrusted: a forged header cannot buy a second registration.
    let server = TestServer::start_with(engine, one_a_minute).await;
    let first = register_from(&server, "203.0.113.1", "First Bot").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let forged = register_from(&server, "203.0.113.2", "Second Bot").await;
    assert_eq!(
        forged.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        forged.body
    );
    assert_eq!(forged.body["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);

    // Behind a trusted proxy each client has its own limit.
    let server = TestServer::start_with(engine, |s| {
        one_a_minute(s);
        behind_a_proxy(s);
    })
    .await;
    let first = register_from(&server, "203.0.113.1", "First Bot").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = register_from(&server, "203.0.113.1", "Second Bot").await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        again.body
    );
    let other = register_from(&server, "203.0.113.2", "Third Bot").await;
    assert_eq!(other.status, StatusCode::CREATED, "{:?}", other.body);
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 2);
}

fn cors_headers(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .keys()
        .map(ToString::to_string)
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.headers.get(name).map_or("", |v| v.to_str().unwrap())
}

async fn preflight(server: &TestServer, origin: &str) -> Reply {
    let request = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/auth/me"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization");
    server.send(request).await
}

async fn me_from(server: &TestServer, origin: &str, session: &str) -> Reply {
    let request = server
        .client
        .get(server.url("/v1/auth/me"))
        .header("origin", origin)
        .bearer_auth(session);
    server.send(request).await
}

async fn cors_is_answered_for_allowed_origins_only(engine: Engine) {
    let server = TestServer::start_with(engine, |s| {
        s.cors_origins = vec![APP.to_owned()];
    })
    .await;
    let session = server.signup("lin").await;

    let allowed = preflight(&server, APP).await;
    assert!(allowed.status.is_success(), "{:?}", allowed.status);
    assert_eq!(header(&allowed, "access-control-allow-origin"), APP);
    assert!(header(&allowed, "access-control-allow-methods").contains("GET"));
    assert!(
        header(&allowed, "access-control-allow-headers")
            .to_lowercase()
            .contains("authorization")
    );
    assert_eq!(header(&allowed, "access-control-allow-credentials"), "");

    let reply = me_from(&server, APP, &session).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(header(&reply, "access-control-allow-origin"), APP);
    assert!(
        header(&reply, "access-control-expose-headers")
            .to_lowercase()
            .contains("x-request-id")
    );
    assert_eq!(header(&reply, "access-control-allow-credentials"), "");

    // Another origin: its preflight is refused, and its request is served as without CORS,
    // with nothing that would let a browser read the answer (actix-cors names the exposed
    // headers on every answer; without `Access-Control-Allow-Origin` that grants nothing).
    let other = "https://evil.example";
    let refused = preflight(&server, other).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(cors_headers(&refused), Vec::<String>::new());
    let reply = me_from(&server, other, &session).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(cors_headers(&reply), ["access-control-expose-headers"]);
}

async fn without_cors_origins_no_cors_header_is_sent(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let reply = preflight(&server, APP).await;
    assert_eq!(cors_headers(&reply), Vec::<String>::new());
    let reply = me_from(&server, APP, &session).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(cors_headers(&reply), Vec::<String>::new());
}

/// Creates a service with `session`, forwarded for `client`; returns the audit entry it wrote.
async fn audited_service(
    server: &TestServer,
    session: &str,
    slug: &str,
    client: &str,
) -> serde_json::Value {
    let request = server
        .client
        .post(server.url("/v1/services"))
        .bearer_auth(session)
        .header("x-forwarded-for", client)
        .json(&json!({ "slug": slug, "name": slug }));
    let created = server.send(request).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let log = server
        .call(reqwest::Method::GET, "/v1/audit-log", session, None)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entry = log.body["entries"][0].clone();
    assert_eq!(entry["action"], "service.created", "{entry}");
    assert_eq!(entry["target_id"], created.body["id"]);
    entry
}

/// The audit log records the client address a change came from: the forwarded one behind a
/// trusted proxy, the connecting one otherwise (a forged header is ignored), and none for the
/// operator's command line.
async fn the_audit_log_records_the_client_address(engine: Engine) {
    let proxied = TestServer::start_with(engine, behind_a_proxy).await;
    let (session, _) = proxied.login("ada@example.com").await;
    let entry = audited_service(&proxied, &session, "behind", "6.6.6.6, 203.0.113.9").await;
    assert_eq!(entry["client_addr"], "203.0.113.9");
    proxied.stop().await;

    let direct = TestServer::start(engine).await;
    let (session, _) = direct.login("ada@example.com").await;
    let entry = audited_service(&direct, &session, "direct", "203.0.113.9").await;
    assert_eq!(
        entry["client_addr"], "127.0.0.1",
        "a forged header changes nothing"
    );
    // The harness made the account through the store, as the command line does: no address.
    let log = direct
        .call(reqwest::Method::GET, "/v1/audit-log", &session, None)
        .await;
    let created = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.created")
        .cloned()
        .expect("the account's creation is audited");
    assert_eq!(created["client_addr"], serde_json::Value::Null, "{created}");
    direct.stop().await;
}

on_both_engines!(
    the_audit_log_records_the_client_address,
    behind_a_trusted_proxy_one_client_cannot_lock_out_another,
    without_trusted_proxies_a_forwarded_for_changes_nothing,
    the_registration_limit_keys_on_the_client_address,
    cors_is_answered_for_allowed_origins_only,
    without_cors_origins_no_cors_header_is_sent,
);
