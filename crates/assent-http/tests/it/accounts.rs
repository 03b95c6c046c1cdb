//! Account safety over HTTP: the signup policy and invites, reserved namespaces, email
//! normalisation, concurrent signups, changing and resetting a password, listing and ending
//! sessions, disabled accounts; through the API and the dashboard's forms.

use assent_auth::{MintedToken, TokenKind};
use assent_core::{SignupPolicy, Timestamp};
use assent_store::Actor;
use assent_store::testing::Engine;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Browser, PASSWORD, Reply, TestServer};

const NEW_PASSWORD: &str = "a brand new password";

async fn signup(server: &TestServer, body: Value) -> Reply {
    let request = server
        .client
        .post(server.url("/v1/auth/signup"))
        .json(&body);
    server.send(request).await
}

async fn login_with(server: &TestServer, email: &str, password: &str) -> Reply {
    let body = json!({ "email": email, "password": password });
    let request = server.client.post(server.url("/v1/auth/login")).json(&body);
    server.send(request).await
}

/// The status of `GET /v1/auth/me` with `token`.
async fn me(server: &TestServer, token: &str) -> StatusCode {
    server
        .call(Method::GET, "/v1/auth/me", token, None)
        .await
        .status
}

fn assert_code(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (status, Some(code)),
        "{:?}",
        reply.body
    );
}

/// Stores an invite for `email` that expires after `ttl_ms` (negative: already expired).
fn invite(server: &TestServer, email: &str, ttl_ms: i64) -> String {
    let minted = MintedToken::new(TokenKind::Invite);
    let expires = Timestamp::from_millis(Timestamp::now().as_millis() + ttl_ms);
    server
        .db
        .store
        .create_invite(&minted.hash, email, expires, &Actor::Cli)
        .unwrap();
    minted.plaintext.expose().to_owned()
}

/// Stores a password reset for the account with `email`; returns its token.
fn reset_token(server: &TestServer, email: &str) -> String {
    let account = server
        .db
        .store
        .find_account_by_email(email)
        .unwrap()
        .unwrap();
    let minted = MintedToken::new(TokenKind::PasswordReset);
    let expires = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);
    server
        .db
        .store
        .create_password_reset(&minted.hash, &account, expires, &Actor::Cli)
        .unwrap();
    minted.plaintext.expose().to_owned()
}

async fn signup_by_invite_only(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.signup = SignupPolicy::Invite).await;
    let body = |invite: Option<&str>| {
        json!({ "email": "grace@example.com", "namespace": "grace", "password": PASSWORD,
                "invite": invite })
    };
    let reply = signup(&server, body(None)).await;
    assert_code(&reply, StatusCode::FORBIDDEN, "SIGNUP_CLOSED");
    assert_eq!(
        reply.body["error"],
        "Signing up needs an invite; ask this server's operator for one."
    );

    // An invite for another email, an expired one, an unknown one: refused, nothing made.
    let for_someone_else = invite(&server, "other@example.com", 3_600_000);
    let expired = invite(&server, "grace@example.com", -1);
    for token in [for_someone_else.as_str(), expired.as_str(), "inv_unknown"] {
        let reply = signup(&server, body(Some(token))).await;
        assert_code(&reply, StatusCode::FORBIDDEN, "INVITE_INVALID");
    }
    assert!(
        server
            .db
            .store
            .find_login("grace@example.com")
            .unwrap()
            .is_none()
    );

    // A signup that fails for another reason leaves the invite usable.
    let good = invite(&server, "grace@example.com", 3_600_000);
    let taken = json!({ "email": "grace@example.com", "namespace": "ada", "password": PASSWORD,
                        "invite": good });
    assert_code(
        &signup(&server, taken).await,
        StatusCode::CONFLICT,
        "NAMESPACE_ALREADY_REGISTERED",
    );
    let reply = signup(&server, body(Some(&good))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    // Single use.
    let again = json!({ "email": "grace@example.com", "namespace": "grace2", "password": PASSWORD,
                        "invite": good });
    assert_code(
        &signup(&server, again).await,
        StatusCode::FORBIDDEN,
        "INVITE_INVALID",
    );

    // The page asks for an invite and fills in the link's.
    let mut browser = Browser::new(&server);
    let page = browser
        .get(&format!("/dashboard/signup?invite={good}"))
        .await;
    page.assert_shows(StatusCode::OK, "Signing up needs an invite");
    assert!(
        page.text.contains(&format!("value=\"{good}\"")),
        "{}",
        page.text
    );
    let page = browser
        .post(
            "/dashboard/signup",
            &[
                ("email", "hopper@example.com"),
                ("namespace", "hopper"),
                ("password", PASSWORD),
            ],
        )
        .await;
    page.assert_shows(StatusCode::FORBIDDEN, "Signing up needs an invite");
    server.stop().await;
}

async fn closed_signup_refuses_even_invites(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.signup = SignupPolicy::Closed).await;
    let token = invite(&server, "grace@example.com", 3_600_000);
    let reply = signup(
        &server,
        json!({ "email": "grace@example.com", "namespace": "grace", "password": PASSWORD,
                "invite": token }),
    )
    .await;
    assert_code(&reply, StatusCode::FORBIDDEN, "SIGNUP_CLOSED");
    assert!(
        server
            .db
            .store
            .find_login("grace@example.com")
            .unwrap()
            .is_none()
    );
    let mut browser = Browser::new(&server);
    let page = browser.get("/dashboard/signup").await;
    page.assert_shows(StatusCode::OK, "Signing up is closed on this server");
    assert!(
        !page
            .text
            .contains("<form method=\"post\" action=\"/dashboard/signup\"")
    );
    server.stop().await;
}

async fn reserved_namespaces_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    for namespace in ["claims", "services", "dashboard", "sessions"] {
        let reply = signup(
            &server,
            json!({ "email": format!("{namespace}@example.com"), "namespace": namespace,
                    "password": PASSWORD }),
        )
        .await;
        assert_code(&reply, StatusCode::BAD_REQUEST, "NAMESPACE_RESERVED");
        assert_eq!(reply.body["details"]["field"], "namespace");
        assert!(!server.db.store.namespace_exists(namespace).unwrap());
    }
    server.stop().await;
}

async fn lookalike_emails_are_one_account_or_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    // Full-width letters normalise to the harness's ada@example.com.
    let reply = signup(
        &server,
        json!({ "email": "ＡＤＡ@example.com", "namespace": "ada2", "password": PASSWORD }),
    )
    .await;
    assert_code(&reply, StatusCode::CONFLICT, "EMAIL_ALREADY_REGISTERED");
    assert_eq!(
        login_with(&server, "ＡＤＡ@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    for (email, message) in [
        (
            "a\u{200B}da@example.com",
            "The field `email` must not contain invisible or control characters.",
        ),
        (
            "ada@exam\u{202E}ple.com",
            "The field `email` must not contain invisible or control characters.",
        ),
        (
            "\u{430}da@example.com",
            "The field `email` must not mix scripts in its local part or its domain.",
        ),
    ] {
        let reply = signup(
            &server,
            json!({ "email": email, "namespace": "ada3", "password": PASSWORD }),
        )
        .await;
        assert_code(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            (
                reply.body["error"].as_str(),
                reply.body["details"]["field"].as_str()
            ),
            (Some(message), Some("email"))
        );
        assert!(!server.db.store.namespace_exists("ada3").unwrap());
    }
    server.stop().await;
}

/// Many signups at once (300), colliding on the namespace, on the email, or on both: each answer is
/// a 201 or the conflict that names what is taken (the email first when both are).
async fn concurrent_signups_get_the_right_conflict(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut bodies = Vec::new();
    for i in 0..100 {
        bodies.push((
            json!({ "email": format!("ns{i}@example.com"), "namespace": "race-ns", "password": PASSWORD }),
            "NAMESPACE_ALREADY_REGISTERED",
        ));
        bodies.push((
            json!({ "email": "race@example.com", "namespace": format!("em{i}"), "password": PASSWORD }),
            "EMAIL_ALREADY_REGISTERED",
        ));
        bodies.push((
            json!({ "email": "both@example.com", "namespace": "both-ns", "password": PASSWORD }),
            "EMAIL_ALREADY_REGISTERED",
        ));
    }
    // 300 signups, 16 in flight at a time: enough to race on every group, few enough that the
    // one-worker test server, starved by the argon2 hashes, reads each request before its 5 s
    // request timeout. The store's own test races harder, without argon2.
    let replies: Vec<Reply> =
        futures_util::stream::iter(bodies.iter().map(|(body, _)| signup(&server, body.clone())))
            .buffered(16)
            .collect()
            .await;
    let mut created = [0; 3];
    for (i, ((_, conflict), reply)) in bodies.iter().zip(&replies).enumerate() {
        if reply.status == StatusCode::CREATED {
            created[i % 3] += 1;
        } else {
            assert_code(reply, StatusCode::CONFLICT, conflict);
        }
    }
    assert_eq!(created, [1, 1, 1]);
    server.stop().await;
}

async fn changing_the_password_ends_the_other_sessions(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (mine, _) = server.login("ada@example.com").await;
    let (other, _) = server.login("ada@example.com").await;
    let token = server.user_token(&mine, "phone").await;
    let change = |current: &str, new: &str| {
        server.call(
            Method::POST,
            "/v1/auth/password",
            &mine,
            Some(json!({ "current_password": current, "new_password": new })),
        )
    };
    assert_code(
        &change("wrong password", NEW_PASSWORD).await,
        StatusCode::FORBIDDEN,
        "CURRENT_PASSWORD_INCORRECT",
    );
    let reply = change(PASSWORD, "short").await;
    assert_code(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(reply.body["details"]["field"], "new_password");
    assert_eq!(
        me(&server, &other).await,
        StatusCode::OK,
        "refusals change nothing"
    );

    assert_eq!(
        change(PASSWORD, NEW_PASSWORD).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&server, &mine).await, StatusCode::OK);
    assert_eq!(me(&server, &other).await, StatusCode::UNAUTHORIZED);
    let client_api = server
        .call(Method::GET, "/api/v1/client/notifications", &token, None)
        .await;
    assert_eq!(client_api.status, StatusCode::OK, "user tokens stay");
    assert_eq!(
        login_with(&server, "ada@example.com", PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_with(&server, "ada@example.com", NEW_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    let actions: Vec<String> = server
        .db
        .store
        .list_audit_log("ada", 10, None)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert!(
        actions.contains(&"account.password_changed".to_owned()),
        "{actions:?}"
    );
    server.stop().await;
}

async fn sessions_are_listed_and_ended_by_their_owner_only(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (mine, _) = server.login("ada@example.com").await;
    let request = server
        .client
        .post(server.url("/v1/auth/login"))
        .header("user-agent", "Phone Browser 1.0")
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }));
    let phone = server.send(request).await.body["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = server.signup("bob").await;

    let list = server
        .call(Method::GET, "/v1/auth/sessions", &mine, None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let sessions = list.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "Phone Browser 1.0")
        .unwrap();
    assert_eq!(phone_session["current"], false);
    assert_eq!(phone_session["address"], "127.0.0.1");
    assert!(phone_session["last_seen_at"].is_string());
    assert!(phone_session.get("token").is_none());
    let phone_id = phone_session["id"].as_str().unwrap().to_owned();

    // Another owner's session id is not found, and nothing changes.
    let bobs = server
        .call(Method::GET, "/v1/auth/sessions", &bob, None)
        .await;
    let bob_id = bobs.body["sessions"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/auth/sessions/{bob_id}");
    assert_code(
        &server.call(Method::DELETE, &path, &mine, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(me(&server, &bob).await, StatusCode::OK);

    let path = format!("/v1/auth/sessions/{phone_id}");
    assert_eq!(
        server.call(Method::DELETE, &path, &mine, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&server, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &mine).await, StatusCode::OK);

    let (second, _) = server.login("ada@example.com").await;
    let (third, _) = server.login("ada@example.com").await;
    let ended = server
        .call(Method::DELETE, "/v1/auth/sessions", &mine, None)
        .await;
    assert_eq!(
        (ended.status, ended.body["ended"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    assert_eq!(me(&server, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &third).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &mine).await, StatusCode::OK);
    assert_eq!(me(&server, &bob).await, StatusCode::OK);
    server.stop().await;
}

async fn disabled_accounts_are_locked_out_at_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, id) = server.login("ada@example.com").await;
    let token = server.user_token(&session, "phone").await;
    let reply = server
        .call(Method::GET, "/api/v1/client/notifications", &token, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    server
        .db
        .store
        .set_account_disabled(&id, true, &Actor::Cli)
        .unwrap();
    assert_eq!(me(&server, &session).await, StatusCode::UNAUTHORIZED);
    let reply = server
        .call(Method::GET, "/api/v1/client/notifications", &token, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
    assert_code(
        &login_with(&server, "ada@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );

    server
        .db
        .store
        .set_account_disabled(&id, false, &Actor::Cli)
        .unwrap();
    assert_eq!(
        me(&server, &session).await,
        StatusCode::UNAUTHORIZED,
        "ended sessions stay ended"
    );
    assert_eq!(
        login_with(&server, "ada@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    server.stop().await;
}

async fn the_dashboard_changes_the_password_and_ends_sessions(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (other, _) = server.login("ada@example.com").await;
    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let page = browser.get("/dashboard/account").await;
    page.assert_shows(StatusCode::OK, "This session");
    assert!(
        page.text.contains("End every other session"),
        "{}",
        page.text
    );
    let csrf = page.csrf();

    let page = browser
        .post(
            "/dashboard/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "wrong password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    page.assert_shows(StatusCode::FORBIDDEN, "The current password is wrong.");
    assert_eq!(me(&server, &other).await, StatusCode::OK);

    let page = browser
        .post(
            "/dashboard/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    page.assert_shows(StatusCode::OK, "every other session has ended");
    assert_eq!(me(&server, &other).await, StatusCode::UNAUTHORIZED);
    assert!(
        !page.text.contains("End every other session"),
        "only this session is left"
    );

    // Ending a session from the list; another owner's id is the 404 page.
    let reply = login_with(&server, "ada@example.com", NEW_PASSWORD).await;
    let another = reply.body["session"]["token"].as_str().unwrap().to_owned();
    let sessions = server
        .call(Method::GET, "/v1/auth/sessions", &another, None)
        .await;
    let another_id = sessions.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = server.signup("bob").await;
    let bob_id = server
        .call(Method::GET, "/v1/auth/sessions", &bob, None)
        .await
        .body["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser
        .submit(&format!("/dashboard/account/sessions/{bob_id}/end"), &csrf)
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(me(&server, &bob).await, StatusCode::OK);
    let page = browser
        .submit(
            &format!("/dashboard/account/sessions/{another_id}/end"),
            &csrf,
        )
        .await;
    page.assert_redirect("/dashboard/account");
    assert_eq!(me(&server, &another).await, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

async fn a_reset_link_sets_a_password_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let token = reset_token(&server, "ada@example.com");
    let mut browser = Browser::new(&server);
    let path = format!("/dashboard/reset-password?token={token}");
    browser
        .get(&path)
        .await
        .assert_shows(StatusCode::OK, "For ada@example.com");

    // A bad password keeps the link usable.
    let page = browser
        .post(
            "/dashboard/reset-password",
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    page.assert_shows(StatusCode::BAD_REQUEST, "8 to 256 characters");
    assert_eq!(me(&server, &session).await, StatusCode::OK);

    // Two uses at once: exactly one sets the password.
    let mut other = Browser::new(&server);
    let form = [("token", token.as_str()), ("new_password", NEW_PASSWORD)];
    let (a, b) = tokio::join!(
        browser.post("/dashboard/reset-password", &form),
        other.post("/dashboard/reset-password", &form),
    );
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&StatusCode::SEE_OTHER), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::BAD_REQUEST), "{statuses:?}");
    assert_eq!(
        me(&server, &session).await,
        StatusCode::UNAUTHORIZED,
        "a reset ends every session"
    );
    assert_eq!(
        login_with(&server, "ada@example.com", NEW_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    let page = browser.get(&path).await;
    page.assert_shows(StatusCode::BAD_REQUEST, "unknown, used or expired");
    assert!(!page.text.contains("new_password"));
    server.stop().await;
}

/// An operator with an admin token invites over the API; the invite signs up that email once.
async fn admins_invite_over_the_api(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.signup = SignupPolicy::Invite).await;
    async fn create(server: &TestServer, token: &str, body: Value) -> Reply {
        server
            .call(Method::POST, "/v1/invites", token, Some(body))
            .await
    }
    let owner = server.login("ada@example.com").await.0;
    let reply = create(&server, &owner, json!({ "email": "grace@example.com" })).await;
    assert_code(
        &reply,
        StatusCode::FORBIDDEN,
        "AUTH_INSUFFICIENT_PERMISSIONS",
    );
    let reply = create(
        &server,
        &server.admin_token,
        json!({ "email": "gr\u{200B}ace@example.com" }),
    )
    .await;
    assert_code(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let reply = create(
        &server,
        &server.admin_token,
        json!({ "email": " Grace@Example.com " }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["email"], "grace@example.com");
    let invite = reply.body["invite"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.body["signup_path"],
        format!("/dashboard/signup?invite={invite}")
    );
    let body = json!({ "email": "grace@example.com", "namespace": "grace", "password": PASSWORD,
                       "invite": invite });
    assert_eq!(
        signup(&server, body.clone()).await.status,
        StatusCode::CREATED
    );
    assert_code(
        &signup(&server, body).await,
        StatusCode::FORBIDDEN,
        "INVITE_INVALID",
    );
    server.stop().await;
}

on_both_engines!(
    admins_invite_over_the_api,
    signup_by_invite_only,
    closed_signup_refuses_even_invites,
    reserved_namespaces_are_refused,
    lookalike_emails_are_one_account_or_refused,
    concurrent_signups_get_the_right_conflict,
    changing_the_password_ends_the_other_sessions,
    sessions_are_listed_and_ended_by_their_owner_only,
    disabled_accounts_are_locked_out_at_once,
    the_dashboard_changes_the_password_and_ends_sessions,
    a_reset_link_sets_a_password_once,
);
