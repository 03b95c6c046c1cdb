//! Standard Webhooks endpoints over HTTP, on SQLite and PostgreSQL, with the real delivery
//! engine and a real receiver: what arrives is verified by the independent implementations a
//! receiver would use (PyPI `standardwebhooks` for `v1`, `cryptography`'s Ed25519 for `v1a`
//! with the key fetched from the JWKS and from the DID document), through a secret rotation
//! and with a tampered body. Also the choices' rules: formats, asymmetric signing, ATP.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{self, Browser, Hook, Receiver, TestServer};

/// The receiver's hooks once it has `n` of them.
async fn wait_for_hooks(receiver: &Receiver, n: usize) -> Vec<Hook> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hooks = receiver.hooks();
        if hooks.len() >= n {
            return hooks;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} hooks arrived",
            hooks.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A case for the Python verifier: a secret (or none), the hook's headers and its body.
fn case(secret: Option<&str>, hook: &Hook, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| ((*name).to_owned(), Value::from(hook.header(name))))
            .collect();
    json!({ "secret": secret, "headers": headers, "body": base64(body) })
}

/// Runs the committed verifier (`python/verify_standard_webhooks.py`) on a request.
fn verify_in_python(request: &Value) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/python/verify_standard_webhooks.py"
    );
    let python = common::python();
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

async fn send_test(server: &TestServer, session: &str, path: &str) -> String {
    let sent = server
        .call(Method::POST, &format!("{path}/test"), session, None)
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);
    sent.body["event_id"].as_str().unwrap().to_owned()
}

async fn independent_libraries_verify_deliveries_through_a_rotation_and_with_ed25519(
    engine: Engine,
) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let receiver = Receiver::default();
    let url = receiver.start("/standard");
    let (stop, delivery) = server.start_delivery();
    let (session, _) = server.login("ada@example.com").await;
    let service = server.create_service(&session, "billing").await;
    let created = server
        .call(
            Method::POST,
            &format!("/v1/services/{service}/webhooks"),
            &session,
            Some(json!({ "url": url, "format": "standard" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["format"], "standard");
    assert_eq!(created.body["public_key"], Value::Null);
    let first_secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(first_secret.starts_with("whsec_"), "{first_secret}");
    let webhook_id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/services/{service}/webhooks/{webhook_id}");

    // 1. One secret: one v1 signature, the event's id as the message id.
    let event_id = send_test(&server, &session, &path).await;
    let hooks = wait_for_hooks(&receiver, 1).await;
    let first = &hooks[0];
    assert_eq!(first.header("webhook-id"), event_id);
    assert_eq!(first.header("content-type"), "application/json");
    let timestamp: i64 = first.header("webhook-timestamp").parse().unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!((now - timestamp).abs() < 60, "{timestamp} vs {now}");
    assert!(first.header("webhook-signature").starts_with("v1,"));
    assert!(!first.header("webhook-signature").contains(' '));
    assert!(first.header("x-sigilum-signature").is_empty());
    assert_eq!(first.json()["data"]["webhook_id"], webhook_id.as_str());

    // 2. Rotated: both secrets sign while the grace period runs.
    let rotated = server
        .call(
            Method::POST,
            &format!("{path}/rotate-secret"),
            &session,
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let second_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    send_test(&server, &session, &path).await;
    let second = wait_for_hooks(&receiver, 2).await[1].clone();
    assert_eq!(second.header("webhook-signature").matches("v1,").count(), 2);

    // 3. Asymmetric signing turned on: a v1a beside the v1s, the public key shown.
    let changed = server
        .call(
            Method::PATCH,
            &path,
            &session,
            Some(json!({ "asymmetric": true })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let public_key = changed.body["public_key"].as_str().unwrap().to_owned();
    assert!(public_key.starts_with("whpk_"), "{public_key}");
    send_test(&server, &session, &path).await;
    let third = wait_for_hooks(&receiver, 3).await[2].clone();
    let signature = third.header("webhook-signature");
    assert_eq!(signature.matches("v1a,").count(), 1, "{signature}");
    assert!(assent_auth::standard_webhooks::verify_asymmetric(
        &public_key,
        signature,
        &assent_auth::standard_webhooks::signed_content(
            third.header("webhook-id"),
            third.header("webhook-timestamp").parse().unwrap(),
            &third.body,
        ),
    ));

    let mut tampered = third.body.clone();
    tampered.extend_from_slice(b" ");
    let verified = verify_in_python(&json!({
        "symmetric": [
            case(Some(&first_secret), first, &first.body),
            case(Some(&second_secret), first, &first.body),
            case(Some(&second_secret), &second, &second.body),
            case(Some(&first_secret), &second, &second.body),
            case(Some(&second_secret), &third, &third.body),
            case(Some(&second_secret), &third, &tampered),
        ],
        "asymmetric": {
            "jwks_url": server.url("/v1/namespaces/ada/jwks.json"),
            "did_url": server.url("/.well-known/did/did:sigilum:ada"),
            "did": "did:sigilum:ada",
            "kid": webhook_id,
            "cases": [case(None, &third, &third.body), case(None, &third, &tampered)],
        },
    }));
    assert_eq!(
        verified,
        json!({
            // The first secret verifies the first delivery, not the second secret; both
            // verify the delivery sent during the grace period; a tampered body fails.
            "symmetric": [true, false, true, true, true, false],
            "jwks": [true, false],
            "did": [true, false],
        })
    );

    stop.send(true).unwrap();
    delivery.await.unwrap();
}

async fn formats_and_asymmetric_signing_follow_their_rules(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let service = server.create_service(&session, "billing").await;
    let hooks = format!("/v1/services/{service}/webhooks");
    let create = |body: Value| server.call(Method::POST, &hooks, &session, Some(body));

    for (body, field) in [
        (
            json!({ "url": "https://h.example/x", "format": "atp" }),
            "format",
        ),
        (
            json!({ "url": "https://h.example/x", "format": "STANDARD" }),
            "format",
        ),
        (json!({ "url": "https://h.example/x", "format": 7 }), ""),
        (
            json!({ "url": "https://h.example/x", "asymmetric": true }),
            "asymmetric",
        ),
        (
            json!({ "url": "https://h.example/x", "format": "sigilum", "asymmetric": true }),
            "asymmetric",
        ),
    ] {
        let reply = create(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.body
        );
        if !field.is_empty() {
            assert_eq!(reply.body["code"], "VALIDATION_ERROR", "{body}");
            assert!(
                reply.body.to_string().contains(field),
                "{body}: {}",
                reply.body
            );
        }
    }
    let listed = server.call(Method::GET, &hooks, &session, None).await;
    assert_eq!(listed.body["webhooks"], json!([]), "nothing was made");

    let made =
        create(json!({ "url": "https://h.example/x", "format": "standard", "asymmetric": true }))
            .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    let key = made.body["public_key"].as_str().unwrap().to_owned();
    let path = format!("{hooks}/{id}");
    let patch = |body: Value| server.call(Method::PATCH, &path, &session, Some(body));

    // Asymmetric again keeps the key; the JWKS and the DID document publish it.
    let again = patch(json!({ "asymmetric": true })).await;
    assert_eq!(again.body["public_key"], key.as_str());
    let jwks = server.get("/v1/namespaces/ada/jwks.json").await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(
        jwks.headers["content-type"].to_str().unwrap(),
        "application/jwk-set+json"
    );
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks.body["keys"][0]["kid"], id.as_str());
    let did = server.get("/.well-known/did/did:sigilum:ada").await;
    let method = format!("did:sigilum:ada#webhook-{id}");
    assert!(
        did.body["assertionMethod"]
            .as_array()
            .unwrap()
            .contains(&json!(method))
    );
    assert!(
        !did.body["authentication"]
            .as_array()
            .unwrap()
            .contains(&json!(method)),
        "a webhook key never authenticates an agent"
    );

    // Leaving the standard format drops the key, which leaves the JWKS.
    let sigilum = patch(json!({ "format": "sigilum" })).await;
    assert_eq!(sigilum.status, StatusCode::OK, "{:?}", sigilum.body);
    assert_eq!(sigilum.body["format"], "sigilum");
    assert_eq!(sigilum.body["public_key"], Value::Null);
    let refused = patch(json!({ "asymmetric": true })).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.body
    );
    let back = patch(json!({ "format": "standard", "asymmetric": true })).await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_ne!(back.body["public_key"], key.as_str(), "a new key");
    let off = patch(json!({ "asymmetric": false })).await;
    assert_eq!(
        (off.body["format"].as_str(), &off.body["public_key"]),
        (Some("standard"), &Value::Null)
    );
    let jwks = server.get("/v1/namespaces/ada/jwks.json").await;
    assert_eq!(jwks.body["keys"], json!([]));
    let atp_format = patch(json!({ "format": "atp" })).await;
    assert_eq!(atp_format.status, StatusCode::BAD_REQUEST);

    // An ATP callback keeps its format.
    let registered = server.register(&common::seed_registration()).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let services = server
        .call(Method::GET, "/v1/services", &session, None)
        .await;
    let atp_service = services.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == registered.body["service_id"])
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("{:?}", services.body))
        .to_owned();
    let atp_hooks = server
        .call(
            Method::GET,
            &format!("/v1/services/{atp_service}/webhooks"),
            &session,
            None,
        )
        .await;
    let atp_id = atp_hooks.body["webhooks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = server
        .call(
            Method::PATCH,
            &format!("/v1/services/{atp_service}/webhooks/{atp_id}"),
            &session,
            Some(json!({ "format": "standard" })),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")),
        "{:?}",
        reply.body
    );

    for (path, status) in [
        ("/v1/namespaces/nobody/jwks.json", StatusCode::NOT_FOUND),
        ("/v1/namespaces/NO!/jwks.json", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(server.get(path).await.status, status, "{path}");
    }
}

async fn the_dashboard_chooses_the_format_and_shows_the_public_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut ada = Browser::new(&server);
    ada.login("ada@example.com").await;
    let id = common::create_service(&mut ada, "billing", "Billing", "").await;
    let page = ada.get(&format!("/dashboard/services/{id}")).await;
    assert!(
        page.text.contains(r#"name="format" value="standard""#),
        "{}",
        page.text
    );
    let csrf = page.csrf();
    let made = ada
        .post(
            &format!("/dashboard/services/{id}/webhooks"),
            &[
                ("csrf", &csrf),
                ("url", "https://h.example/x"),
                ("events", "request.approved"),
                ("format", "standard"),
                ("asymmetric", "1"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert!(made.text.contains("Standard Webhooks"), "{}", made.text);
    let key = common::between(&made.text, "id=\"public-key\"", "</p>");
    assert!(key.contains("whpk_"), "{key}");
}

on_both_engines!(
    independent_libraries_verify_deliveries_through_a_rotation_and_with_ed25519,
    formats_and_asymmetric_signing_follow_their_rules,
    the_dashboard_chooses_the_format_and_shows_the_public_key,
);
