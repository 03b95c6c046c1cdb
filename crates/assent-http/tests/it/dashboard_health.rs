//! What an owner sees when deliveries fail, on SQLite and PostgreSQL, with the real delivery
//! engine and a real receiver: the failing badge and the last error on the service and webhook
//! pages and in the API, cleared by a success.

use crate::common;
use crate::dashboard_webhooks::{delivery_ids, endpoints, webhook};

use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use common::{Browser, Receiver, TestServer, create_service};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Waits until the service's only webhook satisfies `done`.
async fn wait_for_endpoint(
    server: &TestServer,
    service_id: &str,
    what: &str,
    done: impl Fn(&assent_store::WebhookEndpoint) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&endpoints(server, service_id)[0]) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The service's webhooks as the JSON API lists them.
async fn listed(server: &TestServer, session: &str, service_id: &str) -> Value {
    let reply = server
        .call(
            Method::GET,
            &format!("/v1/services/{service_id}/webhooks"),
            session,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["webhooks"][0].clone()
}

async fn a_failing_webhook_shows_its_last_error_until_a_success(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let receiver = Receiver::default();
    receiver.answer(500);
    let url = receiver.start("/events");
    let (stop, delivery) = server.start_delivery();
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let session = server.login("ada@example.com").await.0;
    let id = create_service(&mut ada, "billing", "Billing", "").await;
    let (path, _) = webhook(&mut ada, &id, &url, &["request.approved"]).await;

    let healthy = listed(&server, &session, &id).await;
    assert_eq!(healthy["status"], "healthy", "{healthy}");
    assert_eq!(healthy["consecutive_failures"], 0);
    assert!(healthy["last_error"].is_null());
    let page = ada.get(&format!("/dashboard/services/{id}")).await;
    assert!(page.text.contains("status-healthy"), "{}", page.text);

    let csrf = ada.get(&path).await.csrf();
    let sent = ada.submit(&format!("{path}/test"), &csrf).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    let delivery_id = delivery_ids(&sent)[0].clone();
    wait_for_endpoint(&server, &id, "a failure", |e| e.consecutive_failures == 1).await;

    // The API: failing, since when, how many, and the error (the status, not the body).
    let failing = listed(&server, &session, &id).await;
    assert_eq!(failing["status"], "failing", "{failing}");
    assert_eq!(failing["consecutive_failures"], 1);
    assert_eq!(failing["last_error"], "HTTP 500");
    assert!(failing["failing_since"].is_string(), "{failing}");
    assert!(!failing.to_string().contains("receiver said no"));

    // The pages: the badge and the last error, on the service's page and the webhook's.
    for page_path in [format!("/dashboard/services/{id}"), path.clone()] {
        let page = ada.get(&page_path).await;
        assert!(
            page.text
                .contains("<span class=\"status status-failing\">failing</span>"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("1 failed attempt in a row"),
            "{}",
            page.text
        );
        assert!(
            page.text
                .contains("last error: <span class=\"last-error\">HTTP 500</span>"),
            "{}",
            page.text
        );
    }

    // A success ends the streak: healthy again, no last error, anywhere.
    receiver.answer(0);
    ada.submit(&format!("{path}/deliveries/{delivery_id}/retry"), &csrf)
        .await
        .assert_redirect(&path);
    wait_for_endpoint(&server, &id, "a success", |e| e.consecutive_failures == 0).await;
    let recovered = listed(&server, &session, &id).await;
    assert_eq!(recovered["status"], "healthy", "{recovered}");
    assert!(recovered["last_error"].is_null());
    assert!(recovered["failing_since"].is_null());
    let page = ada.get(&format!("/dashboard/services/{id}")).await;
    assert!(page.text.contains("status-healthy"), "{}", page.text);
    assert!(!page.text.contains("status-failing"), "{}", page.text);
    assert!(!page.text.contains("last-error"), "{}", page.text);

    let _ = stop.send(true);
    delivery.await.unwrap();
    server.stop().await;
}

on_both_engines!(a_failing_webhook_shows_its_last_error_until_a_success,);
