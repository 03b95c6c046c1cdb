//! Moving a deployment between engines: a SQLite database filled through the HTTP flows (a
//! claim approved, a notification answered, webhooks delivered) is copied to PostgreSQL, and a
//! server started there goes on as if nothing happened: verify still authorizes, webhooks are
//! signed with the old secret, the audit log and the delivery log are the same, stream event
//! ids keep rising. Then the PostgreSQL database is copied back to SQLite.

use crate::common;

use std::time::{Duration, Instant};

use assent_store::CopyOptions;
use assent_store::testing::{Engine, TestDatabase};
use common::{Agent, Receiver, TestServer, claim_body, signed, verify};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn wait_for(receiver: &Receiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.events().len() < n {
        assert!(
            Instant::now() < deadline,
            "webhooks did not arrive: {:?}",
            receiver.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_signed_with(receiver: &Receiver, secret: &str) {
    for hook in receiver.hooks() {
        assent_signing::Verifier::default()
            .verify_now(
                secret.as_bytes(),
                hook.header("x-sigilum-signature"),
                &hook.body,
            )
            .expect("signed with the webhook's secret");
    }
}

/// What an owner sees of the audit log and of a webhook's delivery log.
async fn logs(server: &TestServer, session: &str, service: &str, webhook: &str) -> (Value, Value) {
    let audit = server
        .call(Method::GET, "/v1/audit-log", session, None)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let deliveries = server
        .call(
            Method::GET,
            &format!("/v1/services/{service}/webhooks/{webhook}/deliveries"),
            session,
            None,
        )
        .await;
    assert_eq!(deliveries.status, StatusCode::OK, "{:?}", deliveries.body);
    (audit.body, deliveries.body)
}

fn last_change(server: &TestServer) -> i64 {
    server
        .db
        .store
        .changes_after(None, 0, 10_000)
        .unwrap()
        .last()
        .map_or(0, |c| c.seq)
}

#[actix_web::test]
async fn a_sqlite_deployment_moves_to_postgres_and_back() {
    let server =
        TestServer::start_with(Engine::Sqlite, |s| s.webhook_policy.allow_private = true).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let receiver = Receiver::default();
    let url = receiver.start("/events");
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": url })),
        )
        .await;
    let secret = hook.body["secret"].as_str().unwrap().to_owned();
    let webhook_id = hook.body["id"].as_str().unwrap().to_owned();
    let (stop, delivery) = server.start_delivery();

    let agent = Agent::new("lin");
    let submitted = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(claim_body(&agent, "gateway")),
        Some(&api_key),
    )
    .await;
    let claim_id = submitted.body["claim_id"].as_str().unwrap().to_owned();
    let approved = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK);
    let notification = server
        .notify(
            &api_key,
            &json!({
                "context": { "title": "Deploy release 1.2?", "description": "All checks passed." },
                "actions": [{ "id": "approve", "label": "Deploy", "response_type": "simple" }],
            }),
        )
        .await;
    let token = server.user_token(&session, "phone").await;
    let answered = server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &token,
            Some(json!({ "notification_id": notification, "action_id": "approve" })),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    wait_for(&receiver, 2).await;
    // Every delivery settled before the copy (the engine is stopped; nothing is in flight).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(true);
    delivery.await.unwrap();
    assert_eq!(verify(&server, &agent, "gateway").await["authorized"], true);
    let before = logs(&server, &session, &service_id, &webhook_id).await;
    let change_before = last_change(&server);
    assert!(change_before > 0);
    let key = server.secret_key.clone();
    let admin = server.admin_token.clone();
    let source_db = server.db.store.clone();

    // To PostgreSQL.
    let postgres = TestDatabase::unmigrated(Engine::Postgres);
    let report = source_db
        .copy_to(
            Some(&postgres.store),
            &key,
            CopyOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert!(
        report
            .tables
            .iter()
            .any(|t| t.table == "deliveries" && t.rows >= 2)
    );
    server.stop().await;
    let moved = TestServer::start_on(postgres, key.clone(), admin.clone(), |s| {
        s.webhook_policy.allow_private = true;
    });
    // The same session, verify, logs.
    assert_eq!(verify(&moved, &agent, "gateway").await["authorized"], true);
    assert_eq!(
        logs(&moved, &session, &service_id, &webhook_id).await,
        before
    );
    // New work is signed with the old secret and numbered after the old.
    let (stop, delivery) = moved.start_delivery();
    let revoked = moved
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/revoke"),
            &session,
            None,
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked", "{:?}", revoked.body);
    wait_for(&receiver, 3).await;
    assert_signed_with(&receiver, &secret);
    assert!(
        last_change(&moved) > change_before,
        "stream event ids keep rising"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(true);
    delivery.await.unwrap();
    assert_eq!(verify(&moved, &agent, "gateway").await["authorized"], false);
    let after_move = logs(&moved, &session, &service_id, &webhook_id).await;

    // And back to SQLite: the same logs again.
    let back = TestDatabase::unmigrated(Engine::Sqlite);
    moved
        .db
        .store
        .copy_to(Some(&back.store), &key, CopyOptions::default(), &mut |_| {})
        .unwrap();
    moved.stop().await;
    let returned = TestServer::start_on(back, key, admin, |_| {});
    assert_eq!(
        logs(&returned, &session, &service_id, &webhook_id).await,
        after_move
    );
    assert_eq!(
        verify(&returned, &agent, "gateway").await["authorized"],
        false
    );
    returned.stop().await;
}
