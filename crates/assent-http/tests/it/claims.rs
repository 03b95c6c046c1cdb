//! Claims end to end, on SQLite and PostgreSQL: an agent signs a claim request, the owner
//! approves, verify says authorized, the webhook receiver gets request.submitted then
//! request.approved with valid signatures, the owner revokes, verify says unauthorized.

use crate::common;

use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use common::{Agent, Receiver, TestServer, claim_body, signed, verify};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn an_agent_is_approved_verified_and_revoked(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
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
    assert_eq!(
        submitted.status,
        StatusCode::CREATED,
        "{:?}",
        submitted.body
    );
    assert_eq!(submitted.body["status"], "pending");
    assert_eq!(submitted.body["service"], "gateway");
    let claim_id = submitted.body["claim_id"].as_str().unwrap().to_owned();
    let again = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(claim_body(&agent, "gateway")),
        Some(&api_key),
    )
    .await;
    assert_eq!(
        (again.status, again.body["claim_id"].as_str()),
        (StatusCode::OK, Some(claim_id.as_str())),
        "idempotent"
    );
    assert_eq!(
        verify(&server, &agent, "gateway").await,
        json!({ "authorized": false, "reason": "no_approved_claim" })
    );

    // Delivery order is not promised; waiting for the first event makes the sequence certain.
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.events().is_empty() {
        assert!(
            Instant::now() < deadline,
            "request.submitted did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &session,
            None,
        )
        .await;
    assert_eq!(claim.body["agent_key"], agent.key.did_key());
    assert_eq!(claim.body["subject"], "customer-42");
    let approved = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;
    assert_eq!(
        (approved.status, approved.body["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    let answer = verify(&server, &agent, "gateway").await;
    assert_eq!(
        (answer["authorized"].as_bool(), answer["claim_id"].as_str()),
        (Some(true), Some(claim_id.as_str()))
    );
    assert!(answer["approved_at"].is_string());

    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.events().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "webhooks did not arrive: {:?}",
            receiver.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = receiver.events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["request.submitted", "request.approved"]);
    assert_eq!(events[1]["data"]["claim_id"], claim_id.as_str());
    assert_eq!(events[1]["data"]["agent_key"], agent.key.did_key());
    assert_eq!(events[1]["data"]["public_key"], agent.key.public_key());
    assert_eq!(events[1]["data"]["service"], "gateway");
    for hook in receiver.hooks() {
        assent_signing::Verifier::default()
            .verify_now(
                secret.as_bytes(),
                hook.header("x-sigilum-signature"),
                &hook.body,
            )
            .expect("a valid signature");
    }

    let revoked = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/revoke"),
            &session,
            None,
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked");
    assert_eq!(
        verify(&server, &agent, "gateway").await["authorized"],
        false,
        "unauthorized on the next call"
    );
    let _ = stop.send(true);
    delivery.await.unwrap();
}

async fn claims_are_bound_and_isolated(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let gateway = server.create_service(&session, "gateway").await;
    let other = server.create_service(&session, "billing").await;
    let key_of = |id: String| {
        let server = &server;
        let session = session.clone();
        async move {
            let reply = server
                .call(
                    Method::POST,
                    &format!("/v1/services/{id}/keys"),
                    &session,
                    None,
                )
                .await;
            reply.body["key"].as_str().unwrap().to_owned()
        }
    };
    let gateway_key = key_of(gateway).await;
    let billing_key = key_of(other).await;
    let agent = Agent::new("lin");

    // The API key of another service.
    let reply = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(claim_body(&agent, "gateway")),
        Some(&billing_key),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("SERVICE_MISMATCH"))
    );
    // No API key, or an unknown one.
    let reply = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(claim_body(&agent, "gateway")),
        None,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    // A certificate of another namespace than the claim's.
    let stranger = Agent::new("kay");
    let mut body = claim_body(&stranger, "gateway");
    body["namespace"] = json!("lin");
    let reply = signed(
        &server,
        &stranger,
        Method::POST,
        "/v1/claims",
        Some(body),
        Some(&gateway_key),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("SIGNATURE_NAMESPACE_MISMATCH"))
    );
    // A key other than the signer's, unless the service asks for namespace-only binding.
    let mut body = claim_body(&agent, "gateway");
    body["public_key"] = json!(Agent::new("lin").key.public_key());
    let reply = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(body),
        Some(&gateway_key),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("SIGNATURE_KEY_MISMATCH"))
    );
    // With namespace-only binding the service may ask for a key other than the signer's.
    let other = Agent::new("lin");
    let mut body = claim_body(&agent, "gateway");
    body["public_key"] = json!(other.key.public_key());
    let bytes = body.to_string().into_bytes();
    let url = server.url("/v1/claims");
    let mut request = server
        .client
        .post(&url)
        .bearer_auth(&gateway_key)
        .header("x-sigilum-claim-binding", "Namespace-Only ")
        .header("content-type", "application/json");
    for (name, value) in agent.headers("POST", &url, &bytes) {
        request = request.header(name, value);
    }
    let reply = server.send(request.body(bytes)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{}", reply.body["claim_id"].as_str().unwrap()),
            &session,
            None,
        )
        .await;
    assert_eq!(
        claim.body["agent_key"],
        other.key.did_key(),
        "the claim is for the named key"
    );
    // Verify needs all three parameters.
    let reply = signed(
        &server,
        &agent,
        Method::GET,
        "/v1/verify?namespace=lin",
        None,
        None,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR"))
    );
    // A replayed body nonce.
    let body = claim_body(&agent, "gateway");
    let first = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(body.clone()),
        Some(&gateway_key),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let replay = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(body),
        Some(&gateway_key),
    )
    .await;
    assert_eq!(
        (replay.status, replay.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("NONCE_REPLAY"))
    );
    // Validation.
    let mut body = claim_body(&agent, "gateway");
    body["nonce"] = json!("short");
    let reply = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(body),
        Some(&gateway_key),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("nonce"))
    );

    // Another owner can neither see nor decide lin's claim.
    let claim_id = first.body["claim_id"].as_str().unwrap().to_owned();
    let kay = server.signup("kay").await;
    for (method, path) in [
        (Method::GET, format!("/v1/claims/{claim_id}")),
        (Method::POST, format!("/v1/claims/{claim_id}/approve")),
        (Method::POST, format!("/v1/claims/{claim_id}/reject")),
        (Method::POST, format!("/v1/claims/{claim_id}/revoke")),
    ] {
        let reply = server.call(method.clone(), &path, &kay, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let reply = server
        .call(Method::GET, "/v1/namespaces/lin/claims", &kay, None)
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
    );
    let listed = server
        .call(
            Method::GET,
            "/v1/namespaces/lin/claims?status=pending",
            &session,
            None,
        )
        .await;
    // The namespace-only claim and the first one.
    assert_eq!(listed.body["claims"].as_array().unwrap().len(), 2);

    // Decisions are compare-and-set.
    let approve = format!("/v1/claims/{claim_id}/approve");
    assert_eq!(
        server
            .call(Method::POST, &approve, &session, None)
            .await
            .status,
        StatusCode::OK
    );
    let again = server.call(Method::POST, &approve, &session, None).await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("CLAIM_STATE_CONFLICT"))
    );
    assert_eq!(again.body["details"]["status"], "approved");
}

async fn namespaces_and_dids_are_published(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
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
    server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;

    let info = signed(
        &server,
        &agent,
        Method::GET,
        "/v1/namespaces/lin",
        None,
        None,
    )
    .await;
    assert_eq!(info.status, StatusCode::OK, "{:?}", info.body);
    assert_eq!(
        (
            info.body["did"].as_str(),
            info.body["active_claims"].as_i64()
        ),
        (Some("did:sigilum:lin"), Some(1))
    );
    assert_eq!(info.headers["cache-control"], "public, max-age=300");
    let elsewhere = signed(
        &server,
        &agent,
        Method::GET,
        "/v1/namespaces/kay",
        None,
        None,
    )
    .await;
    assert_eq!(elsewhere.body["code"], "SIGNATURE_NAMESPACE_MISMATCH");

    let feed = signed(
        &server,
        &agent,
        Method::GET,
        "/v1/namespaces/claims",
        None,
        Some(&api_key),
    )
    .await;
    assert_eq!(feed.status, StatusCode::OK, "{:?}", feed.body);
    assert_eq!(feed.body["claims"][0]["claim_id"], claim_id.as_str());
    let wrong = signed(
        &server,
        &agent,
        Method::GET,
        "/v1/namespaces/claims?service=other",
        None,
        Some(&api_key),
    )
    .await;
    assert_eq!(wrong.body["code"], "SERVICE_MISMATCH");

    let doc = server
        .send(
            server
                .client
                .get(server.url("/.well-known/did/did:sigilum:lin")),
        )
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["id"], "did:sigilum:lin");
    let multibase = agent
        .key
        .did_key()
        .trim_start_matches("did:key:")
        .to_owned();
    assert_eq!(
        doc.body["verificationMethod"][0]["publicKeyMultibase"],
        multibase.as_str()
    );
    assert!(
        multibase.starts_with("z6Mk"),
        "a did:key-style multicodec multibase"
    );
    assert_eq!(doc.body["service"][0]["type"], "AgentEndpoint");
    let resolved = server
        .send(
            server
                .client
                .get(server.url("/1.0/identifiers/did:sigilum:lin")),
        )
        .await;
    assert_eq!(resolved.body["didDocument"], doc.body);
    let missing = server
        .send(
            server
                .client
                .get(server.url("/1.0/identifiers/did:sigilum:nobody")),
        )
        .await;
    assert_eq!(
        (
            missing.status,
            missing.body["didResolutionMetadata"]["error"].as_str()
        ),
        (StatusCode::NOT_FOUND, Some("notFound"))
    );
    let invalid = server
        .send(
            server
                .client
                .get(server.url("/.well-known/did/did:web:example.com")),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
}

async fn of_fifty_concurrent_approvals_one_wins(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": "https://h.example/x" })),
        )
        .await;
    let webhook_id = hook.body["id"].as_str().unwrap().to_owned();
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
    let path = format!(
        "/v1/claims/{}/approve",
        submitted.body["claim_id"].as_str().unwrap()
    );
    let replies = futures_util::future::join_all(
        (0..50).map(|_| server.call(Method::POST, &path, &session, None)),
    )
    .await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    let log = server
        .call(
            Method::GET,
            &format!("/v1/services/{service_id}/webhooks/{webhook_id}/deliveries"),
            &session,
            None,
        )
        .await;
    let approvals = log.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event_type"] == "request.approved")
        .count();
    assert_eq!(approvals, 1, "exactly one event");
}

async fn pending_claims_expire(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.claim_ttl = Duration::from_secs(1)).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
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
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &session,
            None,
        )
        .await;
    assert_eq!(claim.body["status"], "expired");
    assert!(claim.body["decided_at"].is_string());
    let late = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;
    assert_eq!(
        (late.status, late.body["details"]["status"].as_str()),
        (StatusCode::CONFLICT, Some("expired"))
    );
    // The key may ask again: a new claim.
    let again = signed(
        &server,
        &agent,
        Method::POST,
        "/v1/claims",
        Some(claim_body(&agent, "gateway")),
        Some(&api_key),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.body["claim_id"], claim_id.as_str());
}

/// Whether verify says `agent` may act on `gateway`.
async fn authorized(server: &TestServer, agent: &Agent) -> bool {
    verify(server, agent, "gateway").await["authorized"] == true
}

/// Verify and the DID document read the database as they answer, so a decision counts from
/// the very next request: approving adds the key to both, revoking takes it out of both. And
/// verifies that arrive together (and so share a nonce batch and its lookups) each get their
/// own answer, a replayed one among them its 409.
async fn verify_and_the_did_document_follow_each_decision_at_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let (a, b) = (Agent::new("lin"), Agent::new("lin"));
    let mut claims = Vec::new();
    for agent in [&a, &b] {
        let submitted = signed(
            &server,
            agent,
            Method::POST,
            "/v1/claims",
            Some(claim_body(agent, "gateway")),
            Some(&api_key),
        )
        .await;
        assert_eq!(
            submitted.status,
            StatusCode::CREATED,
            "{:?}",
            submitted.body
        );
        claims.push(submitted.body["claim_id"].as_str().unwrap().to_owned());
    }
    let decide = |claim_id: &str, decision: &str| {
        let path = format!("/v1/claims/{claim_id}/{decision}");
        let session = session.clone();
        let server = &server;
        async move {
            let reply = server.call(Method::POST, &path, &session, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        }
    };
    let listed = || async {
        let doc = server
            .send(
                server
                    .client
                    .get(server.url("/.well-known/did/did:sigilum:lin")),
            )
            .await;
        assert_eq!(doc.status, StatusCode::OK, "{:?}", doc.body);
        doc.body["verificationMethod"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("did:key:{}", m["publicKeyMultibase"].as_str().unwrap()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (key_a, key_b) = (a.key.did_key(), b.key.did_key());

    let set = |keys: &[&String]| keys.iter().map(|k| (*k).clone()).collect();
    assert!(listed().await.is_empty());
    decide(&claims[0], "approve").await;
    assert_eq!(
        listed().await,
        set(&[&key_a]),
        "listed the moment it is approved"
    );
    assert!(authorized(&server, &a).await && !authorized(&server, &b).await);
    decide(&claims[1], "approve").await;
    assert_eq!(listed().await, set(&[&key_a, &key_b]));
    decide(&claims[0], "revoke").await;
    assert_eq!(
        listed().await,
        set(&[&key_b]),
        "gone the moment it is revoked"
    );
    assert!(!authorized(&server, &a).await && authorized(&server, &b).await);

    let answers = futures_util::future::join_all(
        (0..40).map(|i| authorized(&server, if i % 2 == 0 { &a } else { &b })),
    )
    .await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(
            answer,
            i % 2 == 1,
            "verify {i} got the answer of its own key"
        );
    }

    // One signed request sent five times at once: one answer, four replays.
    let key: String = url::form_urlencoded::byte_serialize(b.key.public_key().as_bytes()).collect();
    let url = server.url(&format!(
        "/v1/verify?namespace=lin&public_key={key}&service=gateway"
    ));
    let headers = b.headers("GET", &url, b"");
    let send = |url: &str, headers: &[(String, String)]| {
        let mut request = server.client.get(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        server.send(request)
    };
    let statuses = futures_util::future::join_all((0..5).map(|_| send(&url, &headers))).await;
    let mut codes: Vec<(StatusCode, Option<String>)> = statuses
        .iter()
        .map(|r| (r.status, r.body["code"].as_str().map(str::to_owned)))
        .collect();
    codes.sort();
    let replay = (
        StatusCode::CONFLICT,
        Some("SIGNATURE_NONCE_REPLAY".to_owned()),
    );
    assert_eq!(
        codes,
        [
            (StatusCode::OK, None),
            replay.clone(),
            replay.clone(),
            replay.clone(),
            replay.clone()
        ]
    );

    // A request verify cannot answer still uses up its nonce, as on every signed route.
    for (path, refusal) in [
        (
            "/v1/verify?namespace=lin".to_owned(),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ),
        (
            format!("/v1/verify?namespace=kay&public_key={key}&service=gateway"),
            (StatusCode::FORBIDDEN, "SIGNATURE_NAMESPACE_MISMATCH"),
        ),
    ] {
        let url = server.url(&path);
        let headers = b.headers("GET", &url, b"");
        let first = send(&url, &headers).await;
        assert_eq!(
            (first.status, first.body["code"].as_str()),
            (refusal.0, Some(refusal.1)),
            "{path}"
        );
        let again = send(&url, &headers).await;
        assert_eq!(
            (again.status, again.body["code"].as_str().map(str::to_owned)),
            replay.clone(),
            "{path}"
        );
    }
}

on_both_engines!(
    verify_and_the_did_document_follow_each_decision_at_once,
    an_agent_is_approved_verified_and_revoked,
    claims_are_bound_and_isolated,
    namespaces_and_dids_are_published,
    pending_claims_expire,
    of_fifty_concurrent_approvals_one_wins,
);
