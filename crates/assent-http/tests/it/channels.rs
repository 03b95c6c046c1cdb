//! Owner channels end to end, on SQLite and PostgreSQL: a real SMTP server (aiosmtpd, from
//! the test virtualenv) receives the mails, Python's MIME parser reads them, the links in them
//! are followed in the link pages, and the service's signed webhook says what was decided.
//! Chat channels post to a real local receiver.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_core::delivery::RetrySchedule;
use assent_store::testing::Engine;
use common::{Browser, Receiver, TestServer, pending_claim, pending_claim_for, python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common;

/// The real SMTP server: a Python process with aiosmtpd, and the mails it received.
pub(crate) struct SmtpSink {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    mails: Arc<Mutex<Vec<Value>>>,
}

impl SmtpSink {
    pub(crate) fn start(refuse: bool) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/peers/smtp_sink.py");
        let mut command = Command::new(python());
        command.arg(script);
        if refuse {
            command.arg("--refuse");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP sink starts (is ASSENT_TEST_PYTHON's aiosmtpd installed?)");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the sink said {first}"))
            .parse()
            .unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&mails);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Self {
            child,
            stdin,
            port,
            mails,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub(crate) fn mails(&self) -> Vec<Value> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits for the `n`th mail (1-based) and returns it.
    pub(crate) async fn nth(&self, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(mail) = self.mails().get(n - 1) {
                return mail.clone();
            }
            assert!(
                Instant::now() < deadline,
                "mail {n} did not come: {:?}",
                self.mails()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the message sender for `server`, mailing through `smtp_url`, retrying quickly.
pub(crate) fn start_messages(
    server: &TestServer,
    smtp_url: Option<String>,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let config = assent_delivery::MessengerConfig {
        smtp_url,
        mail_from: "assent <assent@example.com>".to_owned(),
        public_url: url::Url::parse(&server.base).unwrap(),
        schedule: RetrySchedule::parse("0s,100ms,100ms,100ms").unwrap(),
        lease: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        policy: assent_core::WebhookUrlPolicy {
            allow_private: true,
        },
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let messenger = assent_delivery::Messenger::new(server.db.store.clone(), config).unwrap();
    (stop, messenger.spawn(stopped))
}

/// The first link in `text` under `/dashboard/links/`, as a path.
pub(crate) fn links_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|word| {
            word.find("/dashboard/links/")
                .map(|at| word[at..].to_owned())
        })
        .map(|path| path.trim_end_matches(['.', ',', ')', '"']).to_owned())
        .collect()
}

async fn add_channel(server: &TestServer, session: &str, body: Value) -> common::Reply {
    server
        .call(Method::POST, "/v1/auth/channels", session, Some(body))
        .await
}

async fn messages(server: &TestServer, session: &str) -> Vec<Value> {
    let log = server
        .call(Method::GET, "/v1/auth/messages", session, None)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    log.body["messages"].as_array().unwrap().clone()
}

async fn an_emailed_link_approves_a_claim_and_the_service_hears_it(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let (stop_messages, messages_done) = start_messages(&server, Some(sink.url()));
    let session = server.signup("lin").await;

    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com" }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["verified"], false);
    assert_eq!(
        added.body["events"],
        json!([
            "claim.submitted",
            "notification.created",
            "item.expiring",
            "endpoint.failing",
            "endpoint.disabled",
            "endpoint.recovered"
        ])
    );
    assert_eq!(added.body["throttle_seconds"], 60);
    assert_eq!(added.body["expiry_lead_seconds"], 600);
    let channel_id = added.body["id"].as_str().unwrap().to_owned();
    let tested = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{channel_id}/test"),
            &session,
            None,
        )
        .await;
    assert_eq!(
        tested.body["code"], "CHANNEL_NOT_VERIFIED",
        "{:?}",
        tested.body
    );

    // The verification: a multipart mail, text and HTML, with one link.
    let mail = sink.nth(1).await;
    assert_eq!(mail["rcpt_tos"], json!(["lin@example.com"]));
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert_eq!(mail["subject"], "Confirm this address for assent");
    let verify = links_in(mail["text"].as_str().unwrap());
    assert_eq!(verify.len(), 1, "{mail}");
    assert!(
        mail["html"].as_str().unwrap().contains(&verify[0]),
        "{mail}"
    );
    let mut browser = Browser::new(&server);
    // A GET (a mail scanner, a link preview) changes nothing.
    browser
        .get(&verify[0])
        .await
        .assert_shows(StatusCode::OK, "Receive assent messages at lin@example.com");
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &session, None)
        .await;
    assert_eq!(listed.body["channels"][0]["verified"], false);
    browser
        .post(&verify[0], &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &session, None)
        .await;
    assert_eq!(
        listed.body["channels"][0]["verified"], true,
        "{:?}",
        listed.body
    );

    // A claim: the mail names it and carries an approve and a reject link.
    let service_id = server.create_service(&session, "gateway").await;
    let receiver = Receiver::default();
    let url = receiver.start("/events");
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": url, "events": ["request.approved"] })),
        )
        .await;
    let secret = hook.body["secret"].as_str().unwrap().to_owned();
    let (stop_delivery, delivery) = server.start_delivery();
    let claim_id = pending_claim(&server, "lin", "Support <bot>");
    let mail = sink.nth(2).await;
    assert_eq!(
        mail["subject"],
        "Support <bot> asks to act for you on gateway"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(&claim_id), "{text}");
    let links = links_in(text);
    assert_eq!(links.len(), 2, "{text}");
    let (approve, reject) = (&links[0], &links[1]);
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains("Support &lt;bot&gt;"),
        "{mail}"
    );

    browser
        .get(approve)
        .await
        .assert_shows(StatusCode::OK, "Approve this claim?");
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &session,
            None,
        )
        .await;
    assert_eq!(claim.body["status"], "pending", "a GET decides nothing");
    browser
        .post(approve, &[])
        .await
        .assert_shows(StatusCode::OK, "Claim approved");
    let claim = server
        .call(
            Method::GET,
            &format!("/v1/claims/{claim_id}"),
            &session,
            None,
        )
        .await;
    assert_eq!(claim.body["status"], "approved");
    // Used once; and its sibling finds the claim decided.
    browser
        .post(approve, &[])
        .await
        .assert_shows(StatusCode::GONE, "This link was used already");
    browser
        .get(approve)
        .await
        .assert_shows(StatusCode::GONE, "This link was used already");
    browser
        .get(reject)
        .await
        .assert_shows(StatusCode::CONFLICT, "It is approved; nothing was changed.");
    browser
        .post(reject, &[])
        .await
        .assert_shows(StatusCode::CONFLICT, "decided already");

    // The service hears the approval, signed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.events().is_empty() {
        assert!(Instant::now() < deadline, "request.approved did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hooks = receiver.hooks();
    assert_eq!(hooks[0].json()["event"], "request.approved");
    assert_eq!(hooks[0].json()["data"]["claim_id"], claim_id.as_str());
    assent_signing::Verifier::default()
        .verify_now(
            secret.as_bytes(),
            hooks[0].header("x-sigilum-signature"),
            &hooks[0].body,
        )
        .expect("a valid signature");

    // The sent log: the verification, the claim, and its reminder, waiting for its time (it
    // is skipped then: the claim is decided).
    let log = messages(&server, &session).await;
    let mut topics: Vec<(&str, &str, u64)> = log
        .iter()
        .map(|m| {
            (
                m["topic"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
                m["item_count"].as_u64().unwrap(),
            )
        })
        .collect();
    // The claim's message and its reminder are written in one transaction: either order.
    topics.sort_unstable();
    assert_eq!(
        topics,
        [
            ("channel.verify", "sent", 1),
            ("claim.submitted", "sent", 1),
            ("item.expiring", "pending", 0),
        ]
    );
    let tested = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{channel_id}/test"),
            &session,
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::ACCEPTED, "{:?}", tested.body);
    assert_eq!(sink.nth(3).await["subject"], "assent test message");

    let _ = stop_delivery.send(true);
    let _ = stop_messages.send(true);
    delivery.await.unwrap();
    messages_done.await.unwrap();
    server.stop().await;
}

async fn links_refuse_tampering_and_other_owners(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let lin = server.signup("lin").await;
    let eve = server.signup("eve").await;
    let added = add_channel(
        &server,
        &lin,
        json!({ "kind": "email", "address": "lin@example.com" }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let channel_id = added.body["id"].as_str().unwrap().to_owned();
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    let token = link.rsplit('/').next().unwrap().to_owned();

    let mut browser = Browser::new(&server);
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 2.., "00");
    for path in [
        format!("/dashboard/links/{tampered}"),
        "/dashboard/links/%3Cscript%3E".to_owned(),
    ] {
        browser
            .get(&path)
            .await
            .assert_shows(StatusCode::NOT_FOUND, "This link is not valid");
        browser
            .post(&path, &[])
            .await
            .assert_shows(StatusCode::NOT_FOUND, "This link is not valid");
    }
    // A POST from another site is refused before anything is used.
    let foreign = browser
        .send(
            browser
                .client
                .post(server.url(&link))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);

    // Another owner cannot spend it over the API; its owner can, once.
    let stolen = server
        .call(
            Method::POST,
            "/v1/auth/channels/verify",
            &eve,
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(
        (stolen.status, stolen.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("LINK_INVALID"))
    );
    let eve_delete = server
        .call(
            Method::DELETE,
            &format!("/v1/auth/channels/{channel_id}"),
            &eve,
            None,
        )
        .await;
    assert_eq!(eve_delete.status, StatusCode::NOT_FOUND);
    let verified = server
        .call(
            Method::POST,
            "/v1/auth/channels/verify",
            &lin,
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(
        (verified.status, &verified.body["verified"]),
        (StatusCode::OK, &json!(true)),
        "{:?}",
        verified.body
    );
    let again = server
        .call(
            Method::POST,
            "/v1/auth/channels/verify",
            &lin,
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(again.body["code"], "LINK_INVALID");
    browser
        .get(&link)
        .await
        .assert_shows(StatusCode::GONE, "used already");
    let resend = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{channel_id}/verification"),
            &lin,
            None,
        )
        .await;
    assert_eq!(resend.body["code"], "CHANNEL_ALREADY_VERIFIED");

    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

async fn bad_channels_are_refused_with_clear_codes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let lin = server.signup("lin").await;
    let cases = [
        (
            json!({ "kind": "email", "address": "not an address" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "kind": "email", "address": "a@b.example, c@d.example" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "kind": "pager", "address": "x" }),
            "VALIDATION_ERROR",
        ),
        (json!({ "address": "lin@example.com" }), "VALIDATION_ERROR"),
        (
            json!({ "kind": "slack", "address": "https://127.0.0.1/hook" }),
            "INVALID_WEBHOOK_URL",
        ),
        (
            json!({ "kind": "discord", "address": "https://10.1.2.3/api/webhooks/1" }),
            "INVALID_WEBHOOK_URL",
        ),
        (
            json!({ "kind": "ntfy", "address": "http://ntfy.example/topic" }),
            "INVALID_WEBHOOK_URL",
        ),
        (
            json!({ "kind": "email", "address": "lin@example.com", "events": ["claim.decided"] }),
            "INVALID_EVENT_TYPE",
        ),
        (
            json!({ "kind": "email", "address": "lin@example.com", "events": [] }),
            "INVALID_EVENT_TYPE",
        ),
        (
            json!({ "kind": "email", "address": "lin@example.com", "quiet_hours": "25:00-01:00" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "kind": "email", "address": "lin@example.com", "throttle_seconds": -1 }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "kind": "email", "address": "lin@example.com", "throttle_seconds": 86401 }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "kind": "email", "address": 7 }),
            "INVALID_PARAMETER",
        ),
    ];
    for (body, code) in cases {
        let reply = add_channel(&server, &lin, body.clone()).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}: {:?}",
            reply.body
        );
    }
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &lin, None)
        .await;
    assert_eq!(listed.body["channels"], json!([]), "nothing was added");

    let ok = json!({ "kind": "email", "address": "lin@example.com", "quiet_hours": "22:00-07:00", "throttle_seconds": 0 });
    let added = add_channel(&server, &lin, ok.clone()).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["quiet_hours"], "22:00-07:00");
    let twice = add_channel(&server, &lin, ok).await;
    assert_eq!(
        (twice.status, twice.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("CHANNEL_ALREADY_EXISTS"))
    );
    let anonymous = server
        .send(server.client.get(server.url("/v1/auth/channels")))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let id = added.body["id"].as_str().unwrap();
    let removed = server
        .call(
            Method::DELETE,
            &format!("/v1/auth/channels/{id}"),
            &lin,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = server
        .call(
            Method::DELETE,
            &format!("/v1/auth/channels/{id}"),
            &lin,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

async fn a_burst_of_claims_is_digested(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    server.create_service(&session, "gateway").await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com", "throttle_seconds": 2 }),
    )
    .await;
    let channel_id = added.body["id"].as_str().unwrap().to_owned();
    // Verified before the sender runs: the verification mail is the first one.
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    Browser::new(&server)
        .post(&link, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    let claims: Vec<String> = (0..40)
        .map(|n| pending_claim(&server, "lin", &format!("bot-{n}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let told: std::collections::HashSet<String> = loop {
        let told: std::collections::HashSet<String> = sink.mails()[1..]
            .iter()
            .flat_map(|m| {
                let text = m["text"].as_str().unwrap().to_owned();
                claims
                    .iter()
                    .filter(move |c| text.contains(c.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let more: usize = sink.mails()[1..]
            .iter()
            .filter_map(|m| {
                m["text"]
                    .as_str()
                    .unwrap()
                    .split("And ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .sum();
        if told.len() + more >= claims.len() {
            break told;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} claims told",
            told.len() + more,
            claims.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let claim_mails = sink.mails().len() - 1;
    assert!(claim_mails <= 4, "{claim_mails} mails for 40 claims");
    assert!(!told.is_empty());
    let log = messages(&server, &session).await;
    let carried: u64 = log
        .iter()
        .filter(|m| m["topic"] == "claim.submitted" && m["status"] == "sent")
        .map(|m| m["item_count"].as_u64().unwrap())
        .sum();
    assert_eq!(carried, 40, "{log:?}");
    assert!(log.iter().all(|m| m["channel_id"] == channel_id.as_str()));
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

async fn an_unreachable_smtp_server_is_retried_and_logged(engine: Engine) {
    let server = TestServer::start(engine).await;
    // A temporary refusal from a real server, then no server at all.
    let refusing = SmtpSink::start(true);
    let (stop, done) = start_messages(&server, Some(refusing.url()));
    let session = server.signup("lin").await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com" }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        let log = messages(&server, &session).await;
        if log[0]["status"] == "exhausted" {
            break log[0].clone();
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(message["attempt_count"], 4, "{message}");
    assert!(
        message["last_error"].as_str().unwrap().contains("451"),
        "{message}"
    );
    let _ = stop.send(true);
    done.await.unwrap();
    drop(refusing);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (stop, done) = start_messages(&server, Some(format!("smtp://127.0.0.1:{port}")));
    let channel_id = added.body["id"].as_str().unwrap();
    let resent = server
        .call(
            Method::POST,
            &format!("/v1/auth/channels/{channel_id}/verification"),
            &session,
            None,
        )
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{:?}", resent.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = messages(&server, &session).await;
        if log[0]["attempt_count"].as_u64().unwrap() >= 2 {
            assert!(
                log[0]["last_error"].as_str().unwrap().starts_with("SMTP"),
                "{log:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

async fn chat_channels_post_each_shape_with_links(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let session = server.signup("lin").await;
    server.create_service(&session, "gateway").await;
    let receiver = Receiver::default();
    for kind in ["slack", "discord", "ntfy"] {
        let url = receiver.start(&format!("/{kind}"));
        let added = add_channel(&server, &session, json!({ "kind": kind, "address": url })).await;
        assert_eq!(
            (added.status, &added.body["verified"]),
            (StatusCode::CREATED, &json!(true)),
            "{:?}",
            added.body
        );
    }
    let (stop, done) = start_messages(&server, None);
    let claim_id = pending_claim(&server, "lin", "Support bot");
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.hooks().len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", receiver.hooks());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for hook in receiver.hooks() {
        let body = String::from_utf8(hook.body.clone()).unwrap();
        assert!(
            body.contains(&claim_id) && body.contains("/dashboard/links/lnk_"),
            "{body}"
        );
        if hook.header("content-type") == "application/json" && body.contains("blocks") {
            let slack: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(slack["text"], "Support bot asks to act for you on gateway");
            assert_eq!(slack["blocks"][0]["type"], "header");
            assert_eq!(slack["blocks"][1]["text"]["type"], "mrkdwn");
        } else if hook.header("content-type") == "application/json" {
            let discord: Value = serde_json::from_str(&body).unwrap();
            assert!(
                discord["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("**Support bot asks")
            );
            assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        } else {
            assert_eq!(
                hook.header("title"),
                "Support bot asks to act for you on gateway"
            );
            assert!(hook.header("content-type").starts_with("text/plain"));
        }
    }
    // Received, then recorded: the log catches up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = messages(&server, &session).await;
        if log.iter().filter(|m| m["status"] == "sent").count() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

async fn an_owner_hears_once_when_a_webhook_fails_and_once_when_it_recovers(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let webhook = Receiver::default();
    let url = webhook.start("/events");
    webhook.answer(500);
    let hook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": url })),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let alerts = Receiver::default();
    let ntfy = alerts.start("/alerts");
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "ntfy", "address": ntfy, "throttle_seconds": 0,
                "events": ["endpoint.failing", "endpoint.disabled", "endpoint.recovered"] }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let (stop_messages, messages_done) = start_messages(&server, None);
    let (stop_delivery, delivery) = server.start_delivery();
    let wait_for = |n: usize, what: &'static str| {
        let (webhook, alerts) = (webhook.clone(), alerts.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while webhook.hooks().len() < n {
                assert!(
                    Instant::now() < deadline,
                    "{what}: {} attempts",
                    webhook.hooks().len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Settled and told, or not: give the sender its turn.
            tokio::time::sleep(Duration::from_millis(700)).await;
            alerts.hooks()
        }
    };
    // Two failed deliveries: one alert, for the start of the streak.
    pending_claim(&server, "lin", "bot-1");
    let seen = wait_for(1, "the first failure").await;
    pending_claim(&server, "lin", "bot-2");
    let seen2 = wait_for(2, "the second failure").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen2.len(), 1, "one alert per streak: {seen2:?}");
    assert_eq!(seen[0].header("title"), "A webhook of gateway is failing");
    let body = String::from_utf8(seen[0].body.clone()).unwrap();
    assert!(body.contains(&url) && body.contains("HTTP 500"), "{body}");
    // A success ends the streak: one more alert.
    webhook.answer(200);
    pending_claim(&server, "lin", "bot-3");
    let deadline = Instant::now() + Duration::from_secs(20);
    while alerts.hooks().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no recovery alert: {:?}",
            alerts.hooks()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        alerts.hooks()[1].header("title"),
        "A webhook of gateway works again"
    );
    let _ = stop_delivery.send(true);
    let _ = stop_messages.send(true);
    delivery.await.unwrap();
    messages_done.await.unwrap();
    assert_eq!(alerts.hooks().len(), 2, "{:?}", alerts.hooks());
    server.stop().await;
}

/// `PATCH /v1/auth/channels/{id}` changes what a channel gets and when; a bad value changes
/// nothing and names its field; another owner's channel is not found.
async fn an_owner_changes_a_channels_events_quiet_hours_and_throttle(engine: Engine) {
    let server = TestServer::start(engine).await;
    let lin = server.signup("lin").await;
    let eve = server.signup("eve").await;
    let added = add_channel(
        &server,
        &lin,
        json!({ "kind": "email", "address": "lin@example.com" }),
    )
    .await;
    let path = format!("/v1/auth/channels/{}", added.body["id"].as_str().unwrap());
    let patch = |session: &str, body: Value| {
        let (path, session) = (path.clone(), session.to_owned());
        let server = &server;
        async move {
            server
                .call(Method::PATCH, &path, &session, Some(body))
                .await
        }
    };
    for (body, code, field) in [
        (json!({ "events": [] }), "INVALID_EVENT_TYPE", "events"),
        (
            json!({ "events": ["claim.decided"] }),
            "INVALID_EVENT_TYPE",
            "events",
        ),
        (
            json!({ "quiet_hours": "7-9" }),
            "VALIDATION_ERROR",
            "quiet_hours",
        ),
        (
            json!({ "throttle_seconds": 86401 }),
            "VALIDATION_ERROR",
            "throttle_seconds",
        ),
        (
            json!({ "expiry_lead_seconds": 30 }),
            "VALIDATION_ERROR",
            "expiry_lead_seconds",
        ),
    ] {
        let reply = patch(&lin, body.clone()).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}: {:?}",
            reply.body
        );
        assert!(
            reply.body.to_string().contains(field),
            "{body} names {field}: {:?}",
            reply.body
        );
    }
    let unchanged = server
        .call(Method::GET, "/v1/auth/channels", &lin, None)
        .await;
    assert_eq!(unchanged.body["channels"][0]["throttle_seconds"], 60);
    assert_eq!(
        unchanged.body["channels"][0]["events"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(unchanged.body["channels"][0]["expiry_lead_seconds"], 600);

    let changed = patch(
        &lin,
        json!({ "events": ["claim.submitted"], "quiet_hours": "22:00-07:00", "throttle_seconds": 0,
                "expiry_lead_seconds": 120 }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["events"], json!(["claim.submitted"]));
    assert_eq!(changed.body["quiet_hours"], "22:00-07:00");
    assert_eq!(changed.body["throttle_seconds"], 0);
    assert_eq!(changed.body["expiry_lead_seconds"], 120);
    assert_eq!(changed.body["address"], "lin@example.com");
    // Only what is given changes; an empty text turns quiet hours off.
    let cleared = patch(&lin, json!({ "quiet_hours": "" })).await;
    assert_eq!(cleared.status, StatusCode::OK, "{:?}", cleared.body);
    assert_eq!(cleared.body["quiet_hours"], Value::Null);
    assert_eq!(cleared.body["events"], json!(["claim.submitted"]));
    assert_eq!(cleared.body["throttle_seconds"], 0);
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &lin, None)
        .await;
    assert_eq!(listed.body["channels"][0], cleared.body);

    let theirs = patch(&eve, json!({ "throttle_seconds": 5 })).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{:?}", theirs.body);
    server.stop().await;
}

/// A service's notification mails its owner (once, with an Open link to it in the dashboard);
/// one answered before its message goes out is left out, and a message with nothing left is
/// logged as skipped.
async fn a_notification_mails_its_owner_with_an_open_link(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "ci").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com", "throttle_seconds": 0,
                "events": ["notification.created"] }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    Browser::new(&server)
        .post(&link, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    let note = json!({
        "context": { "title": "Deploy <build 42> to staging?", "description": "Build 42 passed." },
        "actions": [
            { "id": "deploy", "label": "Deploy", "response_type": "simple" },
            { "id": "hold", "label": "Hold", "response_type": "simple" },
        ],
    });
    let id = server.notify(&api_key, &note).await;
    let mail = sink.nth(2).await;
    assert_eq!(mail["subject"], "CI asks: Deploy <build 42> to staging?");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(&id), "{text}");
    assert!(
        text.contains(&format!(
            "{}/dashboard#note-{id}",
            server.base.trim_end_matches('/')
        )),
        "{text}"
    );
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains("Deploy &lt;build 42&gt; to staging?"),
        "{mail}"
    );
    // The mail is accepted a moment before the log records it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = messages(&server, &session).await;
        if log[0]["status"] != "pending" {
            break log;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (&log[0]["topic"], &log[0]["status"], &log[0]["item_count"]),
        (&json!("notification.created"), &json!("sent"), &json!(1)),
        "{log:?}"
    );

    // Answered before its message is sent: nothing is mailed, the log says skipped.
    let _ = stop.send(true);
    done.await.unwrap();
    let second = server.notify(&api_key, &note).await;
    let client_token = server.user_token(&session, "phone").await;
    let answered = server
        .call(
            Method::POST,
            "/api/v1/client/respond",
            &client_token,
            Some(json!({ "notification_id": second, "action_id": "hold" })),
        )
        .await;
    assert!(answered.status.is_success(), "{:?}", answered.body);
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = messages(&server, &session).await;
        if log[0]["status"] == "skipped" {
            break;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sink.mails().len(), 2, "{:?}", sink.mails());
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

/// A claim about to expire reminds its owner once, its lead before the expiry, with its links;
/// a claim decided before then reminds nobody, and one whose life is shorter than the lead
/// gets no reminder (its first message is it).
async fn a_claim_about_to_expire_reminds_its_owner_once(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    server.create_service(&session, "gateway").await;
    for (lead, field) in [(59, "expiry_lead_seconds"), (86_401, "expiry_lead_seconds")] {
        let refused = add_channel(
            &server,
            &session,
            json!({ "kind": "email", "address": "lin@example.com", "expiry_lead_seconds": lead }),
        )
        .await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")),
            "{lead}: {:?}",
            refused.body
        );
        assert_eq!(
            refused.body["details"]["field"], field,
            "{:?}",
            refused.body
        );
    }
    // Reminders only, so every mail after the confirmation is one.
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com", "events": ["item.expiring"],
                "expiry_lead_seconds": 60, "throttle_seconds": 0 }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["expiry_lead_seconds"], 60);
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    let mut browser = Browser::new(&server);
    browser
        .post(&link, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    let ttl = Duration::from_secs(63);
    let reminded = pending_claim_for(&server, "lin", "Support bot", ttl);
    // Due 3 s after the first: beyond the channel's throttle (0), so not gathered with it.
    let decided = pending_claim_for(&server, "lin", "Other bot", ttl + Duration::from_secs(3));
    let short = pending_claim_for(&server, "lin", "Quick bot", Duration::from_secs(30));
    let rejected = server
        .call(
            Method::POST,
            &format!("/v1/claims/{decided}/reject"),
            &session,
            None,
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{:?}", rejected.body);
    let log = messages(&server, &session).await;
    let waiting: Vec<&Value> = log
        .iter()
        .filter(|m| m["topic"] == "item.expiring")
        .collect();
    assert_eq!(
        waiting.len(),
        2,
        "one reminder each for the two long claims: {log:?}"
    );
    assert!(waiting.iter().all(|m| m["status"] == "pending"), "{log:?}");

    let mail = sink.nth(2).await;
    assert_eq!(
        mail["subject"],
        "Expires soon: Support bot asks to act for you on gateway"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(&reminded), "{text}");
    assert!(!text.contains(&decided) && !text.contains(&short), "{text}");
    let links = links_in(text);
    assert_eq!(links.len(), 2, "{text}");
    browser
        .get(&links[0])
        .await
        .assert_shows(StatusCode::OK, "Approve this claim?");

    // The decided claim's reminder is skipped, not sent; nothing else comes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = messages(&server, &session).await;
        let reminders: Vec<&Value> = log
            .iter()
            .filter(|m| m["topic"] == "item.expiring")
            .collect();
        if reminders.iter().all(|m| m["status"] != "pending") {
            break log;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut outcomes: Vec<(&str, u64)> = log
        .iter()
        .filter(|m| m["topic"] == "item.expiring")
        .map(|m| {
            (
                m["status"].as_str().unwrap(),
                m["item_count"].as_u64().unwrap(),
            )
        })
        .collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, [("sent", 1), ("skipped", 1)], "{log:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 2, "{:?}", sink.mails());
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

/// Claims created in a burst expire together: their reminders go as one digest, which also
/// carries a reminder due within the channel's throttle (earlier than its own time) and leaves
/// out a claim decided meanwhile; a reminder due later than the throttle goes at its own time.
async fn a_burst_of_expiring_claims_is_reminded_in_one_digest(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    server.create_service(&session, "gateway").await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com", "events": ["item.expiring"],
                "expiry_lead_seconds": 60, "throttle_seconds": 5 }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    Browser::new(&server)
        .post(&link, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    // Reminders due 4 s from now (the burst), 6 s (within the 5 s throttle) and 12 s (beyond).
    let secs = Duration::from_secs;
    let burst: Vec<String> = (0..25)
        .map(|n| pending_claim_for(&server, "lin", &format!("bot-{n}"), secs(64)))
        .collect();
    // Counted in the digest's 25 (24 of the burst are still pending).
    pending_claim_for(&server, "lin", "Soon bot", secs(66));
    let later = pending_claim_for(&server, "lin", "Later bot", secs(72));
    let rejected = server
        .call(
            Method::POST,
            &format!("/v1/claims/{}/reject", burst[0]),
            &session,
            None,
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{:?}", rejected.body);

    let digest = sink.nth(2).await;
    assert_eq!(
        digest["subject"],
        "Expires soon: 25 agent claims wait for your decision"
    );
    let text = digest["text"].as_str().unwrap();
    assert_eq!(links_in(text).len(), 40, "20 claims with two links: {text}");
    assert!(text.contains("And 5 more in the dashboard."), "{text}");
    assert!(
        !text.contains(&burst[0]) && !text.contains(&later),
        "{text}"
    );
    let alone = sink.nth(3).await;
    assert_eq!(
        alone["subject"],
        "Expires soon: Later bot asks to act for you on gateway"
    );
    assert!(alone["text"].as_str().unwrap().contains(&later));

    let log = messages(&server, &session).await;
    let mut reminders: Vec<(&str, u64)> = log
        .iter()
        .filter(|m| m["topic"] == "item.expiring")
        .map(|m| {
            (
                m["status"].as_str().unwrap(),
                m["item_count"].as_u64().unwrap(),
            )
        })
        .collect();
    reminders.sort_unstable();
    // The digest carried the burst (the rejected claim left out of its text) and Soon bot's.
    assert_eq!(reminders, [("sent", 1), ("sent", 26)], "{log:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 3, "{:?}", sink.mails());
    let _ = stop.send(true);
    done.await.unwrap();
    server.stop().await;
}

/// A notification with a deadline reminds its owner once before it, with its Open link; one
/// without a deadline never expires and gets no reminder.
async fn a_notification_about_to_expire_reminds_its_owner(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "ci").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "lin@example.com", "events": ["item.expiring"],
                "expiry_lead_seconds": 60 }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let (stop, done) = start_messages(&server, Some(sink.url()));
    let link = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    Browser::new(&server)
        .post(&link, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    let note = |deadline: Option<String>| {
        let mut note = json!({
            "context": { "title": "Deploy to staging?", "description": "Build 42 passed." },
            "actions": [{ "id": "deploy", "label": "Deploy", "response_type": "simple" }],
        });
        if let Some(deadline) = deadline {
            note["deadline"] = json!(deadline);
        }
        note
    };
    let deadline = assent_core::Timestamp::now().plus_millis(63_000);
    let expiring = server
        .notify(&api_key, &note(Some(deadline.to_rfc3339())))
        .await;
    let open_ended = server.notify(&api_key, &note(None)).await;
    let mail = sink.nth(2).await;
    assert_eq!(mail["subject"], "Expires soon: CI asks: Deploy to staging?");
    let text = mail["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "{}/dashboard#note-{expiring}",
            server.base.trim_end_matches('/')
        )),
        "{text}"
    );
    assert!(!text.contains(&open_ended), "{text}");
    let log = messages(&server, &session).await;
    let reminders = log.iter().filter(|m| m["topic"] == "item.expiring").count();
    assert_eq!(reminders, 1, "{log:?}");
    let _ = stop.send(true);
    done.await.unwrap();
    assert_eq!(sink.mails().len(), 2, "{:?}", sink.mails());
    server.stop().await;
}

/// Waits until `receiver` has `n` hooks, then a moment more for a duplicate to show up.
async fn exactly_hooks(receiver: &Receiver, n: usize) -> Vec<common::Hook> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.hooks().len() < n {
        assert!(Instant::now() < deadline, "{n} webhooks did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), n, "exactly {n} webhooks: {hooks:?}");
    hooks
}

/// A notification's mail carries a single-use link per action that needs no data (and Open):
/// a GET shows, the POST answers through the dashboard's operation and the service hears it,
/// signed, once. An irreversible action's link works only in its owner's session, and a link
/// of an answered or withdrawn notification changes nothing.
async fn a_notification_is_answered_from_its_mail_in_one_click(engine: Engine) {
    let sink = SmtpSink::start(false);
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let receiver = Receiver::default();
    let callback = receiver.start("/atp/webhook");
    let registered = server
        .register(&json!({
            "name": "CI", "description": "Deploys", "callback_url": callback,
            "webhook_secret": "notelinks-secret", "namespace": "ada",
        }))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let api_key = registered.body["api_key"].as_str().unwrap().to_owned();
    let (session, account_id) = server.login("ada@example.com").await;
    let added = add_channel(
        &server,
        &session,
        json!({ "kind": "email", "address": "ada@example.com", "throttle_seconds": 0,
                "events": ["notification.created"] }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let (stop_messages, messages_done) = start_messages(&server, Some(sink.url()));
    let (stop_delivery, delivery) = server.start_delivery();
    let mut guest = Browser::new(&server);
    let verify = links_in(sink.nth(1).await["text"].as_str().unwrap()).remove(0);
    guest
        .post(&verify, &[])
        .await
        .assert_shows(StatusCode::OK, "Channel confirmed");

    let note = json!({
        "context": { "title": "Ship build 42?", "description": "It passed." },
        "actions": [
            { "id": "ship", "label": "Ship", "response_type": "simple", "flags": ["irreversible"] },
            { "id": "hold", "label": "Hold", "response_type": "simple" },
            { "id": "why", "label": "Why?", "response_type": "text" },
            { "id": "sure", "label": "Sure?", "response_type": "binary",
              "options": { "true_label": "Yes", "false_label": "No" } },
        ],
    });
    // First: answered with Hold from the mail, without logging in.
    let first = server.notify(&api_key, &note).await;
    let mail = sink.nth(2).await;
    let text = mail["text"].as_str().unwrap();
    let links = links_in(text);
    assert_eq!(
        links.len(),
        4,
        "Ship, Hold and the two sides of Sure? (none for Why?): {text}"
    );
    let (ship, hold) = (&links[0], &links[1]);
    assert!(
        text.contains(&format!("Sure?: Yes: {}", server.url(&links[2])))
            && text.contains(&format!("Sure?: No: {}", server.url(&links[3]))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Ship (cannot be undone; log in first): {}",
            server.url(ship)
        )) && text.contains(&format!("Hold: {}", server.url(hold)))
            && text.contains(&format!("/dashboard#note-{first}")),
        "{text}"
    );
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains(ship.as_str()) && html.contains(hold.as_str()),
        "{html}"
    );

    guest
        .get(hold)
        .await
        .assert_shows(StatusCode::OK, "Answer “Hold”?");
    assert_ne!(
        server.notification_status(&api_key, &first).await,
        "responded",
        "a GET answers nothing"
    );
    guest
        .post(hold, &[])
        .await
        .assert_shows(StatusCode::OK, "Your answer “Hold” is recorded");
    assert_eq!(
        server.notification_status(&api_key, &first).await,
        "responded"
    );
    guest
        .post(hold, &[])
        .await
        .assert_shows(StatusCode::GONE, "This link was used already");
    // Its sibling finds it answered, even in the owner's session.
    guest.get(ship).await.assert_shows(
        StatusCode::CONFLICT,
        "This notification was answered already",
    );
    let mut owner = Browser::new(&server);
    owner.login("ada@example.com").await;
    owner.post(ship, &[]).await.assert_shows(
        StatusCode::CONFLICT,
        "It is responded; nothing was changed.",
    );
    let hooks = exactly_hooks(&receiver, 1).await;
    assent_signing::Verifier::default()
        .verify_now(
            b"notelinks-secret",
            hooks[0].header("x-atp-signature"),
            &hooks[0].body,
        )
        .expect("a valid X-ATP-Signature");
    let body = hooks[0].json();
    assert_eq!(
        (
            &body["notification_id"],
            &body["action_id"],
            &body["response_data"]
        ),
        (&json!(first), &json!("hold"), &Value::Null),
        "{body}"
    );
    assert_eq!(body["responder"]["id"], account_id.as_str());

    // Second: Ship cannot be undone. Without the owner's session it is refused and changes
    // nothing, and the link still works once the owner logs in.
    let second = server.notify(&api_key, &note).await;
    let text = sink.nth(3).await["text"].as_str().unwrap().to_owned();
    let ship = links_in(&text).remove(0);
    let token = ship.rsplit('/').next().unwrap().to_owned();
    let asks = guest.get(&ship).await;
    asks.assert_shows(StatusCode::OK, "Log in to answer this");
    assert!(
        !asks.text.contains("link-confirm"),
        "no button: {}",
        asks.text
    );
    let login = format!("/dashboard/login?next=/dashboard/links/{token}");
    assert!(asks.text.contains(&login), "{}", asks.text);
    guest
        .post(&ship, &[])
        .await
        .assert_shows(StatusCode::FORBIDDEN, "Log in to answer this");
    let mut eve = Browser::new(&server);
    server.signup("eve").await;
    eve.login("eve@example.com").await;
    eve.post(&ship, &[])
        .await
        .assert_shows(StatusCode::FORBIDDEN, "Log in to answer this");
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 2.., "00");
    owner
        .post(&format!("/dashboard/links/{tampered}"), &[])
        .await
        .assert_shows(StatusCode::NOT_FOUND, "This link is not valid");
    assert_ne!(
        server.notification_status(&api_key, &second).await,
        "responded"
    );

    // The login page comes back to the link (and to nowhere else).
    let mut later = Browser::new(&server);
    let form = later.get(&login).await;
    form.assert_shows(
        StatusCode::OK,
        &format!("value=\"/dashboard/links/{token}\""),
    );
    later
        .post(
            "/dashboard/login",
            &[
                ("email", "ada@example.com"),
                ("password", common::PASSWORD),
                ("next", &ship),
            ],
        )
        .await
        .assert_redirect(&ship);
    later.get(&ship).await.assert_shows(
        StatusCode::OK,
        "cannot be undone: the button answers for good",
    );
    let mut astray = Browser::new(&server);
    astray
        .post(
            "/dashboard/login",
            &[
                ("email", "ada@example.com"),
                ("password", common::PASSWORD),
                ("next", "https://evil.example/dashboard/links/x"),
            ],
        )
        .await
        .assert_redirect("/dashboard");
    later
        .post(&ship, &[])
        .await
        .assert_shows(StatusCode::OK, "Your answer “Ship” is recorded");
    assert_eq!(
        server.notification_status(&api_key, &second).await,
        "responded"
    );
    let hooks = exactly_hooks(&receiver, 2).await;
    let body = hooks[1].json();
    assert_eq!(
        (&body["notification_id"], &body["action_id"]),
        (&json!(second), &json!("ship")),
        "{body}"
    );

    // Third: withdrawn by the service after its mail went out.
    let third = server.notify(&api_key, &note).await;
    let text = sink.nth(4).await["text"].as_str().unwrap().to_owned();
    let hold = links_in(&text).remove(1);
    server
        .invalidate_notification(&api_key, &third, "superseded")
        .await;
    guest
        .get(&hold)
        .await
        .assert_shows(StatusCode::CONFLICT, "This notification was withdrawn");
    guest.post(&hold, &[]).await.assert_shows(
        StatusCode::CONFLICT,
        "It is invalidated; nothing was changed.",
    );
    exactly_hooks(&receiver, 2).await;

    // Fourth: a binary action answered "No" in one click: its data is `false`.
    let fourth = server.notify(&api_key, &note).await;
    let text = sink.nth(5).await["text"].as_str().unwrap().to_owned();
    let no = links_in(&text).remove(3);
    guest
        .get(&no)
        .await
        .assert_shows(StatusCode::OK, "Answer “Sure?: No”?");
    guest
        .post(&no, &[])
        .await
        .assert_shows(StatusCode::OK, "is recorded");
    let hooks = exactly_hooks(&receiver, 3).await;
    let body = hooks[2].json();
    assert_eq!(
        (
            &body["notification_id"],
            &body["action_id"],
            &body["response_data"]
        ),
        (&json!(fourth), &json!("sure"), &json!(false)),
        "{body}"
    );

    let _ = stop_delivery.send(true);
    let _ = stop_messages.send(true);
    delivery.await.unwrap();
    messages_done.await.unwrap();
    server.stop().await;
}

on_both_engines!(
    a_notification_is_answered_from_its_mail_in_one_click,
    a_burst_of_expiring_claims_is_reminded_in_one_digest,
    a_notification_about_to_expire_reminds_its_owner,
    a_claim_about_to_expire_reminds_its_owner_once,
    a_notification_mails_its_owner_with_an_open_link,
    an_owner_changes_a_channels_events_quiet_hours_and_throttle,
    an_owner_hears_once_when_a_webhook_fails_and_once_when_it_recovers,
    an_emailed_link_approves_a_claim_and_the_service_hears_it,
    links_refuse_tampering_and_other_owners,
    bad_channels_are_refused_with_clear_codes,
    a_burst_of_claims_is_digested,
    an_unreachable_smtp_server_is_retried_and_logged,
    chat_channels_post_each_shape_with_links,
);
