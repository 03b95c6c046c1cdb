//! The claim submission scenarios: signed `POST /v1/claims`, each request a new agent key (so
//! each creates a claim), under three owner policies (`docs/policies.md`):
//!
//! - `claims`: no rules: every claim is stored pending (`request.submitted`);
//! - `claims-rules`: 100 rules, none of which matches: every claim is matched against all of
//!   them, then stored pending;
//! - `claims-auto`: one rule approves the service's claims: every claim is stored approved
//!   (`request.approved` with `decided_by`).
//!
//! Setup, over the API ([`prepare`]): sign up the owner of `--namespace`, create the service
//! [`SERVICE`] and an API key, put the policy. One agent signs every request with
//! `X-Sigilum-Claim-Binding: namespace-only` (as a gateway submitting for its agents does), so
//! each request can name another agent key. Requests are signed before the load, on every
//! core, as `verify` does, so the client's Ed25519 work is not counted against the server; a
//! run that uses up the pool reports the rest as errors (`pool`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use assent_auth::rfc9421::AgentKey;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::api::{Api, string_at};
use crate::load::Target;
use crate::verify::Agent;

/// The service the claims are for.
pub const SERVICE: &str = "gateway";
/// The rules of `claims-rules`.
pub const RULES: usize = 100;
/// Requests signed a second of the run (warmup included) when sizing the pool...
const PRESIGN_RATE: u64 = 3_000;
/// ...but at most this many (about 1.5 KB each).
const MAX_PRESIGNED: usize = 60_000;
/// A pre-signed request older than this would be refused (`created` at most 300 s old).
const MAX_AGE_S: i64 = 240;
const BINDING: &str = "x-sigilum-claim-binding";

/// The owner's policy of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Rules,
    AutoApprove,
}

impl Policy {
    /// The body of `PUT /v1/policies`, and the status every new claim should get.
    fn setup(self) -> (Value, &'static str) {
        match self {
            Self::None => (json!({ "rules": [] }), "pending"),
            Self::Rules => {
                // Rules on agent keys nobody submits: each is checked, none matches.
                let rules: Vec<Value> = (0..RULES)
                    .map(|i| {
                        let key = AgentKey::from_seed(&assent_auth::random::bytes::<32>());
                        json!({
                            "kind": "claim",
                            "agent_keys": [key.public_key()],
                            "sources": [format!("10.{}.0.0/16", i % 250)],
                            "effect": if i % 2 == 0 { "auto_reject" } else { "auto_approve" },
                        })
                    })
                    .collect();
                (json!({ "rules": rules }), "pending")
            }
            Self::AutoApprove => (
                json!({ "rules": [
                    { "kind": "claim", "services": [SERVICE], "effect": "auto_approve" },
                ]}),
                "approved",
            ),
        }
    }
}

/// One pre-signed submission.
#[derive(Debug)]
struct Presigned {
    created: i64,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

/// The pool of signed submissions the connections take from.
#[derive(Debug)]
pub struct ClaimsLoad {
    /// The owner's session (`mail` adds its channels with it).
    pub session: String,
    url: String,
    api_key: String,
    pool: Vec<Presigned>,
    next: AtomicUsize,
    /// Signing one request on one core, and the pool's wall time.
    pub per_request: Duration,
    pub presign_wall: Duration,
}

impl ClaimsLoad {
    /// The next submission, or an error once the pool is used up (or too old).
    pub fn request(&self, client: &Client) -> Result<RequestBuilder, String> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = self
            .pool
            .get(index)
            .ok_or_else(|| "the pre-signed claims are used up (a longer run needs --duration shorter or a bigger pool)".to_owned())?;
        if unix_now() - entry.created > MAX_AGE_S {
            return Err("the pre-signed claims are too old".to_owned());
        }
        let mut request = client
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .header("content-type", "application/json")
            .header(BINDING, "namespace-only");
        for (name, value) in &entry.headers {
            request = request.header(name.clone(), value.clone());
        }
        Ok(request.body(entry.body.clone()))
    }

    pub fn presigned(&self) -> usize {
        self.pool.len()
    }
}

/// How many to sign for a run of `run` (warmup included).
pub fn pool_size(run: Duration) -> usize {
    let requests = run.as_secs_f64() * PRESIGN_RATE as f64;
    (requests.ceil() as usize).min(MAX_PRESIGNED)
}

/// Sets the scenario up over the API and signs `count` submissions; one of them, sent now,
/// must come back `201` with the status the policy gives.
pub async fn prepare(
    target: &Target,
    namespace: &str,
    policy: Policy,
    count: usize,
) -> Result<ClaimsLoad> {
    let api = Api::new(&target.base)?;
    let token = api.signup(namespace).await.with_context(|| {
        format!("signing up the owner of `{namespace}` (a fresh database needs a new --namespace)")
    })?;
    let service_id = api
        .create_service(&token, SERVICE, "assent-bench claims")
        .await?;
    let key = api
        .post(
            &format!("/v1/services/{service_id}/keys"),
            Some(&token),
            json!({"name": "assent-bench claims"}),
            StatusCode::CREATED,
        )
        .await?;
    let api_key = string_at(&key, "/key")?;
    let (body, expected) = policy.setup();
    let saved = api
        .expect(
            "PUT /v1/policies",
            api.client
                .put(api.url("/v1/policies"))
                .bearer_auth(&token)
                .json(&body),
            StatusCode::OK,
        )
        .await?;
    let rules = saved["rules"].as_array().map_or(0, Vec::len);
    eprintln!("claims: the owner's policy has {rules} rules");

    let agent = Arc::new(Agent::new(namespace));
    let url = api.url("/v1/claims");
    let job = {
        let (agent, url, namespace) = (Arc::clone(&agent), url.clone(), namespace.to_owned());
        tokio::task::spawn_blocking(move || presign(&agent, &url, &namespace, count + 1))
    };
    let (mut pool, per_request, presign_wall) =
        job.await.context("the pre-signing task failed")??;
    let first = pool.pop().ok_or_else(|| anyhow!("nothing was signed"))?;
    let load = ClaimsLoad {
        session: token,
        url,
        api_key,
        pool: vec![first],
        next: AtomicUsize::new(0),
        per_request,
        presign_wall,
    };
    let checked = api
        .expect(
            "POST /v1/claims",
            load.request(&api.client).map_err(|e| anyhow!(e))?,
            StatusCode::CREATED,
        )
        .await?;
    if checked["status"] != expected {
        bail!("the first claim is not {expected}: {checked}");
    }
    Ok(ClaimsLoad {
        pool,
        next: AtomicUsize::new(0),
        ..load
    })
}

/// Signs `count` submissions, each for a new agent key, on every core.
fn presign(
    agent: &Agent,
    url: &str,
    namespace: &str,
    count: usize,
) -> Result<(Vec<Presigned>, Duration, Duration)> {
    let threads = thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(count.max(1));
    let chunk = count.div_ceil(threads);
    let started = Instant::now();
    let prefix = assent_auth::random::id("");
    let parts: Vec<Result<(Vec<Presigned>, Duration)>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk)..((t + 1) * chunk).min(count);
                let prefix = &prefix;
                scope.spawn(move || {
                    let started = Instant::now();
                    let signed = range
                        .map(|i| sign_one(agent, url, namespace, &format!("{prefix}-{i:x}")))
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
    Ok((pool, per_request, wall))
}

/// One submission for a fresh agent key.
fn sign_one(agent: &Agent, url: &str, namespace: &str, nonce: &str) -> Result<Presigned> {
    let key = AgentKey::from_seed(&assent_auth::random::bytes::<32>());
    let body = json!({
        "namespace": namespace,
        "public_key": key.public_key(),
        "service": SERVICE,
        "nonce": format!("body-{nonce}"),
        "agent_name": "bench agent",
    })
    .to_string()
    .into_bytes();
    let created = unix_now();
    let headers = agent
        .sign("POST", url, &body, created, nonce)?
        .into_iter()
        .map(|(name, value)| {
            Ok((
                HeaderName::try_from(name).context("a profile header name")?,
                HeaderValue::try_from(value).context("a profile header value")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Presigned {
        created,
        headers,
        body,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_are_what_the_scenarios_say() {
        let (none, status) = Policy::None.setup();
        assert_eq!(
            (none["rules"].as_array().map(Vec::len), status),
            (Some(0), "pending")
        );
        let (rules, status) = Policy::Rules.setup();
        assert_eq!(
            (rules["rules"].as_array().map(Vec::len), status),
            (Some(RULES), "pending")
        );
        let (auto, status) = Policy::AutoApprove.setup();
        assert_eq!(auto["rules"][0]["services"], json!([SERVICE]));
        assert_eq!(status, "approved");
    }

    #[test]
    fn each_submission_names_its_own_key_and_nonce() {
        let agent = Agent::new("bench");
        let url = "http://127.0.0.1:8080/v1/claims";
        let (pool, per_request, _) = presign(&agent, url, "bench", 5).expect("signs");
        assert_eq!(pool.len(), 5);
        assert!(per_request > Duration::ZERO);
        let bodies: std::collections::HashSet<Vec<u8>> =
            pool.iter().map(|p| p.body.clone()).collect();
        assert_eq!(bodies.len(), 5);
        assert!(pool[0].headers.iter().any(|(n, _)| n == "content-digest"));
        assert_eq!(pool_size(Duration::from_secs(4)), 12_000);
        assert_eq!(pool_size(Duration::from_secs(3600)), MAX_PRESIGNED);
    }
}
