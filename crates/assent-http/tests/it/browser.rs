//! The dashboard in a real browser: Debian's Chromium driven through ChromeDriver (WebDriver),
//! against a real server, the real delivery engine and a real webhook receiver, on SQLite and
//! PostgreSQL. An owner signs up, creates a service, an API key and a webhook; an agent submits
//! a signed claim and the service a notification through the API; both appear in the open inbox
//! without a reload; the owner approves the claim with the keyboard and answers the
//! notification; the webhook's delivery log shows `request.approved` delivered; the owner
//! revokes the agent and the API key. Every page is then checked on a phone-sized screen.
//!
//! Chromium and ChromeDriver come from Debian (`.ci/install-browser`); a missing one fails the
//! test, saying so. Screenshots are written to `$CARGO_TARGET_TMPDIR/screenshots/`.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assent_store::testing::Engine;
use common::{
    Agent, PASSWORD, Receiver, TestServer, XSS_ATTRIBUTE, XSS_SCRIPT, claim_body, signed, verify,
};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what the test waits for.
const PATIENCE: Duration = Duration::from_secs(15);

/// A ChromeDriver process on a free local port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: the browser tests need Debian's chromium and \
                 chromium-driver; run .ci/install-browser"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless Chromium window of `width` × `height` CSS pixels; a phone-sized one
    /// (narrower than a desktop window can be) is an emulated device of that size.
    async fn open(&self, width: u32, height: u32) -> Client {
        self.open_with(width, height, &["--headless=new"]).await
    }

    /// [`Driver::open`] with `mode` (headless, or flags for a window on `$DISPLAY`).
    async fn open_with(&self, width: u32, height: u32, mode: &[&str]) -> Client {
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-extensions",
                "--no-first-run",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                format!("--window-size={width},{height}"),
            ],
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(mode.iter().map(|m| json!(m)));
        }
        if width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1, "touch": true },
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser tab of one test, with the server it talks to.
struct Tab<'a> {
    client: Client,
    server: &'a TestServer,
    engine: Engine,
}

impl Tab<'_> {
    async fn goto(&self, path: &str) {
        self.client.goto(&self.server.url(path)).await.unwrap();
    }

    /// The element `css`, waiting for it to appear; a failure shows the page it was not on
    /// (and saves its screenshot as `failure`).
    async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(found) => found,
            Err(e) => {
                let url = self.client.current_url().await.unwrap();
                let text = self.text("body").await;
                let shot = self.screenshot("failure").await;
                panic!(
                    "{css} never appeared ({e}) on {url} ({}):\n{text}",
                    shot.display()
                )
            }
        }
    }

    /// The text of `css`; found again if the live inbox replaced it meanwhile.
    async fn text(&self, css: &str) -> String {
        loop {
            match Box::pin(self.find(css)).await.text().await {
                Err(e) if e.is_stale_element_reference() => {}
                done => return done.unwrap(),
            }
        }
    }

    /// Types `value` into the field `css`, clearing it first.
    async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks `css`, then waits for the page it leads to to show `next`.
    async fn click(&self, css: &str, next: &str) {
        self.press(css).await;
        self.find(next).await;
    }

    /// Clicks `css`, found again while the live inbox replaces it (a stale element, or one
    /// not yet interactable in the new render); a click that failed so did nothing.
    async fn press(&self, css: &str) {
        let started = Instant::now();
        loop {
            match self.find(css).await.click().await {
                Err(e)
                    if (e.is_stale_element_reference() || e.is_element_not_interactable())
                        && started.elapsed() < PATIENCE =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                done => break done.unwrap(),
            }
        }
    }

    /// Evaluates a script's `return` value.
    async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Reloads the page until `css` is on it (for what arrives in the background).
    async fn reload_until(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(found) = self.client.find(Locator::Css(css)).await {
                return found;
            }
            if started.elapsed() > PATIENCE {
                return self.find(css).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.client.refresh().await.unwrap();
        }
    }

    /// Saves a screenshot of the window as `<engine>-<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{name}.png", self.engine));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The page fits the window's width (nothing to scroll sideways), and its buttons, but for
    /// the small quiet ones (log out, copy), are tall enough to tap.
    async fn assert_fits_a_phone(&self, what: &str) {
        let sizes = self
            .eval(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 Math.min(...Array.from(document.querySelectorAll('main button:not(.quiet)'))\
                 .map(b => b.getBoundingClientRect().height))];",
            )
            .await;
        let (scroll, inner) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(inner <= 400, "a phone-sized window: {inner}");
        assert!(
            scroll <= inner,
            "{what}: sideways scrolling, {scroll} > {inner}"
        );
        // No button at all gives Infinity, which JSON carries as null.
        if let Some(smallest) = sizes[2].as_f64() {
            assert!(smallest >= 40.0, "{what}: a button {smallest} px tall");
        }
    }

    /// Whether the focused element matches `css`.
    async fn focused_matches(&self, css: &str) -> bool {
        let matches = self
            .client
            .execute(
                "return document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .unwrap();
        matches == json!(true)
    }

    /// Presses Tab until the focused element matches `css`; fails after `limit` presses.
    async fn tab_to(&self, css: &str, limit: usize) {
        let body = self.find("body").await;
        for _ in 0..limit {
            body.send_keys(&Key::Tab.to_string()).await.unwrap();
            if self.focused_matches(css).await {
                return;
            }
        }
        panic!("{css} was not reached with {limit} presses of Tab");
    }
}

async fn wait_for_event(receiver: &Receiver, event: &str) {
    let started = Instant::now();
    while !receiver.events().iter().any(|e| e["event"] == event) {
        assert!(
            started.elapsed() < PATIENCE,
            "{event} never arrived: {:?}",
            receiver.events()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits `agent`'s signed claim on `service` (through its API key) as `name`; returns its id.
async fn submit_claim(
    server: &TestServer,
    agent: &Agent,
    service: &str,
    name: &str,
    api_key: &str,
) -> String {
    let mut claim = claim_body(agent, service);
    claim["agent_name"] = json!(name);
    let reply = signed(
        server,
        agent,
        Method::POST,
        "/v1/claims",
        Some(claim),
        Some(api_key),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["claim_id"].as_str().unwrap().to_owned()
}

async fn an_owner_decides_in_the_browser(engine: Engine) {
    let server = TestServer::start_with(engine, |s| s.webhook_policy.allow_private = true).await;
    let receiver = Receiver::default();
    let receiver_url = receiver.start("/assent/events");
    let (stop, delivery) = server.start_delivery();
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1000).await,
        server: &server,
        engine,
    };

    // Sign up: the empty inbox says what will appear there.
    tab.goto("/dashboard/signup").await;
    tab.fill("#email", "grace@example.com").await;
    tab.fill("#namespace", "grace").await;
    tab.fill("#password", PASSWORD).await;
    tab.click("form.stack button[type=submit]", "#inbox-items .empty")
        .await;
    assert!(
        tab.text("#inbox-items")
            .await
            .contains("Nothing is waiting"),
        "the empty state"
    );

    // A service, its API key (shown once), and a webhook to the receiver.
    tab.goto("/dashboard/services").await;
    tab.fill("#slug", "deploy-bot").await;
    tab.fill("#name", "Deploy bot").await;
    tab.fill("#description", "Ships releases when a human says so.")
        .await;
    tab.click("form.stack button[type=submit]", "#keys-title")
        .await;
    let service_path = tab.client.current_url().await.unwrap().path().to_owned();
    let service_id = service_path.rsplit('/').next().unwrap().to_owned();
    tab.fill("#key-name", "production").await;
    tab.click(
        "form[action$='/keys'] button[type=submit]",
        "code#new-secret",
    )
    .await;
    let api_key = tab.text("code#new-secret").await;
    assert!(api_key.starts_with("sk_live_"), "{api_key}");
    tab.screenshot("api-key").await;
    tab.fill("#webhook-url", &receiver_url).await;
    tab.click(
        "form[action$='/webhooks'] button[type=submit]",
        "code#new-secret",
    )
    .await;
    let secret = tab.text("code#new-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    tab.goto(&service_path).await;
    let webhook_path = tab
        .find(".webhooks a")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link to the webhook's page");
    assert!(
        !tab.client.source().await.unwrap().contains(&api_key),
        "the key is shown once"
    );

    // The inbox is open; a claim and a notification arrive through the API.
    tab.goto("/dashboard").await;
    tab.find("#inbox-items .empty").await;
    // A reload would lose this marker: it proves the items arrive live.
    tab.eval("window.assentMarker = 'still here'; return null;")
        .await;
    let agent = Agent::new("grace");
    let claim_id = submit_claim(&server, &agent, "deploy-bot", "Release agent", &api_key).await;
    let note_id = server
        .notify(
            &api_key,
            &json!({
                "context": {
                    "title": "Ship release 2.4 to production?",
                    "description": "All checks passed on staging. 14 commits since 2.3.",
                    "metadata": { "release": "2.4.0", "commits": 14 },
                },
                "actions": [
                    { "id": "ship", "label": "Ship it", "response_type": "choice",
                      "options": [
                          { "value": "now", "label": "Now" },
                          { "value": "tonight", "label": "Tonight at 22:00" },
                      ] },
                    { "id": "hold", "label": "Hold the release", "response_type": "simple" },
                ],
            }),
        )
        .await;
    tab.find(&format!("[id='claim-{claim_id}']")).await;
    tab.find(&format!("[id='note-{note_id}']")).await;
    assert_eq!(
        tab.eval("return window.assentMarker;").await,
        json!("still here"),
        "the inbox updated without a reload"
    );
    tab.screenshot("inbox").await;

    // Approve with the keyboard: Tab to the claim's Approve button. While it has focus, a
    // notification with hostile text arrives: the live update keeps the focus where it was,
    // and the text renders as text, with no element made from it.
    let approve = format!("form[action='/dashboard/claims/{claim_id}/approve'] button");
    tab.tab_to(&approve, 60).await;
    let hostile = server
        .notify(
            &api_key,
            &json!({
                "context": {
                    "title": format!("Title {XSS_SCRIPT}"),
                    "description": format!("Description {XSS_ATTRIBUTE}"),
                },
                "actions": [{ "id": "dismiss", "label": "Dismiss", "response_type": "simple" }],
            }),
        )
        .await;
    let title = tab.text(&format!("[id='note-{hostile}']")).await;
    assert_eq!(title, format!("Title {XSS_SCRIPT}"));
    assert_eq!(
        tab.eval(
            "return document.querySelectorAll('#inbox-items script, #inbox-items img').length;"
        )
        .await,
        json!(0),
        "no element came from the service's text"
    );
    assert!(
        tab.focused_matches(&approve).await,
        "the focus stayed on Approve across the live update"
    );
    // The live inbox may render once more between that check and the key press (each render
    // keeps the focus on Approve, as just asserted), which leaves the element in hand stale:
    // press Enter on the element focused at that moment, again if it was replaced meanwhile.
    let started = Instant::now();
    loop {
        let focused = tab.client.active_element().await.unwrap();
        if focused.send_keys(&Key::Enter.to_string()).await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "Enter never reached the Approve button"
        );
        assert!(
            tab.focused_matches(&approve).await,
            "the focus stayed on Approve across the live update"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    while tab.client.find(Locator::Css(&approve)).await.is_ok() {
        assert!(started.elapsed() < PATIENCE, "the claim stayed pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        verify(&server, &agent, "deploy-bot").await["authorized"],
        json!(true)
    );

    tab.click(
        &format!("[aria-labelledby='note-{hostile}'] button[type=submit]"),
        "#inbox-items",
    )
    .await;

    // Answer the notification: choose "Tonight", send.
    let answer = format!("[aria-labelledby='note-{note_id}'] form.answer-1");
    tab.press(&format!("{answer} input[value='tonight']")).await;
    tab.press(&format!("{answer} button[type=submit]")).await;
    let started = Instant::now();
    loop {
        let status = notification(&server, &api_key, &note_id).await;
        if status["status"] == "responded" {
            assert_eq!(status["response"]["action_id"], "ship");
            assert_eq!(status["response"]["response_data"], "tonight");
            break;
        }
        assert!(started.elapsed() < PATIENCE, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tab.find("#inbox-items .empty").await;

    // The history shows both decisions.
    tab.goto("/dashboard/history").await;
    tab.find(&format!(
        "[aria-labelledby='claim-{claim_id}'] .status-approved"
    ))
    .await;
    assert!(
        tab.text(&format!("[aria-labelledby='note-{note_id}']"))
            .await
            .contains("Tonight")
    );

    // The webhook's log shows request.approved delivered, with its attempt.
    wait_for_event(&receiver, "request.approved").await;
    tab.goto(&webhook_path).await;
    let delivered = tab
        .reload_until(".delivery:has(.status-succeeded) td[data-label='Event'] code")
        .await;
    assert!(
        ["request.approved", "request.submitted"]
            .contains(&delivered.text().await.unwrap().as_str())
    );
    let log = tab.text(".deliveries").await;
    assert!(log.contains("request.approved"), "{log}");
    assert!(log.contains("request.submitted"), "{log}");
    tab.press(".delivery-sent details summary").await;
    assert!(tab.text(".delivery-sent .attempts").await.contains("200"));
    tab.screenshot("deliveries").await;

    // Retry the newest delivery from its button: the receiver gets it again.
    let before = receiver.hooks().len();
    tab.click(".delivery form button[type=submit]", ".deliveries")
        .await;
    let started = Instant::now();
    while receiver.hooks().len() <= before {
        assert!(started.elapsed() < PATIENCE, "the retry never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Revoke the agent from the history, then the API key from the service's page.
    tab.goto("/dashboard/history").await;
    tab.click(
        &format!("form[action='/dashboard/claims/{claim_id}/revoke'] button"),
        &format!("[aria-labelledby='claim-{claim_id}'] .status-revoked"),
    )
    .await;
    assert_eq!(
        verify(&server, &agent, "deploy-bot").await["authorized"],
        json!(false)
    );
    wait_for_event(&receiver, "request.revoked").await;
    tab.goto(&service_path).await;
    tab.click(
        &format!("form[action^='/dashboard/services/{service_id}/keys/'] button"),
        "#keys-title",
    )
    .await;
    tab.find("#keys-title ~ .empty").await;
    let refused = server
        .send(
            server
                .client
                .get(server.url(&format!("/api/v1/notifications/{note_id}")))
                .bearer_auth(&api_key),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "the key is revoked"
    );

    tab.client.close().await.unwrap();
    let _ = stop.send(true);
    delivery.await.unwrap();
    server.stop().await;
}

/// On a phone-sized screen every page fits the width (no sideways scrolling) and its buttons
/// are large enough to tap; the skip link is the first stop of the keyboard.
async fn every_page_fits_a_phone(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("hopper").await;
    let service_id = server.create_service(&session, "mail-triage").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let long_name = "An agent with a rather long name that must wrap on a phone";
    submit_claim(
        &server,
        &Agent::new("hopper"),
        "mail-triage",
        long_name,
        &api_key,
    )
    .await;
    server
        .notify(
            &api_key,
            &json!({
                "context": {
                    "title": "Reply to the customer about invoice 4711?",
                    "description": "The customer asks why invoice 4711 was charged twice.",
                },
                "actions": [
                    { "id": "reply", "label": "Send the drafted reply", "response_type": "binary",
                      "options": { "true_label": "Send", "false_label": "Don't send" } },
                    { "id": "note", "label": "Answer in your own words", "response_type": "text" },
                ],
            }),
        )
        .await;

    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(390, 844).await,
        server: &server,
        engine,
    };
    for page in ["/dashboard/signup", "/dashboard/login"] {
        tab.goto(page).await;
        tab.assert_fits_a_phone(page).await;
    }
    tab.fill("#email", "hopper@example.com").await;
    tab.fill("#password", common::PASSWORD).await;
    tab.click("form.stack button[type=submit]", "#inbox-items .claim")
        .await;
    tab.assert_fits_a_phone("the inbox").await;
    tab.screenshot("inbox-phone").await;

    // The first Tab reaches the skip link, and following it moves focus to the content.
    tab.tab_to("a.skip", 1).await;
    tab.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    assert_eq!(
        tab.eval("return document.activeElement.id;").await,
        json!("main")
    );

    // Every other page, each with something on it: a webhook with a delivery in its log
    // (nothing delivers here, so it stays pending), a user token, audit entries, history.
    tab.press(&format!("{} .decide button.primary", "#inbox-items .claim"))
        .await;
    tab.find("#inbox-items .notification").await;
    let webhook = server
        .call(
            Method::POST,
            &format!("/v1/services/{service_id}/webhooks"),
            &session,
            Some(json!({ "url": "https://hooks.example/assent/events" })),
        )
        .await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{:?}", webhook.body);
    let webhook_path = format!(
        "/v1/services/{service_id}/webhooks/{}",
        webhook.body["id"].as_str().unwrap()
    );
    let sent = server
        .call(
            Method::POST,
            &format!("{webhook_path}/test"),
            &session,
            None,
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);
    server.user_token(&session, "phone").await;
    let channel = server
        .call(
            Method::POST,
            "/v1/auth/channels",
            &session,
            Some(json!({ "kind": "email", "address": "grace.hopper.with.a.long.address@mail.example.com" })),
        )
        .await;
    assert_eq!(channel.status, StatusCode::CREATED, "{:?}", channel.body);
    for (page, name) in [
        ("/dashboard/history".to_owned(), "history"),
        ("/dashboard/services".to_owned(), "services"),
        (format!("/dashboard/services/{service_id}"), "service"),
        (format!("/dashboard{}", &webhook_path[3..]), "webhook"),
        ("/dashboard/tokens".to_owned(), "tokens"),
        ("/dashboard/audit".to_owned(), "audit"),
        ("/dashboard/settings".to_owned(), "settings"),
    ] {
        tab.goto(&page).await;
        tab.find("main h1").await;
        tab.assert_fits_a_phone(&page).await;
        tab.screenshot(&format!("{name}-phone")).await;
    }
    tab.client.close().await.unwrap();
    server.stop().await;
}

/// A notification as its service reads it.
async fn notification(server: &TestServer, api_key: &str, id: &str) -> Value {
    server
        .send(
            server
                .client
                .get(server.url(&format!("/api/v1/notifications/{id}")))
                .bearer_auth(api_key),
        )
        .await
        .body
}

/// What cannot be undone asks first, in the browser as without JavaScript: an action flagged
/// `irreversible` is not sent until its box is ticked, and a service is deleted only once its
/// slug is typed (a wrong one deletes nothing, saying so).
async fn an_owner_confirms_what_cannot_be_undone(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "old-bot").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let note_id = server
        .notify(
            &api_key,
            &crate::dashboard::irreversible_notification("Drop the legacy tables?"),
        )
        .await;
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1000).await,
        server: &server,
        engine,
    };
    tab.goto("/dashboard/login").await;
    tab.fill("#email", "lin@example.com").await;
    tab.fill("#password", PASSWORD).await;
    tab.click(
        "form.stack button[type=submit]",
        "#inbox-items .notification",
    )
    .await;

    // The irreversible action stands apart; sending it unticked is held by the browser.
    let form = format!("[aria-labelledby='note-{note_id}'] form.irreversible");
    assert!(
        tab.text(&form)
            .await
            .contains("“Apply the migration” cannot be undone."),
    );
    tab.screenshot("irreversible").await;
    tab.press(&format!("{form} button[type=submit]")).await;
    assert_eq!(
        tab.eval(&format!(
            "return document.querySelector(\"{form} input[name=confirm_irreversible]\")\
             .validity.valueMissing;"
        ))
        .await,
        json!(true)
    );
    tab.find(&form).await;
    let unsent = notification(&server, &api_key, &note_id).await;
    assert_ne!(unsent["status"], "responded", "not sent unticked: {unsent}");
    // Ticked, it goes.
    tab.press(&format!("{form} input[name=confirm_irreversible]"))
        .await;
    tab.press(&format!("{form} button[type=submit]")).await;
    let started = Instant::now();
    loop {
        let body = notification(&server, &api_key, &note_id).await;
        if body["status"] == "responded" {
            assert_eq!(body["response"]["action_id"], "apply");
            break;
        }
        assert!(started.elapsed() < PATIENCE, "{body:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Deleting the service: a wrong slug deletes nothing and says why; the slug deletes it.
    let service_path = format!("/dashboard/services/{service_id}");
    tab.goto(&service_path).await;
    tab.fill("#confirm-slug", "old-bot-2").await;
    tab.click("form[action$='/delete'] button.danger", "#delete-error")
        .await;
    assert!(
        tab.text("#delete-error")
            .await
            .contains("Nothing was deleted: type the service's slug, `old-bot`, to confirm."),
    );
    tab.eval("document.getElementById('delete-error').scrollIntoView(); return null;")
        .await;
    tab.screenshot("delete-refused").await;
    assert_eq!(server.db.store.list_services("lin").unwrap().len(), 1);
    tab.fill("#confirm-slug", "old-bot").await;
    tab.click("form[action$='/delete'] button.danger", "main .empty")
        .await;
    assert!(tab.text("main .empty").await.contains("No services yet"));
    assert!(server.db.store.list_services("lin").unwrap().is_empty());

    tab.client.close().await.unwrap();
    server.stop().await;
}

/// The API reference at `/docs` renders in the browser from the server's own document, one
/// block per operation, with nothing fetched from elsewhere.
async fn the_api_docs_render_every_operation(engine: Engine) {
    let server = TestServer::start(engine).await;
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1000).await,
        server: &server,
        engine,
    };
    tab.goto("/docs").await;
    assert_eq!(
        tab.client.current_url().await.unwrap().path(),
        "/docs/",
        "/docs leads to the page"
    );
    tab.find(".opblock-summary-path[data-path='/v1/services/{service_id}']")
        .await;
    let document: Value = serde_json::from_str(&assent_http::openapi::document_json()).unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let shown = tab
        .eval("return document.querySelectorAll('.opblock').length")
        .await;
    assert_eq!(shown, json!(operations));
    let elsewhere = tab
        .eval(
            "return performance.getEntriesByType('resource').map(r => r.name)\
             .filter(n => !n.startsWith(location.origin))",
        )
        .await;
    assert_eq!(elsewhere, json!([]), "fetched from elsewhere");
    tab.screenshot("api-docs").await;
    tab.client.close().await.unwrap();
    server.stop().await;
}

/// The Account page changes the password (the other session ends), and a reset link from the
/// operator sets a new one, in a real browser.
async fn an_owner_changes_and_resets_the_password_in_the_browser(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (other, _) = server.login("ada@example.com").await;
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1000).await,
        server: &server,
        engine,
    };
    tab.goto("/dashboard/login").await;
    tab.fill("#email", "ada@example.com").await;
    tab.fill("#password", PASSWORD).await;
    tab.click("form.stack button[type=submit]", "#inbox-items")
        .await;

    tab.goto("/dashboard/account").await;
    assert!(
        tab.text("#sessions-title + ul")
            .await
            .contains("This session")
    );
    tab.fill("#current-password", PASSWORD).await;
    tab.fill("#new-password", "a changed password").await;
    tab.click(
        "form[action='/dashboard/account/password'] button",
        "#account-notice",
    )
    .await;
    assert!(
        tab.text("#account-notice")
            .await
            .contains("every other session has ended")
    );
    let me = server
        .call(reqwest::Method::GET, "/v1/auth/me", &other, None)
        .await;
    assert_eq!(me.status, reqwest::StatusCode::UNAUTHORIZED);

    // The operator's reset link: the page sets a new password and leads to the login.
    let account = server
        .db
        .store
        .find_account_by_email("ada@example.com")
        .unwrap()
        .unwrap();
    let reset = assent_auth::MintedToken::new(assent_auth::TokenKind::PasswordReset);
    let expires = assent_core::Timestamp::now().after(Duration::from_secs(3600));
    server
        .db
        .store
        .create_password_reset(&reset.hash, &account, expires, &assent_store::Actor::Cli)
        .unwrap();
    tab.goto(&format!(
        "/dashboard/reset-password?token={}",
        reset.plaintext.expose()
    ))
    .await;
    tab.fill("#new-password", "a reset password").await;
    tab.click(
        "form.stack button[type=submit]",
        "form[action='/dashboard/login']",
    )
    .await;
    tab.fill("#email", "ada@example.com").await;
    tab.fill("#password", "a reset password").await;
    tab.click("form.stack button[type=submit]", "#inbox-items")
        .await;
    server.stop().await;
}

/// The Policies page in the browser: an owner grants "for the next 60 minutes" from a
/// notification in the history, sees the next identical request answered by the grant (and
/// the history saying so), writes rules and a cap (a bad range is refused, naming the field),
/// sees what each rule decided, and revokes the grant.
async fn an_owner_sets_rules_and_grants_for_an_hour_in_the_browser(engine: Engine) {
    let server = TestServer::start(engine).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "ci").await;
    let api_key = server.create_api_key(&session, &service_id).await;
    let deploy = json!({
        "context": { "title": "Deploy to staging?", "description": "Build 42 passed.",
                     "metadata": { "env": "staging", "build": 42 } },
        "actions": [
            { "id": "approve", "label": "Deploy", "response_type": "simple" },
            { "id": "deny", "label": "Hold", "response_type": "simple" },
        ],
    });
    let first = server.notify(&api_key, &deploy).await;
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1000).await,
        server: &server,
        engine,
    };
    tab.goto("/dashboard/login").await;
    tab.fill("#email", "lin@example.com").await;
    tab.fill("#password", PASSWORD).await;
    tab.click(
        "form.stack button[type=submit]",
        "#inbox-items .notification",
    )
    .await;
    tab.press(&format!(
        "[aria-labelledby='note-{first}'] form.answer-1 button[type=submit]"
    ))
    .await;
    let started = Instant::now();
    while notification(&server, &api_key, &first).await["status"] != "responded" {
        assert!(started.elapsed() < PATIENCE, "the answer never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // From the history: the same answer for the next 60 minutes.
    tab.goto("/dashboard/history").await;
    let grant_form = format!("[aria-labelledby='note-{first}'] form.grant-form");
    tab.fill(&format!("{grant_form} input[name=minutes]"), "60")
        .await;
    tab.click(
        &format!("{grant_form} button[value=timed]"),
        "table.grants .grant",
    )
    .await;
    let row = tab.text("table.grants .grant").await.to_lowercase();
    assert!(
        row.contains("ci: approve") && row.contains("timed") && row.contains("active"),
        "{row}"
    );

    // The same request again is answered by the grant; the history says by what.
    let second = server.notify(&api_key, &deploy).await;
    let answered = notification(&server, &api_key, &second).await;
    assert_eq!(answered["status"], "responded", "{answered}");
    tab.goto("/dashboard/history").await;
    let by = tab
        .text(&format!("[aria-labelledby='note-{second}'] .decided-by"))
        .await;
    assert!(by.contains("grant:gr_"), "{by}");

    // Rules: a bad range is refused naming the field, and nothing is saved.
    tab.goto("/dashboard/policies").await;
    tab.fill(
        "#rules",
        r#"[{"sources": ["10.0.0.0/33"], "effect": "ask"}]"#,
    )
    .await;
    tab.click(
        "form[action='/dashboard/policies'] button.primary",
        "#policy-error",
    )
    .await;
    assert!(
        tab.text("#policy-error")
            .await
            .contains("rules[0].sources[0]")
    );
    let policy = server
        .call(Method::GET, "/v1/policies", &session, None)
        .await;
    assert_eq!(policy.body["rules"], json!([]));
    tab.fill(
        "#rules",
        r#"[{"kind": "claim", "services": ["ci"], "effect": "auto_approve", "description": "CI agents"}]"#,
    )
    .await;
    tab.fill("#max-pending", "20").await;
    tab.click(
        "form[action='/dashboard/policies'] button.primary",
        "table.rules .rule",
    )
    .await;
    let policy = server
        .call(Method::GET, "/v1/policies", &session, None)
        .await;
    assert_eq!(policy.body["max_pending"], 20, "{:?}", policy.body);
    // A CI agent's claim approves itself; the page counts it.
    let agent = Agent::new("lin");
    submit_claim(&server, &agent, "ci", "CI runner", &api_key).await;
    assert_eq!(verify(&server, &agent, "ci").await["authorized"], true);
    tab.goto("/dashboard/policies").await;
    assert_eq!(tab.text("table.rules .rule .matched").await, "1");
    tab.screenshot("policies").await;

    // Revoked, the grant answers nothing more.
    tab.click(
        "table.grants .grant form button.danger",
        "table.grants .status-revoked",
    )
    .await;
    let third = server.notify(&api_key, &deploy).await;
    assert_ne!(
        notification(&server, &api_key, &third).await["status"],
        "responded"
    );

    tab.client.close().await.unwrap();
    server.stop().await;
}

/// The Settings page in the browser, with a real SMTP server: an owner adds an email channel,
/// follows the confirmation link from the mail, sees the channel verified, sends a test and
/// sees it in the sent log, changes the channel's settings (a bad value is refused, naming
/// what is wrong), and removes it. The screenshot for the README is taken on the way, with a
/// Slack channel beside it and a claim's message in the log.
async fn an_owner_sets_up_email_on_the_settings_page(engine: Engine) {
    use crate::channels::{SmtpSink, links_in, start_messages};

    let sink = SmtpSink::start(false);
    let server = TestServer::start(engine).await;
    let (stop_messages, messages_done) = start_messages(&server, Some(sink.url()));
    let session = server.signup("lin").await;
    server.create_service(&session, "deploy-bot").await;
    let driver = Driver::start();
    let tab = Tab {
        client: driver.open(1280, 1100).await,
        server: &server,
        engine,
    };
    tab.goto("/dashboard/login").await;
    tab.fill("#email", "lin@example.com").await;
    tab.fill("#password", PASSWORD).await;
    tab.click("form.stack button[type=submit]", "#inbox-items")
        .await;

    // From the nav to the empty page; a bad address is refused and kept in the form.
    tab.click("a[href='/dashboard/settings']", "#channels-title")
        .await;
    assert!(tab.text("main .empty").await.contains("No channels yet"));
    // This server has no VAPID key: the device section says so and offers no button.
    assert!(
        tab.text("#push-status")
            .await
            .contains("Web Push is not set up"),
        "{}",
        tab.text("#push-status").await
    );
    assert_eq!(
        tab.eval("return document.getElementById('push-enable');")
            .await,
        Value::Null
    );
    tab.fill("#channel-address", "lin at example.com").await;
    tab.click(
        "form[action='/dashboard/settings/channels'] button.primary",
        "#add-error",
    )
    .await;
    assert!(
        tab.text("#add-error").await.contains("email address"),
        "{}",
        tab.text("#add-error").await
    );
    assert_eq!(
        tab.eval("return document.getElementById('channel-address').value;")
            .await,
        json!("lin at example.com")
    );
    tab.fill("#channel-address", "lin@example.com").await;
    tab.click(
        "form[action='/dashboard/settings/channels'] button.primary",
        "#notice",
    )
    .await;
    assert!(
        tab.text("#notice")
            .await
            .contains("A confirmation link was sent to lin@example.com")
    );
    // The badges are upper case on the screen.
    let badges = tab.text(".channel .kind").await.to_lowercase();
    assert!(badges.contains("waiting for confirmation"), "{badges}");

    // The mail's link: its page asks first, its button confirms.
    let mail = sink.nth(1).await;
    assert_eq!(mail["subject"], "Confirm this address for assent");
    let link = links_in(mail["text"].as_str().unwrap()).remove(0);
    tab.goto(&link).await;
    assert!(
        tab.text("#link-text")
            .await
            .contains("Receive assent messages at lin@example.com")
    );
    tab.click("#link-confirm", "#link-heading").await;
    assert_eq!(tab.text("#link-heading").await, "Channel confirmed");
    tab.goto("/dashboard/settings").await;
    let badges = tab.text(".channel .kind").await.to_lowercase();
    assert!(
        badges.contains("verified") && !badges.contains("waiting"),
        "{badges}"
    );

    // A test: the mail arrives and the log says sent.
    tab.click(".channel form[action$='/test'] button", "#notice")
        .await;
    assert_eq!(sink.nth(2).await["subject"], "assent test message");
    // The page was the answer to a POST: reloading it would post again.
    tab.goto("/dashboard/settings").await;
    let sent = tab
        .reload_until("table.messages tr.message:first-child .status-sent")
        .await;
    assert_eq!(sent.text().await.unwrap().to_lowercase(), "sent");
    assert!(
        tab.text("table.messages tr.message:first-child")
            .await
            .contains("a test message")
    );

    // Its settings: bad quiet hours change nothing and say so; good settings are saved.
    let settings = ".channel details.channel-settings";
    tab.press(&format!("{settings} summary")).await;
    tab.fill(&format!("{settings} input[name=quiet_hours]"), "7-9")
        .await;
    tab.fill(&format!("{settings} input[name=throttle_seconds]"), "0")
        .await;
    tab.click(&format!("{settings} button.primary"), "#channel-error")
        .await;
    assert!(
        tab.text("#channel-error").await.contains("HH:MM-HH:MM"),
        "{}",
        tab.text("#channel-error").await
    );
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &session, None)
        .await;
    assert_eq!(listed.body["channels"][0]["throttle_seconds"], 60);
    tab.press(&format!("{settings} summary")).await;
    tab.fill(
        &format!("{settings} input[name=quiet_hours]"),
        "22:00-07:00",
    )
    .await;
    tab.fill(&format!("{settings} input[name=throttle_seconds]"), "0")
        .await;
    tab.fill(
        &format!("{settings} input[name=expiry_lead_seconds]"),
        "300",
    )
    .await;
    tab.press(&format!("{settings} input[value='endpoint.recovered']"))
        .await;
    // No reminder: the sent log below shows the claim's mail first.
    tab.press(&format!("{settings} input[value='item.expiring']"))
        .await;
    tab.click(&format!("{settings} button.primary"), "#notice")
        .await;
    assert!(tab.text("#notice").await.contains("are saved"));
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &session, None)
        .await;
    let channel = &listed.body["channels"][0];
    assert_eq!(channel["quiet_hours"], "22:00-07:00", "{channel}");
    assert_eq!(channel["throttle_seconds"], 0, "{channel}");
    assert_eq!(channel["expiry_lead_seconds"], 300, "{channel}");
    assert_eq!(
        channel["events"],
        json!([
            "claim.submitted",
            "notification.created",
            "endpoint.failing",
            "endpoint.disabled"
        ])
    );
    // Quiet hours would hold the claim's mail below: off again for the screenshot.
    let off = server
        .call(
            Method::PATCH,
            &format!("/v1/auth/channels/{}", channel["id"].as_str().unwrap()),
            &session,
            Some(json!({ "quiet_hours": "" })),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);

    // A realistic page for the README: a Slack channel beside it, a claim's mail in the log.
    tab.goto("/dashboard/settings").await;
    tab.eval("document.getElementById('channel-kind').value = 'slack'; return null;")
        .await;
    tab.fill(
        "#channel-address",
        "https://hooks.slack.com/services/T0ASSENT/B0ALERTS/demo",
    )
    .await;
    // No claims (nor their reminders) for Slack; no notification or webhook alert comes in this test, so nothing
    // is posted to it.
    tab.press("form[action='/dashboard/settings/channels'] input[value='claim.submitted']")
        .await;
    tab.press("form[action='/dashboard/settings/channels'] input[value='item.expiring']")
        .await;
    tab.click(
        "form[action='/dashboard/settings/channels'] button.primary",
        ".channel:nth-child(2)",
    )
    .await;
    assert!(tab.text(".channel:nth-child(2) h3").await.contains("Slack"));
    crate::common::pending_claim(&server, "lin", "Release agent");
    assert!(
        sink.nth(3).await["subject"]
            .as_str()
            .unwrap()
            .contains("Release agent")
    );
    tab.goto("/dashboard/settings").await;
    tab.reload_until("table.messages tr.message:first-child .status-sent")
        .await;
    assert!(
        tab.text("table.messages tr.message:first-child")
            .await
            .contains("claims waiting")
    );
    tab.screenshot("settings").await;

    // Removed, it is gone from the page and the API.
    tab.press(".channel:first-child form[action$='/delete'] button.danger")
        .await;
    tab.reload_until("ul.channels > li.channel:only-child")
        .await;
    let listed = server
        .call(Method::GET, "/v1/auth/channels", &session, None)
        .await;
    let kinds: Vec<&str> = listed.body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["slack"]);
    assert!(!tab.text("main").await.contains("lin@example.com"));

    tab.client.close().await.unwrap();
    let _ = stop_messages.send(true);
    messages_done.await.unwrap();
    server.stop().await;
}

/// A ChromeDriver command that runs a Chrome DevTools Protocol method in the session's page.
#[derive(Debug)]
struct Cdp {
    method: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

impl Tab<'_> {
    async fn cdp(&self, method: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { method, params })
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The notifications the dashboard's service worker shows: `[{title, body, tag, actions}]`.
    async fn notifications(&self) -> Value {
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 navigator.serviceWorker.ready\
                 .then(r => r.getNotifications())\
                 .then(ns => done(ns.map(n => ({ title: n.title, body: n.body, tag: n.tag,\
                   actions: n.actions.map(a => a.title) }))), e => done(String(e)));",
                vec![],
            )
            .await
            .unwrap()
    }

    /// Delivers a push to the dashboard's service worker as the push service would, until a
    /// notification titled `title` shows; returns it. The first service worker registration
    /// of a new profile has the id 0. A push delivered while DevTools is still listing the
    /// registrations is dropped: deliver until it shows (the same tag, so a second delivery
    /// replaces the first).
    async fn deliver_push(&self, payload: &Value, title: &str) -> Value {
        self.cdp("ServiceWorker.enable", json!({})).await;
        let started = Instant::now();
        loop {
            self.cdp(
                "ServiceWorker.deliverPushMessage",
                json!({ "origin": self.server.base, "registrationId": "0",
                        "data": payload.to_string() }),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let shown = self.notifications().await;
            if let Some(found) = titled(&shown, title) {
                return found;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the push never showed: {shown}"
            );
        }
    }

    /// A click on the shown notification `tag`'s `action`, through the worker (DevTools
    /// cannot click a notification).
    async fn click_notification(&self, tag: &Value, action: &str) {
        self.client
            .execute(
                "const [tag, action] = arguments; \
                 navigator.serviceWorker.ready.then(r => r.active.postMessage(\
                   { type: 'notificationclick', tag: tag, action: action })); \
                 return null;",
                vec![tag.clone(), json!(action)],
            )
            .await
            .unwrap();
    }

    /// Polls the shown notifications until one has `title`.
    async fn notification_titled(&self, title: &str) -> Value {
        let started = Instant::now();
        loop {
            let shown = self.notifications().await;
            if let Some(found) = titled(&shown, title) {
                return found;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no notification {title:?}: {shown}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn an_owner_enables_push_on_the_settings_page_and_approves_from_the_notification(
    engine: Engine,
) {
    use crate::web_push::{browser_peer, open, server_with_push, start_messages, wait_for_pushes};
    use assent_auth::web_push::VapidKey;
    use assent_core::claim::ClaimStatus;

    // `docs/img/make-push-screenshot.sh` sets this (and a virtual display): Chromium in a
    // window, drawing its own notification popups, and a capture of the screen when the
    // claim's notification shows.
    let capture = std::env::var_os("ASSENT_PUSH_SCREENSHOT");
    let vapid = VapidKey::generate();
    let server = server_with_push(engine, &vapid).await;
    let session = server.signup("lin").await;
    let service_id = server.create_service(&session, "gateway").await;
    let driver = Driver::start();
    let mode: &[&str] = if capture.is_some() {
        &[
            "--disable-features=NativeNotifications",
            "--window-position=0,0",
        ]
    } else {
        &["--headless=new"]
    };
    let tab = Tab {
        client: driver.open_with(1280, 800, mode).await,
        server: &server,
        engine,
    };
    tab.goto("/dashboard/login").await;
    tab.fill("#email", "lin@example.com").await;
    tab.fill("#password", PASSWORD).await;
    tab.click("form.stack button[type=submit]", "#inbox-items")
        .await;

    // The dashboard is installable: its manifest and icons are served, and linked.
    let manifest = reqwest::get(server.url("/dashboard/manifest.webmanifest"))
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["content-type"],
        "application/manifest+json"
    );
    let manifest: Value = manifest.json().await.unwrap();
    assert_eq!(
        (
            &manifest["start_url"],
            &manifest["scope"],
            &manifest["display"]
        ),
        (
            &json!("/dashboard/"),
            &json!("/dashboard/"),
            &json!("standalone")
        )
    );
    for icon in manifest["icons"].as_array().unwrap() {
        let png = reqwest::get(server.url(icon["src"].as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(png.headers()["content-type"], "image/png");
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    }
    assert_eq!(
        tab.eval("return document.querySelector('link[rel=manifest]').href;")
            .await,
        json!(server.url("/dashboard/manifest.webmanifest"))
    );

    // The manifest's start page is the inbox.
    tab.goto("/dashboard/").await;
    tab.find("#inbox-items").await;

    // "This device": permission granted (as the owner would in the browser's prompt), the
    // button registers the worker, subscribes and adds the channel.
    tab.click("a[href='/dashboard/settings']", "#device-title")
        .await;
    // A push subscription is nothing a person types: the add form does not offer it.
    assert_eq!(
        tab.eval("return document.querySelector('#channel-kind option[value=web_push]');")
            .await,
        Value::Null
    );
    tab.cdp(
        "Browser.grantPermissions",
        json!({ "origin": server.base, "permissions": ["notifications"] }),
    )
    .await;
    tab.press("#push-enable").await;
    let started = Instant::now();
    let outcome = loop {
        let status = tab
            .eval(
                "const s = document.getElementById('push-status'); \
                 return document.querySelector('.channel-web_push') ? 'listed' \
                 : (s ? s.textContent : '');",
            )
            .await;
        let status = status.as_str().unwrap_or_default().to_owned();
        if status == "listed" || status.starts_with("Not enabled") {
            break status;
        }
        // The page gives the push service 20 s.
        assert!(
            started.elapsed() < PATIENCE * 2,
            "enabling never ended: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let registered = tab
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             navigator.serviceWorker.getRegistration('/dashboard/')\
             .then(r => done(r ? r.scope : null), e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(registered, json!(server.url("/dashboard/")));

    // Headless Chromium here has no network: subscribing at Google's push service fails,
    // and the page says so. The channel is then added as the page would have, with a push
    // service stand-in and keys the test holds, so that the server's real push is opened.
    eprintln!("enabling in headless Chromium: {outcome}");
    let push_service = Receiver::default();
    let browser_keys = browser_peer("keys", None);
    if outcome == "listed" {
        let listed = server
            .call(Method::GET, "/v1/auth/channels", &session, None)
            .await;
        assert_eq!(listed.body["channels"][0]["kind"], "web_push");
        assert!(
            tab.text(".channel-web_push h3")
                .await
                .starts_with("Web Push"),
            "{}",
            tab.text(".channel-web_push h3").await
        );
        // Its pushes would go to Google; remove it, so that the stand-in's is the only one.
        let id = listed.body["channels"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        server
            .call(
                Method::DELETE,
                &format!("/v1/auth/channels/{id}"),
                &session,
                None,
            )
            .await;
    } else {
        assert!(outcome.contains("push service"), "{outcome}");
    }
    let endpoint = push_service.start("/push/v2/this-device");
    let added = server
        .call(
            Method::POST,
            "/v1/auth/channels",
            &session,
            Some(json!({
                "kind": "web_push",
                "address": endpoint,
                "keys": { "p256dh": browser_keys["p256dh"], "auth": browser_keys["auth"] },
                "throttle_seconds": 0,
            })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    tab.goto("/dashboard/settings").await;
    assert!(
        tab.text(".channel-web_push h3")
            .await
            .starts_with("Web Push"),
        "{}",
        tab.text(".channel-web_push h3").await
    );

    // A claim: the server's push, opened, is delivered to the service worker as the push
    // service would; it shows the claim with Approve and Reject.
    let (stop_messages, messages_done) = start_messages(&server, &vapid);
    let claim_id = crate::common::pending_claim(&server, "lin", "Support bot");
    let pushes = wait_for_pushes(&push_service, 1).await;
    let payload = open(&pushes[0], &browser_keys)["payload"].clone();
    let shown = tab
        .deliver_push(&payload, "Support bot asks to act for you on gateway")
        .await;
    assert!(
        shown["body"].as_str().unwrap().contains(&claim_id),
        "{shown}"
    );
    assert_eq!(shown["actions"], json!(["Approve", "Reject"]));
    if let Some(path) = &capture {
        tab.goto("/dashboard/settings").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let captured = Command::new("import")
            .args(["-window", "root"])
            .arg(path)
            .status()
            .expect("ImageMagick's import runs");
        assert!(captured.success());
    }

    // Approve, as a click on it: the worker posts the link, the claim is approved, and the
    // notification says so.
    tab.click_notification(&shown["tag"], "approve").await;
    let done = tab.notification_titled("Approved").await;
    assert_eq!(done["body"], "The service is told.");
    let claim = server
        .db
        .store
        .get_claim("lin", &claim_id)
        .unwrap()
        .unwrap();
    assert_eq!(claim.status, ClaimStatus::Approved);

    // A notification with two one-click answers shows both (Chromium shows two buttons);
    // the reversible one is posted by the worker and answers it. The one that cannot be
    // undone opens its link's page (it asks for a session), as Open does.
    let api_key = server.create_api_key(&session, &service_id).await;
    let simple = |id: &str, irreversible: bool| {
        let flags: Vec<&str> = if irreversible {
            vec!["irreversible"]
        } else {
            vec![]
        };
        json!({ "id": id, "label": id.to_uppercase(), "response_type": "simple", "flags": flags })
    };
    let note = |title: &str, actions: Vec<Value>| {
        json!({ "context": { "title": title, "description": "Build 42 passed." },
                "actions": actions })
    };
    let two = server
        .notify(
            &api_key,
            &note(
                "Ship build 42?",
                vec![
                    simple("ship", true),
                    simple("hold", false),
                    json!({ "id": "why", "label": "Why?", "response_type": "text" }),
                ],
            ),
        )
        .await;
    let pushes = wait_for_pushes(&push_service, 2).await;
    let payload = open(&pushes[1], &browser_keys)["payload"].clone();
    let methods: Vec<(&str, &str)> = payload["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        methods,
        [
            ("answer:ship", "GET"),
            ("answer:hold", "POST"),
            ("open", "GET")
        ]
    );
    let shown = tab
        .deliver_push(&payload, "GATEWAY asks: Ship build 42?")
        .await;
    assert_eq!(shown["actions"], json!(["SHIP", "HOLD"]));
    tab.click_notification(&shown["tag"], "answer:hold").await;
    let done = tab.notification_titled("Answered: HOLD").await;
    assert_eq!(done["body"], "The service is told.");
    let answered = server
        .call(
            Method::GET,
            &format!("/api/v1/notifications/{two}"),
            &api_key,
            None,
        )
        .await;
    assert_eq!(
        (
            &answered.body["status"],
            &answered.body["response"]["action_id"]
        ),
        (&json!("responded"), &json!("hold")),
        "{:?}",
        answered.body
    );

    // More answers than the browser shows: Open only, rather than some of the choices.
    server
        .notify(
            &api_key,
            &note(
                "Which way?",
                vec![
                    simple("left", false),
                    simple("right", false),
                    simple("back", false),
                ],
            ),
        )
        .await;
    let pushes = wait_for_pushes(&push_service, 3).await;
    let payload = open(&pushes[2], &browser_keys)["payload"].clone();
    let shown = tab.deliver_push(&payload, "GATEWAY asks: Which way?").await;
    assert_eq!(shown["actions"], json!(["Open"]));

    tab.client.close().await.unwrap();
    let _ = stop_messages.send(true);
    messages_done.await.unwrap();
    server.stop().await;
}

on_both_engines!(
    an_owner_enables_push_on_the_settings_page_and_approves_from_the_notification,
    an_owner_sets_up_email_on_the_settings_page,
    an_owner_decides_in_the_browser,
    an_owner_sets_rules_and_grants_for_an_hour_in_the_browser,
    an_owner_confirms_what_cannot_be_undone,
    every_page_fits_a_phone,
    the_api_docs_render_every_operation,
    an_owner_changes_and_resets_the_password_in_the_browser,
);

/// The shown notification (of [`Tab::notifications`]) whose title is `title`.
fn titled(shown: &Value, title: &str) -> Option<Value> {
    shown
        .as_array()?
        .iter()
        .find(|n| n["title"] == title)
        .cloned()
}
