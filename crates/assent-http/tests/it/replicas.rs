//! Two replicas on one PostgreSQL hold the documented limits in total, not once each:
//! requests alternated between them (and sent to both at once) pass exactly as often as the
//! rate limit says, failed logins on either count against one window, and open streams on
//! either count against one limit per user. (A SQLite database serves one process; the limit
//! tests of `notifications`, `owners` and `streams` cover it, and these same limits on one
//! PostgreSQL replica.)

use crate::common;

use std::time::{Duration, Instant};

use assent_http::rate_limit::Rate;
use assent_store::testing::Engine;
use common::{PASSWORD, Replica, TestServer, seed_registration};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Registers an ATP service `name` of `ada`; returns its API key.
async fn api_key(server: &TestServer, name: &str) -> String {
    let mut body = seed_registration();
    body["name"] = json!(name);
    let reply = server.register(&body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["api_key"].as_str().unwrap().to_owned()
}

fn notification(n: usize) -> Value {
    json!({
        "context": { "title": format!("Deploy {n}?"), "description": "All checks passed." },
        "actions": [{ "id": "go", "label": "Go", "response_type": "simple" }],
    })
}

/// The base URLs of the two replicas, `i` alternating between them.
fn base<'a>(server: &'a TestServer, replica: &'a Replica, i: usize) -> &'a str {
    if i.is_multiple_of(2) {
        &server.base
    } else {
        &replica.base
    }
}

async fn submit(client: &reqwest::Client, base: &str, key: &str, n: usize) -> StatusCode {
    client
        .post(format!("{base}/api/v1/notifications"))
        .bearer_auth(key)
        .json(&notification(n))
        .send()
        .await
        .unwrap()
        .status()
}

/// 10 submissions an hour per service: of 30 alternated between the replicas exactly 10 pass,
/// and of 40 more sent to both at once (for a fresh service) exactly 10 again.
#[actix_web::test]
async fn the_rate_limit_holds_in_total_across_two_replicas() {
    let limit = |s: &mut assent_http::HttpSettings| {
        s.rate.submission = Rate {
            count: 10,
            period: Duration::from_secs(3600),
        };
    };
    let server = TestServer::start_with(Engine::Postgres, limit).await;
    let replica = server.replica(limit);
    let key = api_key(&server, "Ada Tool").await;
    let mut passed = 0;
    for i in 0..30 {
        let status = submit(&server.client, base(&server, &replica, i), &key, i).await;
        match status {
            StatusCode::CREATED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(passed == 10, "refused after only {passed} passed")
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(passed, 10);

    // At once, on both: still exactly 10 (for a second service, with its own bucket).
    let second = api_key(&server, "Ada Second").await;
    let statuses = futures_util::future::join_all(
        (0..40).map(|i| submit(&server.client, base(&server, &replica, i), &second, i)),
    )
    .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, refused), (10, 30), "{statuses:?}");
    replica.stop().await;
}

/// Five failed logins for one email, alternated between the replicas, lock it on both (even
/// with the right password); a successful login on either clears what it failed before.
#[actix_web::test]
async fn login_throttling_holds_in_total_across_two_replicas() {
    let server = TestServer::start(Engine::Postgres).await;
    let replica = server.replica(|_| {});
    server.signup("grace").await;
    let login = |base: &str, email: &str, password: &str| {
        server
            .client
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    // Grace fails four times, alternating, then logs in: her count starts again.
    for i in 0..4 {
        let base = base(&server, &replica, i);
        let status = login(base, "grace@example.com", "wrong")
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login(&replica.base, "grace@example.com", PASSWORD)
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    for i in 0..5 {
        let base = base(&server, &replica, i);
        let status = login(base, "ada@example.com", "wrong")
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    for base in [&server.base, &replica.base] {
        let refused = login(base, "ada@example.com", PASSWORD).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((890..=900).contains(&retry_after), "{retry_after}");
    }
    // Grace's four failures were cleared by her login: four more still let her in.
    for i in 0..4 {
        let base = base(&server, &replica, i);
        let status = login(base, "grace@example.com", "wrong")
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login(&server.base, "grace@example.com", PASSWORD)
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    replica.stop().await;
}

async fn open_events(client: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    client
        .get(format!("{base}/api/v1/client/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Two event streams per user: one open on each replica fills them, a third is refused on
/// either, and closing one frees a place on the other replica.
#[actix_web::test]
async fn the_stream_limit_holds_in_total_across_two_replicas() {
    let limit = |s: &mut assent_http::HttpSettings| {
        s.rate.sse_per_user = 2;
        s.stream_heartbeat = Duration::from_millis(200);
    };
    let server = TestServer::start_with(Engine::Postgres, limit).await;
    let replica = server.replica(limit);
    let (session, _) = server.login("ada@example.com").await;
    let token = server.user_token(&session, "streams").await;
    let client = &server.client;
    let on_first = open_events(client, &server.base, &token).await;
    assert_eq!(on_first.status(), StatusCode::OK);
    let on_second = open_events(client, &replica.base, &token).await;
    assert_eq!(on_second.status(), StatusCode::OK);
    for base in [&server.base, &replica.base] {
        let refused = open_events(client, base, &token).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // Other users have places of their own.
    let grace = server.signup("grace").await;
    let grace = server.user_token(&grace, "streams").await;
    assert_eq!(
        open_events(client, &replica.base, &grace).await.status(),
        StatusCode::OK
    );
    // The stream on the second replica closes: its place is free on the first (once the
    // second notices the client has gone).
    drop(on_second);
    let deadline = Instant::now() + Duration::from_secs(10);
    let reopened = loop {
        let response = open_events(client, &server.base, &token).await;
        if response.status() == StatusCode::OK {
            break response;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Leases are renewed while streams stay open: several heartbeats later, still full.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let refused = open_events(client, &replica.base, &token).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    drop((on_first, reopened));
    replica.stop().await;
}
