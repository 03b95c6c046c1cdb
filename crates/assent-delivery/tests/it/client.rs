//! The SSRF-safe webhook client against real servers on 127.0.0.1.

use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use assent_core::WebhookUrlPolicy;
use assent_core::delivery::{self, DisableReason, EndpointHealth, Failure};
use assent_delivery::client::{MAX_EXCERPT, SafeClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STRICT: WebhookUrlPolicy = WebhookUrlPolicy {
    allow_private: false,
};
const DEV: WebhookUrlPolicy = WebhookUrlPolicy {
    allow_private: true,
};

#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    user_agent: String,
    content_type: String,
    signature: String,
    body: Vec<u8>,
}

type Responder = Arc<dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync>;

struct TestServer {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    handle: ServerHandle,
}

impl TestServer {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An actix-web server on 127.0.0.1:0 that records every request and answers with `respond`.
fn serve(respond: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static) -> TestServer {
    let respond: Responder = Arc::new(respond);
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let recorded = hits.clone();
    let server = HttpServer::new(move || {
        let recorded = recorded.clone();
        let respond = respond.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let recorded = recorded.clone();
            let respond = respond.clone();
            async move {
                recorded.lock().unwrap().push(Hit {
                    method: req.method().to_string(),
                    path: req.path().to_owned(),
                    user_agent: header(&req, "user-agent"),
                    content_type: header(&req, "content-type"),
                    signature: header(&req, "x-assent-signature"),
                    body: body.to_vec(),
                });
                respond(&req)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    TestServer { port, hits, handle }
}

fn client(policy: WebhookUrlPolicy, timeout: Duration) -> SafeClient {
    SafeClient::new(policy, timeout).unwrap()
}

fn json_headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Assent-Signature".to_owned(), "t=1,v1=abc".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_sends_the_request_and_keeps_an_excerpt() {
    let server = serve(|_| HttpResponse::Ok().body("thanks, got it"));
    let attempt = client(DEV, Duration::from_secs(5))
        .post(
            &server.url("/hooks/assent?x=1"),
            &json_headers(),
            br#"{"event":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!(attempt.status(), Some(200), "{attempt:?}");
    assert_eq!(attempt.error(), None);
    assert_eq!(attempt.response_excerpt(), "thanks, got it");
    assert_eq!(attempt.retry_after(), None);
    assert!(attempt.is_success());
    assert!(!attempt.is_retried());
    assert!(attempt.duration < Duration::from_secs(5));

    let hits = server.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hooks/assent");
    assert_eq!(
        hit.user_agent,
        format!("assent-webhooks/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(hit.content_type, "application/json");
    assert_eq!(hit.signature, "t=1,v1=abc");
    assert_eq!(hit.body, br#"{"event":"x"}"#);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_classified() {
    let server = serve(|req| match req.path() {
        "/500" => HttpResponse::InternalServerError().body("boom"),
        "/429" => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "7"))
            .finish(),
        "/410" => HttpResponse::Gone().finish(),
        "/404" => HttpResponse::NotFound().finish(),
        _ => HttpResponse::Ok().finish(),
    });
    let client = client(DEV, Duration::from_secs(5));

    let a = client
        .post(&server.url("/500"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!((a.status(), a.is_retried()), (Some(500), true), "{a:?}");
    assert_eq!(a.response_excerpt(), "boom");
    assert_eq!(a.error(), None);
    assert!(!a.is_success());

    let a = client
        .post(&server.url("/429"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!((a.status(), a.is_retried()), (Some(429), true), "{a:?}");
    assert_eq!(a.retry_after(), Some(Duration::from_secs(7)));

    let a = client
        .post(&server.url("/410"), &json_headers(), b"{}".to_vec())
        .await;
    // A 410 is not retried: it disables the endpoint.
    assert_eq!((a.status(), a.is_retried()), (Some(410), false), "{a:?}");
    assert_eq!(
        delivery::endpoint_health(&a, None, Duration::from_secs(3600)),
        EndpointHealth::Disable(DisableReason::Gone)
    );

    let a = client
        .post(&server.url("/404"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!((a.status(), a.is_retried()), (Some(404), false), "{a:?}");
    assert!(!a.is_success());

    assert_eq!(server.hits().len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let target = serve(|_| HttpResponse::Ok().body("you should not be here"));
    let location = target.url("/landed");
    let redirector = serve(move |_| {
        HttpResponse::Found()
            .insert_header(("Location", location.clone()))
            .body("moved")
    });
    let a = client(DEV, Duration::from_secs(5))
        .post(&redirector.url("/hook"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!(a.status(), Some(302), "{a:?}");
    assert_eq!(a.error(), None);
    assert!(!a.is_success() && !a.is_retried());
    assert_eq!(a.response_excerpt(), "moved");
    assert_eq!(redirector.hits().len(), 1);
    // Give a (wrongly) followed redirect every chance to show up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(target.hits().is_empty(), "the redirect was followed");
    redirector.stop().await;
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excerpt_stops_at_the_limit() {
    let big: Vec<u8> = (0..1_000_000u32)
        .map(|i| b"0123456789abcdef"[(i % 16) as usize])
        .collect();
    let expected = String::from_utf8(big[..MAX_EXCERPT].to_vec()).unwrap();
    let server = serve(move |_| HttpResponse::Ok().body(big.clone()));
    let a = client(DEV, Duration::from_secs(5))
        .post(&server.url("/big"), &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!(a.status(), Some(200), "{a:?}");
    assert_eq!(a.response_excerpt().len(), MAX_EXCERPT);
    assert_eq!(a.response_excerpt(), expected);
    server.stop().await;
}

/// A raw server that accepts connections, reads a little, optionally writes `reply`, and then
/// holds the connection open without ever finishing.
async fn hanging_server(reply: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(reply).await;
            held.push(socket);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    let port = hanging_server(b"").await;
    let a = client(DEV, Duration::from_millis(300))
        .post(
            &format!("http://127.0.0.1:{port}/"),
            &json_headers(),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status(), None, "{a:?}");
    assert_eq!(a.error().as_deref(), Some("timed out after 300 ms"));
    assert!(matches!(a.failure(), Some(Failure::Timeout { .. })));
    assert!(a.is_retried());
    assert!(a.duration >= Duration::from_millis(290), "{:?}", a.duration);
    assert!(a.duration < Duration::from_millis(1500), "{:?}", a.duration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_keeps_the_status_and_what_arrived() {
    let port =
        hanging_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial body").await;
    let a = client(DEV, Duration::from_millis(300))
        .post(
            &format!("http://127.0.0.1:{port}/"),
            &json_headers(),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status(), Some(200), "{a:?}");
    assert_eq!(a.error(), None);
    assert_eq!(a.response_excerpt(), "partial body");
    assert!(a.is_success());
    assert!(a.duration >= Duration::from_millis(290), "{:?}", a.duration);
    assert!(a.duration < Duration::from_millis(1500), "{:?}", a.duration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried() {
    let port = {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let a = client(DEV, Duration::from_secs(5))
        .post(
            &format!("http://127.0.0.1:{port}/"),
            &json_headers(),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status(), None, "{a:?}");
    assert_eq!(
        a.error().as_deref(),
        Some("could not connect: connection refused")
    );
    assert!(matches!(a.failure(), Some(Failure::Connect { .. })));
    assert!(a.is_retried());
    assert!(a.response_excerpt().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_name_is_a_dns_failure() {
    let a = client(STRICT, Duration::from_secs(5))
        .post(
            "https://no-such-host.assent-test.invalid/hook",
            &json_headers(),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status(), None, "{a:?}");
    assert_eq!(
        a.error().as_deref(),
        Some("DNS lookup failed for no-such-host.assent-test.invalid")
    );
    assert!(matches!(a.failure(), Some(Failure::Dns { .. })));
    assert!(a.is_retried());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_public_targets_are_refused_unless_allowed() {
    let server = serve(|_| HttpResponse::Ok().body("reached"));
    let port = server.port;
    let strict = client(STRICT, Duration::from_secs(5));
    let cases = [
        (format!("http://127.0.0.1:{port}/"), "plain http"),
        (
            format!("https://127.0.0.1:{port}/"),
            "127.0.0.1 is not a public address",
        ),
        (
            format!("https://[::1]:{port}/"),
            "::1 is not a public address",
        ),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1 is not a public address",
        ),
        (
            format!("https://169.254.169.254:{port}/"),
            "169.254.169.254 is not a public address",
        ),
        (
            format!("https://[64:ff9b::7f00:1]:{port}/"),
            "64:ff9b::7f00:1 is not a public address",
        ),
        (
            format!("https://10.0.0.1:{port}/"),
            "10.0.0.1 is not a public address",
        ),
        (
            format!("https://localhost:{port}/"),
            "localhost resolves to 127.0.0.1, which is not a public address",
        ),
        (
            format!("https://user:pw@localhost:{port}/"),
            "user name or password",
        ),
        (format!("ftp://127.0.0.1:{port}/"), "scheme is not allowed"),
    ];
    for (url, reason) in &cases {
        let a = strict.post(url, &json_headers(), b"{}".to_vec()).await;
        assert_eq!(a.status(), None, "{url}: {a:?}");
        let error = a.error().unwrap_or_default();
        assert!(error.starts_with("refused: "), "{url}: {error}");
        assert!(error.contains(reason), "{url}: {error}");
        assert!(
            matches!(a.failure(), Some(Failure::Refused(_))),
            "{url}: {a:?}"
        );
        assert!(a.is_retried());
    }
    let a = strict
        .post("not a url", &json_headers(), b"{}".to_vec())
        .await;
    assert_eq!(a.error().as_deref(), Some("invalid URL"));
    assert_eq!(a.failure(), Some(&Failure::InvalidUrl));
    assert!(a.is_retried());
    assert!(server.hits().is_empty(), "a refused target was reached");

    // The development switch reaches the very same server, by address and by name.
    let dev = client(DEV, Duration::from_secs(5));
    for url in [
        format!("http://127.0.0.1:{port}/a"),
        format!("http://localhost:{port}/b"),
    ] {
        let a = dev.post(&url, &json_headers(), b"{}".to_vec()).await;
        assert_eq!(a.status(), Some(200), "{url}: {a:?}");
        assert_eq!(a.response_excerpt(), "reached");
    }
    let paths: Vec<String> = server.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(paths, ["/a", "/b"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_header_fails_without_sending() {
    let server = serve(|_| HttpResponse::Ok().finish());
    let a = client(DEV, Duration::from_secs(5))
        .post(
            &server.url("/"),
            &[("X-Assent-Signature".to_owned(), "line\nbreak".to_owned())],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status(), None, "{a:?}");
    let error = a.error().unwrap_or_default();
    assert!(error.starts_with("invalid request: "), "{error}");
    assert!(!error.contains("line"), "the header value leaked: {error}");
    assert!(!a.is_retried());
    assert!(server.hits().is_empty());
    server.stop().await;
}
