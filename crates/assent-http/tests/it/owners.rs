//! Namespace owners over HTTP, on SQLite and PostgreSQL: accounts and sessions, user tokens,
//! and the Sigilum-style management of services, API keys and webhooks.

use crate::common;

use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use common::{PASSWORD, Reply, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn sigilum_error(reply: &Reply, code: &str, message: &str) -> Value {
    json!({ "error": message, "code": code, "request_id": reply.request_id() })
}

fn with_field(mut expected: Value, field: &str) -> Value {
    expected["details"] = json!({ "field": field });
    expected
}

/// The seed's "Complete workflow for setting up a service": create a service, generate a key,
/// configure a webhook, use the key.
async fn the_seed_workflow_sets_up_a_service(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("acme").await;

    // 1. Create the service.
    let body = json!({ "slug": "api-gateway", "name": "API Gateway", "description": "Routes agent calls" });
    let reply = server
        .call(Method::POST, "/v1/services", &session, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let service = reply.body.clone();
    let id = service["id"].as_str().unwrap().to_owned();
    assert_eq!(service["slug"], "api-gateway");
    assert_eq!(service["name"], "API Gateway");
    assert_eq!(service["description"], "Routes agent calls");
    assert_eq!(service["created_at"], service["updated_at"]);
    let listed = server
        .call(Method::GET, "/v1/services", &session, None)
        .await;
    assert_eq!(listed.body, json!({ "services": [service] }));

    // 2. Generate an API key.
    let reply = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            Some(json!({ "name": "production" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let key = reply.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk_live_") && key.len() == 56);
    assert_eq!(reply.body["prefix"], &key[..12]);
    assert_eq!(reply.body["name"], "production");
    assert!(reply.body["id"].as_str().unwrap().starts_with("key_"));
    let key_id = reply.body["id"].clone();

    // 3. Configure a webhook.
    let webhook = json!({ "url": "https://api.acme.example/assent/events", "events": ["request.approved", "request.revoked"] });
    let reply = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/webhooks"),
            &session,
            Some(webhook),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        reply.body["events"],
        json!(["request.approved", "request.revoked"])
    );
    assert_eq!(reply.body["url"], "https://api.acme.example/assent/events");
    let webhook_id = reply.body["id"].as_str().unwrap().to_owned();
    let stored = server.db.store.list_webhook_endpoints(&id).unwrap();
    assert_eq!(
        server
            .secret_key
            .open(&stored[0].secret_sealed, &webhook_id)
            .unwrap()
            .expose(),
        secret
    );

    // 4. Use the key.
    let reply = server
        .call(Method::GET, "/api/v1/services/me", &key, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "service_id": "api-gateway", "id": id, "namespace": "acme", "name": "API Gateway" })
    );
    let keys = server
        .call(
            Method::GET,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    assert_eq!(keys.body["keys"][0]["id"], key_id);
    assert!(
        keys.body["keys"][0]["last_used_at"].is_string(),
        "the use was recorded"
    );
}

async fn signup_login_me_and_logout(engine: Engine) {
    let server = TestServer::start(engine).await;
    let body = json!({ "email": "Lin@Example.com", "namespace": "lin", "password": PASSWORD });
    let reply = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/signup"))
                .json(&body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let user = &reply.body["user"];
    assert_eq!(
        (user["email"].as_str(), user["namespace"].as_str()),
        (Some("lin@example.com"), Some("lin"))
    );
    assert_eq!(user["did"], "did:sigilum:lin");
    let cookie = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    let token = reply.body["session"]["token"].as_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("assent_session={token};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no public https URL configured: {cookie}"
    );

    // The cookie alone authenticates reads.
    let me = server
        .send(
            server
                .client
                .get(server.url("/v1/auth/me"))
                .header("cookie", format!("assent_session={token}")),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"], reply.body["user"]);

    // Logging in again opens a second session; logging out ends only that one.
    let login = json!({ "email": "LIN@example.com", "password": PASSWORD });
    let reply = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&login),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let second = reply.body["session"]["token"].as_str().unwrap().to_owned();
    assert_ne!(second, token);
    let reply = server
        .call(Method::POST, "/v1/auth/logout", &second, None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let removal = reply.headers["set-cookie"].to_str().unwrap();
    assert!(
        removal.starts_with("assent_session=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    let reply = server.call(Method::GET, "/v1/auth/me", &second, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        sigilum_error(
            &reply,
            "UNAUTHORIZED",
            "The session is invalid or has expired; log in again."
        )
    );
    assert_eq!(
        server
            .call(Method::GET, "/v1/auth/me", &token, None)
            .await
            .status,
        StatusCode::OK
    );

    let reply = server
        .send(server.client.get(server.url("/v1/auth/me")))
        .await;
    assert_eq!(
        reply.body,
        sigilum_error(&reply, "UNAUTHORIZED", "Log in first.")
    );
}

async fn signup_is_validated_and_unique(engine: Engine) {
    let server = TestServer::start(engine).await;
    let signup = |body: Value| {
        let request = server
            .client
            .post(server.url("/v1/auth/signup"))
            .json(&body);
        server.send(request)
    };
    let cases = [
        (
            json!({ "namespace": "x1x", "password": PASSWORD }),
            "email",
            "The field `email` is required.",
        ),
        (
            json!({ "email": "nope", "namespace": "x1x", "password": PASSWORD }),
            "email",
            "The field `email` must be an email address.",
        ),
        (
            json!({ "email": "a@b.co", "namespace": "X", "password": PASSWORD }),
            "namespace",
            "The field `namespace` must be 3 to 64 characters long.",
        ),
        (
            json!({ "email": "a@b.co", "namespace": "x1x", "password": "short" }),
            "password",
            "The field `password` must be 8 to 256 characters long.",
        ),
        (
            json!({ "email": "a@b.co", "namespace": "x1x" }),
            "password",
            "The field `password` is required.",
        ),
    ];
    for (body, field, message) in cases {
        let reply = signup(body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(
            reply.body,
            with_field(sigilum_error(&reply, "VALIDATION_ERROR", message), field)
        );
    }
    // The harness made ada@example.com with namespace ada.
    let reply =
        signup(json!({ "email": "ADA@example.com", "namespace": "other", "password": PASSWORD }))
            .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        sigilum_error(
            &reply,
            "EMAIL_ALREADY_REGISTERED",
            "An account with this email exists; log in instead."
        )
    );
    let reply =
        signup(json!({ "email": "new@example.com", "namespace": "ada", "password": PASSWORD }))
            .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        sigilum_error(
            &reply,
            "NAMESPACE_ALREADY_REGISTERED",
            "This namespace is taken."
        )
    );
    assert!(
        server
            .db
            .store
            .find_login("new@example.com")
            .unwrap()
            .is_none()
    );
}

async fn an_unknown_email_and_a_wrong_password_look_the_same(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate_limits = false).await;
    let attempt = |email: &'static str| {
        let body = json!({ "email": email, "password": "not the password" });
        let request = server.client.post(server.url("/v1/auth/login")).json(&body);
        server.send(request)
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let reply = attempt("ada@example.com").await;
        known.push(started.elapsed());
        let expected = sigilum_error(
            &reply,
            "INVALID_CREDENTIALS",
            "The email or the password is wrong.",
        );
        assert_eq!(
            (reply.status, &reply.body),
            (StatusCode::UNAUTHORIZED, &expected)
        );
        let started = Instant::now();
        let reply = attempt("nobody@example.com").await;
        unknown.push(started.elapsed());
        let expected = sigilum_error(
            &reply,
            "INVALID_CREDENTIALS",
            "The email or the password is wrong.",
        );
        assert_eq!(
            (reply.status, &reply.body),
            (StatusCode::UNAUTHORIZED, &expected)
        );
    }
    known.sort();
    unknown.sort();
    // Both run one argon2 verification (about 20 ms); skipping it would make an unknown email
    // answer many times faster.
    assert!(
        unknown[2] * 2 > known[2],
        "unknown {unknown:?} vs known {known:?}"
    );
}

async fn sessions_expire(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.session_ttl = Duration::from_secs(1)).await;
    let session = server.signup("lin").await;
    assert_eq!(
        server
            .call(Method::GET, "/v1/auth/me", &session, None)
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = server
        .call(Method::GET, "/v1/auth/me", &session, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn cookie_writes_must_come_from_our_origin(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let cookie = format!("assent_session={session}");
    let post = |origin: Option<&str>, referer: Option<&str>, slug: &str| {
        let mut request = server
            .client
            .post(server.url("/v1/services"))
            .header("cookie", &cookie)
            .json(&json!({ "slug": slug, "name": slug }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        server.send(request)
    };
    for (origin, referer) in [
        (Some("https://evil.example"), None),
        (None, None),
        (Some("null"), None),
        (None, Some("https://evil.example/page")),
    ] {
        let reply = post(origin, referer, "refused").await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{origin:?} {referer:?}"
        );
        assert_eq!(
            reply.body,
            sigilum_error(
                &reply,
                "CSRF_REJECTED",
                "A cookie-authenticated request must come from this server's own pages."
            )
        );
    }
    assert_eq!(server.db.store.list_services("lin").unwrap(), vec![]);
    assert_eq!(
        post(Some(&server.base), None, "by-origin").await.status,
        StatusCode::CREATED
    );
    let referer = format!("{}/dashboard", server.base);
    assert_eq!(
        post(None, Some(&referer), "by-referer").await.status,
        StatusCode::CREATED
    );
    // Reads need no origin; bearer requests are exempt.
    let read = server
        .send(
            server
                .client
                .get(server.url("/v1/services"))
                .header("cookie", &cookie)
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let bearer = server
        .send(
            server
                .client
                .post(server.url("/v1/services"))
                .bearer_auth(&session)
                .header("origin", "https://evil.example")
                .json(&json!({ "slug": "by-bearer", "name": "B" })),
        )
        .await;
    assert_eq!(bearer.status, StatusCode::CREATED);
}

async fn a_public_https_url_sets_the_origin_and_secure_cookies(engine: Engine) {
    let public = "https://assent.example.com";
    let server =
        TestServer::start_with(engine, |s| s.public_url = Some(public.parse().unwrap())).await;
    let body = json!({ "email": "lin@example.com", "namespace": "lin", "password": PASSWORD });
    let reply = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/signup"))
                .json(&body),
        )
        .await;
    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    let session = reply.body["session"]["token"].as_str().unwrap();
    let post = |origin: &str| {
        server.send(
            server
                .client
                .post(server.url("/v1/services"))
                .header("cookie", format!("assent_session={session}"))
                .header("origin", origin)
                .json(&json!({ "slug": "s", "name": "S" })),
        )
    };
    assert_eq!(
        post(&server.base).await.status,
        StatusCode::FORBIDDEN,
        "the address it was reached at is not the public origin"
    );
    assert_eq!(post(public).await.status, StatusCode::CREATED);
}

async fn failed_logins_are_throttled(engine: Engine) {
    let server = TestServer::start(engine).await;
    let login = |email: &str, password: &str| {
        let request = server
            .client
            .post(server.url("/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }));
        server.send(request)
    };
    for _ in 0..5 {
        assert_eq!(
            login("ada@example.com", "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let reply = login("ada@example.com", PASSWORD).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert_eq!(reply.body["code"], "RATE_LIMIT_EXCEEDED");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    server.signup("lin").await;
    assert_eq!(
        login("lin@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "another email is not locked"
    );

    let server = TestServer::start_with(engine, |s| s.rate_limits = false).await;
    for _ in 0..8 {
        let reply = server
            .send(
                server
                    .client
                    .post(server.url("/v1/auth/login"))
                    .json(&json!({ "email": "ada@example.com", "password": "wrong" })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

async fn user_tokens_are_shown_once_and_revocable(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let reply = server
        .call(
            Method::POST,
            "/v1/auth/tokens",
            &session,
            Some(json!({ "name": "phone" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ut_") && token.len() == 51);
    assert_eq!(reply.body["prefix"], &token[..12]);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    assert!(
        server
            .db
            .store
            .find_user_token(&assent_auth::TokenHash::of(&token))
            .unwrap()
            .is_some()
    );

    let listed = server
        .call(Method::GET, "/v1/auth/tokens", &session, None)
        .await;
    assert_eq!(listed.body["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["tokens"][0]["name"], "phone");
    assert!(!listed.body.to_string().contains(&token));

    let reply = server
        .call(Method::POST, "/v1/auth/tokens", &session, Some(json!({})))
        .await;
    assert_eq!(reply.body["name"], "default");
    let reply = server
        .call(
            Method::POST,
            "/v1/auth/tokens",
            &session,
            Some(json!({ "name": "n".repeat(101) })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let path = format!("/v1/auth/tokens/{id}");
    assert_eq!(
        server
            .call(Method::DELETE, &path, &session, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        server
            .db
            .store
            .find_user_token(&assent_auth::TokenHash::of(&token))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        server
            .call(Method::DELETE, &path, &session, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn key_revocation_takes_effect_on_the_next_request(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let id = server.create_service(&session, "s").await;
    let created = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "a body is optional");
    let broken = server
        .send(
            server
                .client
                .post(server.url(&format!("/v1/services/{id}/keys")))
                .bearer_auth(&session)
                .body("{oops"),
        )
        .await;
    assert_eq!(
        (broken.status, broken.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_JSON"))
    );
    assert_eq!(created.body["name"], "default");
    let key = created.body["key"].as_str().unwrap();
    let key_id = created.body["id"].as_str().unwrap();
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/services/me", key, None)
            .await
            .status,
        StatusCode::OK
    );

    let path = format!("/v1/services/{id}/keys/{key_id}");
    assert_eq!(
        server
            .call(Method::DELETE, &path, &session, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let reply = server
        .call(Method::GET, "/api/v1/services/me", key, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        reply.atp_error("AUTH_INVALID_TOKEN", "The API key is invalid or revoked.")
    );
    let reply = server.call(Method::DELETE, &path, &session, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let keys = server
        .call(
            Method::GET,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    assert_eq!(keys.body, json!({ "keys": [] }));
    // Other credentials on the service endpoint.
    let reply = server
        .call(
            Method::GET,
            "/api/v1/services/me",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A session is a valid credential of another kind: 403, like the admin token.
    let reply = server
        .call(Method::GET, "/api/v1/services/me", &session, None)
        .await;
    assert_eq!(
        reply.body,
        reply.atp_error(
            "AUTH_INSUFFICIENT_PERMISSIONS",
            "This credential is not a service API key."
        )
    );
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

async fn secrets_appear_only_in_the_response_that_creates_them(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let id = server.create_service(&session, "s").await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    let webhook = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/webhooks"),
            &session,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    let token = server
        .call(Method::POST, "/v1/auth/tokens", &session, None)
        .await;
    let secrets = [
        key.body["key"].as_str().unwrap().to_owned(),
        webhook.body["secret"].as_str().unwrap().to_owned(),
        token.body["token"].as_str().unwrap().to_owned(),
        session.clone(),
    ];
    for path in [
        "/v1/services".to_owned(),
        format!("/v1/services/{id}"),
        format!("/v1/services/{id}/keys"),
        format!("/v1/services/{id}/webhooks"),
        "/v1/auth/tokens".to_owned(),
        "/v1/auth/me".to_owned(),
        "/v1/audit-log".to_owned(),
    ] {
        let reply = server.call(Method::GET, &path, &session, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let text = reply.body.to_string();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{path} shows a secret");
        }
    }
}

async fn services_are_validated(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let create = |body: Value| server.call(Method::POST, "/v1/services", &session, Some(body));
    let cases = [
        (
            json!({ "name": "X" }),
            "slug",
            "The field `slug` is required.",
        ),
        (
            json!({ "slug": "Bad_Slug", "name": "X" }),
            "slug",
            "The field `slug` may contain only lowercase letters, digits and hyphens.",
        ),
        (
            json!({ "slug": "-x", "name": "X" }),
            "slug",
            "The field `slug` must start and end with a letter or digit.",
        ),
        (
            json!({ "slug": "s".repeat(65), "name": "X" }),
            "slug",
            "The field `slug` must be 1 to 64 characters long.",
        ),
        (
            json!({ "slug": "ok" }),
            "name",
            "The field `name` is required.",
        ),
        (
            json!({ "slug": "ok", "name": "n".repeat(101) }),
            "name",
            "The field `name` must be at most 100 characters.",
        ),
        (
            json!({ "slug": "ok", "name": "X", "description": "d".repeat(501) }),
            "description",
            "The field `description` must be at most 500 characters.",
        ),
    ];
    for (body, field, message) in cases {
        let reply = create(body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(
            reply.body,
            with_field(sigilum_error(&reply, "VALIDATION_ERROR", message), field)
        );
    }
    let reply = create(json!({ "slug": 5, "name": "X" })).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMETER"))
    );
    assert_eq!(server.db.store.list_services("lin").unwrap(), vec![]);

    let first =
        create(json!({ "slug": "billing", "name": "Billing", "description": "Invoices" })).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let reply = create(json!({ "slug": "billing", "name": "Other" })).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        sigilum_error(
            &reply,
            "SERVICE_ALREADY_EXISTS",
            "A service with this slug already exists in your namespace."
        )
    );

    let path = format!("/v1/services/{}", first.body["id"].as_str().unwrap());
    let patch = |body: Value| server.call(Method::PATCH, &path, &session, Some(body));
    let reply = patch(json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "VALIDATION_ERROR");
    assert_eq!(
        patch(json!({ "name": null })).await.status,
        StatusCode::BAD_REQUEST,
        "a name cannot be cleared"
    );
    assert_eq!(
        patch(json!({ "name": "  " })).await.status,
        StatusCode::BAD_REQUEST
    );
    let reply = patch(json!({ "name": "Invoicing" })).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        (
            reply.body["name"].as_str(),
            reply.body["description"].as_str()
        ),
        (Some("Invoicing"), Some("Invoices"))
    );
    assert_eq!(reply.body["slug"], "billing", "the slug never changes");
    let reply = patch(json!({ "description": null })).await;
    assert_eq!(reply.body["description"], Value::Null);
    let fetched = server.call(Method::GET, &path, &session, None).await;
    assert_eq!(fetched.body, reply.body);

    // A service registered over ATP is an ordinary service here.
    let atp_session = server
        .send(
            server
                .client
                .post(server.url("/v1/auth/login"))
                .json(&json!({ "email": "ada@example.com", "password": PASSWORD })),
        )
        .await;
    let ada = atp_session.body["session"]["token"].as_str().unwrap();
    assert_eq!(
        server.register(&common::seed_registration()).await.status,
        StatusCode::CREATED
    );
    let listed = server.call(Method::GET, "/v1/services", ada, None).await;
    assert_eq!(listed.body["services"][0]["slug"], "lovelace-ide");
    let atp_id = listed.body["services"][0]["id"].as_str().unwrap();
    let hooks = server
        .call(
            Method::GET,
            &format!("/v1/services/{atp_id}/webhooks"),
            ada,
            None,
        )
        .await;
    assert_eq!(hooks.body["webhooks"][0]["format"], "atp");
    assert_eq!(
        hooks.body["webhooks"][0]["events"],
        json!(["notification.responded"])
    );
}

async fn webhooks_are_validated(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service = server
        .call(
            Method::POST,
            "/v1/services",
            &session,
            Some(json!({ "slug": "s", "name": "S" })),
        )
        .await;
    let path = format!(
        "/v1/services/{}/webhooks",
        service.body["id"].as_str().unwrap()
    );
    let create = |body: Value| server.call(Method::POST, &path, &session, Some(body));
    let reply = create(json!({})).await;
    assert_eq!(
        reply.body,
        with_field(
            sigilum_error(&reply, "VALIDATION_ERROR", "The field `url` is required."),
            "url"
        )
    );
    for (url, why) in [
        (
            "http://h.example/x",
            "must use https (a development server started with --allow-private-webhooks also accepts http)",
        ),
        (
            "https://10.1.2.3/x",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
        (
            "https://localhost/x",
            "must not point at a loopback, private, link-local or otherwise non-public address",
        ),
    ] {
        let reply = create(json!({ "url": url })).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(
            reply.body,
            with_field(
                sigilum_error(&reply, "INVALID_WEBHOOK_URL", &format!("The url {why}.")),
                "url"
            )
        );
    }
    for events in [
        json!(["request.approved", "request.bogus"]),
        json!([]),
        json!(["notification.responded"]),
    ] {
        let reply = create(json!({ "url": "https://h.example/x", "events": events })).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{events}");
        assert_eq!(reply.body["code"], "INVALID_EVENT_TYPE");
        assert_eq!(reply.body["details"]["field"], "events");
    }
    assert_eq!(
        server.call(Method::GET, &path, &session, None).await.body,
        json!({ "webhooks": [] })
    );

    let reply = create(json!({ "url": "https://h.example/x" })).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        reply.body["events"],
        json!([
            "request.submitted",
            "request.approved",
            "request.rejected",
            "request.revoked",
            "request.expired"
        ])
    );
    let listed = server.call(Method::GET, &path, &session, None).await;
    let hook = &listed.body["webhooks"][0];
    assert_eq!(
        (hook["format"].as_str(), hook["enabled"].as_bool()),
        (Some("sigilum"), Some(true))
    );
    let delete = format!("{path}/{}", reply.body["id"].as_str().unwrap());
    assert_eq!(
        server
            .call(Method::DELETE, &delete, &session, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .call(Method::DELETE, &delete, &session, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn quotas_have_their_own_codes(engine: Engine) {
    let (server, session, id) = crate::quotas::one_service_under_quotas(engine, 1).await;
    let reply = server
        .call(
            Method::POST,
            "/v1/services",
            &session,
            Some(json!({ "slug": "b", "name": "B" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        sigilum_error(
            &reply,
            "SERVICE_LIMIT_REACHED",
            "The limit of services is reached; delete or revoke one first."
        )
    );
    let keys = format!("/v1/services/{id}/keys");
    assert_eq!(
        server
            .call(Method::POST, &keys, &session, None)
            .await
            .status,
        StatusCode::CREATED
    );
    let reply = server.call(Method::POST, &keys, &session, None).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("KEY_LIMIT_REACHED"))
    );
    let hooks = format!("/v1/services/{id}/webhooks");
    let hook = json!({ "url": "https://h.example/x" });
    assert_eq!(
        server
            .call(Method::POST, &hooks, &session, Some(hook.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let reply = server
        .call(Method::POST, &hooks, &session, Some(hook))
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("WEBHOOK_LIMIT_REACHED"))
    );
    // ATP registration counts against the same quota.
    let reply = server
        .register(&json!({
            "name": "Other", "description": "d", "callback_url": "https://h.example/cb",
            "webhook_secret": "a-long-enough-secret", "namespace": "lin",
        }))
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("SERVICE_LIMIT_REACHED"))
    );
}

async fn the_audit_log_records_every_owner_action(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let id = server.create_service(&session, "s").await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    server
        .call(
            Method::DELETE,
            &format!(
                "/v1/services/{id}/keys/{}",
                key.body["id"].as_str().unwrap()
            ),
            &session,
            None,
        )
        .await;
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/webhooks"),
            &session,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    server
        .call(
            Method::DELETE,
            &format!(
                "/v1/services/{id}/webhooks/{}",
                hook.body["id"].as_str().unwrap()
            ),
            &session,
            None,
        )
        .await;
    let token = server
        .call(Method::POST, "/v1/auth/tokens", &session, None)
        .await;
    server
        .call(
            Method::DELETE,
            &format!("/v1/auth/tokens/{}", token.body["id"].as_str().unwrap()),
            &session,
            None,
        )
        .await;
    server
        .call(
            Method::PATCH,
            &format!("/v1/services/{id}"),
            &session,
            Some(json!({ "name": "T" })),
        )
        .await;
    server
        .call(
            Method::DELETE,
            &format!("/v1/services/{id}"),
            &session,
            None,
        )
        .await;

    let mut actions = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit-log?limit=4&cursor={c}"),
            None => "/v1/audit-log?limit=4".to_owned(),
        };
        let page = server.call(Method::GET, &path, &session, None).await;
        assert_eq!(page.status, StatusCode::OK);
        for entry in page.body["entries"].as_array().unwrap() {
            assert!(entry["actor"].as_str().unwrap().starts_with("account:"));
            actions.push(entry["action"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    actions.reverse();
    assert_eq!(
        actions,
        [
            "account.created",
            "service.created",
            "api_key.created",
            "api_key.revoked",
            "webhook.created",
            "webhook.deleted",
            "user_token.created",
            "user_token.revoked",
            "service.updated",
            "service.deleted",
        ]
    );
    for bad in ["limit=0", "limit=201", "limit=x", "cursor=abc"] {
        let reply = server
            .call(Method::GET, &format!("/v1/audit-log?{bad}"), &session, None)
            .await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")),
            "{bad}"
        );
    }
    let ada = server.db.store.list_audit_log("ada", 10, None).unwrap();
    assert!(
        ada.iter().all(|e| e.action == "account.created"),
        "other namespaces see nothing of lin's"
    );
}

/// Every `/v1/services…` and `/v1/auth/tokens…` route, with another owner's ids, is a 404
/// that changes nothing.
async fn another_owners_ids_are_404_on_every_route(engine: Engine) {
    let server = TestServer::start(engine).await;
    let owner = server.signup("lin").await;
    let stranger = server.signup("kay").await;
    let id = server.create_service(&owner, "s").await;
    let service = server
        .call(Method::GET, &format!("/v1/services/{id}"), &owner, None)
        .await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &owner,
            None,
        )
        .await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/webhooks"),
            &owner,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    let hook_id = hook.body["id"].as_str().unwrap().to_owned();
    let token = server
        .call(Method::POST, "/v1/auth/tokens", &owner, None)
        .await;
    let token_id = token.body["id"].as_str().unwrap().to_owned();

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/services/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/services/{id}"),
            Some(json!({ "name": "Taken over" })),
        ),
        (Method::DELETE, format!("/v1/services/{id}"), None),
        (Method::GET, format!("/v1/services/{id}/keys"), None),
        (Method::POST, format!("/v1/services/{id}/keys"), None),
        (
            Method::DELETE,
            format!("/v1/services/{id}/keys/{key_id}"),
            None,
        ),
        (Method::GET, format!("/v1/services/{id}/webhooks"), None),
        (
            Method::POST,
            format!("/v1/services/{id}/webhooks"),
            Some(json!({ "url": "https://evil.example/x" })),
        ),
        (
            Method::DELETE,
            format!("/v1/services/{id}/webhooks/{hook_id}"),
            None,
        ),
        (Method::DELETE, format!("/v1/auth/tokens/{token_id}"), None),
    ];
    for (method, path, body) in routes {
        let reply = server.call(method.clone(), &path, &stranger, body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            reply.body,
            sigilum_error(&reply, "NOT_FOUND", "No such resource."),
            "{method} {path}"
        );
    }
    let listed = server
        .call(Method::GET, "/v1/services", &stranger, None)
        .await;
    assert_eq!(listed.body, json!({ "services": [] }));
    // Nothing changed for the owner.
    let mine = server
        .call(Method::GET, &format!("/v1/services/{id}"), &owner, None)
        .await;
    assert_eq!(mine.body, service.body);
    let keys = server
        .call(
            Method::GET,
            &format!("/v1/services/{id}/keys"),
            &owner,
            None,
        )
        .await;
    assert_eq!(keys.body["keys"].as_array().unwrap().len(), 1);
    let hooks = server
        .call(
            Method::GET,
            &format!("/v1/services/{id}/webhooks"),
            &owner,
            None,
        )
        .await;
    assert_eq!(hooks.body["webhooks"].as_array().unwrap().len(), 1);
    let tokens = server
        .call(Method::GET, "/v1/auth/tokens", &owner, None)
        .await;
    assert_eq!(tokens.body["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .call(
                Method::GET,
                "/api/v1/services/me",
                key.body["key"].as_str().unwrap(),
                None
            )
            .await
            .status,
        StatusCode::OK
    );
}

async fn deleting_a_service_ends_its_keys(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let id = server.create_service(&session, "s").await;
    let key = server
        .call(
            Method::POST,
            &format!("/v1/services/{id}/keys"),
            &session,
            None,
        )
        .await;
    let key = key.body["key"].as_str().unwrap();
    assert_eq!(
        server
            .call(
                Method::DELETE,
                &format!("/v1/services/{id}"),
                &session,
                None
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .call(Method::GET, &format!("/v1/services/{id}"), &session, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/services/me", key, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .call(
                Method::GET,
                &format!("/v1/services/{id}/keys"),
                &session,
                None
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

on_both_engines!(
    the_seed_workflow_sets_up_a_service,
    signup_login_me_and_logout,
    signup_is_validated_and_unique,
    an_unknown_email_and_a_wrong_password_look_the_same,
    sessions_expire,
    cookie_writes_must_come_from_our_origin,
    a_public_https_url_sets_the_origin_and_secure_cookies,
    failed_logins_are_throttled,
    user_tokens_are_shown_once_and_revocable,
    key_revocation_takes_effect_on_the_next_request,
    secrets_appear_only_in_the_response_that_creates_them,
    services_are_validated,
    webhooks_are_validated,
    quotas_have_their_own_codes,
    the_audit_log_records_every_owner_action,
    another_owners_ids_are_404_on_every_route,
    deleting_a_service_ends_its_keys,
);
