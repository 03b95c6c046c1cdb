//! The `sigilum-rfc9421-v1` signed-request profile: the strict RFC 9421 subset that Sigilum
//! agents use, as `docs/signing.md` describes it.
//!
//! [`verify`] is pure: it takes what the HTTP layer saw and the clock, and either proves who
//! signed the request ([`VerifiedRequest`]) or says why not ([`SignatureError`], always a 401
//! with a `SIGNATURE_*` code, never a panic, whatever the input). Two checks stay with the
//! caller because they need the route or the database:
//! - the route bindings (403 `SIGNATURE_NAMESPACE_MISMATCH` / `SIGNATURE_KEY_MISMATCH`), against
//!   [`VerifiedRequest::namespace`] and [`VerifiedRequest::public_key`];
//! - nonce replay (409 `SIGNATURE_NONCE_REPLAY`): ([`VerifiedRequest::namespace`],
//!   [`VerifiedRequest::nonce`]) single-use for at least [`NONCE_TTL_SECONDS`].
//!
//! Where we differ from Sigilum's own server: `created` may be up to 30 s ahead (it allowed
//! none); malformed keys, signatures and certificates are 401s (it threw, giving a 500); an
//! expired certificate is refused, and the certificate's `did` and `keyId` must be the ones its
//! namespace and key imply (it checked neither); header values with control characters and
//! repeated profile headers are refused (they would make the signature base ambiguous).
//!
//! [`AgentKey`] is the client side (sign a request, mint the self-signed certificate), for
//! tests and tools.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The profile name, as in the conformance files.
pub const PROFILE: &str = "sigilum-rfc9421-v1";
/// Oldest accepted `created`, in seconds before now.
pub const MAX_AGE_SECONDS: i64 = 300;
/// Newest accepted `created`, in seconds after now: clock skew between agent and server.
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 30;
/// How long a nonce must stay single-use per namespace (longer than the whole valid window).
pub const NONCE_TTL_SECONDS: i64 = 600;

const LABEL: &str = "sig1";
const ALG: &str = "ed25519";
const KEY_PREFIX: &str = "ed25519:";
const DID_PREFIX: &str = "did:sigilum:";
/// Longest nonce accepted: the caller stores it (the SDKs send a 36-character UUID).
const MAX_NONCE_LEN: usize = 256;
/// Longest certificate header decoded (a real one is about 600 characters).
const MAX_CERT_LEN: usize = 16 * 1024;

const H_SIGNATURE_INPUT: &str = "signature-input";
const H_SIGNATURE: &str = "signature";
const H_NAMESPACE: &str = "sigilum-namespace";
const H_SUBJECT: &str = "sigilum-subject";
const H_AGENT_KEY: &str = "sigilum-agent-key";
const H_AGENT_CERT: &str = "sigilum-agent-cert";
const H_CONTENT_DIGEST: &str = "content-digest";

/// The signed components of a body-less request, in the only accepted order.
pub const COMPONENTS_WITHOUT_BODY: [&str; 6] = [
    "@method",
    "@target-uri",
    H_NAMESPACE,
    H_SUBJECT,
    H_AGENT_KEY,
    H_AGENT_CERT,
];
/// The signed components of a request with a body: `content-digest` after `@target-uri`.
pub const COMPONENTS_WITH_BODY: [&str; 7] = [
    "@method",
    "@target-uri",
    H_CONTENT_DIGEST,
    H_NAMESPACE,
    H_SUBJECT,
    H_AGENT_KEY,
    H_AGENT_CERT,
];

/// What the verifier needs from the HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// As received, any case.
    pub method: &'a str,
    /// The absolute public URL the client used (`scheme://host[:port]/path?query`): behind a
    /// proxy, rebuilt from the public scheme, host and port.
    pub target_uri: &'a str,
    /// Name (any case) and value, as received.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// What a verified request proves: the holder of `public_key` signed this method, URL, body
/// and these headers at `created`, under a well-formed self-signed certificate for `namespace`.
/// The certificate is self-signed, so this is no proof of authority over `namespace`: that is
/// what the route bindings and the claims are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The namespace bound by the certificate (equal to the `sigilum-namespace` header).
    pub namespace: String,
    pub subject: String,
    /// `ed25519:<base64>`, as sent.
    pub public_key: String,
    pub key_id: String,
    pub nonce: String,
    pub created: i64,
    /// The key as a `did:key` (`did:key:z6Mk…`).
    pub agent_key_did: String,
}

/// Why a certificate was refused (all `SIGNATURE_CERT_INVALID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    Undecodable,
    UnsupportedVersion,
    UnsupportedProofAlgorithm,
    MalformedProof,
    BadProof,
    ControlCharacters,
    KeyMismatch,
    NamespaceMismatch,
    DidMismatch,
    KeyIdMismatch,
    SignatureKeyIdMismatch,
    InvalidExpiry,
    Expired,
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Undecodable => "not base64url (unpadded) of a JSON certificate",
            Self::UnsupportedVersion => "version must be 1",
            Self::UnsupportedProofAlgorithm => "proof alg must be ed25519",
            Self::MalformedProof => "proof sig is not unpadded base64url of 64 bytes",
            Self::BadProof => "proof does not verify with the agent key",
            Self::ControlCharacters => "a field contains control characters",
            Self::KeyMismatch => "publicKey does not match sigilum-agent-key",
            Self::NamespaceMismatch => "namespace does not match sigilum-namespace",
            Self::DidMismatch => "did is not did:sigilum:<namespace>",
            Self::KeyIdMismatch => "keyId is not <did>#ed25519-<key fingerprint>",
            Self::SignatureKeyIdMismatch => "keyId does not match the Signature-Input keyid",
            Self::InvalidExpiry => "expiresAt is not an RFC 3339 timestamp",
            Self::Expired => "certificate expired",
        })
    }
}

/// Why a signed request was refused. Every variant is a 401; [`SignatureError::code`] is the
/// stable wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing required signed-auth header {0}")]
    Missing(&'static str),
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    #[error("header {0} contains control characters")]
    InvalidHeaderValue(&'static str),
    #[error("invalid HTTP method")]
    InvalidMethod,
    #[error("invalid target URI")]
    InvalidTargetUri,
    #[error("invalid Signature-Input header format")]
    InvalidSignatureInput,
    #[error("unsupported signature algorithm (only ed25519)")]
    UnsupportedAlgorithm,
    #[error("invalid Signature header format")]
    InvalidSignatureHeader,
    #[error("invalid sigilum-agent-key (expected ed25519:<base64 of a 32-byte key>)")]
    InvalidAgentKey,
    #[error("signature expired (created more than 300 s ago)")]
    Expired,
    #[error("signature not yet valid (created more than 30 s in the future)")]
    Future,
    #[error("invalid sigilum-agent-cert: {0}")]
    Certificate(CertificateProblem),
    #[error("invalid signed components for this request")]
    ComponentsInvalid,
    #[error("content-digest does not match the body")]
    DigestMismatch,
    #[error("signature does not verify")]
    BadSignature,
}

impl SignatureError {
    /// The stable code of the error body.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "SIGNATURE_MISSING",
            Self::DuplicateHeader(_)
            | Self::InvalidHeaderValue(_)
            | Self::InvalidMethod
            | Self::InvalidTargetUri
            | Self::InvalidSignatureInput
            | Self::UnsupportedAlgorithm
            | Self::InvalidSignatureHeader
            | Self::InvalidAgentKey
            | Self::BadSignature => "SIGNATURE_INVALID",
            Self::Expired => "SIGNATURE_EXPIRED",
            Self::Future => "SIGNATURE_FUTURE",
            Self::Certificate(_) => "SIGNATURE_CERT_INVALID",
            Self::ComponentsInvalid => "SIGNATURE_COMPONENTS_INVALID",
            Self::DigestMismatch => "SIGNATURE_DIGEST_MISMATCH",
        }
    }

    /// Every code [`Self::code`] can answer.
    pub const CODES: &[&str] = &[
        "SIGNATURE_MISSING",
        "SIGNATURE_INVALID",
        "SIGNATURE_EXPIRED",
        "SIGNATURE_FUTURE",
        "SIGNATURE_CERT_INVALID",
        "SIGNATURE_COMPONENTS_INVALID",
        "SIGNATURE_DIGEST_MISMATCH",
    ];

    /// Always 401: nothing here is the server's fault.
    pub const fn status(&self) -> u16 {
        401
    }
}

/// Verifies a signed request at `now_unix`. Checks run cheapest first: headers, Signature-Input
/// and Signature, time window, the certificate's fields against the request, components,
/// digest; then the two Ed25519 checks (the request signature, then the certificate proof).
/// Only a request with several faults can get another code than from Sigilum's own server.
pub fn verify(
    request: &SignedRequest<'_>,
    now_unix: i64,
) -> Result<VerifiedRequest, SignatureError> {
    verify_cached(request, now_unix, &ProofCache::disabled())
}

/// [`verify`], skipping the certificate's Ed25519 proof check when `proofs` has seen this exact
/// certificate verify before. Everything else (decoding, agreement with the headers, key id,
/// expiry, the request's own signature) is checked on every request.
pub fn verify_cached(
    request: &SignedRequest<'_>,
    now_unix: i64,
    proofs: &ProofCache,
) -> Result<VerifiedRequest, SignatureError> {
    let parsed = Parsed::from_request(request)?;
    check_time(parsed.input.created, now_unix)?;
    let cert = check_certificate(&parsed, now_unix)?;
    let base = signature_base_of(request, &parsed)?;
    let signature = Signature::from_bytes(&parsed.signature);
    parsed
        .key
        .verify_strict(base.as_bytes(), &signature)
        .map_err(|_| SignatureError::BadSignature)?;
    let fingerprint = ProofCache::fingerprint(parsed.headers.agent_cert);
    if !proofs.contains(&fingerprint) {
        parsed
            .key
            .verify_strict(cert.proof_message.as_bytes(), &cert.proof)
            .map_err(|_| SignatureError::Certificate(CertificateProblem::BadProof))?;
        proofs.insert(fingerprint);
    }
    Ok(VerifiedRequest {
        namespace: parsed.headers.namespace.to_owned(),
        subject: parsed.headers.subject.to_owned(),
        public_key: parsed.headers.agent_key.to_owned(),
        key_id: cert.key_id,
        nonce: parsed.input.nonce.to_owned(),
        created: parsed.input.created,
        agent_key_did: did_key(parsed.key.as_bytes()),
    })
}

/// Certificates whose self-signed proof verified, by the SHA-256 of their exact text. A proof's
/// validity depends on nothing but those bytes (the certificate names its key, which must be
/// the request's key), so an agent's many requests need its proof checked once: one Ed25519
/// verification per request instead of two. Bounded: it starts over when full.
#[derive(Debug)]
pub struct ProofCache {
    verified: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    capacity: usize,
}

impl ProofCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: std::sync::Mutex::default(),
            capacity,
        }
    }

    /// A cache that remembers nothing: every proof is checked.
    pub fn disabled() -> Self {
        Self::new(0)
    }

    fn fingerprint(certificate: &str) -> [u8; 32] {
        Sha256::digest(certificate.as_bytes()).into()
    }

    fn contains(&self, fingerprint: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(fingerprint)
    }

    fn insert(&self, fingerprint: [u8; 32]) {
        if self.capacity == 0 {
            return;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.capacity {
            verified.clear();
        }
        verified.insert(fingerprint);
    }
}

/// The signature base the request's signer must have signed, from its own headers (which must
/// be present and well formed, with the right components). No time, certificate or signature
/// check: for tests and diagnostics.
pub fn signature_base(request: &SignedRequest<'_>) -> Result<String, SignatureError> {
    let parsed = Parsed::from_request(request)?;
    signature_base_of(request, &parsed)
}

/// `@target-uri`: the WHATWG serialisation of the URL without its fragment (default ports
/// dropped, percent-encoding normalised). Only absolute `http`/`https` URLs with a host.
pub fn normalize_target_uri(target_uri: &str) -> Result<String, SignatureError> {
    let mut url = url::Url::parse(target_uri).map_err(|_| SignatureError::InvalidTargetUri)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SignatureError::InvalidTargetUri);
    }
    url.set_fragment(None);
    Ok(url.into())
}

/// `@method`: the method lowercased (the profile's deliberate deviation from RFC 9421).
pub fn method_component(method: &str) -> Result<String, SignatureError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(SignatureError::InvalidMethod);
    }
    Ok(method.to_ascii_lowercase())
}

/// Whether the body is signed: a non-empty body, except on GET and HEAD, which are always
/// treated as body-less (the caller must not act on a GET or HEAD body: it is unsigned).
pub fn body_is_signed(method: &str, body: &[u8]) -> bool {
    !body.is_empty() && !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD")
}

/// The component list a request must sign, in order.
pub fn expected_components(method: &str, body: &[u8]) -> &'static [&'static str] {
    if body_is_signed(method, body) {
        &COMPONENTS_WITH_BODY
    } else {
        &COMPONENTS_WITHOUT_BODY
    }
}

/// `content-digest` for a body: `sha-256=:<base64 of SHA-256(body)>:`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// `did:key` of an Ed25519 public key: multicodec ed25519-pub (0xed 0x01) + the raw key, in
/// base58btc with the multibase prefix `z`.
pub fn did_key(public_key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&[0xed, 0x01]);
    bytes.extend_from_slice(public_key);
    format!("did:key:z{}", base58btc(&bytes))
}

/// The certificate `keyId` the SDKs derive: `did:sigilum:<ns>#ed25519-<first 8 bytes of
/// SHA-256(raw key) in hex>`.
pub fn key_id_for(namespace: &str, public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    format!(
        "{DID_PREFIX}{namespace}#ed25519-{}",
        hex::encode(&digest[..8])
    )
}

/// Base58 with the Bitcoin alphabet (what multibase `z` means). Each leading zero byte is a `1`.
pub fn base58btc(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Little-endian base-58 digits of the big number the remaining bytes spell.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(
        digits
            .iter()
            .rev()
            .map(|&d| char::from(ALPHABET[usize::from(d)])),
    );
    out
}

/// A parsed `Signature-Input` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput<'a> {
    pub components: Vec<&'a str>,
    pub created: i64,
    pub key_id: &'a str,
    pub nonce: &'a str,
}

/// Parses `sig1=(<components>);created=<int>;keyid="<k>";alg="ed25519";nonce="<n>"`: label
/// `sig1`, exactly these parameters in this order, components double-quoted and separated by
/// single spaces, `created` a positive integer without leading zeros, `alg` ed25519 in any
/// case. Any other shape is [`SignatureError::InvalidSignatureInput`].
pub fn parse_signature_input(value: &str) -> Result<SignatureInput<'_>, SignatureError> {
    use SignatureError::InvalidSignatureInput as Invalid;
    let rest = value
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=("))
        .ok_or(Invalid)?;
    let (list, rest) = rest.split_once(')').ok_or(Invalid)?;
    let components = parse_component_list(list)?;
    let rest = rest.strip_prefix(";created=").ok_or(Invalid)?;
    let (created, rest) = rest.split_once(';').ok_or(Invalid)?;
    let created = parse_created(created)?;
    let (key_id, rest) = quoted_parameter(rest, "keyid=")?;
    let (alg, rest) = quoted_parameter(rest.strip_prefix(';').ok_or(Invalid)?, "alg=")?;
    let (nonce, rest) = quoted_parameter(rest.strip_prefix(';').ok_or(Invalid)?, "nonce=")?;
    if !rest.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(Invalid);
    }
    if !alg.eq_ignore_ascii_case(ALG) {
        return Err(SignatureError::UnsupportedAlgorithm);
    }
    Ok(SignatureInput {
        components,
        created,
        key_id,
        nonce,
    })
}

/// `"a" "b" "c"`: names quoted and non-empty, single spaces between. An empty list parses
/// (and is then refused as the wrong set of components).
fn parse_component_list(list: &str) -> Result<Vec<&str>, SignatureError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(' ')
        .map(|item| {
            item.strip_prefix('"')
                .and_then(|i| i.strip_suffix('"'))
                .filter(|name| {
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'(' | b')'))
                })
                .ok_or(SignatureError::InvalidSignatureInput)
        })
        .collect()
}

/// A positive decimal integer, no sign and no leading zero (so that it prints back the same
/// in `@signature-params`), small enough for any sane clock.
fn parse_created(digits: &str) -> Result<i64, SignatureError> {
    let well_formed = (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !well_formed {
        return Err(SignatureError::InvalidSignatureInput);
    }
    digits
        .parse()
        .map_err(|_| SignatureError::InvalidSignatureInput)
}

/// `name="value"` at the start of `input`: the value non-empty, without `"` or control
/// characters. Returns the value and what follows the closing quote.
fn quoted_parameter<'a>(input: &'a str, name: &str) -> Result<(&'a str, &'a str), SignatureError> {
    let rest = input
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('"'))
        .ok_or(SignatureError::InvalidSignatureInput)?;
    let (value, rest) = rest
        .split_once('"')
        .ok_or(SignatureError::InvalidSignatureInput)?;
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(SignatureError::InvalidSignatureInput);
    }
    Ok((value, rest))
}

/// Parses `sig1=:<standard base64 of 64 bytes>:`.
pub fn parse_signature(value: &str) -> Result<[u8; 64], SignatureError> {
    value
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=:"))
        .and_then(|r| r.strip_suffix(':'))
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or(SignatureError::InvalidSignatureHeader)
}

/// Parses `ed25519:<standard padded base64 of 32 bytes>`: the raw key, which is a valid
/// Ed25519 point. (Padded, canonical base64 has one spelling per key, so two keys are the same
/// exactly when their header strings are.)
pub fn parse_agent_key(value: &str) -> Result<[u8; 32], SignatureError> {
    decode_agent_key(value).map(|key| key.to_bytes())
}

fn decode_agent_key(value: &str) -> Result<VerifyingKey, SignatureError> {
    value
        .strip_prefix(KEY_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|raw| VerifyingKey::from_bytes(&raw).ok())
        .ok_or(SignatureError::InvalidAgentKey)
}

/// The profile's headers, trimmed.
#[derive(Debug)]
struct ProfileHeaders<'a> {
    signature_input: &'a str,
    signature: &'a str,
    namespace: &'a str,
    subject: &'a str,
    agent_key: &'a str,
    agent_cert: &'a str,
    /// Present when the body is signed.
    content_digest: Option<&'a str>,
}

/// A request whose headers are all there and well formed (not yet checked against each other).
#[derive(Debug)]
struct Parsed<'a> {
    headers: ProfileHeaders<'a>,
    input: SignatureInput<'a>,
    signature: [u8; 64],
    key: VerifyingKey,
}

impl<'a> Parsed<'a> {
    fn from_request(request: &SignedRequest<'a>) -> Result<Self, SignatureError> {
        let body_signed = body_is_signed(request.method, request.body);
        let headers = ProfileHeaders {
            signature_input: required_header(request, H_SIGNATURE_INPUT)?,
            signature: required_header(request, H_SIGNATURE)?,
            namespace: required_header(request, H_NAMESPACE)?,
            subject: required_header(request, H_SUBJECT)?,
            agent_key: required_header(request, H_AGENT_KEY)?,
            agent_cert: required_header(request, H_AGENT_CERT)?,
            content_digest: if body_signed {
                Some(required_header(request, H_CONTENT_DIGEST)?)
            } else {
                None
            },
        };
        headers.check_values()?;
        let input = parse_signature_input(headers.signature_input)?;
        let signature = parse_signature(headers.signature)?;
        let key = decode_agent_key(headers.agent_key)?;
        Ok(Self {
            headers,
            input,
            signature,
            key,
        })
    }
}

impl ProfileHeaders<'_> {
    /// A line break in a value could forge extra lines of the signature base.
    fn check_values(&self) -> Result<(), SignatureError> {
        let values = [
            (H_SIGNATURE_INPUT, self.signature_input),
            (H_SIGNATURE, self.signature),
            (H_NAMESPACE, self.namespace),
            (H_SUBJECT, self.subject),
            (H_AGENT_KEY, self.agent_key),
            (H_AGENT_CERT, self.agent_cert),
            (H_CONTENT_DIGEST, self.content_digest.unwrap_or_default()),
        ];
        match values
            .iter()
            .find(|(_, value)| value.chars().any(|c| c.is_control() && c != '\t'))
        {
            Some((name, _)) => Err(SignatureError::InvalidHeaderValue(name)),
            None => Ok(()),
        }
    }
}

/// A header that must be present once and non-empty; its value trimmed of HTTP whitespace.
fn required_header<'a>(
    request: &SignedRequest<'a>,
    name: &'static str,
) -> Result<&'a str, SignatureError> {
    let mut found = None;
    for (header, value) in request.headers {
        if header.eq_ignore_ascii_case(name) {
            if found.is_some() {
                // Two values: the verifier and a handler could each pick a different one.
                return Err(SignatureError::DuplicateHeader(name));
            }
            found = Some(value.trim_matches([' ', '\t']));
        }
    }
    found
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing(name))
}

fn check_time(created: i64, now_unix: i64) -> Result<(), SignatureError> {
    let age = i128::from(now_unix) - i128::from(created);
    if age > i128::from(MAX_AGE_SECONDS) {
        Err(SignatureError::Expired)
    } else if age < -i128::from(MAX_FUTURE_SKEW_SECONDS) {
        Err(SignatureError::Future)
    } else {
        Ok(())
    }
}

/// The certificate JSON (§6.4). Unknown fields (the fixture's `issuedBy`) are ignored.
#[derive(serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Certificate {
    version: u64,
    namespace: String,
    did: String,
    key_id: String,
    public_key: String,
    issued_at: String,
    #[serde(default)]
    expires_at: Option<String>,
    proof: Proof,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Proof {
    alg: String,
    sig: String,
}

/// The seven lines the certificate proof signs.
fn certificate_proof_message(
    namespace: &str,
    did: &str,
    key_id: &str,
    public_key: &str,
    issued_at: &str,
    expires_at: Option<&str>,
) -> String {
    format!(
        "sigilum-certificate-v1\nnamespace:{namespace}\ndid:{did}\nkey-id:{key_id}\n\
         public-key:{public_key}\nissued-at:{issued_at}\nexpires-at:{}",
        expires_at.unwrap_or("")
    )
}

/// A certificate that agrees with the request, its proof still to verify (last, being the
/// costly part).
#[derive(Debug)]
struct AgreeingCertificate {
    key_id: String,
    /// The seven lines the proof signs.
    proof_message: String,
    proof: Signature,
}

/// Decodes the certificate and checks its fields against the request (no cryptography).
fn check_certificate(
    parsed: &Parsed<'_>,
    now_unix: i64,
) -> Result<AgreeingCertificate, SignatureError> {
    use CertificateProblem as P;
    let fail = |problem| Err(SignatureError::Certificate(problem));
    let encoded = parsed.headers.agent_cert;
    if encoded.len() > MAX_CERT_LEN {
        return fail(P::Undecodable);
    }
    let Some(cert) = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice::<Certificate>(&json).ok())
    else {
        return fail(P::Undecodable);
    };
    if cert.version != 1 {
        return fail(P::UnsupportedVersion);
    }
    if !cert.proof.alg.eq_ignore_ascii_case(ALG) {
        return fail(P::UnsupportedProofAlgorithm);
    }
    let Some(proof) = URL_SAFE_NO_PAD
        .decode(&cert.proof.sig)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
    else {
        return fail(P::MalformedProof);
    };
    let texts = [
        &cert.namespace,
        &cert.did,
        &cert.key_id,
        &cert.public_key,
        &cert.issued_at,
    ];
    let expires_at = cert.expires_at.as_deref().filter(|e| !e.is_empty());
    if texts.iter().any(|t| t.chars().any(char::is_control)) {
        return fail(P::ControlCharacters);
    }
    // Self-signed: the proof is by the agent key itself, so it must be the header's key.
    if cert.public_key != parsed.headers.agent_key {
        return fail(P::KeyMismatch);
    }
    if cert.namespace != parsed.headers.namespace {
        return fail(P::NamespaceMismatch);
    }
    if cert.did != format!("{DID_PREFIX}{}", cert.namespace) {
        return fail(P::DidMismatch);
    }
    if cert.key_id != key_id_for(&cert.namespace, parsed.key.as_bytes()) {
        return fail(P::KeyIdMismatch);
    }
    if cert.key_id != parsed.input.key_id {
        return fail(P::SignatureKeyIdMismatch);
    }
    if let Some(expires_at) = expires_at {
        let Ok(expiry) =
            time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
        else {
            return fail(P::InvalidExpiry);
        };
        if i128::from(expiry.unix_timestamp()) <= i128::from(now_unix) {
            return fail(P::Expired);
        }
    }
    Ok(AgreeingCertificate {
        proof_message: certificate_proof_message(
            &cert.namespace,
            &cert.did,
            &cert.key_id,
            &cert.public_key,
            &cert.issued_at,
            expires_at,
        ),
        key_id: cert.key_id,
        proof: Signature::from_bytes(&proof),
    })
}

/// Checks the component list and the digest, then builds the base.
fn signature_base_of(
    request: &SignedRequest<'_>,
    parsed: &Parsed<'_>,
) -> Result<String, SignatureError> {
    let expected = expected_components(request.method, request.body);
    if parsed.input.components != expected {
        return Err(SignatureError::ComponentsInvalid);
    }
    if let Some(digest) = parsed.headers.content_digest
        && digest != content_digest(request.body)
    {
        return Err(SignatureError::DigestMismatch);
    }
    let base = BaseInput {
        method: &method_component(request.method)?,
        target_uri: &normalize_target_uri(request.target_uri)?,
        content_digest: parsed.headers.content_digest,
        namespace: parsed.headers.namespace,
        subject: parsed.headers.subject,
        agent_key: parsed.headers.agent_key,
        agent_cert: parsed.headers.agent_cert,
        created: parsed.input.created,
        key_id: parsed.input.key_id,
        nonce: parsed.input.nonce,
    };
    Ok(base.build())
}

/// Everything that goes into a signature base, already normalised.
struct BaseInput<'a> {
    method: &'a str,
    target_uri: &'a str,
    content_digest: Option<&'a str>,
    namespace: &'a str,
    subject: &'a str,
    agent_key: &'a str,
    agent_cert: &'a str,
    created: i64,
    key_id: &'a str,
    nonce: &'a str,
}

impl BaseInput<'_> {
    /// One `"<name>": <value>` line per component, then `"@signature-params"`, joined by `\n`.
    fn build(&self) -> String {
        let components: &[&str] = match self.content_digest {
            Some(_) => &COMPONENTS_WITH_BODY,
            None => &COMPONENTS_WITHOUT_BODY,
        };
        let mut lines: Vec<String> = components
            .iter()
            .map(|&name| {
                let value = match name {
                    "@method" => self.method,
                    "@target-uri" => self.target_uri,
                    H_CONTENT_DIGEST => self.content_digest.unwrap_or_default(),
                    H_NAMESPACE => self.namespace,
                    H_SUBJECT => self.subject,
                    H_AGENT_KEY => self.agent_key,
                    _ => self.agent_cert,
                };
                format!("\"{name}\": {value}")
            })
            .collect();
        lines.push(format!(
            "\"@signature-params\": {}",
            self.signature_params(components)
        ));
        lines.join("\n")
    }

    /// The Signature-Input value without its label; `alg` always lowercase, as Sigilum's
    /// server rebuilds it.
    fn signature_params(&self, components: &[&str]) -> String {
        let quoted: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
        format!(
            "({});created={};keyid=\"{}\";alg=\"{ALG}\";nonce=\"{}\"",
            quoted.join(" "),
            self.created,
            self.key_id,
            self.nonce
        )
    }
}

/// An agent's Ed25519 key: the client side of the profile (sign requests, mint the
/// self-signed certificate). For tests and tools; the server only verifies. `Debug` shows the
/// public key only.
pub struct AgentKey {
    signing: SigningKey,
}

/// A request for [`AgentKey::sign`].
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    pub target_uri: &'a str,
    pub body: &'a [u8],
    pub namespace: &'a str,
    pub subject: &'a str,
    /// The `sigilum-agent-cert` value, as [`AgentKey::certificate`] makes it.
    pub certificate: &'a str,
    pub created: i64,
    pub nonce: &'a str,
}

impl AgentKey {
    /// From the 32-byte seed (the identity record's `privateKey`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// `ed25519:<base64>`.
    pub fn public_key(&self) -> String {
        format!(
            "{KEY_PREFIX}{}",
            STANDARD.encode(self.signing.verifying_key().as_bytes())
        )
    }

    pub fn did_key(&self) -> String {
        did_key(self.signing.verifying_key().as_bytes())
    }

    pub fn key_id(&self, namespace: &str) -> String {
        key_id_for(namespace, self.signing.verifying_key().as_bytes())
    }

    /// The `sigilum-agent-cert` header value: the self-signed certificate as compact JSON in
    /// the fixture's key order, base64url without padding.
    pub fn certificate(
        &self,
        namespace: &str,
        issued_at: &str,
        expires_at: Option<&str>,
    ) -> String {
        let did = format!("{DID_PREFIX}{namespace}");
        let key_id = self.key_id(namespace);
        let public_key = self.public_key();
        let message =
            certificate_proof_message(namespace, &did, &key_id, &public_key, issued_at, expires_at);
        let proof = self.signing.sign(message.as_bytes()).to_bytes();
        let cert = Certificate {
            version: 1,
            namespace: namespace.to_owned(),
            did,
            key_id,
            public_key,
            issued_at: issued_at.to_owned(),
            expires_at: expires_at.map(str::to_owned),
            proof: Proof {
                alg: ALG.to_owned(),
                sig: URL_SAFE_NO_PAD.encode(proof),
            },
        };
        // Serialising plain strings and integers cannot fail.
        let json = serde_json::to_vec(&cert).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// The profile headers for a request (lowercase names): `signature-input`, `signature`,
    /// the four `sigilum-*` headers, and `content-digest` when the body is signed.
    pub fn sign(
        &self,
        request: &RequestToSign<'_>,
    ) -> Result<Vec<(String, String)>, SignatureError> {
        let digest =
            body_is_signed(request.method, request.body).then(|| content_digest(request.body));
        let public_key = self.public_key();
        let key_id = self.key_id(request.namespace);
        let base = BaseInput {
            method: &method_component(request.method)?,
            target_uri: &normalize_target_uri(request.target_uri)?,
            content_digest: digest.as_deref(),
            namespace: request.namespace,
            subject: request.subject,
            agent_key: &public_key,
            agent_cert: request.certificate,
            created: request.created,
            key_id: &key_id,
            nonce: request.nonce,
        };
        let components: &[&str] = match digest {
            Some(_) => &COMPONENTS_WITH_BODY,
            None => &COMPONENTS_WITHOUT_BODY,
        };
        let signature = self.signing.sign(base.build().as_bytes()).to_bytes();
        let mut headers = vec![
            (
                H_SIGNATURE_INPUT.to_owned(),
                format!("{LABEL}={}", base.signature_params(components)),
            ),
            (
                H_SIGNATURE.to_owned(),
                format!("{LABEL}=:{}:", STANDARD.encode(signature)),
            ),
            (H_NAMESPACE.to_owned(), request.namespace.to_owned()),
            (H_SUBJECT.to_owned(), request.subject.to_owned()),
            (H_AGENT_KEY.to_owned(), public_key.clone()),
            (H_AGENT_CERT.to_owned(), request.certificate.to_owned()),
        ];
        if let Some(digest) = digest {
            headers.push((H_CONTENT_DIGEST.to_owned(), digest));
        }
        Ok(headers)
    }
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKey")
            .field("public_key", &self.public_key())
            .field("seed", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_B64: &str = "ZMLKzZSCxP8QXOO1vlmejAvdFaesd3QC6JC9iCt8FfA=";
    const PUBLIC_KEY: &str = "ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=";
    const NAMESPACE: &str = "fixture-alice";
    const NOW: i64 = 1_700_000_000;
    const NONCE: &str = "123e4567-e89b-12d3-a456-426614174000";
    /// The fixture certificate header (`tests/conformance/sigilum-identity-record-v1.json`).
    const FIXTURE_CERT: &str = "eyJ2ZXJzaW9uIjoxLCJuYW1lc3BhY2UiOiJmaXh0dXJlLWFsaWNlIiwiZGlkIjoiZGlkOnNpZ2lsdW06Zml4dHVyZS1hbGljZSIsImtleUlkIjoiZGlkOnNpZ2lsdW06Zml4dHVyZS1hbGljZSNlZDI1NTE5LTk5ZmIwMGRjMTZlZTU1NWEiLCJwdWJsaWNLZXkiOiJlZDI1NTE5OkowN2RqL2NvNGRpQ21RWVRUUUdxNGFkaG5NS1llakhhekNZVVE3ZUJoMGs9IiwiaXNzdWVkQXQiOiIyMDI2LTAyLTIwVDE4OjA0OjI2WiIsImV4cGlyZXNBdCI6bnVsbCwicHJvb2YiOnsiYWxnIjoiZWQyNTUxOSIsInNpZyI6InZHcC1XTG1TcjBCV05jaTJsQmhjSk9SZzM5b3QtM1V1MWFhVkcyd0dFS0xJdEtfOTY0aEZhUnJWZDdESGZfMmUzeWtHcElhY29NOVE1Z3NfdFB5NkR3In19";
    const INPUT: &str = r#"sig1=("@method" "@target-uri" "sigilum-namespace" "sigilum-subject" "sigilum-agent-key" "sigilum-agent-cert");created=1700000000;keyid="did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a";alg="ed25519";nonce="123e4567-e89b-12d3-a456-426614174000""#;

    fn agent() -> AgentKey {
        let seed: [u8; 32] = STANDARD.decode(SEED_B64).unwrap().try_into().unwrap();
        AgentKey::from_seed(&seed)
    }

    fn check_cached(
        headers: &[(String, String)],
        now: i64,
        proofs: &ProofCache,
    ) -> Result<VerifiedRequest, SignatureError> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        verify_cached(
            &SignedRequest {
                method: "GET",
                target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
                headers: &headers,
                body: b"",
            },
            now,
            proofs,
        )
    }

    #[test]
    fn a_cached_proof_is_checked_once_and_everything_else_every_time() {
        let key = agent();
        let proofs = ProofCache::new(10);
        let headers = sign(&key, "GET", b"", FIXTURE_CERT);
        assert!(check_cached(&headers, NOW, &proofs).is_ok());
        assert_eq!(proofs.verified.lock().unwrap().len(), 1);
        assert!(check_cached(&headers, NOW, &proofs).is_ok(), "cached");

        // A certificate whose proof is forged is refused every time and never remembered.
        let mut cert: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(FIXTURE_CERT).unwrap()).unwrap();
        cert["proof"]["sig"] = serde_json::Value::from(URL_SAFE_NO_PAD.encode([7u8; 64]));
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cert).unwrap());
        let headers = sign(&key, "GET", b"", &forged);
        for _ in 0..2 {
            assert_eq!(
                check_cached(&headers, NOW, &proofs).unwrap_err().code(),
                "SIGNATURE_CERT_INVALID"
            );
        }
        assert_eq!(proofs.verified.lock().unwrap().len(), 1);

        // A certificate with an expiry is checked against the clock on every request.
        let expiring = key.certificate(
            NAMESPACE,
            "2023-11-14T00:00:00Z",
            Some("2023-11-15T00:00:00Z"),
        );
        let headers = sign(&key, "GET", b"", &expiring);
        assert!(check_cached(&headers, NOW, &proofs).is_ok());
        let day_later = NOW + 86_400;
        let mut stale = headers.clone();
        for (name, value) in &mut stale {
            if name == "signature-input" || name == "signature" {
                let resigned = key
                    .sign(&RequestToSign {
                        method: "GET",
                        target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
                        body: b"",
                        namespace: NAMESPACE,
                        subject: "fixture-alice",
                        certificate: &expiring,
                        created: day_later,
                        nonce: NONCE,
                    })
                    .unwrap();
                *value = resigned.iter().find(|(n, _)| n == name).unwrap().1.clone();
            }
        }
        assert_eq!(
            check_cached(&stale, day_later, &proofs).unwrap_err().code(),
            "SIGNATURE_CERT_INVALID",
            "expired though cached"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let proofs = ProofCache::new(2);
        for i in 0..5u8 {
            proofs.insert([i; 32]);
        }
        assert!(proofs.verified.lock().unwrap().len() <= 2);
        let disabled = ProofCache::disabled();
        disabled.insert([1; 32]);
        assert!(!disabled.contains(&[1; 32]));
    }

    fn sign(key: &AgentKey, method: &str, body: &[u8], cert: &str) -> Vec<(String, String)> {
        key.sign(&RequestToSign {
            method,
            target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
            body,
            namespace: NAMESPACE,
            subject: "fixture-alice",
            certificate: cert,
            created: NOW,
            nonce: NONCE,
        })
        .unwrap()
    }

    fn check(
        method: &str,
        body: &[u8],
        headers: &[(String, String)],
        now: i64,
    ) -> Result<VerifiedRequest, SignatureError> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        verify(
            &SignedRequest {
                method,
                target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
                headers: &headers,
                body,
            },
            now,
        )
    }

    fn set(headers: &mut [(String, String)], name: &str, value: &str) {
        let slot = headers.iter_mut().find(|(n, _)| n == name).unwrap();
        slot.1 = value.to_owned();
    }

    /// A certificate with arbitrary fields, properly self-signed by `key`.
    fn custom_cert(key: &AgentKey, edit: impl FnOnce(&mut Certificate)) -> String {
        let mut cert: Certificate =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(FIXTURE_CERT).unwrap()).unwrap();
        edit(&mut cert);
        let message = certificate_proof_message(
            &cert.namespace,
            &cert.did,
            &cert.key_id,
            &cert.public_key,
            &cert.issued_at,
            cert.expires_at.as_deref(),
        );
        cert.proof.sig = URL_SAFE_NO_PAD.encode(key.signing.sign(message.as_bytes()).to_bytes());
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cert).unwrap())
    }

    #[test]
    fn base58btc_matches_an_independent_encoder() {
        // Expected values from the Python `base58` package.
        assert_eq!(base58btc(b""), "");
        assert_eq!(base58btc(&[0]), "1");
        assert_eq!(base58btc(&[0, 0, 1]), "112");
        assert_eq!(base58btc(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(
            base58btc(&ascending),
            "1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE"
        );
        assert_eq!(
            base58btc(&[0xff; 32]),
            "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"
        );
    }

    #[test]
    fn did_key_and_key_id_of_the_fixture_key() {
        let key = agent();
        assert_eq!(key.public_key(), PUBLIC_KEY);
        let raw = key.signing.verifying_key().to_bytes();
        // Both checked with the Python `base58` package.
        assert_eq!(
            key.did_key(),
            "did:key:z6Mkh6hhFJ17n1XbofybGLNrr6pBFKj3Y3rYYGBbbcwzKMaY"
        );
        assert_eq!(
            base58btc(&raw),
            "3eSef3kgSU38hB8tamR211GBRkTC8AcBrFGfmLyyQ8oA"
        );
        assert_eq!(
            key.key_id(NAMESPACE),
            "did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a"
        );
    }

    #[test]
    fn minting_reproduces_the_fixture_certificate() {
        assert_eq!(
            agent().certificate(NAMESPACE, "2026-02-20T18:04:26Z", None),
            FIXTURE_CERT
        );
    }

    #[test]
    fn parses_the_profile_signature_input() {
        let input = parse_signature_input(INPUT).unwrap();
        assert_eq!(input.components, COMPONENTS_WITHOUT_BODY);
        assert_eq!(input.created, NOW);
        assert_eq!(
            input.key_id,
            "did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a"
        );
        assert_eq!(input.nonce, NONCE);
        let upper = INPUT.replace(r#"alg="ed25519""#, r#"alg="ED25519""#);
        assert!(
            parse_signature_input(&upper).is_ok(),
            "alg is case-insensitive"
        );
        assert_eq!(
            parse_signature_input(r#"sig1=();created=1;keyid="k";alg="ed25519";nonce="n""#)
                .unwrap()
                .components,
            Vec::<&str>::new()
        );
    }

    #[test]
    fn refuses_any_other_signature_input_shape() {
        use SignatureError::{InvalidSignatureInput as Invalid, UnsupportedAlgorithm};
        let keyid = r#"keyid="did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a""#;
        let cases: Vec<(String, SignatureError)> = vec![
            (INPUT.replacen("sig1=", "sig2=", 1), Invalid),
            (INPUT.replacen("sig1=", "", 1), Invalid),
            (INPUT.replacen("sig1=", "SIG1=", 1), Invalid),
            (
                INPUT.replace(r#"alg="ed25519""#, r#"alg="rsa-pss-sha512""#),
                UnsupportedAlgorithm,
            ),
            (INPUT.replace(r#"alg="ed25519""#, "alg=ed25519"), Invalid),
            (INPUT.replace("created=1700000000", "created=0"), Invalid),
            (
                INPUT.replace("created=1700000000", "created=-1700000000"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=01700000000"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=1700000000.5"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=99999999999999999999"),
                Invalid,
            ),
            (INPUT.replace("created=1700000000", "created="), Invalid),
            (
                INPUT.replace("created=1700000000", r#"created="1700000000""#),
                Invalid,
            ),
            (INPUT.replace(NONCE, ""), Invalid),
            (
                INPUT.replace(NONCE, &"n".repeat(MAX_NONCE_LEN + 1)),
                Invalid,
            ),
            (INPUT.replace(NONCE, "a\u{7}b"), Invalid),
            (
                INPUT.replace(&format!("nonce=\"{NONCE}\""), "nonce=\"abc"),
                Invalid,
            ),
            (format!("{INPUT};tag=\"x\""), Invalid),
            (format!("{INPUT} "), Invalid),
            (INPUT.replace(&format!(";{keyid}"), ""), Invalid),
            // The order the published docs show: created;nonce;alg;keyid.
            (
                format!(
                    r#"sig1=("@method");created=1700000000;nonce="{NONCE}";alg="ed25519";{keyid}"#
                ),
                Invalid,
            ),
            (INPUT.replace("\" \"", "\"  \""), Invalid),
            (INPUT.replace("\"@method\"", "@method"), Invalid),
            (INPUT.replace("\"@method\"", "\"\""), Invalid),
            (INPUT.replace("\"@method\"", "\"@method"), Invalid),
            (INPUT.replace(')', ""), Invalid),
            (String::new(), Invalid),
            ("sig1=".to_owned(), Invalid),
            ("sig1=(".to_owned(), Invalid),
            ("\"\"\"\"".to_owned(), Invalid),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_signature_input(&value), Err(expected), "{value}");
        }
    }

    #[test]
    fn parses_only_a_64_byte_sig1_signature() {
        let good = format!("sig1=:{}:", STANDARD.encode([7u8; 64]));
        assert_eq!(parse_signature(&good), Ok([7u8; 64]));
        let bad = [
            format!("sig1=:{}:", STANDARD.encode([7u8; 63])),
            format!("sig1=:{}:", STANDARD.encode([7u8; 65])),
            format!("sig2=:{}:", STANDARD.encode([7u8; 64])),
            format!("sig1={}", STANDARD.encode([7u8; 64])),
            format!("sig1=:{}", STANDARD.encode([7u8; 64])),
            format!(
                "sig1=:{}:",
                STANDARD.encode([7u8; 64]).trim_end_matches('=')
            ),
            format!("sig1=:{}:", URL_SAFE_NO_PAD.encode([0xfbu8; 64])),
            "sig1=::".to_owned(),
            "sig1=:!!!!:".to_owned(),
            String::new(),
        ];
        for value in bad {
            assert_eq!(
                parse_signature(&value),
                Err(SignatureError::InvalidSignatureHeader),
                "{value}"
            );
        }
    }

    #[test]
    fn parses_only_a_padded_32_byte_ed25519_key() {
        assert!(parse_agent_key(PUBLIC_KEY).is_ok());
        let bad = [
            PUBLIC_KEY.replace("ed25519:", ""),
            PUBLIC_KEY.replace("ed25519:", "ED25519:"),
            PUBLIC_KEY.trim_end_matches('=').to_owned(),
            format!("ed25519:{}", STANDARD.encode([1u8; 31])),
            format!("ed25519:{}", STANDARD.encode([1u8; 33])),
            "ed25519:".to_owned(),
            "ed25519:%%%%".to_owned(),
        ];
        for value in bad {
            assert_eq!(
                parse_agent_key(&value).err(),
                Some(SignatureError::InvalidAgentKey),
                "{value}"
            );
        }
    }

    #[test]
    fn normalises_target_uris() {
        let cases = [
            (
                "https://api.sigilum.local:443/v1/x#frag",
                "https://api.sigilum.local/v1/x",
            ),
            (
                "http://API.Sigilum.LOCAL:80/v1/x?a=%2F#",
                "http://api.sigilum.local/v1/x?a=%2F",
            ),
            ("https://h:8443/a/../b?q=1", "https://h:8443/b?q=1"),
            ("https://h", "https://h/"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_target_uri(input).unwrap(), expected);
        }
        for bad in [
            "",
            "/v1/x",
            "ftp://h/x",
            "mailto:a@b",
            "https://",
            "data:text/plain,x",
        ] {
            assert_eq!(
                normalize_target_uri(bad),
                Err(SignatureError::InvalidTargetUri),
                "{bad}"
            );
        }
    }

    #[test]
    fn method_and_components() {
        assert_eq!(method_component("PoSt").unwrap(), "post");
        assert_eq!(method_component(""), Err(SignatureError::InvalidMethod));
        assert_eq!(
            method_component("GET /"),
            Err(SignatureError::InvalidMethod)
        );
        assert_eq!(expected_components("POST", b"x"), COMPONENTS_WITH_BODY);
        assert_eq!(expected_components("POST", b""), COMPONENTS_WITHOUT_BODY);
        assert_eq!(expected_components("get", b"x"), COMPONENTS_WITHOUT_BODY);
        assert_eq!(expected_components("Head", b"x"), COMPONENTS_WITHOUT_BODY);
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn a_signed_request_verifies_and_reports_its_signer() {
        let key = agent();
        let headers = sign(&key, "GET", b"", FIXTURE_CERT);
        let verified = check("GET", b"", &headers, NOW).unwrap();
        assert_eq!(
            verified,
            VerifiedRequest {
                namespace: NAMESPACE.to_owned(),
                subject: "fixture-alice".to_owned(),
                public_key: PUBLIC_KEY.to_owned(),
                key_id: "did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a".to_owned(),
                nonce: NONCE.to_owned(),
                created: NOW,
                agent_key_did: "did:key:z6Mkh6hhFJ17n1XbofybGLNrr6pBFKj3Y3rYYGBbbcwzKMaY"
                    .to_owned(),
            }
        );
        // Header names in any case, values padded with HTTP whitespace.
        let shouted: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_uppercase(), format!(" {v}\t")))
            .collect();
        assert!(check("get", b"", &shouted, NOW).is_ok());
        // GET is body-less whatever the body.
        assert!(check("GET", b"ignored", &headers, NOW).is_ok());
        let with_body = sign(&key, "POST", b"{}", FIXTURE_CERT);
        assert!(check("POST", b"{}", &with_body, NOW).is_ok());
    }

    #[test]
    fn header_problems() {
        let key = agent();
        let headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        for name in [
            H_SIGNATURE_INPUT,
            H_SIGNATURE,
            H_NAMESPACE,
            H_SUBJECT,
            H_AGENT_KEY,
            H_AGENT_CERT,
            H_CONTENT_DIGEST,
        ] {
            let without: Vec<_> = headers.iter().filter(|(n, _)| n != name).cloned().collect();
            assert_eq!(
                check("POST", b"{}", &without, NOW),
                Err(SignatureError::Missing(name))
            );
            let mut empty = headers.clone();
            set(&mut empty, name, "  ");
            assert_eq!(
                check("POST", b"{}", &empty, NOW),
                Err(SignatureError::Missing(name))
            );
            let mut twice = headers.clone();
            twice.extend(headers.iter().filter(|(n, _)| n == name).cloned());
            assert_eq!(
                check("POST", b"{}", &twice, NOW),
                Err(SignatureError::DuplicateHeader(name))
            );
        }
        let mut injected = headers.clone();
        set(
            &mut injected,
            H_SUBJECT,
            "x\n\"sigilum-subject\": fixture-alice",
        );
        assert_eq!(
            check("POST", b"{}", &injected, NOW),
            Err(SignatureError::InvalidHeaderValue(H_SUBJECT))
        );
        // A body-less request needs no content-digest.
        let get = sign(&key, "GET", b"", FIXTURE_CERT);
        assert!(get.iter().all(|(n, _)| n != H_CONTENT_DIGEST));
    }

    #[test]
    fn time_window_edges() {
        let headers = sign(&agent(), "GET", b"", FIXTURE_CERT);
        let at = |now| check("GET", b"", &headers, now).map(|_| ());
        assert_eq!(at(NOW + 300), Ok(()));
        assert_eq!(at(NOW + 301), Err(SignatureError::Expired));
        assert_eq!(at(NOW - 30), Ok(()));
        assert_eq!(at(NOW - 31), Err(SignatureError::Future));
        assert_eq!(at(i64::MAX), Err(SignatureError::Expired));
        assert_eq!(at(i64::MIN), Err(SignatureError::Future));
    }

    #[test]
    fn certificate_problems() {
        use CertificateProblem as P;
        let key = agent();
        let other = AgentKey::from_seed(&[9; 32]);
        let cert_err = |cert: &str, now| {
            let headers = sign(&key, "GET", b"", cert);
            check("GET", b"", &headers, now).err()
        };
        let expect = |problem| Some(SignatureError::Certificate(problem));
        let year_2030 = 1_893_456_000;

        let expiring = key.certificate(
            NAMESPACE,
            "2026-02-20T18:04:26Z",
            Some("2030-01-01T00:00:00.000Z"),
        );
        assert_eq!(cert_err(&expiring, NOW), None);
        // Signed at `now` too, so that only the certificate's expiry is in play.
        let signed_at = |now| {
            let headers = key
                .sign(&RequestToSign {
                    method: "GET",
                    target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
                    body: b"",
                    namespace: NAMESPACE,
                    subject: "fixture-alice",
                    certificate: &expiring,
                    created: now,
                    nonce: NONCE,
                })
                .unwrap();
            check("GET", b"", &headers, now).err()
        };
        assert_eq!(signed_at(year_2030 - 1), None);
        assert_eq!(signed_at(year_2030), expect(P::Expired));
        let bad_expiry = key.certificate(NAMESPACE, "2026-02-20T18:04:26Z", Some("next year"));
        assert_eq!(cert_err(&bad_expiry, NOW), expect(P::InvalidExpiry));
        let empty_expiry = key.certificate(NAMESPACE, "2026-02-20T18:04:26Z", Some(""));
        assert_eq!(
            cert_err(&empty_expiry, NOW),
            None,
            "an empty expiresAt signs like null"
        );

        let cases = [
            (custom_cert(&key, |c| c.version = 2), P::UnsupportedVersion),
            (
                custom_cert(&key, |c| c.proof.alg = "rsa".into()),
                P::UnsupportedProofAlgorithm,
            ),
            (
                custom_cert(&key, |c| c.issued_at = "a\nb".into()),
                P::ControlCharacters,
            ),
            (custom_cert(&other, |_| {}), P::BadProof),
            (
                custom_cert(&key, |c| c.public_key = other.public_key()),
                P::KeyMismatch,
            ),
            (
                custom_cert(&key, |c| {
                    c.namespace = "mallory".into();
                    c.did = "did:sigilum:mallory".into();
                }),
                P::NamespaceMismatch,
            ),
            (
                custom_cert(&key, |c| c.did = "did:sigilum:mallory".into()),
                P::DidMismatch,
            ),
            (
                custom_cert(&key, |c| c.key_id = "did:sigilum:fixture-alice#k1".into()),
                P::KeyIdMismatch,
            ),
        ];
        for (cert, problem) in cases {
            assert_eq!(cert_err(&cert, NOW), expect(problem), "{problem:?}");
        }
        let mut unsigned = custom_cert(&key, |_| {});
        unsigned = {
            let mut cert: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&unsigned).unwrap()).unwrap();
            cert["proof"]["sig"] = "AAAA".into();
            URL_SAFE_NO_PAD.encode(cert.to_string())
        };
        assert_eq!(cert_err(&unsigned, NOW), expect(P::MalformedProof));
        for junk in [
            "e30",
            "bnVsbA",
            "%%%",
            "eyJ2ZXJzaW9uIjoxfQ",
            &format!("{FIXTURE_CERT}="),
        ] {
            assert_eq!(cert_err(junk, NOW), expect(P::Undecodable), "{junk}");
        }

        // A Signature-Input keyid other than the certificate's.
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        let input = headers[0].1.replace("#ed25519-99fb00dc16ee555a", "#other");
        set(&mut headers, H_SIGNATURE_INPUT, &input);
        assert_eq!(
            check("GET", b"", &headers, NOW).err(),
            expect(P::SignatureKeyIdMismatch)
        );
    }

    #[test]
    fn components_digest_and_signature() {
        let key = agent();
        // The Go SDK's variant with sigilum-agent-id: the profile refuses it.
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        let input = headers[0].1.replace(
            "\"sigilum-subject\"",
            "\"sigilum-subject\" \"sigilum-agent-id\"",
        );
        set(&mut headers, H_SIGNATURE_INPUT, &input);
        assert_eq!(
            check("GET", b"", &headers, NOW),
            Err(SignatureError::ComponentsInvalid)
        );
        // Signed as body-less, sent with a body.
        let headers = sign(&key, "POST", b"", FIXTURE_CERT);
        let mut with_digest = headers.clone();
        with_digest.push((H_CONTENT_DIGEST.into(), content_digest(b"{}")));
        assert_eq!(
            check("POST", b"{}", &with_digest, NOW),
            Err(SignatureError::ComponentsInvalid)
        );

        let mut headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        assert_eq!(
            check("POST", b"{ }", &headers, NOW),
            Err(SignatureError::DigestMismatch)
        );
        set(&mut headers, H_CONTENT_DIGEST, &content_digest(b"{ }"));
        assert_eq!(
            check("POST", b"{ }", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
        let headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        assert_eq!(
            check("PUT", b"{}", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        set(&mut headers, H_SUBJECT, "mallory");
        assert_eq!(
            check("GET", b"", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn every_error_has_a_signature_code_and_a_401() {
        let errors = [
            SignatureError::Missing(H_SIGNATURE),
            SignatureError::DuplicateHeader(H_SIGNATURE),
            SignatureError::InvalidHeaderValue(H_SIGNATURE),
            SignatureError::InvalidMethod,
            SignatureError::InvalidTargetUri,
            SignatureError::InvalidSignatureInput,
            SignatureError::UnsupportedAlgorithm,
            SignatureError::InvalidSignatureHeader,
            SignatureError::InvalidAgentKey,
            SignatureError::Expired,
            SignatureError::Future,
            SignatureError::Certificate(CertificateProblem::Expired),
            SignatureError::ComponentsInvalid,
            SignatureError::DigestMismatch,
            SignatureError::BadSignature,
        ];
        for error in errors {
            assert!(error.code().starts_with("SIGNATURE_"), "{error:?}");
            assert_eq!(error.status(), 401);
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn agent_key_debug_hides_the_seed() {
        let shown = format!("{:?}", agent());
        assert!(shown.contains("J07dj"));
        assert!(!shown.contains("ZMLKz"));
    }
}
