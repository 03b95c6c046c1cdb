//! The owner's dashboard over HTTP, on SQLite and PostgreSQL: signing up and logging in with
//! forms, the inbox of pending claims and notifications (escaped), deciding claims, answering
//! every response type from its form, the history, CSRF tokens, the security headers, and
//! other owners' ids.

use crate::common;

use std::time::Duration;

use assent_core::claim::ClaimStatus;
use assent_http::rate_limit::Rate;
use assent_store::testing::Engine;
use common::{
    Browser, PASSWORD, Page, TestServer, XSS_ATTRIBUTE, XSS_SCRIPT, assert_security_headers,
    pending_claim, seed_registration, signup,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Registers the example service (Lovelace IDE) in `ada` and returns its API key.
async fn lovelace(server: &TestServer) -> String {
    let reply = server.register(&seed_registration()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["api_key"].as_str().unwrap().to_owned()
}

fn claim_status(server: &TestServer, id: &str) -> ClaimStatus {
    server
        .db
        .store
        .get_claim("ada", id)
        .unwrap()
        .expect("the claim exists")
        .status
}

/// The notification as its service reads it.
async fn notification(server: &TestServer, api_key: &str, id: &str) -> Value {
    let request = server
        .client
        .get(server.url(&format!("/api/v1/notifications/{id}")))
        .bearer_auth(api_key);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

fn simple_notification(title: &str) -> Value {
    json!({
        "context": { "title": title, "description": "Please decide." },
        "actions": [
            { "id": "ok", "label": "Do it", "response_type": "simple" },
            { "id": "no", "label": "Leave it", "response_type": "simple" },
        ],
    })
}

async fn signup_and_login_set_the_cookie_and_redirect(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut browser = Browser::new(&server);

    let form = browser.get("/dashboard/signup").await;
    form.assert_shows(StatusCode::OK, "name=\"namespace\"");
    assert!(form.header("content-type").starts_with("text/html"));

    let signed_up = browser
        .post(
            "/dashboard/signup",
            &[
                ("email", "lin@example.com"),
                ("namespace", "lin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    signed_up.assert_redirect("/dashboard");
    let cookie = signed_up.session_cookie().expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let inbox = browser.get("/dashboard").await;
    inbox.assert_shows(StatusCode::OK, "Nothing is waiting for you");
    assert!(inbox.text.contains(">lin<"), "the namespace is shown");
    // The same session works on the API.
    let token = browser.cookie.clone().unwrap();
    let me = server
        .call(
            reqwest::Method::GET,
            "/v1/auth/me",
            token.trim_start_matches("assent_session="),
            None,
        )
        .await;
    assert_eq!(me.body["user"]["namespace"], "lin");
    // Logged in, the forms lead to the inbox.
    browser
        .get("/dashboard/login")
        .await
        .assert_redirect("/dashboard");

    // Log out: the session ends on the server and the cookie is cleared.
    let csrf = inbox.csrf();
    let old_cookie = browser.cookie.clone();
    let out = browser.submit("/dashboard/logout", &csrf).await;
    out.assert_redirect("/dashboard/login");
    assert!(
        out.session_cookie()
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    assert_eq!(browser.cookie, None);
    browser.cookie = old_cookie;
    browser
        .get("/dashboard")
        .await
        .assert_redirect("/dashboard/login");
    browser.cookie = None;

    // A wrong password: the form again, with a readable error and no cookie.
    let wrong = browser
        .post(
            "/dashboard/login",
            &[
                ("email", "lin@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    wrong.assert_shows(
        StatusCode::UNAUTHORIZED,
        "The email or the password is wrong.",
    );
    assert!(wrong.text.contains("value=\"lin@example.com\""));
    assert!(wrong.session_cookie().is_none());
    assert_eq!(browser.cookie, None);

    // The right one logs in again.
    let logged_in = browser
        .post(
            "/dashboard/login",
            &[("email", "LIN@example.com"), ("password", PASSWORD)],
        )
        .await;
    logged_in.assert_redirect("/dashboard");
    assert!(logged_in.session_cookie().is_some());
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);

    // Signup problems are shown on the form.
    let mut other = Browser::new(&server);
    let taken = other
        .post(
            "/dashboard/signup",
            &[
                ("email", "lin2@example.com"),
                ("namespace", "lin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    taken.assert_shows(StatusCode::CONFLICT, "This namespace is taken.");
    assert!(taken.session_cookie().is_none());
    let short = other
        .post(
            "/dashboard/signup",
            &[
                ("email", "kim@example.com"),
                ("namespace", "kim"),
                ("password", "short"),
            ],
        )
        .await;
    short.assert_shows(StatusCode::BAD_REQUEST, "password");
    assert!(
        short
            .text
            .contains("password` must be 8 to 256 characters long"),
        "{}",
        short.text
    );
    assert!(
        !short.text.contains("value=\"short\""),
        "passwords are never echoed"
    );

    // Without a session, the forms must come from this server's own pages.
    let request = other
        .client
        .post(server.url("/dashboard/login"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=lin%40example.com&password={}",
            PASSWORD.replace(' ', "+")
        ));
    let foreign = other.send(request).await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);
    assert!(foreign.session_cookie().is_none());
    let request = other
        .client
        .post(server.url("/dashboard/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=x%40example.com&namespace=xyz&password=long+enough+password");
    let no_origin = other.send(request).await;
    assert_eq!(
        no_origin.status,
        StatusCode::FORBIDDEN,
        "{}",
        no_origin.text
    );
    // An opaque origin (a sandboxed frame, a `data:` page) is no origin of this server's.
    for (path, body) in [
        (
            "/dashboard/login",
            format!(
                "email=lin%40example.com&password={}",
                PASSWORD.replace(' ', "+")
            ),
        ),
        (
            "/dashboard/signup",
            "email=y%40example.com&namespace=opaque&password=long+enough+password".to_owned(),
        ),
    ] {
        let request = other
            .client
            .post(server.url(path))
            .header("origin", "null")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let null = other.send(request).await;
        assert_eq!(null.status, StatusCode::FORBIDDEN, "{path}: {}", null.text);
        assert!(null.session_cookie().is_none(), "{path}");
    }
    for email in ["x@example.com", "y@example.com"] {
        assert!(
            server.db.store.find_login(email).unwrap().is_none(),
            "{email}"
        );
    }
    server.stop().await;
}

async fn failed_logins_are_throttled_on_the_form_too(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut browser = Browser::new(&server);
    for _ in 0..assent_http::throttle::MAX_FAILURES {
        let page = browser
            .post(
                "/dashboard/login",
                &[("email", "ada@example.com"), ("password", "wrong password")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits.
    let page = browser
        .post(
            "/dashboard/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    page.assert_shows(StatusCode::TOO_MANY_REQUESTS, "Too many failed logins");
    assert!(
        page.header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| s > 0)
    );
    assert!(page.session_cookie().is_none());
    server.stop().await;
}

async fn not_logged_in_redirects_to_the_login_page(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut browser = Browser::new(&server);
    for path in ["/dashboard", "/dashboard/history"] {
        browser.get(path).await.assert_redirect("/dashboard/login");
    }
    for path in [
        "/dashboard/claims/cl_0/approve",
        "/dashboard/notifications/x/respond",
        "/dashboard/logout",
    ] {
        browser
            .post(path, &[("csrf", "x")])
            .await
            .assert_redirect("/dashboard/login");
    }
    // A stale or unknown cookie is no session.
    browser.cookie = Some("assent_session=ses_unknown".to_owned());
    browser
        .get("/dashboard")
        .await
        .assert_redirect("/dashboard/login");
    // The live fragment says so instead of redirecting.
    let fragment = browser.get("/dashboard/inbox/items").await;
    assert_eq!(fragment.status, StatusCode::UNAUTHORIZED);
    let login = browser.get("/dashboard/login").await;
    login.assert_shows(StatusCode::OK, "action=\"/dashboard/login\"");
    server.stop().await;
}

async fn every_dashboard_response_carries_the_security_headers(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let claim_id = pending_claim(&server, "ada", "Support bot");
    let note = server
        .notify(&api_key, &simple_notification("Deploy?"))
        .await;
    let mut browser = Browser::new(&server);

    let mut pages = vec![
        ("login form", browser.get("/dashboard/login").await),
        ("signup form", browser.get("/dashboard/signup").await),
        ("redirect to login", browser.get("/dashboard").await),
        ("stylesheet", browser.get("/dashboard/static/app.css").await),
        ("script", browser.get("/dashboard/static/app.js").await),
        (
            "wrong password",
            browser
                .post(
                    "/dashboard/login",
                    &[("email", "ada@example.com"), ("password", "nope nope")],
                )
                .await,
        ),
    ];
    let login = browser
        .post(
            "/dashboard/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    let csrf = browser.csrf().await;
    pages.push(("login", login));
    pages.push(("inbox", browser.get("/dashboard").await));
    pages.push(("fragment", browser.get("/dashboard/inbox/items").await));
    pages.push(("history", browser.get("/dashboard/history").await));
    pages.push((
        "csrf refusal",
        browser
            .post(&format!("/dashboard/claims/{claim_id}/approve"), &[])
            .await,
    ));
    pages.push((
        "not found",
        browser
            .submit("/dashboard/claims/cl_nope/approve", &csrf)
            .await,
    ));
    pages.push((
        "answered",
        browser
            .post(
                &format!("/dashboard/notifications/{note}/respond"),
                &[("csrf", &csrf), ("action_id", "ok")],
            )
            .await,
    ));
    pages.push((
        "answered again",
        browser
            .post(
                &format!("/dashboard/notifications/{note}/respond"),
                &[("csrf", &csrf), ("action_id", "ok")],
            )
            .await,
    ));
    for (what, page) in &pages {
        assert_security_headers(page, what);
    }

    let css = &pages[3].1;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.text.contains("@media (max-width: 640px)"));
    assert!(css.text.contains(":focus-visible"));
    let js = &pages[4].1;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.text.contains("new EventSource(\"/dashboard/events\")"));
    assert!(js.text.contains("\"changed\""));

    // No dead links: every dashboard link of the inbox leads to a page.
    let inbox = &pages[7].1;
    let mut links: Vec<&str> = inbox
        .text
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with('/'))
        .collect();
    links.sort_unstable();
    links.dedup();
    assert!(links.contains(&"/dashboard/history"), "{links:?}");
    for link in links {
        let page = browser.get(link).await;
        assert_eq!(page.status, StatusCode::OK, "{link}");
    }

    // No inline script or style anywhere: the policy forbids them.
    for (what, page) in &pages {
        if page.header("content-type").starts_with("text/html") {
            assert!(!page.text.contains("<script>"), "{what}");
            assert!(!page.text.contains("<style"), "{what}");
            assert!(!page.text.contains("style=\""), "{what}");
            assert!(!page.text.contains(" onclick"), "{what}");
        }
    }
    server.stop().await;
}

async fn the_inbox_shows_pending_requests_escaped(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let claim_id = pending_claim(&server, "ada", &format!("Bot {XSS_SCRIPT} {XSS_ATTRIBUTE}"));
    let body = json!({
        "context": {
            "title": format!("Title {XSS_SCRIPT}{XSS_ATTRIBUTE}"),
            "description": format!("Description {XSS_SCRIPT}\n{XSS_ATTRIBUTE}"),
            "project": format!("proj{XSS_ATTRIBUTE}"),
            "metadata": {
                "branch": format!("main{XSS_SCRIPT}"),
                format!("key{XSS_ATTRIBUTE}"): { "nested": XSS_SCRIPT },
            },
            "attachments": [
                { "type": "text/html", "description": format!("Report{XSS_ATTRIBUTE}"),
                  "uri": "https://ci.example/build/42?a=1&b=\"2\"" },
                { "type": "image/png", "description": "Screenshot", "data": "iVBORw0KGgoSECRETDATA" },
            ],
        },
        "deadline": "2099-01-01T00:00:00Z",
        "actions": [
            { "id": "deploy", "label": format!("Deploy {XSS_SCRIPT}"), "response_type": "simple" },
            { "id": "pick", "label": "Pick", "response_type": "choice",
              "options": [{ "value": "a\"b", "label": format!("Option {XSS_ATTRIBUTE}") }] },
        ],
    });
    // Newer than the claim (timestamps are in milliseconds).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let note = server.notify(&api_key, &body).await;
    assert_eq!(
        notification(&server, &api_key, &note).await["status"],
        "created"
    );

    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let inbox = browser.get("/dashboard").await;
    assert_eq!(inbox.status, StatusCode::OK);
    // The owner has seen it: delivered, as when a client app lists it.
    assert_eq!(
        notification(&server, &api_key, &note).await["status"],
        "delivered"
    );
    let html = &inbox.text;
    for raw in [
        "<script>alert(1)</script>",
        "<img src=x",
        "\"><img",
        "onerror=alert(1)>",
        "a\"b",
    ] {
        assert!(!html.contains(raw), "{raw} appears unescaped:\n{html}");
    }
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(
        html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"),
        "{html}"
    );
    assert!(
        !html.contains("iVBORw0KGgo"),
        "data attachments are not shown"
    );

    // Who asks, for which service, until when, with what context.
    assert!(html.contains("Lovelace IDE"));
    assert!(html.contains("customer-42") && html.contains("203.0.113.7"));
    assert!(html.contains("bot-7"));
    assert!(
        html.contains("datetime=\"2099-01-01T00:00:00.000Z\""),
        "{html}"
    );
    assert!(html.contains("Screenshot") && html.contains("image/png"));
    assert!(
        html.contains(
            "<a href=\"https://ci.example/build/42?a=1&#38;b=&#34;2&#34;\" \
             rel=\"noopener noreferrer\""
        ),
        "{html}"
    );
    assert!(html.contains(&format!("/dashboard/claims/{claim_id}/approve")));
    assert!(html.contains(&format!("/dashboard/notifications/{note}/respond")));
    // Newest first: the notification came after the claim.
    let note_at = html.find(&format!("note-{note}")).unwrap();
    let claim_at = html.find(&format!("claim-{claim_id}")).unwrap();
    assert!(note_at < claim_at, "newest first");

    // The live fragment is the same list, alone.
    let fragment = browser.get("/dashboard/inbox/items").await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.header("content-type").starts_with("text/html"));
    assert!(!fragment.text.contains("<html"));
    assert!(!fragment.text.contains("<script"));
    assert!(fragment.text.contains(&format!("note-{note}")));
    assert!(fragment.text.contains(&format!("claim-{claim_id}")));
    assert!(
        fragment
            .text
            .contains(&format!("value=\"{}\"", inbox.csrf()))
    );
    let start = html.find("<div id=\"inbox-items\"").unwrap();
    assert!(html[start..].contains(fragment.text.trim()), "same block");
    server.stop().await;
}

async fn claims_are_decided_from_their_forms_and_listed_in_history(engine: Engine) {
    let server = TestServer::start(engine).await;
    lovelace(&server).await;
    let approved = pending_claim(&server, "ada", "Support bot");
    let rejected = pending_claim(&server, "ada", "Scraper");
    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let csrf = browser.csrf().await;

    browser
        .submit(&format!("/dashboard/claims/{approved}/approve"), &csrf)
        .await
        .assert_redirect("/dashboard");
    assert_eq!(claim_status(&server, &approved), ClaimStatus::Approved);
    // Apart in time, so that "most recent first" is certain.
    tokio::time::sleep(Duration::from_millis(5)).await;
    browser
        .submit(&format!("/dashboard/claims/{rejected}/reject"), &csrf)
        .await
        .assert_redirect("/dashboard");
    assert_eq!(claim_status(&server, &rejected), ClaimStatus::Rejected);

    let inbox = browser.get("/dashboard").await;
    assert!(
        inbox.text.contains("Nothing is waiting for you"),
        "{}",
        inbox.text
    );

    // Deciding again: the inbox, with what happened.
    let again = browser
        .submit(&format!("/dashboard/claims/{approved}/reject"), &csrf)
        .await;
    again.assert_shows(StatusCode::CONFLICT, "This request is already approved");
    assert!(again.text.contains("<h1>Inbox</h1>"));

    let history = browser.get("/dashboard/history").await;
    assert_eq!(history.status, StatusCode::OK);
    let html = &history.text;
    assert!(
        html.contains(&format!("claim-{approved}")) && html.contains(&format!("claim-{rejected}"))
    );
    assert!(html.contains("status-approved") && html.contains("status-rejected"));
    assert!(html.contains(&format!("/dashboard/claims/{approved}/revoke")));
    assert!(!html.contains(&format!("/dashboard/claims/{rejected}/revoke")));
    // Most recent first: the rejection came last.
    assert!(html.find(&format!("claim-{rejected}")) < html.find(&format!("claim-{approved}")));

    browser
        .submit(&format!("/dashboard/claims/{approved}/revoke"), &csrf)
        .await
        .assert_redirect("/dashboard/history");
    assert_eq!(claim_status(&server, &approved), ClaimStatus::Revoked);
    let history = browser.get("/dashboard/history").await;
    assert!(history.text.contains("status-revoked"));
    assert!(!history.text.contains("/revoke\""));
    let twice = browser
        .submit(&format!("/dashboard/claims/{approved}/revoke"), &csrf)
        .await;
    twice.assert_shows(StatusCode::CONFLICT, "<h1>History</h1>");
    assert!(twice.text.contains("already revoked"), "{}", twice.text);

    // The audit log tells each decision in a sentence, linking the claim and its service.
    let audit = browser.get("/dashboard/audit").await;
    for (verb, id) in [
        ("approved", &approved),
        ("rejected", &rejected),
        ("revoked", &approved),
    ] {
        let sentence = format!(
            "You {verb} the claim <a href=\"/dashboard/history#claim-{id}\">{id}</a> of service \
             <a href=\"/dashboard/services/"
        );
        assert!(
            audit.text.contains(&sentence),
            "{sentence} in {}",
            audit.text
        );
    }

    let unknown = browser
        .submit(&format!("/dashboard/claims/{approved}/bless"), &csrf)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// One notification per response type, answered from the form the inbox shows for it.
async fn every_response_type_is_answered_from_its_form(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let one = |action: Value| {
        json!({
            "context": { "title": format!("Ask {}", action["response_type"]), "description": "?" },
            "actions": [action],
        })
    };
    let simple = server
        .notify(&api_key, &simple_notification("Simple question"))
        .await;
    let merge = json!({
        "id": "merge", "label": "Merge the PR?", "response_type": "binary",
        "options": { "true_label": "Merge it", "false_label": "Keep it open" },
    });
    let binary = server.notify(&api_key, &one(merge)).await;
    let env = json!({
        "id": "env", "label": "Where to?", "response_type": "choice",
        "options": [{ "value": "staging", "label": "Staging" }, { "value": "prod", "label": "Production" }],
    });
    let choice = server.notify(&api_key, &one(env)).await;
    let checks = json!({
        "id": "checks", "label": "Which checks?", "response_type": "multi_choice",
        "options": [{ "value": "lint", "label": "Lint" }, { "value": "test", "label": "Tests" },
                    { "value": "bench", "label": "Benchmarks" }],
        "constraints": { "min_selections": 1, "max_selections": 2 },
    });
    let multi = server.notify(&api_key, &one(checks)).await;
    let why = json!({
        "id": "why", "label": "Why?", "response_type": "text",
        "constraints": { "placeholder": "A short reason", "min_length": 3, "max_length": 20 },
    });
    let text = server.notify(&api_key, &one(why)).await;
    let replicas = json!({
        "id": "replicas", "label": "How many replicas?", "response_type": "number",
        "constraints": { "min": 1, "max": 10, "integer": true },
    });
    let number = server.notify(&api_key, &one(replicas)).await;

    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let inbox = browser.get("/dashboard").await;
    let html = &inbox.text;
    let csrf = inbox.csrf();
    // Each form fits its response type.
    assert!(html.contains(">Do it</button>") && html.contains(">Leave it</button>"));
    assert!(
        html.contains("name=\"value\" value=\"true\" class=\"primary\">Merge it</button>"),
        "{html}"
    );
    assert!(html.contains("name=\"value\" value=\"false\">Keep it open</button>"));
    assert!(html.contains("type=\"radio\" name=\"value\" value=\"prod\""));
    assert!(html.contains("type=\"checkbox\" name=\"value\" value=\"bench\""));
    assert!(html.contains("From 1 to 2 options."), "{html}");
    assert!(
        html.contains("placeholder=\"A short reason\" minlength=\"3\" required maxlength=\"20\""),
        "{html}"
    );
    assert!(
        html.contains("type=\"number\" name=\"value\" step=\"1\" required min=\"1\" max=\"10\""),
        "{html}"
    );
    assert!(html.contains("<legend>Which checks?</legend>"));

    // Refusals first: the inbox again with a readable message, and nothing recorded.
    let too_many = answer(
        &mut browser,
        &csrf,
        &multi,
        &[
            ("action_id", "checks"),
            ("value", "lint"),
            ("value", "test"),
            ("value", "bench"),
        ],
    )
    .await;
    too_many.assert_shows(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Choose at most 2 options.",
    );
    assert!(too_many.text.contains("<h1>Inbox</h1>"));
    let too_short = answer(
        &mut browser,
        &csrf,
        &text,
        &[("action_id", "why"), ("value", "no")],
    )
    .await;
    too_short.assert_shows(StatusCode::UNPROCESSABLE_ENTITY, "at least 3 characters");
    let not_whole = answer(
        &mut browser,
        &csrf,
        &number,
        &[("action_id", "replicas"), ("value", "2.5")],
    )
    .await;
    not_whole.assert_shows(
        StatusCode::UNPROCESSABLE_ENTITY,
        "The number must be whole.",
    );
    let not_a_number = answer(
        &mut browser,
        &csrf,
        &number,
        &[("action_id", "replicas"), ("value", "many")],
    )
    .await;
    not_a_number.assert_shows(StatusCode::BAD_REQUEST, "Enter a number.");
    let no_choice = answer(&mut browser, &csrf, &choice, &[("action_id", "env")]).await;
    no_choice.assert_shows(StatusCode::BAD_REQUEST, "Choose one of the options.");
    let not_an_option = answer(
        &mut browser,
        &csrf,
        &choice,
        &[("action_id", "env"), ("value", "moon")],
    )
    .await;
    assert_eq!(not_an_option.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_action = answer(&mut browser, &csrf, &simple, &[("action_id", "nope")]).await;
    no_action.assert_shows(StatusCode::BAD_REQUEST, "The notification has no action");
    for id in [&simple, &choice, &multi, &text, &number] {
        let n = notification(&server, &api_key, id).await;
        assert_ne!(n["status"], "responded", "{n}");
    }

    // The notification, the form's fields, and the `response_data` they make.
    type Answer<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);
    let answers: [Answer; 6] = [
        (&simple, vec![("action_id", "no")], Value::Null),
        (
            &binary,
            vec![("action_id", "merge"), ("value", "false")],
            json!(false),
        ),
        (
            &choice,
            vec![("action_id", "env"), ("value", "prod")],
            json!("prod"),
        ),
        (
            &multi,
            vec![
                ("action_id", "checks"),
                ("value", "lint"),
                ("value", "bench"),
            ],
            json!(["lint", "bench"]),
        ),
        (
            &text,
            vec![("action_id", "why"), ("value", "Tests are red")],
            json!("Tests are red"),
        ),
        (
            &number,
            vec![("action_id", "replicas"), ("value", "3")],
            json!(3),
        ),
    ];
    for (id, fields, expected) in &answers {
        let page = answer(&mut browser, &csrf, id, fields).await;
        page.assert_redirect("/dashboard");
        let n = notification(&server, &api_key, id).await;
        assert_eq!(n["status"], "responded", "{n}");
        assert_eq!(n["response"]["action_id"], fields[0].1);
        assert_eq!(&n["response"]["response_data"], expected, "{n}");
        assert_eq!(n["response"]["responder"]["type"], "human");
    }

    // A second answer: already answered, whatever the form holds, and the first one stands.
    let empty = answer(&mut browser, &csrf, &choice, &[("action_id", "env")]).await;
    empty.assert_shows(StatusCode::CONFLICT, "already been answered");
    let second = answer(
        &mut browser,
        &csrf,
        &binary,
        &[("action_id", "merge"), ("value", "true")],
    )
    .await;
    second.assert_shows(
        StatusCode::CONFLICT,
        "The notification has already been answered.",
    );
    let n = notification(&server, &api_key, &binary).await;
    assert_eq!(n["response"]["response_data"], json!(false));

    let inbox = browser.get("/dashboard").await;
    assert!(
        inbox.text.contains("Nothing is waiting for you"),
        "{}",
        inbox.text
    );
    let history = browser.get("/dashboard/history").await;
    for expected in [
        "Leave it",
        "Merge the PR?: Keep it open",
        "Where to?: Production",
        "Which checks?: Lint, Benchmarks",
        "Why?: Tests are red",
        "How many replicas?: 3",
    ] {
        assert!(
            history.text.contains(expected),
            "{expected}:\n{}",
            history.text
        );
    }
    assert!(
        !history.text.contains("/respond\""),
        "no forms for answered ones"
    );
    server.stop().await;
}

/// The answer form counts against the owner's response rate, as the API's answers do: over
/// it, the inbox again with the limit's message, and nothing recorded.
async fn answers_from_the_form_are_rate_limited(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.rate.response = Rate::per_minute(1)).await;
    let api_key = lovelace(&server).await;
    let first = server.notify(&api_key, &simple_notification("First")).await;
    let second = server
        .notify(&api_key, &simple_notification("Second"))
        .await;
    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let csrf = browser.csrf().await;

    answer(&mut browser, &csrf, &first, &[("action_id", "ok")])
        .await
        .assert_redirect("/dashboard");
    let limited = answer(&mut browser, &csrf, &second, &[("action_id", "ok")]).await;
    limited.assert_shows(
        StatusCode::TOO_MANY_REQUESTS,
        "The rate limit of 1 requests per 60s is reached.",
    );
    assert!(limited.text.contains("<h1>Inbox</h1>"), "{}", limited.text);
    assert!(
        limited
            .text
            .contains(&format!("/dashboard/notifications/{second}/respond")),
        "still waiting: {}",
        limited.text
    );
    assert_eq!(
        notification(&server, &api_key, &first).await["status"],
        "responded"
    );
    let unanswered = notification(&server, &api_key, &second).await;
    assert_ne!(unanswered["status"], "responded", "{unanswered}");
    assert!(unanswered.get("response").is_none(), "{unanswered}");
    server.stop().await;
}

/// Posts the answer form of notification `id`.
async fn answer(browser: &mut Browser<'_>, csrf: &str, id: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    browser
        .post(&format!("/dashboard/notifications/{id}/respond"), &form)
        .await
}

async fn forms_without_a_valid_csrf_token_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let claim_id = pending_claim(&server, "ada", "Support bot");
    let note = server
        .notify(&api_key, &simple_notification("Deploy?"))
        .await;
    // Another owner's token is valid for their session only.
    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let graces = grace.csrf().await;

    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let real = ada.csrf().await;
    assert_ne!(real, graces);
    // An approved claim, for the revoke form.
    let approved = pending_claim(&server, "ada", "Approved bot");
    ada.submit(&format!("/dashboard/claims/{approved}/approve"), &real)
        .await
        .assert_redirect("/dashboard");
    assert_eq!(claim_status(&server, &approved), ClaimStatus::Approved);
    let mut flipped = real.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();

    let attempts: [&[(&str, &str)]; 5] = [
        &[],
        &[("csrf", "")],
        &[("csrf", "not-a-token")],
        &[("csrf", &flipped)],
        &[("csrf", &graces)],
    ];
    for fields in attempts {
        for path in [
            format!("/dashboard/claims/{claim_id}/approve"),
            format!("/dashboard/claims/{claim_id}/reject"),
            format!("/dashboard/claims/{approved}/revoke"),
        ] {
            let page = ada.post(&path, fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} {fields:?}");
            assert!(page.text.contains("This form could not be verified"));
        }
        let mut form = fields.to_vec();
        form.push(("action_id", "ok"));
        let page = ada
            .post(&format!("/dashboard/notifications/{note}/respond"), &form)
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
        let page = ada.post("/dashboard/logout", fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    // Nothing changed (the notification is delivered, by the inbox page the token came from,
    // and unanswered); the session is still live.
    assert_eq!(claim_status(&server, &claim_id), ClaimStatus::Pending);
    assert_eq!(claim_status(&server, &approved), ClaimStatus::Approved);
    let unanswered = notification(&server, &api_key, &note).await;
    assert_eq!(unanswered["status"], "delivered");
    assert!(unanswered.get("response").is_none(), "{unanswered}");
    assert_eq!(ada.get("/dashboard").await.status, StatusCode::OK);
    // A token does not live in any URL.
    let inbox = ada.get("/dashboard").await;
    assert!(!inbox.text.contains(&format!("?csrf={real}")));
    assert!(!inbox.text.contains("token="));
    server.stop().await;
}

async fn another_owners_requests_are_not_found(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let claim_id = pending_claim(&server, "ada", "Support bot");
    let note = server
        .notify(&api_key, &simple_notification("Deploy?"))
        .await;

    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let inbox = grace.get("/dashboard").await;
    assert!(!inbox.text.contains(&claim_id) && !inbox.text.contains(&note));
    let csrf = inbox.csrf();
    for decision in ["approve", "reject", "revoke"] {
        let page = grace
            .submit(&format!("/dashboard/claims/{claim_id}/{decision}"), &csrf)
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{decision}");
        assert!(page.text.contains("Not found"));
        assert!(page.header("content-type").starts_with("text/html"));
    }
    let page = grace
        .post(
            &format!("/dashboard/notifications/{note}/respond"),
            &[("csrf", &csrf), ("action_id", "ok")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = grace
        .post(
            "/dashboard/notifications/6f1c2a2e-0000-4000-8000-000000000000/respond",
            &[("csrf", &csrf), ("action_id", "ok")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(claim_status(&server, &claim_id), ClaimStatus::Pending);
    assert_eq!(
        notification(&server, &api_key, &note).await["status"],
        "created"
    );
    server.stop().await;
}

/// A form's answer is shown at the address it posted to; a GET of that address (a restored
/// tab) goes to the page the form is on. Any other address is an HTML 404 page.
async fn addresses_of_forms_lead_to_their_pages_and_others_are_not_found(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut browser = Browser::new(&server);
    for (form, page) in [
        ("/dashboard/claims/cl_1/approve", "/dashboard"),
        ("/dashboard/notifications/n1/respond", "/dashboard"),
        ("/dashboard/services/s1/keys", "/dashboard/services/s1"),
        ("/dashboard/services/s1/webhooks", "/dashboard/services/s1"),
        (
            "/dashboard/services/s1/webhooks/wh_1/rotate",
            "/dashboard/services/s1/webhooks/wh_1",
        ),
        (
            "/dashboard/services/s1/webhooks/wh_1/test",
            "/dashboard/services/s1/webhooks/wh_1",
        ),
        (
            "/dashboard/services/s1/webhooks/wh_1/enable",
            "/dashboard/services/s1/webhooks/wh_1",
        ),
    ] {
        browser.get(form).await.assert_redirect(page);
    }
    // Whatever the ids hold, the page is one of the dashboard's, on this server. (Sent as
    // written: reqwest's URL parser would resolve the dot segments before sending.)
    let base = url::Url::parse(&server.base).unwrap();
    let raw = awc::Client::builder().disable_redirects().finish();
    for form in [
        "/dashboard/services/%2F%2Fevil.example/keys",
        "/dashboard/services/%5Cevil.example/webhooks",
        "/dashboard/services/%2e%2e/webhooks/%2e%2e/test",
    ] {
        let response = raw.get(server.url(form)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{form}");
        let location = response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap();
        let to = base.join(location).unwrap();
        assert_eq!(to.host_str(), Some("127.0.0.1"), "{form}: {location}");
        assert!(to.path().starts_with("/dashboard"), "{form}: {location}");
    }
    browser.login("ada@example.com").await;
    for path in [
        "/dashboard/nope",
        "/dashboard/services/s1/keys/k1",
        "/dashboard/services/s1/webhooks/wh_1/deliveries",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.text.contains("There is no such page."), "{path}");
        assert!(
            page.text.contains("Log out"),
            "the logged-in layout: {path}"
        );
        assert_security_headers(&page, path);
    }
    let logged_out = Browser::new(&server).get("/dashboard/nope").await;
    assert_eq!(logged_out.status, StatusCode::NOT_FOUND);
    assert!(logged_out.text.contains("Sign up"), "the logged-out layout");
    server.stop().await;
}

/// A notification whose first action, `apply`, is flagged `irreversible`; `skip` is not.
pub(crate) fn irreversible_notification(title: &str) -> Value {
    json!({
        "context": { "title": title, "description": "Drop the old tables." },
        "actions": [
            { "id": "apply", "label": "Apply the migration", "response_type": "simple",
              "flags": ["irreversible"] },
            { "id": "skip", "label": "Skip it", "response_type": "simple" },
        ],
    })
}

async fn an_irreversible_action_is_sent_only_with_its_confirmation(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api_key = lovelace(&server).await;
    let note = server
        .notify(&api_key, &irreversible_notification("Migrate?"))
        .await;
    let mut browser = Browser::new(&server);
    browser.login("ada@example.com").await;
    let inbox = browser.get("/dashboard").await;
    let csrf = inbox.csrf();
    // Styled apart, with a box to tick; the other action has neither.
    let html = &inbox.text;
    assert_eq!(html.matches("irreversible\">").count(), 1, "{html}");
    assert!(
        html.contains("<p class=\"irreversible-note\">“Apply the migration” cannot be undone.</p>")
    );
    assert_eq!(
        html.matches("name=\"confirm_irreversible\" value=\"1\" required>")
            .count(),
        1
    );

    // Without the box ticked (or with anything but its value): refused, nothing decided.
    for confirm in [None, Some(""), Some("0"), Some("yes")] {
        let mut fields = vec![("action_id", "apply")];
        fields.extend(confirm.map(|c| ("confirm_irreversible", c)));
        let refused = answer(&mut browser, &csrf, &note, &fields).await;
        refused.assert_shows(
            StatusCode::BAD_REQUEST,
            "“Apply the migration” cannot be undone: tick the box to confirm it. Nothing was sent.",
        );
        let n = notification(&server, &api_key, &note).await;
        assert_ne!(n["status"], "responded", "{n}");
    }

    // Ticked: answered.
    answer(
        &mut browser,
        &csrf,
        &note,
        &[("action_id", "apply"), ("confirm_irreversible", "1")],
    )
    .await
    .assert_redirect("/dashboard");
    let n = notification(&server, &api_key, &note).await;
    assert_eq!(n["status"], "responded", "{n}");
    assert_eq!(n["response"]["action_id"], "apply", "{n}");

    // An action without the flag needs no box.
    let other = server
        .notify(&api_key, &irreversible_notification("Again?"))
        .await;
    answer(&mut browser, &csrf, &other, &[("action_id", "skip")])
        .await
        .assert_redirect("/dashboard");
    server.stop().await;
}

on_both_engines!(
    signup_and_login_set_the_cookie_and_redirect,
    failed_logins_are_throttled_on_the_form_too,
    not_logged_in_redirects_to_the_login_page,
    every_dashboard_response_carries_the_security_headers,
    the_inbox_shows_pending_requests_escaped,
    claims_are_decided_from_their_forms_and_listed_in_history,
    every_response_type_is_answered_from_its_form,
    answers_from_the_form_are_rate_limited,
    an_irreversible_action_is_sent_only_with_its_confirmation,
    forms_without_a_valid_csrf_token_are_refused,
    another_owners_requests_are_not_found,
    addresses_of_forms_lead_to_their_pages_and_others_are_not_found,
);
