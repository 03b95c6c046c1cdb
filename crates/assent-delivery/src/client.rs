//! The SSRF-safe HTTP client webhook deliveries go through (`docs/webhooks.md`, "Outbound safety").
//!
//! At every attempt the target host is resolved by [`VettingResolver`], every resolved address
//! is vetted with [`assent_core::outbound::is_public_ip`], and reqwest connects to exactly the
//! vetted addresses (the resolver hands them over; there is no second lookup). A name with
//! any non-public answer is refused as a whole, even if it also has public answers. IP-literal
//! URLs never reach a resolver, so [`SafeClient::post`] checks them itself, together with the
//! scheme (https only) and the absence of credentials. Redirects are never followed and
//! proxies are never used. A connection, made to a vetted address, is kept idle for up to
//! [`IDLE_CONNECTION`] and reused by the next attempts to the same origin: reuse reaches only
//! an address that was vetted, and saves a TCP (and TLS) handshake per delivery, which was
//! about a tenth of the engine's CPU at load. A name whose answers change is resolved and
//! vetted again once its idle connections close.
//!
//! [`WebhookUrlPolicy::allow_private`] is the development switch: plain http and loopback,
//! private or otherwise non-public targets are then allowed.
//!
//! An attempt comes back as an [`Attempt`]: a 2xx, or a typed [`Failure`] saying what went
//! wrong on the wire. Whether that is worth another attempt is not the client's to say; the
//! rules in [`assent_core::delivery`] decide.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use assent_core::delivery::{Attempt, Delivered, Failure, Refusal};
use assent_core::outbound::is_public_ip;
use assent_core::{Timestamp, WebhookUrlPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use tokio::time::Instant;
use url::{Host, Url};

/// How many bytes of a response body are kept for the delivery log.
pub const MAX_EXCERPT: usize = 1024;

/// How long an idle connection to an endpoint is kept for the next attempt.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(15);

/// The `User-Agent` of every webhook request.
const USER_AGENT: &str = concat!("assent-webhooks/", env!("CARGO_PKG_VERSION"));

/// Building the underlying HTTP client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The attempt timeout must be longer than zero.
    #[error("the webhook timeout must be longer than zero")]
    ZeroTimeout,
    /// reqwest could not build its client (for instance, no TLS backend could be set up).
    #[error("could not build the webhook HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// An HTTP client that only talks to vetted targets. Cheap to clone (the connection machinery
/// is shared).
#[derive(Debug, Clone)]
pub struct SafeClient {
    http: reqwest::Client,
    policy: WebhookUrlPolicy,
    timeout: Duration,
}

impl SafeClient {
    /// Builds the client. `timeout` bounds the whole attempt: DNS, connect, TLS, sending,
    /// waiting for the response headers and reading the body excerpt.
    pub fn new(policy: WebhookUrlPolicy, timeout: Duration) -> Result<Self, ClientError> {
        if timeout.is_zero() {
            return Err(ClientError::ZeroTimeout);
        }
        let http = reqwest::Client::builder()
            .dns_resolver(VettingResolver { policy })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            // A pooled connection skips resolving, but it was made to a vetted address.
            .pool_idle_timeout(IDLE_CONNECTION)
            .build()?;
        Ok(Self {
            http,
            policy,
            timeout,
        })
    }

    /// POSTs `body` to `url` with `headers` (name, value); the caller sets `Content-Type` in
    /// `headers`. Never fails: everything that went wrong is the attempt's [`Failure`].
    /// Neither the body nor the headers are ever logged (they carry signatures).
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Attempt {
        let attempted_at = Timestamp::now();
        let started = Instant::now();
        let result = self.send(url, headers, body, started + self.timeout).await;
        Attempt {
            attempted_at,
            duration: started.elapsed(),
            result,
        }
    }

    async fn send(
        &self,
        raw_url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Delivered, Failure> {
        let url = check_target(raw_url, self.policy)?;
        let header_map = build_headers(headers)?;
        let host = url.host_str().unwrap_or_default().to_owned();

        let request = self.http.post(url).headers(header_map).body(body).send();
        let mut response = match tokio::time::timeout_at(deadline, request).await {
            Err(_elapsed) => {
                return Err(Failure::Timeout {
                    after: self.timeout,
                });
            }
            Ok(Err(err)) => return Err(describe_error(&err, self.timeout)),
            Ok(Ok(response)) => response,
        };

        let status = response.status().as_u16();
        tracing::debug!(host = %host, status, "webhook response");
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));

        // Read at most MAX_EXCERPT bytes; whatever goes wrong while reading (including running
        // out of time) keeps what has arrived: the status is what counts.
        let mut excerpt = Vec::new();
        while excerpt.len() < MAX_EXCERPT {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    let room = MAX_EXCERPT - excerpt.len();
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
            }
        }
        answered(
            status,
            retry_after,
            String::from_utf8_lossy(&excerpt).into_owned(),
        )
    }
}

/// A response: any 2xx is delivered; every other status (3xx included, redirects are not
/// followed) is a [`Failure::Status`] with its `Retry-After`.
fn answered(
    status: u16,
    retry_after: Option<Duration>,
    response_excerpt: String,
) -> Result<Delivered, Failure> {
    if (200..=299).contains(&status) {
        Ok(Delivered {
            status,
            response_excerpt,
        })
    } else {
        Err(Failure::Status {
            status,
            retry_after,
            response_excerpt,
        })
    }
}

/// The text checks made before any connection: the URL parses, the scheme is https (or http
/// with `allow_private`), there are no credentials, there is a host, and an IP-literal host is
/// public (IP literals never go through the resolver).
fn check_target(raw: &str, policy: WebhookUrlPolicy) -> Result<Url, Failure> {
    let url = Url::parse(raw).map_err(|_| Failure::InvalidUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return Err(Failure::Refused(Refusal::PlainHttp)),
        other => return Err(Failure::Refused(Refusal::Scheme(other.to_owned()))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Failure::Refused(Refusal::Credentials));
    }
    let literal = match url.host() {
        None => return Err(Failure::NoHost),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = literal
        && !policy.allow_private
        && !is_public_ip(ip)
    {
        return Err(Failure::Refused(Refusal::NotPublic(ip)));
    }
    Ok(url)
}

/// Converts the caller's headers; an invalid one is named (its value is never echoed).
fn build_headers(headers: &[(String, String)]) -> Result<HeaderMap, Failure> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::BadHeaderName { name: name.clone() })?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| Failure::BadHeaderValue { name: name.clone() })?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Vets the answer for `host`: `Err` when nothing resolved or when ANY address is not public
/// (unless `allow_private`). A mixed public/private answer is refused as a whole rather than
/// filtered. Duplicates are dropped, order kept.
fn vet(
    host: &str,
    addrs: Vec<SocketAddr>,
    policy: WebhookUrlPolicy,
) -> Result<Vec<SocketAddr>, Failure> {
    if addrs.is_empty() {
        return Err(Failure::Dns {
            host: host.to_owned(),
        });
    }
    if !policy.allow_private
        && let Some(bad) = addrs.iter().find(|addr| !is_public_ip(addr.ip()))
    {
        return Err(Failure::Refused(Refusal::ResolvesToNotPublic {
            host: host.to_owned(),
            address: bad.ip(),
        }));
    }
    let mut vetted: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !vetted.contains(&addr) {
            vetted.push(addr);
        }
    }
    Ok(vetted)
}

/// The resolver's verdict, carried through reqwest's error chain to [`describe_error`].
#[derive(Debug)]
struct VetError(Failure);

impl std::fmt::Display for VetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for VetError {}

/// Resolves with the system resolver and hands reqwest only vetted addresses.
#[derive(Debug, Clone, Copy)]
struct VettingResolver {
    policy: WebhookUrlPolicy,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(_) => Vec::new(),
            };
            match vet(&host, addrs, policy) {
                Ok(vetted) => Ok(Box::new(vetted.into_iter()) as Addrs),
                Err(reason) => Err(Box::new(VetError(reason)) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

/// What kept a request from producing a response.
fn describe_error(err: &reqwest::Error, timeout: Duration) -> Failure {
    let chain = || std::iter::successors(Some(err as &(dyn StdError + 'static)), |e| (*e).source());
    if let Some(verdict) = chain().find_map(|e| e.downcast_ref::<VetError>()) {
        return verdict.0.clone();
    }
    let timed_out = Failure::Timeout { after: timeout };
    if err.is_timeout() {
        return timed_out;
    }
    let io_kind = chain().find_map(|e| e.downcast_ref::<std::io::Error>().map(|io| io.kind()));
    if let Some(kind) = io_kind {
        use std::io::ErrorKind as K;
        let what = match kind {
            K::TimedOut => return timed_out,
            K::ConnectionRefused => Some("connection refused"),
            K::ConnectionReset => Some("connection reset"),
            K::ConnectionAborted => Some("connection aborted"),
            K::NetworkUnreachable => Some("network unreachable"),
            K::HostUnreachable => Some("host unreachable"),
            K::AddrNotAvailable => Some("address not available"),
            _ => None,
        };
        if let Some(what) = what {
            return Failure::Connect {
                reason: what.to_owned(),
            };
        }
    }
    // The innermost cause is the most specific (e.g. a TLS certificate problem).
    let reason = chain().last().map(|e| e.to_string()).unwrap_or_default();
    if err.is_connect() {
        Failure::Connect { reason }
    } else {
        Failure::Request { reason }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date, which counts only when it
/// is not in the past.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    httpdate::parse_http_date(value)
        .ok()?
        .duration_since(now)
        .ok()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const STRICT: WebhookUrlPolicy = WebhookUrlPolicy {
        allow_private: false,
    };
    const DEV: WebhookUrlPolicy = WebhookUrlPolicy {
        allow_private: true,
    };

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn vet_accepts_public_answers_and_dedups() {
        let addrs = vec![
            sa("93.184.216.34:0"),
            sa("[2606:4700::1]:0"),
            sa("93.184.216.34:0"),
        ];
        assert_eq!(
            vet("example.com", addrs, STRICT).unwrap(),
            vec![sa("93.184.216.34:0"), sa("[2606:4700::1]:0")]
        );
    }

    #[test]
    fn vet_refuses_a_mixed_answer_as_a_whole() {
        let addrs = vec![sa("93.184.216.34:0"), sa("10.1.2.3:0"), sa("8.8.8.8:0")];
        let err = vet("lovelace.dev", addrs, STRICT).unwrap_err();
        assert_eq!(
            err,
            Failure::Refused(Refusal::ResolvesToNotPublic {
                host: "lovelace.dev".into(),
                address: "10.1.2.3".parse().unwrap(),
            })
        );
        assert_eq!(
            err.to_string(),
            "refused: lovelace.dev resolves to 10.1.2.3, which is not a public address"
        );
    }

    #[test]
    fn vet_refuses_each_kind_of_non_public_address() {
        for bad in [
            "127.0.0.1:0",
            "[::1]:0",
            "[::ffff:127.0.0.1]:0",
            "169.254.169.254:0",
            "[64:ff9b::a00:1]:0",
            "100.64.0.1:0",
            "[fd00::1]:0",
            "0.0.0.0:0",
        ] {
            let err = vet("h.example", vec![sa("1.1.1.1:0"), sa(bad)], STRICT).unwrap_err();
            assert_eq!(
                err,
                Failure::Refused(Refusal::ResolvesToNotPublic {
                    host: "h.example".into(),
                    address: sa(bad).ip(),
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn vet_with_allow_private_passes_everything_through() {
        let addrs = vec![sa("127.0.0.1:0"), sa("93.184.216.34:0")];
        assert_eq!(vet("localhost", addrs.clone(), DEV).unwrap(), addrs);
    }

    #[test]
    fn vet_empty_answer_is_a_dns_failure() {
        for policy in [STRICT, DEV] {
            assert_eq!(
                vet("x.invalid", Vec::new(), policy)
                    .unwrap_err()
                    .to_string(),
                "DNS lookup failed for x.invalid"
            );
        }
    }

    #[test]
    fn target_checks() {
        let refused = |url: &str, policy| match check_target(url, policy) {
            Err(Failure::Refused(refusal)) => Some(refusal),
            _ => None,
        };
        assert!(check_target("https://example.com/hook", STRICT).is_ok());
        assert!(check_target("https://93.184.216.34/hook", STRICT).is_ok());
        assert_eq!(
            check_target("not a url", STRICT).unwrap_err(),
            Failure::InvalidUrl
        );
        assert_eq!(
            refused("http://example.com/", STRICT),
            Some(Refusal::PlainHttp)
        );
        assert!(check_target("http://example.com/", DEV).is_ok());
        assert_eq!(
            refused("ftp://example.com/", DEV),
            Some(Refusal::Scheme("ftp".into()))
        );
        assert_eq!(
            refused("https://u:p@example.com/", STRICT),
            Some(Refusal::Credentials)
        );
        assert_eq!(
            check_target("https://[::ffff:10.0.0.1]/", STRICT)
                .unwrap_err()
                .to_string(),
            "refused: ::ffff:10.0.0.1 is not a public address"
        );
        assert!(check_target("https://10.0.0.1/", DEV).is_ok());
    }

    #[test]
    fn bad_headers_are_named_not_echoed() {
        let err = build_headers(&[("X-Sig".into(), "secret\nvalue".into())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid request: bad value for header \"X-Sig\""
        );
        assert_eq!(
            build_headers(&[("bad name".into(), "v".into())]).unwrap_err(),
            Failure::BadHeaderName {
                name: "bad name".into()
            }
        );
        let ok = build_headers(&[("Content-Type".into(), "application/json".into())]).unwrap();
        assert_eq!(ok["content-type"], "application/json");
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:38 1994", now),
            Some(Duration::from_secs(1))
        );
        // In the past, garbage, negative, out of range.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:36 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("99999999999999999999999", now), None);
        assert_eq!(
            parse_retry_after("Sun, 31 Feb 2030 00:00:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 24:00:00 GMT", now),
            None
        );
        // httpdate checks the weekday too: a date that names the wrong day is no date.
        assert_eq!(
            parse_retry_after("Mon, 06 Nov 1994 08:50:37 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", UNIX_EPOCH),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn only_a_2xx_is_delivered() {
        for status in [200, 204, 299] {
            assert_eq!(
                answered(status, None, "ok".into()),
                Ok(Delivered {
                    status,
                    response_excerpt: "ok".into()
                })
            );
        }
        for status in [101, 199, 301, 302, 400, 404, 410, 429, 500, 503, 599, 600] {
            let retry_after = Some(Duration::from_secs(7));
            assert_eq!(
                answered(status, retry_after, "no".into()),
                Err(Failure::Status {
                    status,
                    retry_after,
                    response_excerpt: "no".into()
                }),
                "{status}"
            );
        }
    }

    #[test]
    fn zero_timeout_is_rejected() {
        assert!(matches!(
            SafeClient::new(STRICT, Duration::ZERO),
            Err(ClientError::ZeroTimeout)
        ));
    }
}
