//! The findings of the black-box security test, each held by a test against a real server on
//! SQLite and PostgreSQL: streams opened with the session cookie only from this server's own
//! pages, no login or signup from another origin, a stream's place given back as soon as its
//! client goes away, `Cache-Control: no-store` on every response that carries a secret, and
//! no webhook or callback URL with port 0.

use crate::common;

use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use common::{PASSWORD, Reply, TestServer, seed_registration};
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVIL: &str = "https://evil.example";

/// The handshake headers of a WebSocket upgrade, for a plain HTTP client that only needs the
/// server's answer to it.
fn handshake(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
}

/// How a stream request is authenticated.
#[derive(Clone, Copy, Debug)]
enum Credential<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    Query(&'a str),
}

/// `GET path` as a WebSocket handshake (`upgrade`) or an event-stream request, with `origin`
/// (if any) and the credential. Returns the status and, for an error, its code.
async fn open(
    server: &TestServer,
    path: &str,
    upgrade: bool,
    credential: Credential<'_>,
    origin: Option<&str>,
) -> (StatusCode, Option<String>) {
    let url = match credential {
        Credential::Query(token) => server.url(&format!("{path}?token={token}")),
        _ => server.url(path),
    };
    let mut request = server.client.get(url).header("accept", "text/event-stream");
    if upgrade {
        request = handshake(request);
    }
    match credential {
        Credential::Cookie(token) => {
            request = request.header("cookie", format!("assent_session={token}"))
        }
        Credential::Bearer(token) => request = request.bearer_auth(token),
        Credential::Query(_) => {}
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let code = if status.is_client_error() {
        let body: Value = response.json().await.unwrap();
        body["code"].as_str().map(str::to_owned)
    } else {
        // A stream that opened: dropping the response closes it.
        None
    };
    (status, code)
}

/// A stream (WebSocket handshake, ATP event stream, dashboard event stream) authenticated by
/// the session cookie opens only from this server's own origin; with a bearer or query token
/// (client apps, which are no browsers) the origin does not matter.
async fn a_stream_opened_with_the_session_cookie_must_come_from_this_origin(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let user = server.user_token(&session, "app").await;
    let registered = server.register(&seed_registration()).await;
    let api_key = registered.body["api_key"].as_str().unwrap().to_owned();
    let waiting = server
        .notify(
            &api_key,
            &json!({
                "context": { "title": "Deploy?", "description": "Release 1.2 is ready." },
                "actions": [{ "id": "ok", "label": "OK", "response_type": "simple" }],
            }),
        )
        .await;
    let own = server.base.clone();
    let streams = [
        (
            "/api/v1/client/stream",
            true,
            StatusCode::SWITCHING_PROTOCOLS,
        ),
        ("/api/v1/client/events", false, StatusCode::OK),
        ("/dashboard/events", false, StatusCode::OK),
    ];
    for (path, upgrade, _) in streams {
        for origin in [Some(EVIL), Some("null"), Some("http://127.0.0.1:1"), None] {
            assert_eq!(
                open(&server, path, upgrade, Credential::Cookie(&session), origin).await,
                (StatusCode::FORBIDDEN, Some("CSRF_REJECTED".to_owned())),
                "{path} with the cookie from {origin:?}"
            );
        }
    }
    // Nothing was read: the notification was never pushed to anyone.
    let notification = format!("/api/v1/notifications/{waiting}");
    let status = server
        .call(Method::GET, &notification, &api_key, None)
        .await;
    assert_eq!(status.body["status"], "created");
    for (path, upgrade, opened) in streams {
        assert_eq!(
            open(
                &server,
                path,
                upgrade,
                Credential::Cookie(&session),
                Some(&own)
            )
            .await,
            (opened, None),
            "{path} with the cookie from this origin"
        );
        let credentials = if path == "/dashboard/events" {
            // The dashboard's stream takes the session, and no query token.
            vec![Credential::Bearer(&session)]
        } else {
            vec![Credential::Bearer(&user), Credential::Query(&user)]
        };
        for credential in credentials {
            for origin in [Some(EVIL), None] {
                assert_eq!(
                    open(&server, path, upgrade, credential, origin).await,
                    (opened, None),
                    "{path} with {credential:?} from {origin:?}"
                );
            }
        }
    }
    // A page of this server, which names itself only in `Referer`, still opens its stream.
    let response = server
        .client
        .get(server.url("/dashboard/events"))
        .header("cookie", format!("assent_session={session}"))
        .header("referer", format!("{own}/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// `POST path` with `body` as `content_type`, naming `origin` (if any). Returns the status, the
/// error code if any, and whether a session cookie was set.
async fn post_as(
    server: &TestServer,
    path: &str,
    body: &Value,
    content_type: &str,
    origin: Option<(&str, &str)>,
) -> (StatusCode, Option<String>, bool) {
    let mut request = server
        .client
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some((header, value)) = origin {
        request = request.header(header, value);
    }
    let reply = server.send(request).await;
    let cookie = reply
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("assent_session="));
    let code = reply.body["code"].as_str().map(str::to_owned);
    (reply.status, code, cookie)
}

/// A page of another origin cannot log a visitor in (or sign one up) as an account of its
/// choosing: its request names its origin, or is `text/plain`, and is refused without a
/// cookie. API clients, which name no origin, and this server's own pages still log in.
async fn login_and_signup_refuse_other_origins_and_non_json_bodies(engine: Engine) {
    let server = TestServer::start(engine).await;
    let own = server.base.clone();
    let login = json!({ "email": "ada@example.com", "password": PASSWORD });
    let json = "application/json";
    let refused = (
        StatusCode::FORBIDDEN,
        Some("CSRF_REJECTED".to_owned()),
        false,
    );
    let not_json = (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some("UNSUPPORTED_MEDIA_TYPE".to_owned()),
        false,
    );
    let foreign_page = format!("{EVIL}/login.html");
    for origin in [
        ("origin", EVIL),
        ("origin", "null"),
        ("referer", foreign_page.as_str()),
    ] {
        assert_eq!(
            post_as(&server, "/v1/auth/login", &login, json, Some(origin)).await,
            refused,
            "{origin:?}"
        );
    }
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for origin in [Some(("origin", EVIL)), Some(("origin", own.as_str())), None] {
            assert_eq!(
                post_as(&server, "/v1/auth/login", &login, content_type, origin).await,
                not_json,
                "{content_type} from {origin:?}"
            );
        }
    }
    let logged_in = (StatusCode::OK, None, true);
    for origin in [Some(("origin", own.as_str())), None] {
        assert_eq!(
            post_as(&server, "/v1/auth/login", &login, json, origin).await,
            logged_in
        );
    }

    let signup = json!({ "email": "lin@example.com", "namespace": "lin", "password": PASSWORD });
    assert_eq!(
        post_as(
            &server,
            "/v1/auth/signup",
            &signup,
            json,
            Some(("origin", EVIL))
        )
        .await,
        refused
    );
    assert_eq!(
        post_as(&server, "/v1/auth/signup", &signup, "text/plain", None).await,
        not_json
    );
    // Nothing was created: the same signup from this origin is the first.
    assert_eq!(
        post_as(
            &server,
            "/v1/auth/signup",
            &signup,
            json,
            Some(("origin", own.as_str()))
        )
        .await,
        (StatusCode::CREATED, None, true)
    );
}

/// Opens an event stream over a raw connection and reads until its first bytes arrive, then
/// closes the connection cleanly (FIN, nothing left unread): a browser tab being reloaded.
async fn open_and_close_gracefully(server: &TestServer, path: &str, token: &str) {
    let address = server.base.trim_start_matches("http://");
    // The place may still be held by the stream the previous step opened (and dropped): the
    // same few seconds that the test gives every release.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        connection.write_all(request.as_bytes()).await.unwrap();
        // Read up to the stream's first event, after which nothing comes until the heartbeat
        // (30 s): nothing is left unread when the connection closes, so it closes with a FIN,
        // not a reset.
        let mut received = Vec::new();
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&received).contains("retry: 3000") {
            let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut buffer))
                .await
                .unwrap_or(Ok(0))
                .unwrap();
            if read == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..read]);
        }
        let head = String::from_utf8_lossy(&received).into_owned();
        if head.starts_with("HTTP/1.1 429") && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert!(
            head.starts_with("HTTP/1.1 200") && head.contains("retry: 3000"),
            "{path}: {head}"
        );
        connection.shutdown().await.unwrap();
        return;
    }
}

/// Requests `path` until one is not refused for the per-user limit; fails after `deadline`.
async fn opens_again_within(server: &TestServer, path: &str, token: &str, deadline: Duration) {
    let until = Instant::now() + deadline;
    loop {
        let response = server
            .client
            .get(server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            return;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < until,
            "{path}: the gracefully closed stream's place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stream whose client closes the connection cleanly gives its place back at once, not when
/// the next heartbeat (30 s by default) fails to write. The old server needed about a minute;
/// 5 s tells the two apart without timing anything.
async fn a_gracefully_closed_stream_gives_its_place_back_at_once(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate.sse_per_user = 1).await;
    let (session, _) = server.login("ada@example.com").await;
    let user = server.user_token(&session, "app").await;
    for (path, token) in [
        ("/api/v1/client/events", &user),
        ("/dashboard/events", &session),
    ] {
        open_and_close_gracefully(&server, path, token).await;
        opens_again_within(&server, path, token, Duration::from_secs(5)).await;
    }
}

/// Every response that carries a secret shown once says `Cache-Control: no-store`.
async fn every_response_carrying_a_secret_is_not_stored(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut replies = Vec::new();
    let signup = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/signup"))
                .json(&json!({
                    "email": "lin@example.com", "namespace": "lin", "password": PASSWORD,
                })),
        )
        .await;
    let session = signup.body["session"]["token"].as_str().unwrap().to_owned();
    replies.push(("signup", signup));
    let login = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&json!({
                    "email": "lin@example.com", "password": PASSWORD,
                })),
        )
        .await;
    replies.push(("login", login));
    let token = server
        .call(
            Method::POST,
            "/v1/auth/tokens",
            &session,
            Some(json!({ "name": "app" })),
        )
        .await;
    replies.push(("user token", token));
    let service = server.create_service(&session, "gateway").await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{service}/keys"),
            &session,
            None,
        )
        .await;
    replies.push(("API key", key));
    let webhook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service}/webhooks"),
            &session,
            Some(json!({ "url": "https://hooks.example/x" })),
        )
        .await;
    let webhook_id = webhook.body["id"].as_str().unwrap().to_owned();
    replies.push(("webhook", webhook));
    let rotated = server
        .call(
            Method::POST,
            &format!("/v1/services/{service}/webhooks/{webhook_id}/rotate-secret"),
            &session,
            None,
        )
        .await;
    replies.push(("rotated webhook secret", rotated));
    replies.push((
        "ATP registration",
        server.register(&seed_registration()).await,
    ));
    let invite = server
        .send(
            server
                .client
                .post(server.url("/v1/invites"))
                .bearer_auth(&server.admin_token)
                .json(&json!({ "email": "grace@example.com" })),
        )
        .await;
    replies.push(("invite", invite));
    for (what, reply) in replies {
        assert!(reply.status.is_success(), "{what}: {:?}", reply.body);
        assert_eq!(
            reply
                .headers
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
    }
}

/// The reply is a 400 with `code`, saying why.
fn assert_refused(reply: &Reply, code: &str, why: &str) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some(code)),
        "{:?}",
        reply.body
    );
    let message = reply.body["error"]
        .as_str()
        .or(reply.body["message"].as_str());
    assert!(message.unwrap().contains(why), "{:?}", reply.body);
}

/// Port 0 names no service: no webhook or callback URL may use it.
async fn webhook_and_callback_urls_with_port_zero_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let service = server.create_service(&session, "gateway").await;
    let webhooks = format!("/v1/services/{service}/webhooks");
    let send = |method, path: String, url: &str| {
        let body = Some(json!({ "url": url }));
        let (server, session) = (&server, &session);
        async move { server.call(method, &path, session, body).await }
    };
    let reply = send(Method::POST, webhooks.clone(), "https://hooks.example:0/x").await;
    assert_refused(&reply, "INVALID_WEBHOOK_URL", "port 0");
    let created = send(Method::POST, webhooks.clone(), "https://hooks.example/x").await;
    let changed = format!("{webhooks}/{}", created.body["id"].as_str().unwrap());
    let reply = send(Method::PATCH, changed, "https://hooks.example:0/y").await;
    assert_refused(&reply, "INVALID_WEBHOOK_URL", "port 0");
    let listed = server.call(Method::GET, &webhooks, &session, None).await;
    assert_eq!(listed.body["webhooks"][0]["url"], "https://hooks.example/x");

    let mut registration = seed_registration();
    registration["callback_url"] = json!("https://lovelace.dev:0/atp/webhook");
    let reply = server.register(&registration).await;
    assert_refused(&reply, "INVALID_CALLBACK_URL", "port 0");
}

on_both_engines!(
    a_stream_opened_with_the_session_cookie_must_come_from_this_origin,
    login_and_signup_refuse_other_origins_and_non_json_bodies,
    a_gracefully_closed_stream_gives_its_place_back_at_once,
    every_response_carrying_a_secret_is_not_stored,
    webhook_and_callback_urls_with_port_zero_are_refused,
);
