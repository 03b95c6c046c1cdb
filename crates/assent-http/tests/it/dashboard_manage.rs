//! The dashboard's management pages over HTTP, on SQLite and PostgreSQL: services (create,
//! edit, delete), API keys and user tokens (shown once, revoked), the audit log and its
//! paging, CSRF tokens, other owners' ids, escaping and the security headers.

use crate::common;

use assent_store::testing::Engine;
use common::{
    Browser, Page, TestServer, XSS_ATTRIBUTE, XSS_SCRIPT, assert_security_headers, between,
    create_service, shown_secret, signup,
};
use reqwest::{Method, StatusCode};

/// Creates an API key named `name` from the service's page; returns the page that shows it.
async fn create_key(browser: &mut Browser<'_>, service_id: &str, name: &str) -> Page {
    let path = format!("/dashboard/services/{service_id}");
    let csrf = browser.get(&path).await.csrf();
    browser
        .post(&format!("{path}/keys"), &[("csrf", &csrf), ("name", name)])
        .await
}

async fn create_token(browser: &mut Browser<'_>, name: &str) -> Page {
    let csrf = browser.get("/dashboard/tokens").await.csrf();
    browser
        .post("/dashboard/tokens", &[("csrf", &csrf), ("name", name)])
        .await
}

/// The id in the first revoke form's action under `base` (`…/{id}/revoke`).
fn revoke_id(page: &Page, base: &str) -> String {
    between(&page.text, &format!("action=\"{base}/"), "/revoke\"").to_owned()
}

async fn status_with(server: &TestServer, path: &str, token: &str) -> StatusCode {
    server.call(Method::GET, path, token, None).await.status
}

async fn services_are_created_edited_and_deleted(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;

    let empty = ada.get("/dashboard/services").await;
    empty.assert_shows(StatusCode::OK, "No services yet");
    assert!(
        empty
            .text
            .contains("href=\"/dashboard/services\" aria-current=\"page\"")
    );

    let id = create_service(&mut ada, "billing", "Billing", "Invoices and refunds").await;
    let page = ada.get(&format!("/dashboard/services/{id}")).await;
    page.assert_shows(StatusCode::OK, "<h1>Billing</h1>");
    assert!(page.text.contains("Invoices and refunds"));
    assert!(page.text.contains("No active keys"));
    let list = ada.get("/dashboard/services").await;
    assert!(
        list.text
            .contains(&format!("href=\"/dashboard/services/{id}\">Billing</a>"))
    );

    // The JSON API's rules and codes, on the form, which keeps what was typed.
    let csrf = list.csrf();
    let duplicate = ada
        .post(
            "/dashboard/services",
            &[
                ("csrf", &csrf),
                ("slug", "billing"),
                ("name", "Billing again"),
                ("description", ""),
            ],
        )
        .await;
    duplicate.assert_shows(
        StatusCode::CONFLICT,
        "A service with this slug already exists in your namespace.",
    );
    assert!(duplicate.text.contains("value=\"Billing again\""));
    let bad = ada
        .post(
            "/dashboard/services",
            &[("csrf", &csrf), ("slug", "Not A Slug"), ("name", "X")],
        )
        .await;
    bad.assert_shows(StatusCode::BAD_REQUEST, "id=\"create-error\"");
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);

    // Edit; an empty description clears it; an empty name is refused.
    let path = format!("/dashboard/services/{id}");
    ada.post(
        &path,
        &[("csrf", &csrf), ("name", "Billing v2"), ("description", "")],
    )
    .await
    .assert_redirect(&path);
    let service = server.db.store.get_owned_service("ada", &id).unwrap();
    assert_eq!(
        (service.name.as_str(), service.description),
        ("Billing v2", None)
    );
    let refused = ada
        .post(
            &path,
            &[("csrf", &csrf), ("name", " "), ("description", "d")],
        )
        .await;
    refused.assert_shows(StatusCode::BAD_REQUEST, "id=\"edit-error\"");
    assert_eq!(
        server.db.store.get_owned_service("ada", &id).unwrap().name,
        "Billing v2"
    );

    // Delete, once the slug is typed: a wrong one, or none, deletes nothing.
    let page = ada.get(&path).await;
    assert!(page.text.contains("Delete “Billing v2” for good"));
    assert!(page.text.contains("name=\"confirm_slug\""));
    for typed in [
        None,
        Some(""),
        Some("Billing v2"),
        Some("billin"),
        Some(id.as_str()),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(typed.map(|t| ("confirm_slug", t)));
        let refused = ada.post(&format!("{path}/delete"), &form).await;
        refused.assert_shows(
            StatusCode::BAD_REQUEST,
            "<p class=\"notice notice-error\" role=\"alert\" id=\"delete-error\">Nothing was \
             deleted: type the service&#39;s slug, `billing`, to confirm.</p>",
        );
        assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
    }
    ada.post(
        &format!("{path}/delete"),
        &[("csrf", &csrf), ("confirm_slug", " billing ")],
    )
    .await
    .assert_redirect("/dashboard/services");
    assert!(server.db.store.list_services("ada").unwrap().is_empty());
    assert_eq!(ada.get(&path).await.status, StatusCode::NOT_FOUND);
    let again = ada.submit(&format!("{path}/delete"), &csrf).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn the_service_quota_is_shown_on_the_form(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.quotas.services_per_namespace = 1).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    create_service(&mut ada, "one", "One", "").await;
    let csrf = ada.csrf().await;
    let page = ada
        .post(
            "/dashboard/services",
            &[("csrf", &csrf), ("slug", "two"), ("name", "Two")],
        )
        .await;
    page.assert_shows(StatusCode::CONFLICT, "id=\"create-error\"");
    assert_eq!(server.db.store.list_services("ada").unwrap().len(), 1);
    server.stop().await;
}

async fn api_keys_are_shown_once_and_revoked(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "Billing", "").await;

    let created = create_key(&mut ada, &id, "ci").await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert!(created.location().is_empty());
    let key = shown_secret(&created);
    assert!(key.starts_with("sk_live_"), "{key}");
    assert!(created.text.contains("data-copy=\"new-secret\""));
    assert!(created.text.contains("shown only this once"));
    assert_eq!(
        status_with(&server, "/api/v1/services/me", &key).await,
        StatusCode::OK
    );
    // The usage snippet carries the new key this once.
    let snippet = between(
        &created.text,
        "<pre class=\"snippet\" id=\"key-snippet\"><code>",
        "</code>",
    );
    assert!(snippet.contains(&format!("API_KEY={key}\n")), "{snippet}");
    assert!(
        snippet.contains(
            "curl -s \"$ASSENT_URL/api/v1/services/me\" -H \"Authorization: Bearer $API_KEY\""
        ),
        "{snippet}"
    );

    // Listed afterwards by its prefix only, and used.
    let path = format!("/dashboard/services/{id}");
    let page = ada.get(&path).await;
    assert!(!page.text.contains(&key));
    assert!(!page.text.contains("new-secret"));
    assert!(
        page.text.contains(&format!("<code>{}</code>", &key[..12])),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<th scope=\"row\" data-label=\"Name\">ci</th>")
    );
    // The service's id, and the snippet with a placeholder for the key.
    assert!(
        page.text
            .contains(&format!("<code id=\"service-id\">{id}</code>"))
    );
    let snippet = between(
        &page.text,
        "<pre class=\"snippet\" id=\"key-snippet\"><code>",
        "</code>",
    );
    assert!(snippet.contains("API_KEY='your API key'\n"), "{snippet}");
    assert!(snippet.contains("/api/v1/notifications"), "{snippet}");

    // A bad name is refused on the form.
    let long = "x".repeat(101);
    let refused = create_key(&mut ada, &id, &long).await;
    refused.assert_shows(StatusCode::BAD_REQUEST, "id=\"key-error\"");
    assert!(!refused.text.contains("new-secret"));

    // Revoked: it stops working.
    let key_id = revoke_id(&page, &format!("/dashboard/services/{id}/keys"));
    ada.post(
        &format!("{path}/keys/{key_id}/revoke"),
        &[("csrf", &page.csrf())],
    )
    .await
    .assert_redirect(&path);
    assert_eq!(
        status_with(&server, "/api/v1/services/me", &key).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(ada.get(&path).await.text.contains("No active keys"));
    let again = ada
        .post(
            &format!("{path}/keys/{key_id}/revoke"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn user_tokens_are_shown_once_and_revoked(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;

    let empty = ada.get("/dashboard/tokens").await;
    empty.assert_shows(StatusCode::OK, "No active tokens");

    let created = create_token(&mut ada, "phone").await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let token = shown_secret(&created);
    assert!(token.starts_with("ut_"), "{token}");
    assert_eq!(
        status_with(&server, "/api/v1/client/notifications", &token).await,
        StatusCode::OK
    );

    let page = ada.get("/dashboard/tokens").await;
    assert!(!page.text.contains(&token));
    assert!(
        page.text
            .contains("<th scope=\"row\" data-label=\"Name\">phone</th>")
    );
    let token_id = revoke_id(&page, "/dashboard/tokens");
    ada.post(
        &format!("/dashboard/tokens/{token_id}/revoke"),
        &[("csrf", &page.csrf())],
    )
    .await
    .assert_redirect("/dashboard/tokens");
    assert_eq!(
        status_with(&server, "/api/v1/client/notifications", &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        ada.get("/dashboard/tokens")
            .await
            .text
            .contains("No active tokens")
    );
    server.stop().await;
}

async fn the_audit_log_lists_the_actions_newest_first_by_pages(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let empty = ada.get("/dashboard/audit").await;
    assert_eq!(empty.status, StatusCode::OK);
    // The account's own creation is the only entry yet.
    assert_eq!(empty.text.matches("<tr class=\"entry\">").count(), 1);
    assert!(empty.text.contains("<code>account.created</code>"));
    assert!(!empty.text.contains("rel=\"next\""));

    let id = create_service(&mut ada, "billing", "Billing", "").await;
    create_key(&mut ada, &id, "ci").await;
    let path = format!("/dashboard/services/{id}");
    let page = ada.get(&path).await;
    let key_id = revoke_id(&page, &format!("{path}/keys"));
    ada.post(
        &format!("{path}/keys/{key_id}/revoke"),
        &[("csrf", &page.csrf())],
    )
    .await
    .assert_redirect(&path);
    let created = create_token(&mut ada, "phone").await;
    let token_id = revoke_id(&created, "/dashboard/tokens");
    ada.post(
        &format!("/dashboard/tokens/{token_id}/revoke"),
        &[("csrf", &created.csrf())],
    )
    .await
    .assert_redirect("/dashboard/tokens");
    ada.post(
        &path,
        &[
            ("csrf", &page.csrf()),
            ("name", "Billing v2"),
            ("description", ""),
        ],
    )
    .await
    .assert_redirect(&path);
    // Before the service is deleted, the entries about it link to it.
    let linked = ada.get("/dashboard/audit").await;
    let service_link = format!("<a href=\"/dashboard/services/{id}\">Billing v2</a>");
    for sentence in [
        format!("You created service {service_link} with slug <code>billing</code>."),
        "You created API key “ci”".to_owned(),
        format!("You revoked API key <code>{key_id}</code> of service {service_link}."),
        format!("You changed the name and description of service {service_link}."),
        "You revoked user token <a href=\"/dashboard/tokens\">".to_owned(),
    ] {
        assert!(
            linked.text.contains(&sentence),
            "{sentence} in {}",
            linked.text
        );
    }
    assert!(
        !linked.text.contains("{&quot;"),
        "no raw JSON outside the details"
    );
    assert!(
        linked
            .text
            .contains("<dt>From</dt><dd><code>127.0.0.1</code></dd>"),
        "each entry's details say where the change came from"
    );
    ada.post(
        &format!("{path}/delete"),
        &[("csrf", &page.csrf()), ("confirm_slug", "billing")],
    )
    .await
    .assert_redirect("/dashboard/services");

    let audit = ada.get("/dashboard/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    let actions = [
        "service.deleted",
        "service.updated",
        "user_token.revoked",
        "user_token.created",
        "api_key.revoked",
        "api_key.created",
        "service.created",
        "account.created",
    ];
    let positions: Vec<usize> = actions
        .iter()
        .map(|a| {
            audit
                .text
                .find(&format!("<code>{a}</code>"))
                .unwrap_or_else(|| panic!("{a} in {}", audit.text))
        })
        .collect();
    assert!(positions.is_sorted(), "newest first: {positions:?}");
    // A deleted service is named by its id, no longer linked.
    assert!(audit.text.contains(&format!(
        "You revoked API key <code>{key_id}</code> of service <code>{id}</code>."
    )));
    assert!(
        audit
            .text
            .contains("You deleted service “Billing v2” with slug <code>billing</code>.")
    );
    assert!(!audit.text.contains("rel=\"next\""));

    // Paging by the store's cursor: 50 entries a page.
    let session = server.login("ada@example.com").await.0;
    for n in 0..50 {
        server.user_token(&session, &format!("t{n}")).await;
    }
    let first = ada.get("/dashboard/audit").await;
    assert_eq!(first.text.matches("<tr class=\"entry\">").count(), 50);
    let cursor = between(
        &first.text,
        "<a href=\"/dashboard/audit?cursor=",
        "\" rel=\"next\"",
    );
    assert!(cursor.parse::<i64>().is_ok(), "{cursor}");
    let next = format!("/dashboard/audit?cursor={cursor}");
    let second = ada.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.text.matches("<tr class=\"entry\">").count(), 8);
    assert!(second.text.contains("<code>service.created</code>"));
    assert!(!second.text.contains("rel=\"next\""));
    assert!(
        second
            .text
            .contains("href=\"/dashboard/audit\">Newest entries</a>")
    );
    assert_security_headers(&second, "audit page 2");

    let bad = ada.get("/dashboard/audit?cursor=nope").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.header("content-type").starts_with("text/html"));
    server.stop().await;
}

/// What `ada` made from the forms: service `billing` ("Billing"), one API key of it and one
/// user token.
struct Made {
    id: String,
    path: String,
    key: String,
    key_id: String,
    token: String,
    token_id: String,
}

async fn make_service_key_and_token(ada: &mut Browser<'_>) -> Made {
    let id = create_service(ada, "billing", "Billing", "").await;
    let key = shown_secret(&create_key(ada, &id, "ci").await);
    let created = create_token(ada, "phone").await;
    let token = shown_secret(&created);
    let token_id = revoke_id(&created, "/dashboard/tokens");
    let path = format!("/dashboard/services/{id}");
    let key_id = revoke_id(&ada.get(&path).await, &format!("{path}/keys"));
    Made {
        id,
        path,
        key,
        key_id,
        token,
        token_id,
    }
}

/// The service keeps its name and its one key, and the key and the token still work.
async fn assert_untouched(server: &TestServer, made: &Made) {
    assert_eq!(
        server
            .db
            .store
            .get_owned_service("ada", &made.id)
            .unwrap()
            .name,
        "Billing"
    );
    assert_eq!(
        server
            .db
            .store
            .list_api_keys("ada", &made.id)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        status_with(server, "/api/v1/services/me", &made.key).await,
        StatusCode::OK
    );
    assert_eq!(
        status_with(server, "/api/v1/client/notifications", &made.token).await,
        StatusCode::OK
    );
}

async fn forms_without_a_valid_csrf_token_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let made = make_service_key_and_token(&mut ada).await;
    let Made {
        path,
        key_id,
        token_id,
        ..
    } = &made;
    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let graces = grace.csrf().await;
    let audit_before = server
        .db
        .store
        .list_audit_log("ada", 200, None)
        .unwrap()
        .len();

    for csrf in [None, Some(""), Some("not-a-token"), Some(graces.as_str())] {
        let posts: [(String, Vec<(&str, &str)>); 7] = [
            (
                "/dashboard/services".to_owned(),
                vec![("slug", "other"), ("name", "Other")],
            ),
            (path.clone(), vec![("name", "Renamed"), ("description", "")]),
            (format!("{path}/delete"), vec![]),
            (format!("{path}/keys"), vec![("name", "more")]),
            (format!("{path}/keys/{key_id}/revoke"), vec![]),
            ("/dashboard/tokens".to_owned(), vec![("name", "more")]),
            (format!("/dashboard/tokens/{token_id}/revoke"), vec![]),
        ];
        for (to, mut fields) in posts {
            if let Some(csrf) = csrf {
                fields.push(("csrf", csrf));
            }
            let refused = ada.post(&to, &fields).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{to} {csrf:?}");
            assert!(refused.text.contains("This form could not be verified"));
            assert!(!refused.text.contains("new-secret"));
            assert_security_headers(&refused, &to);
        }
    }
    // Nothing changed.
    let services = server.db.store.list_services("ada").unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "Billing");
    assert_untouched(&server, &made).await;
    assert_eq!(
        server
            .db
            .store
            .list_audit_log("ada", 200, None)
            .unwrap()
            .len(),
        audit_before
    );
    server.stop().await;
}

async fn another_owners_services_and_tokens_are_not_found(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let made = make_service_key_and_token(&mut ada).await;
    let Made {
        id,
        path,
        key_id,
        token_id,
        ..
    } = &made;

    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let list = grace.get("/dashboard/services").await;
    assert!(!list.text.contains(id.as_str()) && !list.text.contains("Billing"));
    let csrf = list.csrf();
    let page = grace.get(path).await;
    page.assert_shows(
        StatusCode::NOT_FOUND,
        "There is no such service in your namespace",
    );
    assert!(page.header("content-type").starts_with("text/html"));
    assert_security_headers(&page, "404");
    let posts: [(String, Vec<(&str, &str)>); 5] = [
        (
            path.clone(),
            vec![("name", "Mine now"), ("description", "")],
        ),
        (format!("{path}/delete"), vec![]),
        (format!("{path}/keys"), vec![("name", "mine")]),
        (format!("{path}/keys/{key_id}/revoke"), vec![]),
        (format!("/dashboard/tokens/{token_id}/revoke"), vec![]),
    ];
    for (to, mut fields) in posts {
        fields.push(("csrf", &csrf));
        let refused = grace.post(&to, &fields).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{to}");
        assert!(refused.text.contains("Not found"));
        assert!(!refused.text.contains("new-secret"));
    }
    assert_untouched(&server, &made).await;
    let audit = grace.get("/dashboard/audit").await;
    assert!(!audit.text.contains(id.as_str()) && !audit.text.contains("api_key.created"));
    let tokens = grace.get("/dashboard/tokens").await;
    assert!(!tokens.text.contains("phone"));
    server.stop().await;
}

async fn hostile_names_render_escaped(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "hostile", XSS_SCRIPT, XSS_ATTRIBUTE).await;
    let created = create_key(&mut ada, &id, XSS_ATTRIBUTE).await;
    let token = create_token(&mut ada, XSS_SCRIPT).await;
    let path = format!("/dashboard/services/{id}");
    let edit_refused = ada
        .post(
            &path,
            &[
                ("csrf", &token.csrf()),
                ("name", ""),
                ("description", XSS_SCRIPT),
            ],
        )
        .await;
    assert_eq!(edit_refused.status, StatusCode::BAD_REQUEST);
    for page in [
        ada.get("/dashboard/services").await,
        ada.get(&path).await,
        created,
        token,
        edit_refused,
        ada.get("/dashboard/tokens").await,
        ada.get("/dashboard/audit").await,
    ] {
        assert!(!page.text.contains(XSS_SCRIPT), "{}", page.text);
        assert!(!page.text.contains(XSS_ATTRIBUTE), "{}", page.text);
        assert!(!page.text.contains("<img"), "{}", page.text);
        assert!(
            page.text
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page
                    .text
                    .contains("&#62;&#60;img src=x onerror=alert(1)&#62;"),
            "{}",
            page.text
        );
    }
    server.stop().await;
}

async fn every_new_page_carries_the_security_headers(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut visitor = Browser::new(&server);
    for path in [
        "/dashboard/services",
        "/dashboard/tokens",
        "/dashboard/audit",
    ] {
        let page = visitor.get(path).await;
        page.assert_redirect("/dashboard/login");
        assert_security_headers(&page, path);
    }
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "Billing", "").await;
    let path = format!("/dashboard/services/{id}");
    let created_key = create_key(&mut ada, &id, "ci").await;
    let created_token = create_token(&mut ada, "phone").await;
    let mut pages = vec![("key shown", created_key), ("token shown", created_token)];
    for get in [
        "/dashboard/services",
        path.as_str(),
        "/dashboard/tokens",
        "/dashboard/audit",
        "/dashboard/services/no-such-service",
    ] {
        pages.push((get, ada.get(get).await));
    }
    for (what, page) in &pages {
        assert_security_headers(page, what);
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{what}"
        );
        assert!(!page.text.contains("<script>"), "{what}: no inline script");
        assert!(!page.text.contains("style="), "{what}: no inline style");
        for link in [
            "href=\"/dashboard/services\"",
            "href=\"/dashboard/tokens\"",
            "href=\"/dashboard/audit\"",
        ] {
            assert!(page.text.contains(link), "{what}: {link}");
        }
    }
    let script = ada.get("/dashboard/static/app.js").await;
    assert!(script.text.contains("data-copy"));
    assert!(script.text.contains("navigator.clipboard"));
    server.stop().await;
}

on_both_engines!(
    services_are_created_edited_and_deleted,
    the_service_quota_is_shown_on_the_form,
    api_keys_are_shown_once_and_revoked,
    user_tokens_are_shown_once_and_revoked,
    the_audit_log_lists_the_actions_newest_first_by_pages,
    forms_without_a_valid_csrf_token_are_refused,
    another_owners_services_and_tokens_are_not_found,
    hostile_names_render_escaped,
    every_new_page_carries_the_security_headers,
);
