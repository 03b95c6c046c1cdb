//! The `Signed` extractor over real HTTP, on SQLite and PostgreSQL. No route uses it yet, so
//! the test mounts a probe route next to the real application configuration and serves both on
//! a real listener: the body limit, the public URL, the verifier's codes, single-use nonces in
//! the database (consumed only by a verified signature) and the route bindings.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use assent_auth::SecretKey;
use assent_auth::rfc9421::{AgentKey, CertificateProblem, RequestToSign, SignatureError};
use assent_http::signed::Signed;
use assent_http::{ApiError, AppState, HttpSettings};
use assent_store::testing::{Engine, TestDatabase};
use common::Reply;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

/// The golden fixture's identity (`crates/assent-auth/tests/conformance/golden-signed-request.json`):
/// the Ed25519 seed is
/// `ZMLKzZSCxP8QXOO1vlmejAvdFaesd3QC6JC9iCt8FfA=`.
const GOLDEN_SEED: [u8; 32] = [
    100, 194, 202, 205, 148, 130, 196, 255, 16, 92, 227, 181, 190, 89, 158, 140, 11, 221, 21, 167,
    172, 119, 116, 2, 232, 144, 189, 136, 43, 124, 21, 240,
];
const GOLDEN_NAMESPACE: &str = "fixture-alice";
const GOLDEN_URL: &str = "https://api.sigilum.local/v1/namespaces/alice/claims";
const GOLDEN_BODY: &str = r#"{"action":"approve"}"#;
const GOLDEN_CREATED: i64 = 1_700_000_000;
const GOLDEN_NONCE: &str = "123e4567-e89b-12d3-a456-426614174000";
const GOLDEN_ISSUED_AT: &str = "2026-02-20T18:04:26Z";
const GOLDEN_SIGNATURE: &str = "sig1=:99nSljjUdWjgcDdRvMXGvrSuL3SScmmVS/QUFaZxiliEqx//nViWdnxlbO6AgpCdXGiE2aLjRAqkxox2sPDADA==:";

/// Body limit of the test server.
const MAX_BODY: usize = 16 * 1024;

/// Checks the namespace binding against the path and, when the JSON body names a
/// `public_key`, the key binding against it (as `POST /v1/claims` will); echoes the signer.
async fn probe(signed: Signed, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    signed.require_namespace(&path)?;
    if let Ok(body) = serde_json::from_slice::<Value>(&signed.body)
        && let Some(key) = body.get("public_key").and_then(Value::as_str)
    {
        signed.require_public_key(key)?;
    }
    Ok(HttpResponse::Ok().json(json!({
        "namespace": signed.agent.namespace,
        "subject": signed.agent.subject,
        "nonce": signed.agent.nonce,
        "body_len": signed.body.len(),
    })))
}

struct Probe {
    /// `http://127.0.0.1:<port>`: where the client connects.
    base: String,
    db: TestDatabase,
    client: reqwest::Client,
    handle: ServerHandle,
}

impl Probe {
    /// A server whose public URL is its own listener's.
    async fn start(engine: Engine) -> Self {
        Self::start_with(engine, |base| Some(Url::parse(base).unwrap())).await
    }

    /// `public_url` gets the listener's base URL.
    async fn start_with(engine: Engine, public_url: impl FnOnce(&str) -> Option<Url>) -> Self {
        let db = TestDatabase::new(engine);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = HttpSettings {
            public_url: public_url(&base),
            max_body_bytes: MAX_BODY,
            ..HttpSettings::default()
        };
        let state = AppState::new(db.store.clone(), SecretKey::generate(), settings);
        let config = assent_http::app_config(state);
        let server = HttpServer::new(move || {
            App::new()
                .configure(config.clone())
                .route("/probe/{ns}", web::post().to(probe))
                .route("/probe/{ns}", web::get().to(probe))
        })
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base,
            db,
            client: reqwest::Client::new(),
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `body` to `path` with these headers; never a 500, always a JSON reply.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .body(body.to_vec());
        for (name, value) in headers {
            // Raw bytes: a value need not be visible ASCII.
            let value = HeaderValue::from_bytes(value.as_bytes()).unwrap();
            request = request.header(name, value);
        }
        self.send_request(request).await
    }

    async fn send_request(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        assert!(
            !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A POST of `body` to `/probe/<namespace>`, signed by `signer` for this server's URL.
    async fn post(&self, signer: &Signer, body: &str, created: i64, nonce: &str) -> Reply {
        let path = format!("/probe/{}", signer.namespace);
        let headers = signer.sign("POST", &self.url(&path), body.as_bytes(), created, nonce);
        self.send(Method::POST, &path, &headers, body.as_bytes())
            .await
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Header names and values, as `AgentKey::sign` makes them.
type Headers = Vec<(String, String)>;

/// An agent key with its self-signed certificate for one namespace.
struct Signer {
    key: AgentKey,
    namespace: String,
    cert: String,
}

impl Signer {
    fn new(key: AgentKey, namespace: &str) -> Self {
        let cert = key.certificate(namespace, GOLDEN_ISSUED_AT, None);
        Self {
            key,
            namespace: namespace.to_owned(),
            cert,
        }
    }

    fn golden() -> Self {
        Self::new(AgentKey::from_seed(&GOLDEN_SEED), GOLDEN_NAMESPACE)
    }

    fn sign(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
        created: i64,
        nonce: &str,
    ) -> Vec<(String, String)> {
        self.key
            .sign(&RequestToSign {
                method,
                target_uri: url,
                body,
                namespace: &self.namespace,
                subject: &self.namespace,
                certificate: &self.cert,
                created,
                nonce,
            })
            .unwrap()
    }
}

/// The current Unix second, waiting first (when needed) until at least 600 ms of it remain, so
/// that a request sent right away is verified within the same second: the time-window edges
/// are then exact.
async fn fresh_second() -> i64 {
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        if now.subsec_millis() < 400 {
            return i64::try_from(now.as_secs()).unwrap();
        }
        let rest = 1000 - u64::from(now.subsec_millis());
        actix_web::rt::time::sleep(Duration::from_millis(rest)).await;
    }
}

fn set(headers: &mut [(String, String)], name: &str, value: &str) {
    let slot = headers.iter_mut().find(|(n, _)| n == name).unwrap();
    slot.1 = value.to_owned();
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(n, _)| n == name).unwrap().1
}

#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (status, Some(code)),
        "{:?}",
        reply.body
    );
}

async fn a_signed_request_is_accepted_once(engine: Engine) {
    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let now = fresh_second().await;

    let body = r#"{"action":"approve"}"#;
    let ok = probe.post(&signer, body, now, "nonce-1").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(
        ok.body,
        json!({"namespace": GOLDEN_NAMESPACE, "subject": GOLDEN_NAMESPACE, "nonce": "nonce-1",
               "body_len": body.len()})
    );

    // The very same request again.
    let replay = probe.post(&signer, body, now, "nonce-1").await;
    assert_refused(&replay, StatusCode::CONFLICT, "SIGNATURE_NONCE_REPLAY");
    assert_eq!(
        replay.body["message"],
        "Replay detected: signature nonce has already been used"
    );
    // Another body with a used nonce: still a replay.
    let other = probe.post(&signer, "{}", now, "nonce-1").await;
    assert_refused(&other, StatusCode::CONFLICT, "SIGNATURE_NONCE_REPLAY");

    // A nonce is single-use per namespace: another namespace may use the same one.
    let bob = Signer::new(AgentKey::from_seed(&[7; 32]), "bob");
    let ok = probe.post(&bob, body, now, "nonce-1").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    // A forged signature does not consume the nonce it carries.
    let path = format!("/probe/{GOLDEN_NAMESPACE}");
    let mut forged = signer.sign("POST", &probe.url(&path), body.as_bytes(), now, "nonce-2");
    let signature = header(&forged, "signature").to_owned();
    // The first base64 character carries the top six bits of the first signature byte.
    let first = if signature.as_bytes()[6] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("sig1=:{first}{}", &signature[7..]);
    set(&mut forged, "signature", &tampered);
    let refused = probe
        .send(Method::POST, &path, &forged, body.as_bytes())
        .await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID");
    assert_eq!(
        refused.body["message"],
        SignatureError::BadSignature.to_string()
    );
    let ok = probe.post(&signer, body, now, "nonce-2").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["nonce"], "nonce-2");

    // The path and the query as sent are part of the target URI.
    let path = format!("/probe/{GOLDEN_NAMESPACE}?b=%2F&a=1&c=caf%C3%A9");
    let headers = signer.sign("POST", &probe.url(&path), b"{}", now, "nonce-3");
    let ok = probe.send(Method::POST, &path, &headers, b"{}").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    // A body-less POST needs no content-digest.
    let path = format!("/probe/{GOLDEN_NAMESPACE}");
    let headers = signer.sign("POST", &probe.url(&path), b"", now, "nonce-4");
    assert!(headers.iter().all(|(n, _)| n != "content-digest"));
    let ok = probe.send(Method::POST, &path, &headers, b"").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["body_len"], 0);

    // A GET body is never signed, and the extractor does not hand it over.
    let headers = signer.sign("GET", &probe.url(&path), b"", now, "nonce-5");
    let ok = probe
        .send(Method::GET, &path, &headers, b"{\"unsigned\":true}")
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["body_len"], 0);

    // An unrelated header whose value is not ASCII does not get in the way.
    let headers = signer.sign("POST", &probe.url(&path), b"{}", now, "nonce-6");
    let mut request = probe.client.post(probe.url(&path)).body("{}");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let request = request.header(
        HeaderName::from_static("x-note"),
        HeaderValue::from_bytes("café \u{1F600}".as_bytes()).unwrap(),
    );
    let ok = probe.send_request(request).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    probe.stop().await;
}

async fn each_refusal_is_a_401_with_the_verifier_code(engine: Engine) {
    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let path = format!("/probe/{GOLDEN_NAMESPACE}");
    let url = probe.url(&path);
    let body = br#"{"action":"approve"}"#;
    let now = fresh_second().await;

    // Unsigned.
    let reply = probe.send(Method::POST, &path, &[], body).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_MISSING");
    assert_eq!(
        reply.body["message"],
        SignatureError::Missing("signature-input").to_string()
    );
    assert!(reply.headers.contains_key("www-authenticate"));
    // One header short.
    for name in ["signature", "sigilum-agent-cert", "content-digest"] {
        let headers: Vec<_> = signer
            .sign("POST", &url, body, now, "missing")
            .into_iter()
            .filter(|(n, _)| n != name)
            .collect();
        let reply = probe.send(Method::POST, &path, &headers, body).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_MISSING");
        assert_eq!(
            reply.body["message"],
            format!("missing required signed-auth header {name}")
        );
    }

    let cases: Vec<(&str, Headers, &[u8], SignatureError)> = vec![
        (
            "tampered body",
            signer.sign("POST", &url, body, now, "t1"),
            br#"{"action":"deny"}"#,
            SignatureError::DigestMismatch,
        ),
        (
            "created 301 s ago",
            signer.sign("POST", &url, body, now - 301, "t2"),
            body,
            SignatureError::Expired,
        ),
        (
            "created 31 s ahead",
            signer.sign("POST", &url, body, now + 31, "t3"),
            body,
            SignatureError::Future,
        ),
        (
            // Signed as body-less, sent with a body and its digest.
            "components of a body-less request",
            {
                let mut headers = signer.sign("POST", &url, b"", now, "t4");
                headers.push((
                    "content-digest".to_owned(),
                    assent_auth::rfc9421::content_digest(body),
                ));
                headers
            },
            body,
            SignatureError::ComponentsInvalid,
        ),
        (
            // The Go SDK's variant with sigilum-agent-id.
            "an extra component",
            {
                let mut headers = signer.sign("POST", &url, body, now, "t5");
                let input = header(&headers, "signature-input").replace(
                    "\"sigilum-subject\"",
                    "\"sigilum-subject\" \"sigilum-agent-id\"",
                );
                set(&mut headers, "signature-input", &input);
                headers
            },
            body,
            SignatureError::ComponentsInvalid,
        ),
        (
            "garbage base64 signature",
            {
                let mut headers = signer.sign("POST", &url, body, now, "t6");
                set(&mut headers, "signature", "sig1=:!!not*base64!!:");
                headers
            },
            body,
            SignatureError::InvalidSignatureHeader,
        ),
        (
            // 16 bytes: the verifier refuses the key before it looks at the certificate.
            "short key",
            {
                let mut headers = signer.sign("POST", &url, body, now, "t7");
                set(
                    &mut headers,
                    "sigilum-agent-key",
                    "ed25519:AAECAwQFBgcICQoLDA0ODw==",
                );
                headers
            },
            body,
            SignatureError::InvalidAgentKey,
        ),
        (
            "signed for another host",
            signer.sign(
                "POST",
                &format!("https://api.example.test{path}"),
                body,
                now,
                "t8",
            ),
            body,
            SignatureError::BadSignature,
        ),
        (
            "signed for another path",
            signer.sign("POST", &probe.url("/probe/elsewhere"), body, now, "t9"),
            body,
            SignatureError::BadSignature,
        ),
        (
            "signed for another method",
            signer.sign("PUT", &url, body, now, "t10"),
            body,
            SignatureError::BadSignature,
        ),
        (
            // Lossy, not skipped: the second copy is seen and refused.
            "a profile header twice, the copy not ASCII",
            {
                let mut headers = signer.sign("POST", &url, body, now, "t11");
                headers.push(("sigilum-subject".to_owned(), "zoë".to_owned()));
                headers
            },
            body,
            SignatureError::DuplicateHeader("sigilum-subject"),
        ),
        (
            "a certificate for another namespace",
            {
                let mut headers = signer.sign("POST", &url, body, now, "t12");
                let other = signer.key.certificate("mallory", GOLDEN_ISSUED_AT, None);
                set(&mut headers, "sigilum-agent-cert", &other);
                headers
            },
            body,
            SignatureError::Certificate(CertificateProblem::NamespaceMismatch),
        ),
    ];
    for (what, headers, sent, error) in cases {
        let reply = probe.send(Method::POST, &path, &headers, sent).await;
        assert_eq!(
            (
                reply.status,
                reply.body["code"].as_str(),
                reply.body["message"].as_str()
            ),
            (
                StatusCode::UNAUTHORIZED,
                Some(error.code()),
                Some(error.to_string().as_str())
            ),
            "{what}: {:?}",
            reply.body
        );
        assert!(reply.headers.contains_key("www-authenticate"), "{what}");
    }

    // The edges of the window are accepted.
    for (created, nonce) in [(now - 298, "edge-old"), (now + 30, "edge-new")] {
        let ok = probe
            .post(&signer, &String::from_utf8_lossy(body), created, nonce)
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{created}: {:?}", ok.body);
    }
    // None of the refused requests used up its nonce.
    let ok = probe.post(&signer, "{}", now, "t8").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    probe.stop().await;
}

async fn the_golden_request_has_long_expired(engine: Engine) {
    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let headers = signer.sign(
        "POST",
        GOLDEN_URL,
        GOLDEN_BODY.as_bytes(),
        GOLDEN_CREATED,
        GOLDEN_NONCE,
    );
    // These are the golden headers, byte for byte.
    assert_eq!(header(&headers, "signature"), GOLDEN_SIGNATURE);
    let reply = probe
        .send(
            Method::POST,
            &format!("/probe/{GOLDEN_NAMESPACE}"),
            &headers,
            GOLDEN_BODY.as_bytes(),
        )
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_EXPIRED");
    assert_eq!(reply.body["message"], SignatureError::Expired.to_string());
    probe.stop().await;
}

async fn route_bindings_are_403s(engine: Engine) {
    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let now = fresh_second().await;

    // Validly signed for fixture-alice, sent to bob's route (and signed for that URL).
    let path = "/probe/bob";
    let body = b"{}";
    let headers = signer.sign("POST", &probe.url(path), body, now, "b1");
    let reply = probe.send(Method::POST, path, &headers, body).await;
    assert_refused(
        &reply,
        StatusCode::FORBIDDEN,
        "SIGNATURE_NAMESPACE_MISMATCH",
    );

    let other_key = AgentKey::from_seed(&[9; 32]).public_key();
    let mismatch = json!({ "public_key": other_key }).to_string();
    let reply = probe.post(&signer, &mismatch, now, "b2").await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "SIGNATURE_KEY_MISMATCH");

    let matching = json!({ "public_key": signer.key.public_key() }).to_string();
    let reply = probe.post(&signer, &matching, now, "b3").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);

    probe.stop().await;
}

async fn oversized_bodies_are_413(engine: Engine) {
    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let now = fresh_second().await;
    let body = json!({ "padding": "x".repeat(MAX_BODY) }).to_string();
    let reply = probe.post(&signer, &body, now, "big").await;
    assert_refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // Just under the limit is fine.
    let body = "x".repeat(MAX_BODY);
    let reply = probe.post(&signer, &body, now, "fits").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["body_len"], MAX_BODY);
    probe.stop().await;
}

async fn the_target_uri_is_the_public_url(engine: Engine) {
    // Behind a proxy: clients sign for the public URL, whatever address reaches the server.
    let probe = Probe::start_with(engine, |_| {
        Some(Url::parse("https://api.example.test/ignored").unwrap())
    })
    .await;
    let signer = Signer::golden();
    let now = fresh_second().await;
    let path = format!("/probe/{GOLDEN_NAMESPACE}?x=1");
    for (public, nonce) in [
        ("https://api.example.test", "p1"),
        ("https://API.example.test:443", "p2"),
    ] {
        let headers = signer.sign("POST", &format!("{public}{path}"), b"{}", now, nonce);
        let ok = probe.send(Method::POST, &path, &headers, b"{}").await;
        assert_eq!(ok.status, StatusCode::OK, "{public}: {:?}", ok.body);
    }
    for url in [
        probe.url(&path),
        format!("http://api.example.test{path}"),
        format!("https://api.example.test:8443{path}"),
    ] {
        let headers = signer.sign("POST", &url, b"{}", now, "p3");
        let reply = probe.send(Method::POST, &path, &headers, b"{}").await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID");
    }
    probe.stop().await;
}

async fn without_a_public_url_the_request_host_counts(engine: Engine) {
    let probe = Probe::start_with(engine, |_| None).await;
    let signer = Signer::golden();
    let now = fresh_second().await;
    let ok = probe.post(&signer, "{}", now, "h1").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let path = format!("/probe/{GOLDEN_NAMESPACE}");
    let headers = signer.sign(
        "POST",
        &format!("https://elsewhere{path}"),
        b"{}",
        now,
        "h2",
    );
    let reply = probe.send(Method::POST, &path, &headers, b"{}").await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID");
    probe.stop().await;
}

async fn an_unavailable_nonce_store_is_a_503(engine: Engine) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let probe = Probe::start(engine).await;
    let signer = Signer::golden();
    let now = fresh_second().await;
    let ok = probe.post(&signer, "{}", now, "s1").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    // The nonce table disappears under the running server.
    let url = probe.db.url.clone();
    match engine {
        Engine::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            conn.batch_execute("DROP TABLE nonces").unwrap();
        }
        Engine::Postgres => {
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            conn.batch_execute("DROP TABLE nonces").unwrap();
        }
    }
    let reply = probe.post(&signer, "{}", now, "s2").await;
    assert_refused(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "NONCE_STORE_UNAVAILABLE",
    );
    assert_eq!(reply.body["message"], "Signature nonce store unavailable");
    // A bad signature is still a 401: the store is not consulted.
    let reply = probe
        .send(
            Method::POST,
            &format!("/probe/{GOLDEN_NAMESPACE}"),
            &[],
            b"{}",
        )
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "SIGNATURE_MISSING");
    probe.stop().await;
}

on_both_engines!(
    a_signed_request_is_accepted_once,
    each_refusal_is_a_401_with_the_verifier_code,
    the_golden_request_has_long_expired,
    route_bindings_are_403s,
    oversized_bodies_are_413,
    the_target_uri_is_the_public_url,
    without_a_public_url_the_request_host_counts,
    an_unavailable_nonce_store_is_a_503,
);
