//! `/metrics` on SQLite and PostgreSQL: behind its token, parsed by an independent parser
//! (Python `prometheus_client`'s OpenMetrics parser), and its counters move after a scripted
//! flow (a claim submitted, approved and verified, its webhooks delivered).

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assent_auth::Secret;
use assent_store::testing::Engine;
use common::{Agent, Receiver, TestServer, claim_body, python, signed, verify};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "metrics-token-0123456789";

/// Parses the exposition with the reference parser, strictly; every sample as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": s.name,
                        "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

fn parse(text: &str) -> Vec<Value> {
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run Python (set ASSENT_TEST_PYTHON to the CI virtualenv's interpreter)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of the sample `name` whose labels include `labels`; 0 when there is none.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

async fn scrape(server: &TestServer) -> Vec<Value> {
    let reply = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let kind = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    parse(&reply.text().await.unwrap())
}

async fn metrics_are_parsed_and_move_with_a_flow(engine: Engine) {
    let server = TestServer::start_with(engine, |s| {
        s.webhook_policy.allow_private = true;
        s.metrics.enabled = true;
        s.metrics.token = Some(Secret::new(TOKEN));
    })
    .await;

    // The token is required, compared whole.
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{token:?}");
    }

    let before = scrape(&server).await;
    assert_eq!(sample(&before, "assent_database_up", &[]), 1.0);
    assert_eq!(sample(&before, "assent_decisions_total", &[]), 0.0);
    assert!(sample(&before, "assent_db_pool_max_connections", &[]) >= 1.0);

    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let receiver = Receiver::default();
    let url = receiver.start("/events");
    server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": url })),
        )
        .await;
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
    let pending = scrape(&server).await;
    assert_eq!(sample(&pending, "assent_pending_claims", &[]), 1.0);

    let approved = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK);
    assert_eq!(verify(&server, &agent, "gateway").await["authorized"], true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.events().len() < 2 {
        assert!(Instant::now() < deadline, "webhooks did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The engine counts an attempt when it records it, just after the receiver answered.
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let after = scrape(&server).await;
        let delivered = sample(
            &after,
            "assent_delivery_attempts_total",
            &[("outcome", "succeeded")],
        );
        if delivered >= 2.0 {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "attempts were not counted: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = stop.send(true);
    delivery.await.unwrap();

    assert_eq!(
        sample(
            &after,
            "assent_decisions_total",
            &[("kind", "claim"), ("by", "owner")]
        ),
        1.0
    );
    assert_eq!(sample(&after, "assent_pending_claims", &[]), 0.0);
    assert_eq!(sample(&after, "assent_deliveries_due", &[]), 0.0);
    // Requests by route template, method and status class, with their latency.
    let approve = [
        ("route", "/v1/claims/{claim_id}/approve"),
        ("method", "POST"),
        ("status", "2xx"),
    ];
    assert_eq!(
        sample(
            &after,
            "assent_http_request_duration_seconds_count",
            &approve
        ),
        1.0
    );
    assert!(sample(&after, "assent_http_request_duration_seconds_sum", &approve) > 0.0);
    assert_eq!(
        sample(
            &after,
            "assent_http_request_duration_seconds_bucket",
            &[("route", "/v1/claims/{claim_id}/approve"), ("le", "+Inf")]
        ),
        1.0
    );
    assert!(
        sample(
            &after,
            "assent_http_request_duration_seconds_count",
            &[("route", "/v1/verify"), ("status", "2xx")]
        ) >= 1.0
    );
    let unauthorized = [("route", "/metrics"), ("status", "4xx")];
    assert_eq!(
        sample(
            &after,
            "assent_http_request_duration_seconds_count",
            &unauthorized
        ),
        3.0
    );
    // No path (with its ids) is ever a label: only templates.
    assert!(
        after
            .iter()
            .filter_map(|s| s["labels"]["route"].as_str())
            .all(|route| !route.contains(&claim_id)),
    );
    server.stop().await;
}

async fn metrics_are_off_unless_asked_for(engine: Engine) {
    let server = TestServer::start(engine).await;
    let reply = server.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn rate_limit_refusals_are_counted(engine: Engine) {
    let server = TestServer::start_with(engine, |s| {
        s.metrics.enabled = true;
        s.metrics.token = Some(Secret::new(TOKEN));
        s.rate.registration = assent_http::rate_limit::Rate::per_minute(1);
    })
    .await;
    let first = server.register(&common::seed_registration()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let mut second = common::seed_registration();
    second["service_id"] = json!("another-service");
    let refused = server.register(&second).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let samples = scrape(&server).await;
    assert_eq!(
        sample(
            &samples,
            "assent_rate_limit_refusals_total",
            &[("operation", "registration")]
        ),
        1.0
    );
    server.stop().await;
}

/// Decisions the owner's policy made count by what made them: `by="policy"` for a rule,
/// `by="limit"` for a pending cap, never as the owner's.
async fn automatic_decisions_are_counted_by_what_made_them(engine: Engine) {
    let server = TestServer::start_with(engine, |s| {
        s.metrics.enabled = true;
        s.metrics.token = Some(Secret::new(TOKEN));
    })
    .await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let submit = |agent: Agent| {
        let (server, api_key) = (&server, &api_key);
        async move {
            let body = claim_body(&agent, "gateway");
            signed(
                server,
                &agent,
                Method::POST,
                "/v1/claims",
                Some(body),
                Some(api_key),
            )
            .await
        }
    };
    let policy = |body: Value| {
        let (server, session) = (&server, &session);
        async move {
            let saved = server
                .call(Method::PUT, "/v1/policies", session, Some(body))
                .await;
            assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
        }
    };

    policy(json!({ "rules": [{ "services": ["gateway"], "effect": "auto_approve" }] })).await;
    let approved = submit(Agent::new("lin")).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);

    policy(json!({ "rules": [], "max_pending": 1 })).await;
    let pending = submit(Agent::new("lin")).await;
    assert_eq!(pending.body["status"], "pending", "{:?}", pending.body);
    let refused = submit(Agent::new("lin")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);

    let samples = scrape(&server).await;
    let decided = |by| {
        sample(
            &samples,
            "assent_decisions_total",
            &[("kind", "claim"), ("by", by)],
        )
    };
    assert_eq!(decided("policy"), 1.0);
    assert_eq!(decided("limit"), 1.0);
    assert_eq!(decided("owner"), 0.0);
    server.stop().await;
}

on_both_engines!(
    metrics_are_parsed_and_move_with_a_flow,
    automatic_decisions_are_counted_by_what_made_them,
    metrics_are_off_unless_asked_for,
    rate_limit_refusals_are_counted,
);
