//! `docs/signing.md` as a user runs it: its Python blocks, in order, are one script that
//! submits a claim and waits for the owner's approval, run against a real server. The owner
//! approves over the API; the script must then see `authorized`. A change to the signing
//! profile, the claim API or the page that breaks the documented code fails here.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, python};

/// The Python blocks of the page, concatenated in order.
fn documented_python() -> String {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/signing.md"
    ))
    .unwrap();
    let mut script = String::new();
    let mut inside = false;
    for line in page.lines() {
        match (inside, line.trim_end()) {
            (false, "```python") => inside = true,
            (true, "```") => inside = false,
            (true, code) => {
                script.push_str(code);
                script.push('\n');
            }
            (false, _) => {}
        }
    }
    assert!(
        script.contains("/v1/claims") && script.contains("class Agent"),
        "the page's Python blocks moved: {script}"
    );
    script
}

async fn the_documented_agent_submits_a_claim_and_sees_it_approved(
    engine: assent_store::testing::Engine,
) {
    let server = TestServer::start(engine).await;
    let (session, _) = server.login("ada@example.com").await;
    let service_id = server.create_service(&session, "api-gateway").await;
    let api_key = server.create_api_key(&session, &service_id).await;

    let script = std::env::temp_dir().join(format!(
        "assent-signing-doc-{}.py",
        assent_auth::random::id("")
    ));
    std::fs::write(&script, documented_python()).unwrap();
    let seed: [u8; 32] = assent_auth::random::bytes::<32>();
    let mut child = Command::new(python())
        .arg(&script)
        .env("ASSENT_URL", &server.base)
        .env("ASSENT_API_KEY", &api_key)
        .env("ASSENT_NAMESPACE", "ada")
        .env("ASSENT_SERVICE", "api-gateway")
        .env(
            "AGENT_SEED_HEX",
            seed.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        )
        .env("WAIT_SECONDS", "60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));

    // The owner sees the claim arrive and approves it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let claim_id = loop {
        let reply = server
            .call(
                Method::GET,
                "/v1/namespaces/ada/claims?status=pending",
                &session,
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        if let Some(id) = reply.body["claims"][0]["claim_id"].as_str() {
            break id.to_owned();
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("the documented script ended ({status}) before its claim arrived: {stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "no claim arrived from the script"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let approved = server
        .call(
            Method::POST,
            &format!("/v1/claims/{claim_id}/approve"),
            &session,
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("201 pending {claim_id}")),
        "the script printed its new pending claim: {stdout}"
    );
    assert!(
        stdout.contains(&format!("authorized {claim_id}")),
        "the script saw the approval through verify: {stdout}"
    );
}

on_both_engines!(the_documented_agent_submits_a_claim_and_sees_it_approved);
