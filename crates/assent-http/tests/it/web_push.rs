//! Web Push channels end to end, on SQLite and PostgreSQL: a push service stand-in on
//! 127.0.0.1 (the harness's receiver) records what the sender posts; an independent
//! implementation in Python (`http_ece`, `cryptography`) plays the browser, decrypts each
//! message and checks its VAPID signature; the Approve link it carries is posted as the
//! service worker does, and the service's signed webhook says approved.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assent_auth::web_push::VapidKey;
use assent_core::delivery::RetrySchedule;
use assent_store::testing::Engine;
use base64::Engine as _;
use common::{Browser, Hook, Receiver, TestServer, pending_claim, python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common;

const PEER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/peers/web_push_browser.py"
);

/// Runs the Python browser stand-in with `command`, feeding it `input`; its JSON answer.
pub(crate) fn browser_peer(command: &str, input: Option<&Value>) -> Value {
    let mut child = Command::new(python())
        .arg(PEER)
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs (is ASSENT_TEST_PYTHON's http_ece installed?)");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.to_string().as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A server that allows loopback targets (the stand-in) and knows its VAPID key.
pub(crate) async fn server_with_push(engine: Engine, vapid: &VapidKey) -> TestServer {
    let public = vapid.public_key();
    TestServer::start_with(engine, move |s| {
        s.webhook_policy.allow_private = true;
        s.vapid_public_key = Some(public);
    })
    .await
}

/// Runs the message sender with Web Push, retrying quickly.
pub(crate) fn start_messages(
    server: &TestServer,
    vapid: &VapidKey,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let config = assent_delivery::MessengerConfig {
        smtp_url: None,
        mail_from: "assent <assent@example.com>".to_owned(),
        public_url: url::Url::parse(&server.base).unwrap(),
        schedule: RetrySchedule::parse("0s,100ms,100ms").unwrap(),
        lease: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        policy: assent_core::WebhookUrlPolicy {
            allow_private: true,
        },
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let messenger = assent_delivery::Messenger::new(server.db.store.clone(), config)
        .unwrap()
        .with_web_push(assent_delivery::WebPushConfig {
            key: server.secret_key.clone(),
            vapid: vapid.clone(),
            subject: "mailto:assent@example.com".to_owned(),
        });
    (stop, messenger.spawn(stopped))
}

pub(crate) async fn wait_for_pushes(service: &Receiver, n: usize) -> Vec<Hook> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.hooks().len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} pushes came",
            service.hooks().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.hooks()
}

/// Opens a push as the browser whose keys are `keys`.
pub(crate) fn open(push: &Hook, keys: &Value) -> Value {
    browser_peer(
        "open",
        Some(&json!({
            "body": base64::engine::general_purpose::STANDARD.encode(&push.body),
            "private": keys["private"],
            "auth": keys["auth"],
            "authorization": push.header("authorization"),
        })),
    )
}

async fn subscribe(server: &TestServer, session: &str, endpoint: &str, keys: &Value) -> Value {
    let added = server
        .call(
            Method::POST,
            "/v1/auth/channels",
            session,
            Some(json!({
                "kind": "web_push",
                "address": endpoint,
                "keys": { "p256dh": keys["p256dh"], "auth": keys["auth"] },
            })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    added.body
}

async fn a_pushed_claim_decrypts_and_its_approve_action_decides(engine: Engine) {
    let vapid = VapidKey::generate();
    let server = server_with_push(engine, &vapid).await;
    let session = server.signup("lin").await;
    let key = server
        .call(Method::GET, "/v1/auth/web-push", &session, None)
        .await;
    assert_eq!(
        (key.status, key.body["vapid_public_key"].as_str()),
        (StatusCode::OK, Some(vapid.public_key().as_str()))
    );

    let browser_keys = browser_peer("keys", None);
    let push_service = Receiver::default();
    let endpoint = push_service.start("/push/v2/subscription-1");
    let channel = subscribe(&server, &session, &endpoint, &browser_keys).await;
    assert_eq!(
        (&channel["kind"], &channel["verified"], &channel["disabled"]),
        (&json!("web_push"), &json!(true), &json!(false)),
        "{channel}"
    );
    assert_eq!(channel["address"], endpoint.as_str());
    // The browser's secrets are sealed at rest, never stored or shown as given.
    let account = server
        .db
        .store
        .find_account_by_namespace("lin")
        .unwrap()
        .unwrap();
    let stored = server
        .db
        .store
        .get_channel(&account.id, channel["id"].as_str().unwrap())
        .unwrap();
    let sealed = stored.push_keys_sealed.unwrap();
    assert!(sealed.starts_with("v1."), "{sealed}");
    let auth = browser_keys["auth"].as_str().unwrap();
    assert!(!sealed.contains(auth) && !channel.to_string().contains(auth));

    let service_id = server.create_service(&session, "gateway").await;
    let webhook = Receiver::default();
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": webhook.start("/events"), "events": ["request.approved"] })),
        )
        .await;
    let secret = hook.body["secret"].as_str().unwrap().to_owned();
    let (stop_delivery, delivery) = server.start_delivery();
    let (stop_messages, messages_done) = start_messages(&server, &vapid);
    let claim_id = pending_claim(&server, "lin", "Support bot");

    let pushes = wait_for_pushes(&push_service, 1).await;
    let push = &pushes[0];
    assert_eq!(push.header("content-encoding"), "aes128gcm");
    assert_eq!(push.header("content-type"), "application/octet-stream");
    assert_eq!(push.header("ttl"), "86400");
    assert_eq!(push.header("urgency"), "high");
    let opened = open(push, &browser_keys);

    // The VAPID JWT: ES256 under the server's key, for the push service's origin, for at
    // most a day, naming the contact.
    assert_eq!(opened["signature_valid"], true, "{opened}");
    assert_eq!(opened["k"], vapid.public_key().as_str());
    assert_eq!(opened["jwt_header"]["alg"], "ES256");
    let origin = url::Url::parse(&endpoint)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert_eq!(opened["jwt_claims"]["aud"], origin.as_str());
    assert_eq!(opened["jwt_claims"]["sub"], "mailto:assent@example.com");
    let now = assent_core::Timestamp::now().as_millis() / 1000;
    let exp = opened["jwt_claims"]["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");

    // The payload: the claim, with Approve and Reject as one-click links.
    let payload = &opened["payload"];
    assert_eq!(
        payload["title"], "Support bot asks to act for you on gateway",
        "{payload}"
    );
    assert!(
        payload["body"].as_str().unwrap().contains(&claim_id),
        "{payload}"
    );
    let actions = payload["actions"].as_array().unwrap();
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Approve", "Reject"]);
    assert!(actions.iter().all(|a| a["method"] == "POST"));
    let approve = actions[0]["url"].as_str().unwrap();
    let approve_path = approve.strip_prefix(&server.base).unwrap();
    assert!(
        approve_path.starts_with("/dashboard/links/lnk_"),
        "{approve}"
    );

    // The service worker posts the link from the dashboard's origin, as the confirmation
    // page's form does: the claim is approved, once.
    let mut browser = Browser::new(&server);
    browser
        .post(approve_path, &[])
        .await
        .assert_shows(StatusCode::OK, "Claim approved");
    browser
        .post(approve_path, &[])
        .await
        .assert_shows(StatusCode::GONE, "This link was used already");
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &session,
            None,
        )
        .await;
    assert_eq!(claim.body["status"], "approved");
    let deadline = Instant::now() + Duration::from_secs(15);
    while webhook.hooks().is_empty() {
        assert!(Instant::now() < deadline, "request.approved did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let approved = &webhook.hooks()[0];
    assert_eq!(approved.json()["event"], "request.approved");
    assert_eq!(approved.json()["data"]["claim_id"], claim_id.as_str());
    assent_signing::Verifier::default()
        .verify_now(
            secret.as_bytes(),
            approved.header("x-sigilum-signature"),
            &approved.body,
        )
        .expect("a valid signature");

    // A test push carries Open.
    let tested = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{}/test", channel["id"].as_str().unwrap()),
            &session,
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::ACCEPTED, "{:?}", tested.body);
    let pushes = wait_for_pushes(&push_service, 2).await;
    let test = open(&pushes[1], &browser_keys);
    assert_eq!(test["payload"]["title"], "assent test message");
    assert_eq!(test["payload"]["actions"][0]["title"], "Open");
    assert_eq!(pushes[1].header("urgency"), "normal");

    let _ = stop_delivery.send(true);
    let _ = stop_messages.send(true);
    delivery.await.unwrap();
    messages_done.await.unwrap();
    server.stop().await;
}

async fn a_gone_subscription_disables_its_channel(engine: Engine) {
    let vapid = VapidKey::generate();
    let server = server_with_push(engine, &vapid).await;
    let session = server.signup("lin").await;
    server.create_service(&session, "gateway").await;
    let push_service = Receiver::default();
    push_service.answer(410);
    let endpoint = push_service.start("/push/gone");
    let channel = subscribe(&server, &session, &endpoint, &browser_peer("keys", None)).await;
    let (stop, done) = start_messages(&server, &vapid);
    pending_claim(&server, "lin", "bot-1");
    wait_for_pushes(&push_service, 1).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed = server
            .call(Method::GET, "/v1/auth/channels", &session, None)
            .await;
        if listed.body["channels"][0]["disabled"] == true {
            break listed;
        }
        assert!(Instant::now() < deadline, "{:?}", listed.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        listed.body["channels"][0]["disabled_reason"],
        "the push service says the subscription is gone (HTTP 410)"
    );
    let log = server
        .call(Method::GET, "/v1/auth/messages", &session, None)
        .await;
    // The claim's own message; its reminder (`item.expiring`, not yet due) ends with the channel.
    let messages = log.body["messages"].as_array().unwrap();
    let message = messages
        .iter()
        .find(|m| m["topic"] == "claim.submitted")
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(
        messages
            .iter()
            .all(|m| m["status"] == "exhausted" || m["status"] == "sent"),
        "{messages:?}"
    );
    assert_eq!(
        (&message["status"], &message["attempt_count"]),
        (&json!("exhausted"), &json!(1)),
        "gone is not retried: {message}"
    );
    assert!(
        message["last_error"].as_str().unwrap().contains("410"),
        "{message}"
    );

    // Nothing more is sent to it.
    pending_claim(&server, "lin", "bot-2");
    let tested = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{}/test", channel["id"].as_str().unwrap()),
            &session,
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(push_service.hooks().len(), 1, "{:?}", push_service.hooks());
    let log = server
        .call(Method::GET, "/v1/auth/messages", &session, None)
        .await;
    let newest = &log.body["messages"][0];
    assert_eq!(newest["status"], "exhausted", "{newest}");
    assert!(
        newest["last_error"]
            .as_str()
            .unwrap()
            .starts_with("the channel is disabled"),
        "{newest}"
    );
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

async fn bad_push_subscriptions_are_refused_with_stable_codes(engine: Engine) {
    // Production rules: https and public endpoints only.
    let vapid = VapidKey::generate();
    let public = vapid.public_key();
    let server = TestServer::start_with(engine, move |s| s.vapid_public_key = Some(public)).await;
    let lin = server.signup("lin").await;
    let keys = browser_peer("keys", None);
    let (p256dh, auth) = (
        keys["p256dh"].as_str().unwrap(),
        keys["auth"].as_str().unwrap(),
    );
    let good = "https://push.example.net/wpush/v2/abc";
    // 65 bytes, but no point of the curve.
    let off_curve = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
    let cases = [
        (
            json!({ "address": "http://push.example.net/wpush/v2/abc", "keys": { "p256dh": p256dh, "auth": auth } }),
            "INVALID_WEBHOOK_URL",
            "address",
        ),
        (
            json!({ "address": "https://10.1.2.3/push", "keys": { "p256dh": p256dh, "auth": auth } }),
            "INVALID_WEBHOOK_URL",
            "address",
        ),
        (
            json!({ "address": "https://127.0.0.1/push", "keys": { "p256dh": p256dh, "auth": auth } }),
            "INVALID_WEBHOOK_URL",
            "address",
        ),
        (
            json!({ "address": good }),
            "INVALID_PUSH_SUBSCRIPTION",
            "keys",
        ),
        (
            json!({ "address": good, "keys": { "p256dh": p256dh } }),
            "INVALID_PUSH_SUBSCRIPTION",
            "keys.auth",
        ),
        (
            json!({ "address": good, "keys": { "p256dh": &p256dh[..43], "auth": auth } }),
            "INVALID_PUSH_SUBSCRIPTION",
            "keys.p256dh",
        ),
        (
            json!({ "address": good, "keys": { "p256dh": p256dh, "auth": "c2hvcnQ" } }),
            "INVALID_PUSH_SUBSCRIPTION",
            "keys.auth",
        ),
        (
            json!({ "address": good, "keys": { "p256dh": off_curve, "auth": auth } }),
            "INVALID_PUSH_SUBSCRIPTION",
            "keys.p256dh",
        ),
    ];
    for (mut body, code, field) in cases {
        body["kind"] = json!("web_push");
        let reply = server
            .call(Method::POST, "/v1/auth/channels", &lin, Some(body.clone()))
            .await;
        assert_eq!(
            (
                reply.status,
                reply.body["code"].as_str(),
                reply.body["details"]["field"].as_str()
            ),
            (StatusCode::BAD_REQUEST, Some(code), Some(field)),
            "{body}: {:?}",
            reply.body
        );
    }
    let on_email = server
        .call(
            Method::POST,
            "/v1/auth/channels",
            &lin,
            Some(json!({ "kind": "email", "address": "lin@example.com",
                         "keys": { "p256dh": p256dh, "auth": auth } })),
        )
        .await;
    assert_eq!(
        (on_email.status, on_email.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR"))
    );
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &lin, None)
        .await;
    assert_eq!(listed.body["channels"], json!([]), "nothing was added");

    let added = server
        .call(
            Method::POST,
            "/v1/auth/channels",
            &lin,
            Some(json!({ "kind": "web_push", "address": good,
                         "keys": { "p256dh": p256dh, "auth": auth } })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let anonymous = server
        .send(server.client.get(server.url("/v1/auth/web-push")))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

on_both_engines!(
    a_pushed_claim_decrypts_and_its_approve_action_decides,
    a_gone_subscription_disables_its_channel,
    bad_push_subscriptions_are_refused_with_stable_codes,
);
