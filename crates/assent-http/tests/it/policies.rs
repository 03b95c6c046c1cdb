//! Owner policies end to end, on SQLite and PostgreSQL: rules that approve claims by the
//! connection's address (never a body field), pending caps under concurrency, Sigilum's
//! settings, standing grants on notifications, and the refusals of bad policies.

use crate::common;

use std::time::{Duration, Instant};

use assent_http::TrustedProxies;
use assent_store::testing::Engine;
use common::{Agent, Receiver, Reply, TestServer, claim_body, verify};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A signed `POST /v1/claims` of `agent` for `service`, with `X-Forwarded-For` when given.
async fn submit(
    server: &TestServer,
    agent: &Agent,
    service: &str,
    api_key: &str,
    forwarded_for: Option<&str>,
    agent_ip: &str,
) -> Reply {
    let url = server.url("/v1/claims");
    let mut body = claim_body(agent, service);
    body["agent_ip"] = agent_ip.into();
    let bytes = body.to_string().into_bytes();
    let mut request = server.client.post(&url);
    for (name, value) in agent.headers("POST", &url, &bytes) {
        request = request.header(name, value);
    }
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    let request = request
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(bytes);
    server.send(request).await
}

/// Namespace `lin` with the service `ci`, its API key and a webhook receiver on it; the
/// owner's session.
struct Owner {
    session: String,
    service_id: String,
    api_key: String,
    receiver: Receiver,
}

async fn owner(server: &TestServer) -> Owner {
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "ci").await;
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
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    Owner {
        session,
        service_id,
        api_key,
        receiver,
    }
}

async fn put_policy(server: &TestServer, session: &str, policy: Value) -> Reply {
    server
        .call(Method::PUT, "/v1/policies", session, Some(policy))
        .await
}

/// Waits (up to 10 s) until `receiver` has `n` events that satisfy `which`; returns them.
async fn events(receiver: &Receiver, n: usize, which: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = receiver.events().into_iter().filter(|e| which(e)).collect();
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn permissive(settings: &mut assent_http::HttpSettings) {
    settings.webhook_policy.allow_private = true;
}

async fn a_forged_address_changes_nothing_and_a_trusted_one_approves_at_once(engine: Engine) {
    // No trusted proxies: neither the body's agent_ip nor X-Forwarded-For is the source.
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let rules = json!({ "rules": [
        { "kind": "claim", "sources": ["198.51.100.0/24"], "effect": "auto_approve",
          "description": "CI runners" },
    ]});
    let saved = put_policy(&server, &lin.session, rules.clone()).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let agent = Agent::new("lin");
    let forged = submit(
        &server,
        &agent,
        "ci",
        &lin.api_key,
        Some("198.51.100.9"),
        "198.51.100.9",
    )
    .await;
    assert_eq!(forged.status, StatusCode::CREATED, "{:?}", forged.body);
    assert_eq!(forged.body["status"], "pending");
    assert!(forged.body.get("decided_by").is_none(), "{:?}", forged.body);
    assert_eq!(verify(&server, &agent, "ci").await["authorized"], false);
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(policy.body["rules"][0]["matched"], 0);
    server.stop().await;

    // Behind a trusted proxy (the test client's 127.0.0.1), the forwarded address counts.
    let server = TestServer::start_with(engine, |s| {
        permissive(s);
        s.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let lin = owner(&server).await;
    let saved = put_policy(&server, &lin.session, rules).await;
    let rule_id = saved.body["rules"][0]["id"].as_str().unwrap().to_owned();
    assert!(rule_id.starts_with("pol_"), "{rule_id}");
    let (stop, delivery) = server.start_delivery();
    let agent = Agent::new("lin");
    // The body says a trusted address; the connection (forwarded) is not in the range.
    let outside = submit(
        &server,
        &agent,
        "ci",
        &lin.api_key,
        Some("203.0.113.5"),
        "198.51.100.9",
    )
    .await;
    assert_eq!(outside.body["status"], "pending", "{:?}", outside.body);

    let agent = Agent::new("lin");
    let approved = submit(
        &server,
        &agent,
        "ci",
        &lin.api_key,
        Some("198.51.100.9"),
        "10.0.0.1",
    )
    .await;
    assert_eq!(approved.status, StatusCode::CREATED, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["auto_approved"], true);
    assert_eq!(approved.body["decided_by"], format!("policy:{rule_id}"));
    // It verifies at once.
    assert_eq!(verify(&server, &agent, "ci").await["authorized"], true);
    // The owner's view, the webhook and the audit log say why.
    let claim_id = approved.body["claim_id"].as_str().unwrap();
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &lin.session,
            None,
        )
        .await;
    assert_eq!(claim.body["decided_by"], format!("policy:{rule_id}"));
    let hooks = events(&lin.receiver, 1, |e| e["event"] == "request.approved").await;
    assert_eq!(hooks.len(), 1, "{:?}", lin.receiver.events());
    assert_eq!(hooks[0]["data"]["claim_id"], claim_id);
    assert_eq!(hooks[0]["data"]["auto_approved"], true);
    assert_eq!(hooks[0]["data"]["rule"], rule_id.as_str());
    assert_eq!(hooks[0]["data"]["decided_by"], format!("policy:{rule_id}"));
    let audit = server
        .call(Method::GET, "/v1/audit-log", &lin.session, None)
        .await;
    let entries = audit.body["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["action"] == "claim.approved"
            && e["actor"] == format!("policy:{rule_id}")
            && e["target_id"] == claim_id),
        "{:?}",
        audit.body
    );
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(policy.body["rules"][0]["matched"], 1, "{:?}", policy.body);
    stop.send(true).unwrap();
    delivery.await.unwrap();
    server.stop().await;
}

async fn fifty_concurrent_submissions_against_a_cap_of_twenty_leave_exactly_twenty_pending(
    engine: Engine,
) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [], "max_pending": 20 }),
    )
    .await;
    assert_eq!(saved.body["max_pending"], 20, "{:?}", saved.body);
    let (stop, delivery) = server.start_delivery();
    let agents: Vec<Agent> = (0..50).map(|_| Agent::new("lin")).collect();
    let replies = futures_util::future::join_all(
        agents
            .iter()
            .map(|agent| submit(&server, agent, "ci", &lin.api_key, None, "203.0.113.7")),
    )
    .await;
    let pending = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED && r.body["status"] == "pending")
        .count();
    let refused: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .collect();
    assert_eq!(
        pending,
        20,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 30);
    for reply in &refused {
        assert_eq!(
            reply.body["code"], "PENDING_LIMIT_REACHED",
            "{:?}",
            reply.body
        );
    }
    let listed = server
        .call(
            Method::GET,
            "/v1/namespaces/lin/claims?status=pending&limit=200",
            &lin.session,
            None,
        )
        .await;
    assert_eq!(listed.body["claims"].as_array().unwrap().len(), 20);
    let rejected = server
        .call(
            Method::GET,
            "/v1/namespaces/lin/claims?status=rejected&limit=200",
            &lin.session,
            None,
        )
        .await;
    let rejected = rejected.body["claims"].as_array().unwrap().clone();
    assert_eq!(rejected.len(), 30);
    assert!(
        rejected
            .iter()
            .all(|c| c["decided_by"] == "limit:max_pending")
    );
    let hooks = events(&lin.receiver, 30, |e| {
        e["event"] == "request.rejected" && e["data"]["reason"] == "max_pending_reached"
    })
    .await;
    assert_eq!(hooks.len(), 30);

    // A per-service cap below the namespace's: the service's own count decides.
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [], "max_pending": 100, "max_pending_per_service": 20 }),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let one_more = submit(
        &server,
        &Agent::new("lin"),
        "ci",
        &lin.api_key,
        None,
        "203.0.113.7",
    )
    .await;
    assert_eq!(one_more.status, StatusCode::CONFLICT, "{:?}", one_more.body);
    assert_eq!(
        one_more.body["details"]["decided_by"], "limit:max_pending_per_service",
        "{:?}",
        one_more.body
    );
    stop.send(true).unwrap();
    delivery.await.unwrap();
    server.stop().await;
}

async fn bad_policies_are_refused_naming_the_field_and_nothing_is_saved(engine: Engine) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let good =
        json!({ "rules": [{ "services": ["ci"], "effect": "auto_approve" }], "max_pending": 5 });
    let saved = put_policy(&server, &lin.session, good).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let cases = [
        (
            json!({ "rules": [{ "sources": ["10.0.0.0/33"], "effect": "ask" }] }),
            "rules[0].sources[0]",
        ),
        (
            json!({ "rules": [{ "sources": ["not-an-ip"], "effect": "ask" }] }),
            "rules[0].sources[0]",
        ),
        (
            json!({ "rules": [{ "services": ["nope"], "effect": "ask" }] }),
            "rules[0].services[0]",
        ),
        (
            json!({ "rules": [
                { "services": ["ci"], "effect": "auto_approve" },
                { "services": ["ci"], "effect": "auto_reject" },
            ] }),
            "rules[1]",
        ),
        (
            json!({ "rules": [{ "effect": "auto_approve" }] }),
            "rules[0]",
        ),
        (
            json!({ "rules": [{ "service": "ci", "effect": "auto_approve" }] }),
            "rules[0].service",
        ),
        (
            json!({ "rules": [{ "id": "pol_other", "effect": "ask", "services": ["ci"] }] }),
            "rules[0].id",
        ),
        (json!({ "rules": [], "max_pending": 0 }), "max_pending"),
        (json!({ "rules": [], "max_pending": "20" }), "max_pending"),
        (json!({ "max_pending": 3 }), "rules"),
        (json!({ "rules": "all" }), "rules"),
    ];
    for (body, field) in cases {
        let reply = put_policy(&server, &lin.session, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["code"], "VALIDATION_ERROR", "{body}");
        assert_eq!(
            reply.body["details"]["field"], field,
            "{body}: {:?}",
            reply.body
        );
    }
    let settings_cases = [
        (
            json!({ "policy": { "trustedIPRanges": ["10.0.0.0/40"] } }),
            "policy.trustedIPRanges[0]",
        ),
        (
            json!({ "policy": { "trustedServices": ["unknown"], "autoApproveTrusted": true } }),
            "policy.trustedServices[0]",
        ),
        (
            json!({ "policy": { "autoApproveIP": "yes" } }),
            "policy.autoApproveIP",
        ),
        (
            json!({ "policy": { "maxPendingLimit": -1 } }),
            "policy.maxPendingLimit",
        ),
        (
            json!({ "policy": { "autoExpire": false } }),
            "policy.autoExpire",
        ),
        (json!({ "policy": [] }), "policy"),
    ];
    for (body, field) in settings_cases {
        let reply = server
            .call(
                Method::PATCH,
                "/v1/auth/settings",
                &lin.session,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.body
        );
        assert_eq!(
            reply.body["details"]["field"], field,
            "{body}: {:?}",
            reply.body
        );
    }
    // Nothing changed.
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(
        policy.body["rules"].as_array().unwrap().len(),
        1,
        "{:?}",
        policy.body
    );
    assert_eq!(policy.body["rules"][0]["services"], json!(["ci"]));
    assert_eq!(policy.body["max_pending"], 5);
    // Another owner cannot see or change lin's policy: theirs is their own, and empty.
    let grace = server.signup("grace").await;
    let theirs = server.call(Method::GET, "/v1/policies", &grace, None).await;
    assert_eq!(theirs.body["rules"], json!([]));
    let kept_id = policy.body["rules"][0]["id"].clone();
    let steal = put_policy(
        &server,
        &grace,
        json!({ "rules": [{ "id": kept_id, "effect": "ask", "agent_keys": ["ed25519:x"] }] }),
    )
    .await;
    assert_eq!(
        steal.body["details"]["field"], "rules[0].id",
        "{:?}",
        steal.body
    );
    server.stop().await;
}

async fn sigilum_settings_map_onto_rules_and_caps(engine: Engine) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let empty = server
        .call(Method::GET, "/v1/auth/settings", &lin.session, None)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(
        empty.body["settings"]["policy"]["autoApproveTrusted"],
        false
    );
    assert_eq!(empty.body["settings"]["policy"]["maxPendingLimit"], false);
    let patch = json!({
        "theme": "dark",
        "policy": {
            "autoApproveTrusted": true,
            "trustedServices": ["ci"],
            "trustedIPRanges": ["::ffff:10.0.0.0/104"],
            "maxPendingLimit": true,
        },
    });
    let patched = server
        .call(
            Method::PATCH,
            "/v1/auth/settings",
            &lin.session,
            Some(patch),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["success"], true);
    let settings = &patched.body["settings"];
    assert_eq!(settings["theme"], "dark");
    assert_eq!(settings["policy"]["autoApproveTrusted"], true);
    assert_eq!(settings["policy"]["autoApproveIP"], false);
    assert_eq!(settings["policy"]["maxPendingLimit"], 20);
    assert_eq!(
        settings["policy"]["trustedIPRanges"],
        json!(["::ffff:10.0.0.0/104"])
    );
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(policy.body["max_pending"], 20);
    let rules = policy.body["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["id"], "sigilum-trusted-services");
    assert_eq!(rules[0]["services"], json!(["ci"]));

    let agent = Agent::new("lin");
    let approved = submit(&server, &agent, "ci", &lin.api_key, None, "203.0.113.7").await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    assert_eq!(
        approved.body["decided_by"],
        "policy:sigilum-trusted-services"
    );

    // Switched off again: the rule goes, the lists stay, the cap goes.
    let off = json!({ "policy": { "autoApproveTrusted": false, "maxPendingLimit": false } });
    let patched = server
        .call(Method::PATCH, "/v1/auth/settings", &lin.session, Some(off))
        .await;
    assert_eq!(
        patched.body["settings"]["policy"]["trustedServices"],
        json!(["ci"])
    );
    assert_eq!(patched.body["settings"]["policy"]["maxPendingLimit"], false);
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(policy.body["rules"], json!([]));
    assert_eq!(policy.body["max_pending"], Value::Null);
    let pending = submit(
        &server,
        &Agent::new("lin"),
        "ci",
        &lin.api_key,
        None,
        "203.0.113.7",
    )
    .await;
    assert_eq!(pending.body["status"], "pending", "{:?}", pending.body);
    server.stop().await;
}

/// An ATP notification of `ci` asking to deploy with `metadata`.
fn deploy(metadata: Value) -> Value {
    json!({
        "context": { "title": "Deploy?", "description": "CI wants to deploy.", "metadata": metadata },
        "actions": [
            { "id": "approve", "label": "Deploy", "response_type": "simple" },
            { "id": "deny", "label": "Do not", "response_type": "simple" },
        ],
    })
}

async fn send(server: &TestServer, api_key: &str, metadata: Value) -> Reply {
    server
        .call(
            Method::POST,
            "/api/v1/notifications",
            api_key,
            Some(deploy(metadata)),
        )
        .await
}

/// An ATP service of `lin`, `deployer`, whose callback is a new receiver; its API key.
async fn atp_service(server: &TestServer) -> (String, Receiver) {
    let receiver = Receiver::default();
    let url = receiver.start("/atp");
    let reply = server
        .register(&json!({
            "name": "Deployer",
            "description": "Deploys what CI built",
            "callback_url": url,
            "webhook_secret": "a-secret-of-the-service",
            "namespace": "lin",
        }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    (reply.body["api_key"].as_str().unwrap().to_owned(), receiver)
}

async fn a_grant_answers_its_own_arguments_only_until_revoked_or_expired(engine: Engine) {
    let server = TestServer::start_with(engine, permissive).await;
    let mut lin = owner(&server).await;
    let (api_key, receiver) = atp_service(&server).await;
    lin.api_key = api_key;
    lin.receiver = receiver;
    let token = server.user_token(&lin.session, "phone").await;
    let staging = json!({ "env": "staging", "replicas": 2 });
    let first = send(&server, &lin.api_key, staging.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let first_id = first.body["notification_id"].as_str().unwrap().to_owned();
    // A grant needs an answer first.
    let early = server
        .call(
            Method::POST,
            "/v1/grants",
            &lin.session,
            Some(json!({ "notification_id": first_id, "uses": "always" })),
        )
        .await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST, "{:?}", early.body);
    assert_eq!(early.body["details"]["field"], "notification_id");
    let answered = server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &token,
            Some(json!({ "notification_id": first_id, "action_id": "approve" })),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    let grant = server
        .call(
            Method::POST,
            "/v1/grants",
            &lin.session,
            Some(json!({ "notification_id": first_id, "uses": "timed", "minutes": 60 })),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{:?}", grant.body);
    let grant_id = grant.body["id"].as_str().unwrap().to_owned();
    assert_eq!(grant.body["state"], "active");
    assert_eq!(grant.body["action"], "approve");
    assert_eq!(
        grant.body["arguments_digest"],
        assent_core::canonical::digest(&staging)
    );

    let (stop, delivery) = server.start_delivery();
    // The same arguments, in another order: answered at once by the grant.
    let again = send(
        &server,
        &lin.api_key,
        json!({ "replicas": 2, "env": "staging" }),
    )
    .await;
    assert_eq!(again.body["status"], "responded", "{:?}", again.body);
    let again_id = again.body["notification_id"].as_str().unwrap().to_owned();
    // Other arguments are never covered.
    for other in [
        json!({ "env": "production", "replicas": 2 }),
        json!({ "env": "staging", "replicas": 2, "force": true }),
        json!({ "env": "staging" }),
    ] {
        let asked = send(&server, &lin.api_key, other.clone()).await;
        assert_eq!(asked.body["status"], "created", "{other}: {:?}", asked.body);
    }
    // The service reads the answer and who gave it; its callback says the same.
    let read = server
        .call(
            Method::GET,
            &format!("/api/v1/notifications/{again_id}"),
            &lin.api_key,
            None,
        )
        .await;
    assert_eq!(read.body["status"], "responded", "{:?}", read.body);
    let hooks = events(&lin.receiver, 1, |e| {
        e["notification_id"] == again_id.as_str()
    })
    .await;
    assert_eq!(hooks.len(), 1, "{:?}", lin.receiver.events());
    assert_eq!(hooks[0]["action_id"], "approve");
    assert_eq!(hooks[0]["auto_approved"], true);
    assert_eq!(hooks[0]["decided_by"], format!("grant:{grant_id}"));

    // Revoked: the next identical request is asked again.
    let revoked = server
        .call(
            Method::DELETE,
            &format!("/v1/grants/{grant_id}"),
            &lin.session,
            None,
        )
        .await;
    assert_eq!(revoked.body["state"], "revoked", "{:?}", revoked.body);
    let after = send(&server, &lin.api_key, staging.clone()).await;
    assert_eq!(after.body["status"], "created", "{:?}", after.body);

    // Expired: a grant whose hour is up answers nothing.
    let timed = server
        .call(
            Method::POST,
            "/v1/grants",
            &lin.session,
            Some(json!({ "notification_id": first_id, "uses": "timed", "minutes": 60 })),
        )
        .await;
    let timed_id = timed.body["id"].as_str().unwrap();
    assert_eq!(
        send(&server, &lin.api_key, staging.clone()).await.body["status"],
        "responded"
    );
    server.db.execute(&format!(
        "UPDATE grants SET expires_at = 1 WHERE id = '{timed_id}'"
    ));
    assert_eq!(
        send(&server, &lin.api_key, staging.clone()).await.body["status"],
        "created"
    );
    let listed = server
        .call(Method::GET, "/v1/grants", &lin.session, None)
        .await;
    let states: Vec<&str> = listed.body["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["expired", "revoked"]);
    // Another owner can neither see nor revoke it.
    let grace = server.signup("grace").await;
    let theirs = server
        .call(
            Method::DELETE,
            &format!("/v1/grants/{timed_id}"),
            &grace,
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    stop.send(true).unwrap();
    delivery.await.unwrap();
    server.stop().await;
}

async fn a_single_use_grant_is_used_once_under_concurrent_requests(engine: Engine) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let token = server.user_token(&lin.session, "phone").await;
    let args = json!({ "path": "/tmp/report.csv" });
    let first = send(&server, &lin.api_key, args.clone()).await;
    let first_id = first.body["notification_id"].as_str().unwrap().to_owned();
    server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &token,
            Some(json!({ "notification_id": first_id, "action_id": "approve" })),
        )
        .await;
    let grant = server
        .call(
            Method::POST,
            "/v1/grants",
            &lin.session,
            Some(json!({ "notification_id": first_id, "uses": "once" })),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{:?}", grant.body);
    let replies =
        futures_util::future::join_all((0..10).map(|_| send(&server, &lin.api_key, args.clone())))
            .await;
    let answered = replies
        .iter()
        .filter(|r| r.body["status"] == "responded")
        .count();
    let asked = replies
        .iter()
        .filter(|r| r.body["status"] == "created")
        .count();
    assert_eq!(
        (answered, asked),
        (1, 9),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let listed = server
        .call(Method::GET, "/v1/grants", &lin.session, None)
        .await;
    assert_eq!(listed.body["grants"][0]["state"], "used");
    assert_eq!(listed.body["grants"][0]["matched"], 1);
    let _ = &lin.service_id;
    server.stop().await;
}

async fn a_rule_answers_a_notification_by_action_and_risk(engine: Engine) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [
            { "kind": "notification", "risks": ["high"], "effect": "auto_reject" },
            { "kind": "notification", "services": ["ci"], "action": "approve", "risks": ["low"],
              "effect": "auto_approve" },
            // Without an action a rule never approves a notification: this one is passed over.
            { "services": ["ci"], "effect": "auto_approve" },
        ]}),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let low = send(&server, &lin.api_key, json!({ "risk": "low" })).await;
    assert_eq!(low.body["status"], "responded", "{:?}", low.body);
    let high = send(&server, &lin.api_key, json!({ "risk": "high" })).await;
    assert_eq!(high.body["status"], "invalidated", "{:?}", high.body);
    let unknown = send(&server, &lin.api_key, json!({})).await;
    assert_eq!(unknown.body["status"], "created", "{:?}", unknown.body);
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    let matched: Vec<i64> = policy.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["matched"].as_i64().unwrap())
        .collect();
    assert_eq!(matched, [1, 1, 0]);
    server.stop().await;
}

/// The same caps bound notifications: past one, a notification is refused at once
/// (`PENDING_LIMIT_REACHED`) and not stored; answering one makes room.
async fn fifty_concurrent_notifications_against_a_cap_of_twenty_leave_exactly_twenty_pending(
    engine: Engine,
) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [], "max_pending": 20 }),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let replies = futures_util::future::join_all(
        (0..50).map(|i| send(&server, &lin.api_key, json!({ "run": i }))),
    )
    .await;
    let created: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    let refused: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .collect();
    assert_eq!(
        created.len(),
        20,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 30);
    for reply in &refused {
        assert_eq!(
            reply.body["code"], "PENDING_LIMIT_REACHED",
            "{:?}",
            reply.body
        );
        assert_eq!(reply.body["details"]["decided_by"], "limit:max_pending");
    }
    let token = server.user_token(&lin.session, "phone").await;
    let listed = server
        .call(
            Method::GET,
            "/api/v1/client/notifications?limit=100",
            &token,
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let stored = listed.body["notifications"].as_array().unwrap();
    assert_eq!(stored.len(), 20, "refused notifications are not stored");

    // An answer makes room for exactly one more.
    let answered = server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &token,
            Some(json!({ "notification_id": stored[0]["id"], "action_id": "deny" })),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    assert_eq!(
        send(&server, &lin.api_key, json!({})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        send(&server, &lin.api_key, json!({})).await.status,
        StatusCode::CONFLICT
    );

    // The per-service cap alone bounds the service's own pending notifications.
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [], "max_pending_per_service": 20 }),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let refused = send(&server, &lin.api_key, json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(
        refused.body["details"]["decided_by"],
        "limit:max_pending_per_service"
    );
    server.stop().await;
}

/// Fifty concurrent notifications (written in groups when they arrive together) leave what
/// fifty one by one would: every other one answered by the rule with exactly one callback, the
/// rest pending, one change each, and a status update for each answer.
async fn fifty_concurrent_notifications_each_get_their_own_answer_change_and_callback(
    engine: Engine,
) {
    let server = TestServer::start_with(engine, permissive).await;
    let lin = owner(&server).await;
    let (api_key, receiver) = atp_service(&server).await;
    let saved = put_policy(
        &server,
        &lin.session,
        json!({ "rules": [
            { "kind": "notification", "action": "approve", "risks": ["low"],
              "effect": "auto_approve" },
        ]}),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let (stop, delivery) = server.start_delivery();
    let replies = futures_util::future::join_all((0..50).map(|i| {
        let risk = if i % 2 == 0 { "low" } else { "medium" };
        send(&server, &api_key, json!({ "risk": risk, "run": i }))
    }))
    .await;
    let mut answered = std::collections::BTreeSet::new();
    let mut asked = std::collections::BTreeSet::new();
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::CREATED, "{i}: {:?}", reply.body);
        let id = reply.body["notification_id"].as_str().unwrap().to_owned();
        let expected = if i % 2 == 0 { "responded" } else { "created" };
        assert_eq!(reply.body["status"], expected, "{i}: {:?}", reply.body);
        if i % 2 == 0 {
            answered.insert(id);
        } else {
            asked.insert(id);
        }
    }
    assert_eq!(
        (answered.len(), asked.len()),
        (25, 25),
        "fifty distinct ids"
    );

    let changes = server.db.store.changes_after(Some("lin"), 0, 1000).unwrap();
    let of_kind = |kind: assent_store::ChangeKind| -> std::collections::BTreeSet<String> {
        changes
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.subject_id.clone())
            .collect()
    };
    let created = of_kind(assent_store::ChangeKind::Notification);
    assert_eq!(created.len(), 50);
    assert_eq!(
        changes.len(),
        75,
        "one change per notification, one per answer"
    );
    assert_eq!(created, answered.union(&asked).cloned().collect());
    assert_eq!(of_kind(assent_store::ChangeKind::StatusUpdate), answered);

    events(&receiver, 25, |e| e["auto_approved"] == true).await;
    // Any duplicate would have arrived by now too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hooks: Vec<String> = receiver
        .events()
        .iter()
        .map(|e| e["notification_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(hooks.len(), 25, "one callback per answer: {hooks:?}");
    assert_eq!(
        hooks.into_iter().collect::<std::collections::BTreeSet<_>>(),
        answered
    );
    let policy = server
        .call(Method::GET, "/v1/policies", &lin.session, None)
        .await;
    assert_eq!(policy.body["rules"][0]["matched"], 25, "{:?}", policy.body);
    stop.send(true).unwrap();
    delivery.await.unwrap();
    server.stop().await;
}

on_both_engines!(
    a_forged_address_changes_nothing_and_a_trusted_one_approves_at_once,
    fifty_concurrent_submissions_against_a_cap_of_twenty_leave_exactly_twenty_pending,
    fifty_concurrent_notifications_against_a_cap_of_twenty_leave_exactly_twenty_pending,
    fifty_concurrent_notifications_each_get_their_own_answer_change_and_callback,
    bad_policies_are_refused_naming_the_field_and_nothing_is_saved,
    sigilum_settings_map_onto_rules_and_caps,
    a_grant_answers_its_own_arguments_only_until_revoked_or_expired,
    a_single_use_grant_is_used_once_under_concurrent_requests,
    a_rule_answers_a_notification_by_action_and_risk,
);
