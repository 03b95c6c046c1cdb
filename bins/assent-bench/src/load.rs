//! The load: one task, one `reqwest::Client` and so one keep-alive connection per simulated
//! client, each sending its next request as soon as the previous answer is read.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Client, RequestBuilder, StatusCode, redirect};
use tokio::task::JoinSet;
use tokio::time::{self, Instant};

use crate::scenario::{Auth, Load, RequestSpec, ScenarioContext};
use crate::server::ServerGuard;
use crate::stats::Recording;
use crate::verify::{self, VerifyLoad};

/// Pause after a transport error, so a dead server is not spun on at full speed.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
const READY_POLL: Duration = Duration::from_millis(100);
const READY_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Characters of an error response body kept as a sample.
const SAMPLE_CHARS: usize = 300;

/// Where requests go.
#[derive(Debug)]
pub struct Target {
    /// Without a trailing slash; request paths are appended.
    pub base: String,
    pub admin_token: Option<String>,
}

#[derive(Debug)]
pub struct LoadPlan {
    pub requests: Requests,
    pub connections: u32,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Where each connection's requests come from.
#[derive(Debug, Clone)]
pub enum Requests {
    /// `health`, `register`, `notify`: [`Load::request`] describes each one; any 2xx is a
    /// success.
    Described(Load, Arc<ScenarioContext>),
    /// `verify`: signed requests (mostly signed before the load); a success is a 200 that
    /// says `"authorized": true`.
    Verify(Arc<VerifyLoad>),
    /// `claims`, `claims-rules`, `claims-auto`: pre-signed claim submissions; a success is
    /// any 2xx (a 201).
    Claims(Arc<crate::claims::ClaimsLoad>),
    /// `did`: a GET of this path, unauthenticated; a success is any 2xx.
    Get(Arc<String>),
}

/// What makes an answer a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Any 2xx.
    Success,
    /// A 200 whose JSON body has `"authorized": true`.
    Authorized,
}

impl Check {
    /// `Ok` for a success, else the error key: the status code, or `200 (not authorized)`.
    pub fn outcome(self, status: StatusCode, body: &[u8]) -> Result<(), String> {
        match self {
            Self::Success if status.is_success() => Ok(()),
            Self::Authorized if status == StatusCode::OK && verify::is_authorized(body) => Ok(()),
            Self::Authorized if status == StatusCode::OK => Err("200 (not authorized)".to_owned()),
            Self::Success | Self::Authorized => Err(status.as_u16().to_string()),
        }
    }
}

/// When recording starts and when everything stops.
#[derive(Debug, Clone, Copy)]
struct Phases {
    measure_from: Instant,
    deadline: Instant,
}

/// Everything one connection task needs.
#[derive(Debug)]
struct Worker {
    index: u32,
    client: Client,
    requests: Requests,
    target: Arc<Target>,
    phases: Phases,
}

/// An HTTP/1.1 client that keeps at most one idle connection: used sequentially, it is
/// exactly one keep-alive connection. It never follows redirects (which could leave
/// loopback) and ignores proxy settings (which would measure the proxy).
pub fn client(timeout: Option<Duration>) -> Result<Client> {
    let mut builder = Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(redirect::Policy::none());
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().context("building the HTTP client")
}

/// Polls `GET /health` until it answers 2xx, the server exits, or `timeout` passes.
pub async fn wait_ready(
    target: &Target,
    mut server: Option<&mut ServerGuard>,
    timeout: Duration,
) -> Result<()> {
    let client = client(Some(READY_REQUEST_TIMEOUT))?;
    let url = format!("{}/health", target.base);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(server) = server.as_deref_mut()
            && let Some(status) = server.exit_status()?
        {
            bail!("the server exited before it was ready ({status})");
        }
        let last = match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("status {}", response.status()),
            Err(e) => error_chain(&e),
        };
        if Instant::now() >= deadline {
            bail!("{url} was not ready within {timeout:?} (last attempt: {last})");
        }
        time::sleep(READY_POLL).await;
    }
}

/// Runs warmup then the measured window on every connection; returns the merged recording.
pub async fn run(plan: &LoadPlan, target: Arc<Target>) -> Result<Recording> {
    // Clients are built first so that their setup cost is not inside any phase.
    let clients = (0..plan.connections)
        .map(|_| client(None))
        .collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let phases = Phases {
        measure_from: start + plan.warmup,
        deadline: start + plan.warmup + plan.duration,
    };
    let mut tasks = JoinSet::new();
    for (index, client) in (0..).zip(clients) {
        tasks.spawn(connection(Worker {
            index,
            client,
            requests: plan.requests.clone(),
            target: Arc::clone(&target),
            phases,
        }));
    }
    let mut total = Recording::default();
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.context("a connection task failed")?);
    }
    Ok(total)
}

/// One connection's loop. Only requests started inside the measured window are recorded;
/// one still in flight at the deadline is abandoned, so the loop ends on time.
async fn connection(worker: Worker) -> Recording {
    let mut recording = Recording {
        latencies_us: Vec::with_capacity(4096),
        ..Recording::default()
    };
    let Phases {
        measure_from,
        deadline,
    } = worker.phases;
    for sequence in 0u64.. {
        if Instant::now() >= deadline {
            break;
        }
        let (request, check) = match &worker.requests {
            Requests::Described(load, context) => {
                let spec = load.request(context, worker.index, sequence);
                (
                    build(&worker.client, &worker.target, context, spec),
                    Check::Success,
                )
            }
            Requests::Get(path) => (
                worker.client.get(format!("{}{path}", worker.target.base)),
                Check::Success,
            ),
            Requests::Claims(claims) => match claims.request(&worker.client) {
                Ok(request) => (request, Check::Success),
                Err(e) => {
                    recording.record_error("pool".to_owned(), || e);
                    break;
                }
            },
            Requests::Verify(verify) => match verify.request(&worker.client) {
                Ok(request) => (request, Check::Authorized),
                Err(e) => {
                    // Signing fails only for a URL the setup already signed: not transient.
                    recording.record_error("sign".to_owned(), || e);
                    break;
                }
            },
        };
        let started = Instant::now();
        let outcome = time::timeout_at(deadline, exchange(request)).await;
        let latency = started.elapsed();
        let measured = started >= measure_from;
        match outcome {
            Err(_elapsed) => {
                recording.unfinished += u64::from(measured);
                break;
            }
            Ok(Ok((status, body))) => match check.outcome(status, body.as_ref()) {
                Ok(()) => {
                    if measured {
                        recording.latencies_us.push(micros(latency));
                    }
                }
                Err(key) => {
                    if measured {
                        recording.record_error(key, || snippet(body.as_ref()));
                    }
                }
            },
            Ok(Err(e)) => {
                if measured {
                    recording.record_error(error_kind(&e).to_owned(), || error_chain(&e));
                }
                time::sleep_until(deadline.min(Instant::now() + ERROR_BACKOFF)).await;
            }
        }
    }
    recording
}

fn build(
    client: &Client,
    target: &Target,
    context: &ScenarioContext,
    spec: RequestSpec,
) -> RequestBuilder {
    let mut request = client.request(spec.method, format!("{}{}", target.base, spec.path));
    let token = match spec.auth {
        Auth::None => None,
        Auth::Admin => target.admin_token.as_ref(),
        Auth::Service => context.service_key.as_ref(),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = spec.body {
        request = request.json(&body);
    }
    request
}

/// Sends a request and reads the whole body: latency is to the last byte, and an unread
/// body would stop the connection from being reused. Returns the status and the body.
async fn exchange(request: RequestBuilder) -> reqwest::Result<(StatusCode, impl AsRef<[u8]>)> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    Ok((status, body))
}

/// A latency in whole microseconds, as recordings hold them.
pub fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)
}

/// The error key of a failed exchange, for the error table.
fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
}

/// reqwest's own message omits the cause ("error sending request"); add the chain.
fn error_chain(e: &dyn Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(SAMPLE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_2xx_succeeds_unless_authorization_is_checked() {
        assert_eq!(Check::Success.outcome(StatusCode::OK, b""), Ok(()));
        assert_eq!(Check::Success.outcome(StatusCode::CREATED, b"{}"), Ok(()));
        assert_eq!(
            Check::Success.outcome(StatusCode::CONFLICT, b"{}"),
            Err("409".to_owned())
        );
    }

    #[test]
    fn verify_succeeds_only_when_authorized() {
        let yes = br#"{"authorized":true,"claim_id":"cl_1"}"#;
        let no = br#"{"authorized":false,"reason":"no_approved_claim"}"#;
        assert_eq!(Check::Authorized.outcome(StatusCode::OK, yes), Ok(()));
        assert_eq!(
            Check::Authorized.outcome(StatusCode::OK, no),
            Err("200 (not authorized)".to_owned())
        );
        // Only a 200 answers a verify: another 2xx is an error by its status.
        assert_eq!(
            Check::Authorized.outcome(StatusCode::CREATED, yes),
            Err("201".to_owned())
        );
        assert_eq!(
            Check::Authorized.outcome(StatusCode::CONFLICT, b"{}"),
            Err("409".to_owned())
        );
    }
}
