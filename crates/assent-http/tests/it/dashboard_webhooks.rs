//! The dashboard's webhook pages over HTTP, on SQLite and PostgreSQL: adding a webhook (its
//! secret shown once), editing it, disabling and enabling it again (with the events it missed
//! replayed or not), rotating its secret, test events delivered to a real receiver by the real
//! delivery engine, the delivery log with its filters, pages, retry button and what each
//! attempt sent (payload and headers), deleting it, other owners' ids, CSRF tokens, hostile urls
//! and the security headers.

use crate::common;

use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use assent_store::{DeliveryRecord, WebhookEndpoint};
use common::{
    Browser, Page, Receiver, TestServer, XSS_ATTRIBUTE, XSS_SCRIPT, assert_security_headers,
    between, create_service, pending_claim, shown_secret, signup,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every event a webhook can subscribe to, in the forms' order.
const EVENTS: [&str; 5] = [
    "request.submitted",
    "request.approved",
    "request.rejected",
    "request.revoked",
    "request.expired",
];

const NO_SUCH_WEBHOOK: &str = "There is no such webhook of a service of yours.";

/// The text of the element with this id (a notice or an error).
fn message<'p>(page: &'p Page, id: &str) -> &'p str {
    between(&page.text, &format!("id=\"{id}\">"), "</p>")
}

/// Text as it reads, from its HTML-escaped form.
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The events checked in the page's (only) choice of events.
fn checked_events(page: &Page) -> Vec<&'static str> {
    EVENTS
        .into_iter()
        .filter(|event| {
            let checked = page
                .text
                .contains(&format!("name=\"events\" value=\"{event}\" checked>"));
            let unchecked = page
                .text
                .contains(&format!("name=\"events\" value=\"{event}\">"));
            assert!(checked != unchecked, "{event} once in {}", page.text);
            checked
        })
        .collect()
}

/// The ids of the deliveries listed on a webhook's page, in order.
pub(crate) fn delivery_ids(page: &Page) -> Vec<String> {
    page.text
        .split("id=\"delivery-")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// Posts the add-a-webhook form of the service's page; returns the answer.
async fn add_webhook(
    browser: &mut Browser<'_>,
    service_id: &str,
    url: &str,
    events: &[&str],
) -> Page {
    let path = format!("/dashboard/services/{service_id}");
    let csrf = browser.get(&path).await.csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("url", url)];
    form.extend(events.iter().map(|e| ("events", *e)));
    browser.post(&format!("{path}/webhooks"), &form).await
}

/// Adds a webhook that must be accepted; returns its page's path and the secret shown.
pub(crate) async fn webhook(
    browser: &mut Browser<'_>,
    service_id: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let created = add_webhook(browser, service_id, url, events).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let base = format!("/dashboard/services/{service_id}/webhooks/");
    let id = between(&created.text, &format!("action=\"{base}"), "/");
    (format!("{base}{id}"), shown_secret(&created))
}

pub(crate) fn endpoints(server: &TestServer, service_id: &str) -> Vec<WebhookEndpoint> {
    server.db.store.list_webhook_endpoints(service_id).unwrap()
}

/// The webhook's deliveries, newest first.
fn deliveries(server: &TestServer, path: &str) -> Vec<DeliveryRecord> {
    let mut ids = path
        .strip_prefix("/dashboard/services/")
        .unwrap()
        .split("/webhooks/");
    let (service_id, webhook_id) = (ids.next().unwrap(), ids.next().unwrap());
    server
        .db
        .store
        .list_deliveries("ada", service_id, webhook_id, None, 200, None)
        .unwrap()
}

fn audit_len(server: &TestServer, namespace: &str) -> usize {
    server
        .db
        .store
        .list_audit_log(namespace, 500, None)
        .unwrap()
        .len()
}

/// Every state-changing form of one webhook (and the add form of its service), with the
/// fields each needs besides `csrf`.
fn webhook_posts(
    service_id: &str,
    path: &str,
    delivery_id: &str,
) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            format!("/dashboard/services/{service_id}/webhooks"),
            vec![
                ("url", "https://taken.example/in"),
                ("events", "request.approved"),
            ],
        ),
        (
            path.to_owned(),
            vec![
                ("url", "https://taken.example/in"),
                ("with_events", "1"),
                ("events", "request.expired"),
            ],
        ),
        (format!("{path}/disable"), vec![]),
        (format!("{path}/enable"), vec![("replay", "1")]),
        (format!("{path}/rotate"), vec![]),
        (format!("{path}/test"), vec![]),
        (format!("{path}/deliveries/{delivery_id}/retry"), vec![]),
        (format!("{path}/delete"), vec![]),
    ]
}

async fn webhooks_are_added_with_the_secret_shown_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let service_path = format!("/dashboard/services/{id}");

    let empty = ada.get(&service_path).await;
    assert!(empty.text.contains("No webhooks."), "{}", empty.text);
    assert_eq!(
        checked_events(&empty),
        EVENTS,
        "every event offered checked"
    );

    let created = add_webhook(
        &mut ada,
        &id,
        "https://hooks.example/in",
        &["request.submitted", "request.approved"],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(created.location().is_empty());
    let secret = shown_secret(&created);
    assert!(
        secret.starts_with("whsec_") && secret.len() > 20,
        "{secret}"
    );
    assert!(created.text.contains("shown only this once"));
    assert!(created.text.contains("data-copy=\"new-secret\""));
    assert!(created.text.contains("<h1>Webhook</h1>"));
    assert!(
        created
            .text
            .contains("The signing secret of “https://hooks.example/in”")
    );
    assert!(created.text.contains("status-healthy\">healthy</span>"));
    assert_eq!(
        checked_events(&created),
        ["request.submitted", "request.approved"]
    );

    // Stored as shown: that secret, sealed; those events.
    let stored = endpoints(&server, &id);
    assert_eq!(stored.len(), 1);
    let endpoint = &stored[0];
    assert_eq!(endpoint.url, "https://hooks.example/in");
    let events: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
    assert_eq!(events, ["request.submitted", "request.approved"]);
    assert_eq!(
        server
            .secret_key
            .open(&endpoint.secret_sealed, &endpoint.id)
            .unwrap()
            .expose(),
        secret
    );

    // Never shown again.
    let path = format!("{service_path}/webhooks/{}", endpoint.id);
    let page = ada.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(!page.text.contains(&secret), "{}", page.text);
    assert!(!page.text.contains("new-secret"));
    assert!(page.text.contains("<code>https://hooks.example/in</code>"));
    assert!(
        page.text
            .contains("href=\"/dashboard/services\" aria-current=\"page\"")
    );
    assert!(page.text.contains("Nothing delivered yet."));
    let listed = ada.get(&service_path).await;
    assert!(!listed.text.contains(&secret));
    assert!(
        listed.text.contains(&format!(
            "<a href=\"{path}\"><code>https://hooks.example/in</code></a>"
        )),
        "{}",
        listed.text
    );
    assert!(listed.text.contains("request.submitted, request.approved"));

    // Refusals: the service's page again, the message beside the form, what was typed kept.
    let refusals: [(&str, &[&str], &str); 6] = [
        (
            "ftp://x",
            &["request.approved"],
            "The url must use https (a development server started with --allow-private-webhooks also accepts http).",
        ),
        (
            "http://hooks.example/in",
            &["request.approved"],
            "The url must use https (a development server started with --allow-private-webhooks also accepts http).",
        ),
        (
            "https://192.168.1.1/in",
            &["request.approved"],
            "The url must not point at a loopback, private, link-local or otherwise \
             non-public address.",
        ),
        (
            "https://127.0.0.1:8080/in",
            &["request.approved"],
            "non-public address",
        ),
        (
            "https://hooks.example/none",
            &[],
            "`events` must name at least one event.",
        ),
        (
            "https://hooks.example/nope",
            &["request.nope"],
            "`request.nope` is not an event a webhook can subscribe to",
        ),
    ];
    for (url, events, expected) in refusals {
        let refused = add_webhook(&mut ada, &id, url, events).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{url} {events:?}");
        let error = message(&refused, "webhook-error");
        assert!(error.contains(expected), "{url}: {error}");
        assert!(
            refused.text.contains(&format!("value=\"{url}\">")),
            "{url} kept: {}",
            refused.text
        );
        assert!(
            refused.text.contains("<h1>BILLING</h1>"),
            "the service's page"
        );
        assert!(!refused.text.contains("new-secret"));
        let kept: Vec<&str> = events
            .iter()
            .copied()
            .filter(|e| EVENTS.contains(e))
            .collect();
        assert_eq!(checked_events(&refused), kept, "{url}");
    }
    let missing_url = add_webhook(&mut ada, &id, "", &["request.approved"]).await;
    missing_url.assert_shows(StatusCode::BAD_REQUEST, "id=\"webhook-error\"");

    // Nothing more was created: the store and the JSON API agree.
    assert_eq!(endpoints(&server, &id).len(), 1);
    let (session, _) = server.login("ada@example.com").await;
    let api = server
        .call(
            Method::GET,
            &format!("/v1/services/{id}/webhooks"),
            &session,
            None,
        )
        .await;
    assert_eq!(api.body["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(api.body["webhooks"][0]["url"], "https://hooks.example/in");

    // No such service.
    let csrf = created.csrf();
    let unknown = ada
        .post(
            "/dashboard/services/no-such-service/webhooks",
            &[
                ("csrf", &csrf),
                ("url", "https://hooks.example/in"),
                ("events", "request.approved"),
            ],
        )
        .await;
    unknown.assert_shows(
        StatusCode::NOT_FOUND,
        "There is no such service in your namespace",
    );
    assert_eq!(endpoints(&server, &id).len(), 1);
    server.stop().await;
}

async fn a_webhook_is_edited_disabled_enabled_rotated_and_deleted(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let (path, first_secret) = webhook(
        &mut ada,
        &id,
        "https://hooks.example/in",
        &["request.approved"],
    )
    .await;
    let csrf = ada.get(&path).await.csrf();

    // A new url and events.
    ada.post(
        &path,
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example/v2"),
            ("with_events", "1"),
            ("events", "request.submitted"),
            ("events", "request.revoked"),
        ],
    )
    .await
    .assert_redirect(&path);
    let page = ada.get(&path).await;
    assert!(page.text.contains("<code>https://hooks.example/v2</code>"));
    assert!(page.text.contains("value=\"https://hooks.example/v2\">"));
    assert_eq!(
        checked_events(&page),
        ["request.submitted", "request.revoked"]
    );
    let stored = endpoints(&server, &id).remove(0);
    assert_eq!(stored.url, "https://hooks.example/v2");
    let events: Vec<&str> = stored.events.iter().map(|e| e.as_str()).collect();
    assert_eq!(events, ["request.submitted", "request.revoked"]);

    // Without `with_events` (as an ATP callback's form), the events are left alone.
    ada.post(
        &path,
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example/v3"),
            ("events", "request.expired"),
        ],
    )
    .await
    .assert_redirect(&path);
    let stored = endpoints(&server, &id).remove(0);
    assert_eq!(stored.url, "https://hooks.example/v3");
    assert_eq!(stored.events.len(), 2);

    // Refused: no events checked, a bad url. The page again with the message and what was
    // typed; nothing changed.
    let none = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("url", "https://hooks.example/v4"),
                ("with_events", "1"),
            ],
        )
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST, "{}", none.text);
    // Its message is checked at the end, so that the rest is checked whatever it says.
    let empty_choice = message(&none, "error").to_owned();
    assert!(none.text.contains("value=\"https://hooks.example/v4\">"));
    assert!(checked_events(&none).is_empty(), "as submitted");
    let private = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("url", "https://10.0.0.1/in"),
                ("with_events", "1"),
                ("events", "request.approved"),
            ],
        )
        .await;
    assert_eq!(private.status, StatusCode::BAD_REQUEST);
    assert!(message(&private, "error").contains("non-public address"));
    assert!(private.text.contains("value=\"https://10.0.0.1/in\">"));
    assert_eq!(checked_events(&private), ["request.approved"]);
    assert_eq!(endpoints(&server, &id), std::slice::from_ref(&stored));

    // Disabled: no test event while so.
    let disabled = ada.submit(&format!("{path}/disable"), &csrf).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(
        message(&disabled, "notice"),
        "Disabled: events are no longer delivered to it."
    );
    assert!(
        disabled
            .text
            .contains("status-disabled\">disabled</span>\n<span class=\"health-detail\">because its owner disabled it")
    );
    assert!(disabled.text.contains(&format!("action=\"{path}/enable\"")));
    assert!(!disabled.text.contains(&format!("action=\"{path}/test\"")));
    let stored = endpoints(&server, &id).remove(0);
    assert!(!stored.enabled);
    assert_eq!(stored.disabled_reason.as_deref(), Some("owner"));
    let test = ada.submit(&format!("{path}/test"), &csrf).await;
    assert_eq!(test.status, StatusCode::CONFLICT, "{}", test.text);
    assert_eq!(
        message(&test, "error"),
        "This webhook is disabled; enable it before sending a test."
    );
    assert!(!test.text.contains("id=\"notice\""));
    assert!(deliveries(&server, &path).is_empty());

    // Enabled again: nothing missed.
    let enabled = ada
        .post(
            &format!("{path}/enable"),
            &[("csrf", &csrf), ("replay", "1")],
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert_eq!(
        message(&enabled, "notice"),
        "Enabled: events are delivered to it again."
    );
    assert!(enabled.text.contains("status-healthy\">healthy</span>"));
    assert!(endpoints(&server, &id)[0].enabled);

    // An event missed while disabled, not replayed…
    let disabled = ada.submit(&format!("{path}/disable"), &csrf).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    pending_claim(&server, "ada", "Support bot");
    let enabled = ada.submit(&format!("{path}/enable"), &csrf).await;
    assert_eq!(
        message(&enabled, "notice"),
        "Enabled. It missed 1 event(s) while disabled; they were not replayed."
    );
    assert!(deliveries(&server, &path).is_empty());

    // … and one replayed.
    let disabled = ada.submit(&format!("{path}/disable"), &csrf).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    pending_claim(&server, "ada", "Support bot");
    let enabled = ada
        .post(
            &format!("{path}/enable"),
            &[("csrf", &csrf), ("replay", "1")],
        )
        .await;
    assert_eq!(
        message(&enabled, "notice"),
        "Enabled. The 1 event(s) it missed while disabled are being delivered."
    );
    let queued = deliveries(&server, &path);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].event_type, "request.submitted");
    assert_eq!(delivery_ids(&enabled), [queued[0].id.clone()]);
    assert!(enabled.text.contains("<code>request.submitted</code>"));

    // A new secret, shown once; the old one still signs for a while.
    let before = endpoints(&server, &id).remove(0);
    let rotated = ada.submit(&format!("{path}/rotate"), &csrf).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second_secret = shown_secret(&rotated);
    assert!(second_secret.starts_with("whsec_"), "{second_secret}");
    assert_ne!(second_secret, first_secret);
    assert!(
        rotated
            .text
            .contains("each delivery also carries a signature made with the previous secret")
    );
    let after = endpoints(&server, &id).remove(0);
    assert_eq!(
        server
            .secret_key
            .open(&after.secret_sealed, &after.id)
            .unwrap()
            .expose(),
        second_secret
    );
    assert_eq!(
        after.previous_secret_sealed.as_deref(),
        Some(before.secret_sealed.as_str())
    );
    let page = ada.get(&path).await;
    assert!(!page.text.contains(&second_secret) && !page.text.contains(&first_secret));
    assert!(!page.text.contains("previous secret"));

    // Deleted.
    let service_path = format!("/dashboard/services/{id}");
    ada.submit(&format!("{path}/delete"), &csrf)
        .await
        .assert_redirect(&service_path);
    assert!(endpoints(&server, &id).is_empty());
    let gone = ada.get(&path).await;
    gone.assert_shows(StatusCode::NOT_FOUND, NO_SUCH_WEBHOOK);
    assert!(ada.get(&service_path).await.text.contains("No webhooks."));
    let again = ada.submit(&format!("{path}/delete"), &csrf).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    server.stop().await;

    // No events checked is said as such (as when adding one), not as an unknown event named
    // by an empty name.
    assert!(
        empty_choice.contains("at least one event") && !empty_choice.contains("``"),
        "the message for no events checked: {empty_choice}"
    );
}

async fn test_events_are_delivered_logged_and_retried(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let receiver = Receiver::default();
    let url = receiver.start("/events");
    let (stop, delivery) = server.start_delivery();
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let (path, secret) = webhook(&mut ada, &id, &url, &["request.approved"]).await;
    let webhook_id = path.rsplit('/').next().unwrap().to_owned();
    let csrf = ada.get(&path).await.csrf();

    let sent = ada.submit(&format!("{path}/test"), &csrf).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(
        message(&sent, "notice"),
        "A test event was queued: it is at the top of the log."
    );
    let ids = delivery_ids(&sent);
    assert_eq!(ids.len(), 1, "{}", sent.text);
    let delivery_id = ids[0].clone();
    assert!(delivery_id.starts_with("dlv_"), "{delivery_id}");
    assert!(sent.text.contains("<code>webhook.test</code>"));

    // Delivered: the receiver has it, signed with the secret shown; the log says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = ada.get(&path).await;
        if page.text.contains("status-succeeded") {
            break page;
        }
        assert!(Instant::now() < deadline, "not delivered: {}", page.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), 1);
    let event = hooks[0].json();
    assert_eq!(event["event"], "webhook.test");
    assert_eq!(event["data"]["webhook_id"], webhook_id.as_str());
    assent_signing::Verifier::default()
        .verify_now(
            secret.as_bytes(),
            hooks[0].header("x-sigilum-signature"),
            &hooks[0].body,
        )
        .expect("signed with the secret shown");
    assert_eq!(delivery_ids(&page), std::slice::from_ref(&delivery_id));
    assert!(
        page.text.contains(&format!(
            "<code class=\"muted\">{}</code>",
            event["data"]["event_id"].as_str().unwrap()
        )),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("<td data-label=\"Attempts\">1</td>"),
        "{}",
        page.text
    );
    assert!(page.text.contains("<br>finished <time"));
    assert_eq!(page.text.matches("<strong>200</strong>").count(), 1);
    // What was sent: the payload, as the receiver got it, and each header as it got it (the
    // signature too, never the secret).
    let shown = unescape(between(&page.text, "<pre class=\"payload\">", "</pre>"));
    let shown: Value = serde_json::from_str(&shown).expect("the payload shown is its JSON");
    assert_eq!(shown, event);
    let headers = unescape(between(&page.text, "<pre class=\"headers\">", "</pre>"));
    for name in [
        "X-Sigilum-Signature",
        "X-Sigilum-Event",
        "X-Sigilum-Webhook-Id",
        "X-Sigilum-Delivery-Id",
    ] {
        let line = format!("{name}: {}", hooks[0].header(&name.to_lowercase()));
        assert!(headers.contains(&line), "{line} in {headers}");
    }
    assert!(!page.text.contains(&secret));

    // The filters.
    let succeeded = ada.get(&format!("{path}?status=succeeded")).await;
    assert_eq!(succeeded.status, StatusCode::OK);
    assert_eq!(delivery_ids(&succeeded), std::slice::from_ref(&delivery_id));
    assert!(
        succeeded
            .text
            .contains("?status=succeeded\" aria-current=\"page\">Succeeded</a>")
    );
    let pending = ada.get(&format!("{path}?status=pending")).await;
    assert_eq!(pending.status, StatusCode::OK);
    assert!(delivery_ids(&pending).is_empty());
    assert!(
        pending.text.contains("No pending deliveries."),
        "{}",
        pending.text
    );

    // Retried: delivered a second time, the same event.
    let retry = format!("{path}/deliveries/{delivery_id}/retry");
    ada.submit(&retry, &csrf).await.assert_redirect(&path);
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = ada.get(&path).await;
        if receiver.hooks().len() == 2 && page.text.contains("status-succeeded") {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered again: {}",
            page.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let hooks = receiver.hooks();
    assert_eq!(
        hooks[1].json()["data"]["event_id"],
        event["data"]["event_id"]
    );
    assert_eq!(
        delivery_ids(&page),
        std::slice::from_ref(&delivery_id),
        "the same delivery"
    );
    assert!(
        page.text.contains("<td data-label=\"Attempts\">2</td>"),
        "{}",
        page.text
    );
    assert_eq!(page.text.matches("<strong>200</strong>").count(), 2);

    // No such delivery.
    let missing = ada
        .submit(&format!("{path}/deliveries/dlv_nope/retry"), &csrf)
        .await;
    missing.assert_shows(StatusCode::NOT_FOUND, "There is no such delivery");
    let _ = stop.send(true);
    delivery.await.unwrap();
    assert_eq!(receiver.hooks().len(), 2);
    server.stop().await;
}

async fn the_delivery_log_is_filtered_and_paged(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let (path, _) = webhook(&mut ada, &id, "https://hooks.example/in", &EVENTS).await;
    let csrf = ada.get(&path).await.csrf();
    // Nothing sends here: 26 test events stay pending.
    for _ in 0..26 {
        let sent = ada.submit(&format!("{path}/test"), &csrf).await;
        assert_eq!(sent.status, StatusCode::OK);
    }
    let stored: Vec<String> = deliveries(&server, &path)
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(stored.len(), 26);

    let first = ada.get(&path).await;
    assert_eq!(first.status, StatusCode::OK);
    let shown = delivery_ids(&first);
    assert_eq!(shown, stored[..25], "newest first");
    assert!(first.text.contains("status-pending\">pending</span>"));
    assert!(!first.text.contains("Newest deliveries"));
    let cursor = between(
        &first.text,
        &format!("href=\"{path}?cursor="),
        "\" rel=\"next\"",
    );
    let second = ada.get(&format!("{path}?cursor={cursor}")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(delivery_ids(&second), stored[25..]);
    assert!(!second.text.contains("rel=\"next\""));
    assert!(
        second
            .text
            .contains(&format!("<a href=\"{path}\">Newest deliveries</a>"))
    );

    // The status filter is kept on the next page.
    let pending = ada.get(&format!("{path}?status=pending")).await;
    assert_eq!(delivery_ids(&pending).len(), 25);
    let cursor = between(
        &pending.text,
        &format!("href=\"{path}?status=pending&amp;cursor="),
        "\" rel=\"next\"",
    );
    let more = ada
        .get(&format!("{path}?status=pending&cursor={cursor}"))
        .await;
    assert_eq!(delivery_ids(&more), stored[25..]);
    let failed = ada.get(&format!("{path}?status=failed")).await;
    assert!(failed.text.contains("No failed deliveries."));
    assert!(!failed.text.contains("rel=\"next\""));

    // Bad filters and cursors: a 400 page, not an empty log.
    for bad in [
        "status=done",
        "status=%3Cscript%3E",
        "cursor=nope",
        "cursor=1",
    ] {
        let page = ada.get(&format!("{path}?{bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}: {}", page.text);
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{bad}"
        );
        assert!(!page.text.contains("<script>"), "{bad}");
        assert_security_headers(&page, bad);
    }
    server.stop().await;
}

async fn another_owners_webhooks_are_not_found(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let other = create_service(&mut ada, "other", "OTHER", "").await;
    let (path, secret) = webhook(&mut ada, &id, "https://hooks.example/in", &EVENTS).await;
    let webhook_id = path.rsplit('/').next().unwrap().to_owned();
    let csrf = ada.get(&path).await.csrf();
    let sent = ada.submit(&format!("{path}/test"), &csrf).await;
    let delivery_id = delivery_ids(&sent).remove(0);
    let hooks_before = endpoints(&server, &id);
    let deliveries_before = deliveries(&server, &path);
    let audit_before = audit_len(&server, "ada");

    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let graces_service = create_service(&mut grace, "mine", "MINE", "").await;
    let graces_csrf = grace.csrf().await;

    // Grace with ada's ids; grace with her own service and ada's webhook; ada with her other
    // service and this webhook.
    let crossed = format!("/dashboard/services/{graces_service}/webhooks/{webhook_id}");
    let misplaced = format!("/dashboard/services/{other}/webhooks/{webhook_id}");
    for (who, service, wh_path) in [
        ("grace", &id, &path),
        ("grace crossed", &graces_service, &crossed),
        ("ada misplaced", &other, &misplaced),
    ] {
        let (browser, token) = if who.starts_with("grace") {
            (&mut grace, &graces_csrf)
        } else {
            (&mut ada, &csrf)
        };
        for get in [wh_path.clone(), format!("{wh_path}?status=pending")] {
            let page = browser.get(&get).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{who} {get}");
            assert!(page.text.contains(NO_SUCH_WEBHOOK), "{who} {get}");
            assert!(!page.text.contains("hooks.example"), "{who} {get}");
            assert_security_headers(&page, &get);
        }
        for (to, mut fields) in webhook_posts(service, wh_path, &delivery_id) {
            if who != "grace" && to.ends_with("/webhooks") {
                continue; // The poster's own service: adding a webhook to it is allowed.
            }
            fields.push(("csrf", token));
            let refused = browser.post(&to, &fields).await;
            assert_eq!(
                refused.status,
                StatusCode::NOT_FOUND,
                "{who} {to}: {}",
                refused.text
            );
            assert!(refused.text.contains("Not found"), "{who} {to}");
            assert!(!refused.text.contains("new-secret"), "{who} {to}");
            assert!(!refused.text.contains("hooks.example"), "{who} {to}");
        }
    }
    let list = grace.get("/dashboard/services").await;
    assert!(!list.text.contains(&id) && !list.text.contains("BILLING"));

    // Nothing changed.
    assert_eq!(endpoints(&server, &id), hooks_before);
    assert!(endpoints(&server, &other).is_empty());
    assert!(endpoints(&server, &graces_service).is_empty());
    assert_eq!(deliveries(&server, &path), deliveries_before);
    assert_eq!(audit_len(&server, "ada"), audit_before);
    assert_eq!(
        server
            .secret_key
            .open(&hooks_before[0].secret_sealed, &webhook_id)
            .unwrap()
            .expose(),
        secret
    );
    assert_eq!(ada.get(&path).await.status, StatusCode::OK);
    server.stop().await;
}

async fn webhook_forms_without_a_valid_csrf_token_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let (path, _) = webhook(&mut ada, &id, "https://hooks.example/in", &EVENTS).await;
    let csrf = ada.get(&path).await.csrf();
    let sent = ada.submit(&format!("{path}/test"), &csrf).await;
    let delivery_id = delivery_ids(&sent).remove(0);
    let hooks_before = endpoints(&server, &id);
    let deliveries_before = deliveries(&server, &path);
    let audit_before = audit_len(&server, "ada");
    let mut grace = Browser::new(&server);
    signup(&mut grace, "grace").await;
    let graces = grace.csrf().await;

    for token in [None, Some(""), Some("not-a-token"), Some(graces.as_str())] {
        for (to, mut fields) in webhook_posts(&id, &path, &delivery_id) {
            if let Some(token) = token {
                fields.push(("csrf", token));
            }
            let refused = ada.post(&to, &fields).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{to} {token:?}");
            assert!(refused.text.contains("This form could not be verified"));
            assert!(!refused.text.contains("new-secret"));
            assert_security_headers(&refused, &to);
        }
    }
    // Nothing changed.
    assert_eq!(endpoints(&server, &id), hooks_before);
    assert_eq!(deliveries(&server, &path), deliveries_before);
    assert_eq!(audit_len(&server, "ada"), audit_before);
    server.stop().await;
}

async fn hostile_urls_render_escaped(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;

    // Accepted: the checker's parser percent-encodes the hostile parts.
    let hostile = format!("http://127.0.0.1:1/{XSS_SCRIPT}?q={XSS_ATTRIBUTE}");
    let created = add_webhook(&mut ada, &id, &hostile, &["request.approved"]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let stored = endpoints(&server, &id).remove(0);
    assert_eq!(
        stored.url,
        "http://127.0.0.1:1/%3Cscript%3Ealert(1)%3C/script%3E\
         ?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E"
    );
    let path = format!("/dashboard/services/{id}/webhooks/{}", stored.id);
    let csrf = created.csrf();

    // Refused: echoed back in the forms, escaped.
    let refused_url = format!("ftp://x/{XSS_ATTRIBUTE}{XSS_SCRIPT}");
    let refused = add_webhook(&mut ada, &id, &refused_url, &["request.approved"]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let edit_refused = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("url", &refused_url),
                ("with_events", "1"),
                ("events", "request.approved"),
            ],
        )
        .await;
    assert_eq!(edit_refused.status, StatusCode::BAD_REQUEST);
    let escaped = "value=\"ftp://x/&#34;&#62;&#60;img src=x onerror=alert(1)&#62;\
                   &#60;script&#62;alert(1)&#60;/script&#62;\">";
    for page in [&refused, &edit_refused] {
        assert!(page.text.contains(escaped), "{}", page.text);
    }
    let bad_status = ada
        .get(&format!(
            "{path}?status={}",
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        ))
        .await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    let bad_id = ada
        .get(&format!(
            "/dashboard/services/{id}/webhooks/%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        ))
        .await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);

    let disabled = ada.submit(&format!("{path}/disable"), &csrf).await;
    let rotated = ada.submit(&format!("{path}/rotate"), &csrf).await;
    for (what, page) in [
        ("created", created),
        ("refused", refused),
        ("edit refused", edit_refused),
        ("bad status", bad_status),
        ("bad id", bad_id),
        ("disabled", disabled),
        ("rotated", rotated),
        ("webhook", ada.get(&path).await),
        (
            "service",
            ada.get(&format!("/dashboard/services/{id}")).await,
        ),
        ("audit", ada.get("/dashboard/audit").await),
    ] {
        assert!(!page.text.contains(XSS_SCRIPT), "{what}: {}", page.text);
        assert!(!page.text.contains(XSS_ATTRIBUTE), "{what}: {}", page.text);
        assert!(!page.text.contains("<img"), "{what}: {}", page.text);
        assert!(!page.text.contains("<script>"), "{what}: {}", page.text);
    }
    server.stop().await;
}

async fn every_webhook_page_carries_the_security_headers(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = create_service(&mut ada, "billing", "BILLING", "").await;
    let created = add_webhook(&mut ada, &id, "https://hooks.example/in", &EVENTS).await;
    let csrf = created.csrf();
    let base = format!("/dashboard/services/{id}/webhooks/");
    let path = format!(
        "{base}{}",
        between(&created.text, &format!("action=\"{base}"), "/")
    );

    // Someone logged out is sent to the login page.
    let mut visitor = Browser::new(&server);
    let anonymous = visitor.get(&path).await;
    anonymous.assert_redirect("/dashboard/login");
    let anonymous_post = visitor.submit(&format!("{path}/rotate"), &csrf).await;
    anonymous_post.assert_redirect("/dashboard/login");

    let mut pages = vec![
        ("anonymous", anonymous),
        ("anonymous post", anonymous_post),
        ("created", created),
        (
            "refused",
            add_webhook(&mut ada, &id, "ftp://x", &EVENTS).await,
        ),
        ("log", ada.get(&path).await),
        ("bad status", ada.get(&format!("{path}?status=done")).await),
        ("missing", ada.get(&format!("{base}wh_nope")).await),
        (
            "edit",
            ada.post(
                &path,
                &[("csrf", &csrf), ("url", "https://hooks.example/v2")],
            )
            .await,
        ),
        (
            "edit refused",
            ada.post(&path, &[("csrf", &csrf), ("url", "ftp://x")])
                .await,
        ),
        ("test", ada.submit(&format!("{path}/test"), &csrf).await),
        (
            "disable",
            ada.submit(&format!("{path}/disable"), &csrf).await,
        ),
        (
            "test refused",
            ada.submit(&format!("{path}/test"), &csrf).await,
        ),
        ("enable", ada.submit(&format!("{path}/enable"), &csrf).await),
        ("rotate", ada.submit(&format!("{path}/rotate"), &csrf).await),
        (
            "forged",
            ada.post(&format!("{path}/rotate"), &[("csrf", "forged")])
                .await,
        ),
    ];
    let delivery_id = delivery_ids(&ada.get(&path).await).remove(0);
    pages.push((
        "retry",
        ada.submit(&format!("{path}/deliveries/{delivery_id}/retry"), &csrf)
            .await,
    ));
    pages.push(("delete", ada.submit(&format!("{path}/delete"), &csrf).await));
    let statuses: Vec<u16> = pages.iter().map(|(_, p)| p.status.as_u16()).collect();
    assert_eq!(
        statuses,
        [
            303, 303, 201, 400, 200, 400, 404, 303, 400, 200, 200, 409, 200, 200, 403, 303, 303
        ]
    );
    for (what, page) in &pages {
        assert_security_headers(page, what);
        if page.status != StatusCode::SEE_OTHER {
            assert!(
                page.header("content-type").starts_with("text/html"),
                "{what}"
            );
            assert!(!page.text.contains("<script>"), "{what}: no inline script");
            assert!(!page.text.contains("style="), "{what}: no inline style");
        }
    }
    server.stop().await;
}

on_both_engines!(
    webhooks_are_added_with_the_secret_shown_once,
    a_webhook_is_edited_disabled_enabled_rotated_and_deleted,
    test_events_are_delivered_logged_and_retried,
    the_delivery_log_is_filtered_and_paged,
    another_owners_webhooks_are_not_found,
    webhook_forms_without_a_valid_csrf_token_are_refused,
    hostile_urls_render_escaped,
    every_webhook_page_carries_the_security_headers,
);
