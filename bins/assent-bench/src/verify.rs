//! The `verify` scenario: `GET /v1/verify` for an approved agent key, every request signed
//! with the `sigilum-rfc9421-v1` profile (`docs/signing.md`) for the exact URL sent, with its
//! own nonce.
//!
//! Setup, over the API as an agent and its owner would do it ([`prepare`]): sign up the owner
//! of `--namespace`, create the service [`SERVICE`] and an API key for it; submit a signed
//! claim (`POST /v1/claims`, API key plus signature) for a fresh random agent key certified
//! for the namespace; approve it (`POST /v1/claims/{id}/approve`, session). One signed verify
//! then has to answer `authorized: true` before any load is sent.
//!
//! Signing is the client's work, and on a machine whose cores the client shares with the
//! server it would be counted against the server. So the requests are signed **before** the
//! load starts ([`VerifyLoad`]'s pool, on every core), each with its own nonce and `created`
//! = the moment it was signed, which stays inside the server's 300 s window for any run
//! shorter than [`MAX_PRESIGNED_AGE_S`]. A connection that finds the pool used up (or too
//! old) signs inline, and the report says how many did and what signing costs a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use assent_auth::rfc9421::{AgentKey, RequestToSign};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde_json::{Value, json};

use crate::api::{Api, string_at};
use crate::load::Target;
use crate::server;

/// The service the agent claims and verifies against.
pub const SERVICE: &str = "gateway";
/// A pre-signed request older than this is not sent; the server refuses `created` older than
/// 300 s, and this leaves a minute for queueing and clock steps.
pub const MAX_PRESIGNED_AGE_S: i64 = 240;
/// `--presigned` when not given: this many requests a second of warmup plus duration, about
/// twice what the 2-core bench machine reaches...
pub const DEFAULT_PRESIGN_RATE: u64 = 12_000;
/// ...but at most this many (about 400 bytes each): a longer run signs the rest inline.
pub const MAX_DEFAULT_PRESIGNED: usize = 300_000;
/// The headers that differ from one request to the next.
const SIGNATURE_INPUT: &str = "signature-input";
const SIGNATURE: &str = "signature";

/// An agent key certified for a namespace.
#[derive(Debug)]
pub struct Agent {
    key: AgentKey,
    namespace: String,
    cert: String,
}

impl Agent {
    /// A fresh random key and its self-signed certificate for `namespace`.
    pub fn new(namespace: &str) -> Self {
        let key = AgentKey::from_seed(&assent_auth::random::bytes::<32>());
        let issued_at = assent_core::Timestamp::now().to_rfc3339();
        let cert = key.certificate(namespace, &issued_at, None);
        Self {
            key,
            namespace: namespace.to_owned(),
            cert,
        }
    }

    /// `ed25519:<base64>`.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The profile headers for one request (the subject is the namespace, as the SDKs do).
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
        created: i64,
        nonce: &str,
    ) -> Result<Vec<(String, String)>> {
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
            .map_err(|e| anyhow!("signing {method} {url}: {e}"))
    }
}

/// One pre-signed request: the two headers that change, and when it was signed.
#[derive(Debug)]
struct Presigned {
    created: i64,
    signature_input: HeaderValue,
    signature: HeaderValue,
}

/// What signing cost, for the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigningFigures {
    /// Requests signed before the load.
    pub presigned: u64,
    /// Of those, sent (warmup included).
    pub presigned_used: u64,
    /// Signing one request on one core: the signing threads' time over the requests signed.
    pub per_request: Duration,
    /// Wall time of the pre-signing, on `threads` threads.
    pub presign_wall: Duration,
    pub threads: usize,
    /// Requests signed inline during the load (warmup included), because the pool was used up
    /// or too old, and the time that took.
    pub inline: u64,
    pub inline_time: Duration,
}

/// Everything the connections need to send verify requests: the URL, the headers every
/// request shares, and the pool of pre-signed ones.
#[derive(Debug)]
pub struct VerifyLoad {
    agent: Arc<Agent>,
    /// The exact URL sent, and signed.
    url: Url,
    /// `sigilum-namespace`, `sigilum-subject`, `sigilum-agent-key`, `sigilum-agent-cert`.
    shared: Vec<(HeaderName, HeaderValue)>,
    pool: Vec<Presigned>,
    next: AtomicUsize,
    /// Makes this run's nonces unique in a reused database.
    nonce_prefix: String,
    per_request: Duration,
    presign_wall: Duration,
    threads: usize,
    inline: AtomicU64,
    inline_nanos: AtomicU64,
    /// Pool entries skipped for being older than [`MAX_PRESIGNED_AGE_S`].
    stale: AtomicU64,
}

impl VerifyLoad {
    /// The next request: pre-signed if the pool has one young enough, else signed now.
    pub fn request(&self, client: &Client) -> Result<RequestBuilder, String> {
        let (signature_input, signature) = self.next_signature()?;
        let mut request = client.get(self.url.clone());
        for (name, value) in &self.shared {
            request = request.header(name.clone(), value.clone());
        }
        Ok(request
            .header(SIGNATURE_INPUT, signature_input)
            .header(SIGNATURE, signature))
    }

    fn next_signature(&self) -> Result<(HeaderValue, HeaderValue), String> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.pool.get(index) {
            if unix_now() - entry.created <= MAX_PRESIGNED_AGE_S {
                return Ok((entry.signature_input.clone(), entry.signature.clone()));
            }
            self.stale.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let n = self.inline.fetch_add(1, Ordering::Relaxed);
        let nonce = format!("{}-i{n:x}", self.nonce_prefix);
        let signed = sign_one(&self.agent, self.url.as_str(), unix_now(), &nonce)
            .map_err(|e| format!("{e:#}"));
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.inline_nanos.fetch_add(nanos, Ordering::Relaxed);
        let signed = signed?;
        Ok((signed.signature_input, signed.signature))
    }

    pub fn figures(&self) -> SigningFigures {
        let taken = self.next.load(Ordering::Relaxed).min(self.pool.len()) as u64;
        SigningFigures {
            presigned: self.pool.len() as u64,
            presigned_used: taken.saturating_sub(self.stale.load(Ordering::Relaxed)),
            per_request: self.per_request,
            presign_wall: self.presign_wall,
            threads: self.threads,
            inline: self.inline.load(Ordering::Relaxed),
            inline_time: Duration::from_nanos(self.inline_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// Sets the scenario up over the API (see the module documentation) and pre-signs
/// `presigned` requests.
pub async fn prepare(target: &Target, namespace: &str, presigned: usize) -> Result<VerifyLoad> {
    let api = Api::new(&target.base)?;
    let agent = approved_agents(&api, namespace, 1)
        .await?
        .pop()
        .map(Arc::new)
        .ok_or_else(|| anyhow!("no agent was approved"))?;
    let url = Url::parse(&api.url(&verify_path(namespace, &agent.public_key(), SERVICE)))
        .context("the verify URL")?;
    check_authorized(&api, &agent, &url).await?;

    let nonce_prefix = server::random_hex(1);
    let shared = shared_headers(&agent, url.as_str())?;
    let job = {
        let (agent, url, prefix) = (Arc::clone(&agent), url.to_string(), nonce_prefix.clone());
        tokio::task::spawn_blocking(move || presign(&agent, &url, &prefix, presigned))
    };
    let (pool, per_request, presign_wall, threads) =
        job.await.context("the pre-signing task failed")??;
    Ok(VerifyLoad {
        agent,
        url,
        shared,
        pool,
        next: AtomicUsize::new(0),
        nonce_prefix,
        per_request,
        presign_wall,
        threads,
        inline: AtomicU64::new(0),
        inline_nanos: AtomicU64::new(0),
        stale: AtomicU64::new(0),
    })
}

/// Over the API, as an owner and agents would do it: signs up the owner of `namespace`,
/// creates the service [`SERVICE`] and an API key for it, then `count` fresh agent keys each
/// submit a signed claim, which the owner approves.
pub async fn approved_agents(api: &Api, namespace: &str, count: usize) -> Result<Vec<Agent>> {
    let token = api.signup(namespace).await.with_context(|| {
        format!(
            "signing up the owner of `{namespace}` (a database that already has this namespace \
             needs another --namespace, or a fresh database)"
        )
    })?;
    let service_id = api
        .create_service(&token, SERVICE, "assent-bench verify")
        .await?;
    let key = api
        .post(
            &format!("/v1/services/{service_id}/keys"),
            Some(&token),
            json!({"name": "assent-bench verify"}),
            StatusCode::CREATED,
        )
        .await?;
    let api_key = string_at(&key, "/key")?;
    let mut agents = Vec::with_capacity(count);
    for _ in 0..count {
        let agent = Agent::new(namespace);
        let claim_id = submit_claim(api, &agent, &api_key).await?;
        let path = format!("/v1/claims/{claim_id}/approve");
        let approved = api
            .expect(
                &format!("POST {path}"),
                api.client.post(api.url(&path)).bearer_auth(&token),
                StatusCode::OK,
            )
            .await?;
        if approved["status"] != "approved" {
            bail!("POST {path} did not approve the claim: {approved}");
        }
        agents.push(agent);
    }
    Ok(agents)
}

/// `POST /v1/claims` with the API key and a signature; returns the new claim's id.
async fn submit_claim(api: &Api, agent: &Agent, api_key: &str) -> Result<String> {
    let url = api.url("/v1/claims");
    let body = json!({
        "namespace": agent.namespace,
        "public_key": agent.public_key(),
        "service": SERVICE,
        "nonce": assent_auth::random::id("bench-claim-"),
    })
    .to_string()
    .into_bytes();
    let nonce = assent_auth::random::id("bench-setup-");
    let mut request = api
        .client
        .post(&url)
        .bearer_auth(api_key)
        .header("content-type", "application/json");
    for (name, value) in agent.sign("POST", &url, &body, unix_now(), &nonce)? {
        request = request.header(name, value);
    }
    let submitted = api
        .expect("POST /v1/claims", request.body(body), StatusCode::CREATED)
        .await?;
    string_at(&submitted, "/claim_id")
}

/// One signed verify, before any load: it must say `authorized: true`.
async fn check_authorized(api: &Api, agent: &Agent, url: &Url) -> Result<()> {
    let nonce = assent_auth::random::id("bench-check-");
    let mut request = api.client.get(url.clone());
    for (name, value) in agent.sign("GET", url.as_str(), b"", unix_now(), &nonce)? {
        request = request.header(name, value);
    }
    let answer = api
        .expect("GET /v1/verify", request, StatusCode::OK)
        .await
        .context(
            "the first signed verify failed (a SIGNATURE_INVALID here means the server \
             rebuilds another URL than the one signed: check its ASSENT_PUBLIC_URL)",
        )?;
    if !is_authorized(answer.to_string().as_bytes()) {
        bail!("GET /v1/verify did not authorize the approved agent: {answer}");
    }
    Ok(())
}

/// `/v1/verify?namespace=…&public_key=…&service=…`, each value percent-encoded.
pub fn verify_path(namespace: &str, public_key: &str, service: &str) -> String {
    format!(
        "/v1/verify?namespace={}&public_key={}&service={}",
        url_encode(namespace),
        url_encode(public_key),
        url_encode(service)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Whether a verify answer says `"authorized": true`.
pub fn is_authorized(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|answer| answer.get("authorized") == Some(&Value::Bool(true)))
}

/// The headers that are the same on every request of the agent: all but the two that carry
/// the nonce, `created` and the signature.
fn shared_headers(agent: &Agent, url: &str) -> Result<Vec<(HeaderName, HeaderValue)>> {
    agent
        .sign("GET", url, b"", unix_now(), "shared-headers")?
        .into_iter()
        .filter(|(name, _)| name != SIGNATURE_INPUT && name != SIGNATURE)
        .map(|(name, value)| {
            Ok((
                HeaderName::try_from(name).context("a profile header name")?,
                HeaderValue::try_from(value).context("a profile header value")?,
            ))
        })
        .collect()
}

/// A signed GET of `url`: its `signature-input` and `signature`.
fn sign_one(agent: &Agent, url: &str, created: i64, nonce: &str) -> Result<Presigned> {
    let (signature_input, signature) =
        signature_headers(agent.sign("GET", url, b"", created, nonce)?)?;
    Ok(Presigned {
        created,
        signature_input: HeaderValue::try_from(signature_input)
            .context("the signature-input value")?,
        signature: HeaderValue::try_from(signature).context("the signature value")?,
    })
}

/// Picks `signature-input` and `signature` out of [`Agent::sign`]'s headers.
pub fn signature_headers(headers: Vec<(String, String)>) -> Result<(String, String)> {
    let (mut input, mut signature) = (None, None);
    for (name, value) in headers {
        match name.as_str() {
            SIGNATURE_INPUT => input = Some(value),
            SIGNATURE => signature = Some(value),
            _ => {}
        }
    }
    match (input, signature) {
        (Some(input), Some(signature)) => Ok((input, signature)),
        _ => bail!("the signer returned no signature-input or signature header"),
    }
}

/// Signs `count` requests on every core, nonces `<prefix>-<index in hex>`. Returns them in
/// order, the time signing one took on one core, the wall time, and the number of threads.
fn presign(
    agent: &Agent,
    url: &str,
    prefix: &str,
    count: usize,
) -> Result<(Vec<Presigned>, Duration, Duration, usize)> {
    let threads = thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(count.max(1));
    let chunk = count.div_ceil(threads);
    let started = Instant::now();
    let parts: Vec<Result<(Vec<Presigned>, Duration)>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk)..((t + 1) * chunk).min(count);
                scope.spawn(move || {
                    let started = Instant::now();
                    let signed = range
                        .map(|i| sign_one(agent, url, unix_now(), &format!("{prefix}-{i:x}")))
                        .collect::<Result<Vec<_>>>()?;
                    Ok((signed, started.elapsed()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a signing thread panicked")))
            })
            .collect()
    });
    let wall = started.elapsed();
    let mut pool = Vec::with_capacity(count);
    let mut busy = Duration::ZERO;
    for part in parts {
        let (signed, took) = part?;
        pool.extend(signed);
        busy += took;
    }
    let per_request = busy / u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    Ok((pool, per_request, wall, threads))
}

/// Ed25519 verifications timed by [`ed25519_cpu_time`], after as many unrecorded ones.
const ED25519_TIMED: u32 = 4_000;
/// About the length of a verify's signature base, which is what the server verifies.
const ED25519_MESSAGE_BYTES: usize = 512;

/// The CPU time of one strict Ed25519 verification (`verify_strict`, as the server checks a
/// request's signature) of a [`ED25519_MESSAGE_BYTES`]-byte message on this machine: the
/// thread's own on-CPU time (`/proc/thread-self/schedstat`, so time the scheduler gave to
/// others does not count), or its wall time where that file is missing. Blocks its thread.
pub fn ed25519_cpu_time() -> Result<Duration> {
    ed25519_cpu_time_of(ED25519_TIMED)
}

/// [`ed25519_cpu_time`] over `timed` verifications (and as many unrecorded ones first).
fn ed25519_cpu_time_of(timed: u32) -> Result<Duration> {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&assent_auth::random::bytes::<32>());
    let message = vec![0x5a_u8; ED25519_MESSAGE_BYTES];
    let signature = key.sign(&message);
    let public = key.verifying_key();
    let run = |times: u32| -> Result<()> {
        for _ in 0..times {
            public
                .verify_strict(std::hint::black_box(&message), &signature)
                .map_err(|e| anyhow!("an Ed25519 signature did not verify: {e}"))?;
        }
        Ok(())
    };
    run(timed)?;
    let (cpu_before, wall_before) = (thread_cpu_time(), Instant::now());
    run(timed)?;
    let spent = match (cpu_before, thread_cpu_time()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => wall_before.elapsed(),
    };
    Ok(spent / timed.max(1))
}

/// This thread's time on a CPU so far, from the first field of its schedstat (nanoseconds).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// L, what the issue measures verify against: the rate `cpus` cores could serve if each
/// request cost what a `GET /health` exchange costs the machine (`cpus ÷ health req/s`, client
/// included) plus one Ed25519 verification, `cpus ÷ (cpus ÷ health + ed25519)`.
pub fn limit_l(cpus: usize, health_rps: f64, ed25519: Duration) -> f64 {
    let cores = cpus as f64;
    if health_rps <= 0.0 {
        return 0.0;
    }
    cores / (cores / health_rps + ed25519.as_secs_f64())
}

/// The default `--presigned`: [`DEFAULT_PRESIGN_RATE`] a second of the whole run, at most
/// [`MAX_DEFAULT_PRESIGNED`].
pub fn default_presigned(run: Duration) -> usize {
    let requests = run.as_secs_f64() * DEFAULT_PRESIGN_RATE as f64;
    // Float to integer saturates.
    (requests.ceil() as usize).min(MAX_DEFAULT_PRESIGNED)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("bench"), "bench");
        assert_eq!(
            url_encode("ed25519:J07dj/co4diCmQYTTQGq4adh+MKYejHazCYUQ7eBh0k="),
            "ed25519%3AJ07dj%2Fco4diCmQYTTQGq4adh%2BMKYejHazCYUQ7eBh0k%3D"
        );
        assert_eq!(url_encode("a b&c~d.e_f-g"), "a%20b%26c~d.e_f-g");
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(
            verify_path("bench", "ed25519:a+b/c=", "gateway"),
            "/v1/verify?namespace=bench&public_key=ed25519%3Aa%2Bb%2Fc%3D&service=gateway"
        );
    }

    #[test]
    fn only_authorized_true_counts() {
        assert!(is_authorized(
            br#"{"authorized":true,"claim_id":"cl_1","approved_at":"2026-11-22T00:00:00.000Z"}"#
        ));
        assert!(is_authorized(br#"{ "authorized" : true }"#));
        for body in [
            &br#"{"authorized":false,"reason":"no_approved_claim"}"#[..],
            br#"{"authorized":"true"}"#,
            br#"{"data":{"authorized":true}}"#,
            br#"[true]"#,
            b"",
            b"not json",
            br#"{"authorized":true"#,
        ] {
            assert!(!is_authorized(body), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn the_signature_headers_are_picked_out() {
        let headers = vec![
            ("signature-input".to_owned(), "sig1=(…)".to_owned()),
            ("sigilum-namespace".to_owned(), "bench".to_owned()),
            ("signature".to_owned(), "sig1=:AA==:".to_owned()),
        ];
        let (input, signature) = signature_headers(headers).expect("both present");
        assert_eq!(
            (input.as_str(), signature.as_str()),
            ("sig1=(…)", "sig1=:AA==:")
        );
        assert!(signature_headers(vec![("signature".to_owned(), "x".to_owned())]).is_err());
    }

    #[test]
    fn only_the_signature_headers_vary_between_requests() {
        let agent = Agent::new("bench");
        let url = "http://127.0.0.1:8080/v1/verify?namespace=bench&service=gateway";
        let strip = |headers: Vec<(String, String)>| -> Vec<(String, String)> {
            headers
                .into_iter()
                .filter(|(name, _)| name != SIGNATURE_INPUT && name != SIGNATURE)
                .collect()
        };
        let a = agent
            .sign("GET", url, b"", 1_700_000_000, "nonce-a")
            .expect("signs");
        let b = agent
            .sign("GET", url, b"", 1_700_000_001, "nonce-b")
            .expect("signs");
        assert_ne!(a, b);
        assert_eq!(strip(a.clone()), strip(b));
        let shared = shared_headers(&agent, url).expect("headers");
        let names: Vec<&str> = shared.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sigilum-namespace",
                "sigilum-subject",
                "sigilum-agent-key",
                "sigilum-agent-cert"
            ]
        );
        // A GET signs no body, so there is no content-digest.
        assert_eq!(strip(a).len(), 4);
    }

    #[test]
    fn presigned_requests_have_unique_nonces_and_fresh_times() {
        let agent = Agent::new("bench");
        let url = "http://127.0.0.1:8080/v1/verify?namespace=bench";
        let before = unix_now();
        let (pool, per_request, _, threads) = presign(&agent, url, "p", 37).expect("signs");
        assert_eq!(pool.len(), 37);
        assert!(threads >= 1 && per_request > Duration::ZERO);
        let mut nonces = HashSet::new();
        for entry in &pool {
            assert!((before..=unix_now()).contains(&entry.created));
            let input = entry.signature_input.to_str().expect("ascii");
            let nonce = input
                .rsplit_once("nonce=\"")
                .and_then(|(_, rest)| rest.strip_suffix('"'))
                .expect("a nonce parameter");
            assert!(nonces.insert(nonce.to_owned()), "duplicate nonce {nonce}");
        }
        assert!(nonces.contains("p-0") && nonces.contains("p-24"));
    }

    #[test]
    fn l_is_health_plus_one_signature_check_on_every_core() {
        // 2 cores, 50,000 health req/s (40 µs of machine time each) and 40 µs a check:
        // 2 ÷ 80 µs.
        let l = limit_l(2, 50_000.0, Duration::from_micros(40));
        assert!((l - 25_000.0).abs() < 1e-6, "{l}");
        assert!((limit_l(1, 10_000.0, Duration::ZERO) - 10_000.0).abs() < 1e-6);
        assert_eq!(limit_l(2, 0.0, Duration::from_micros(40)), 0.0);
    }

    #[test]
    fn an_ed25519_check_takes_some_microseconds() {
        // Few: an unoptimised build verifies slowly.
        let each = ed25519_cpu_time_of(20).expect("verifies");
        assert!(
            each > Duration::from_nanos(500) && each < Duration::from_secs(1),
            "{each:?}"
        );
    }

    #[test]
    fn the_default_pool_covers_the_run() {
        assert_eq!(default_presigned(Duration::from_secs(12)), 144_000);
        assert_eq!(default_presigned(Duration::from_millis(1)), 12);
        assert_eq!(
            default_presigned(Duration::from_secs(3600)),
            MAX_DEFAULT_PRESIGNED
        );
    }
}
