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
//!
//! The files, in the order [`verify`] uses them: `headers.rs` finds the profile's headers,
//! `signature_input.rs` parses `Signature-Input` and `Signature`, `keys.rs` the agent key,
//! `certificate.rs` checks the self-signed certificate against the request, `base.rs` rebuilds
//! the signature base and `proof_cache.rs` remembers the proofs that verified. `error.rs` says
//! why a request was refused; `signer.rs` is the client side.

mod base;
mod certificate;
mod error;
mod headers;
mod keys;
mod proof_cache;
#[cfg(test)]
mod properties;
mod signature_input;
mod signer;
#[cfg(test)]
mod test_fixtures;

use ed25519_dalek::Signature;

pub use base::{
    COMPONENTS_WITH_BODY, COMPONENTS_WITHOUT_BODY, body_is_signed, content_digest,
    expected_components, method_component, normalize_target_uri,
};
pub use error::{CertificateProblem, SignatureError};
pub use keys::{base58btc, did_key, key_id_for, parse_agent_key};
pub use proof_cache::ProofCache;
pub use signature_input::{SignatureInput, parse_signature, parse_signature_input};
pub use signer::{AgentKey, RequestToSign};

use base::signature_base_of;
use certificate::check_certificate;
use headers::Parsed;

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
    let parsed = Parsed::from_request(request, proofs)?;
    check_time(parsed.input.created, now_unix)?;
    let cert = check_certificate(&parsed, now_unix)?;
    let base = signature_base_of(request, &parsed)?;
    let signature = Signature::from_bytes(&parsed.signature);
    parsed
        .key
        .verify_strict(base.as_bytes(), &signature)
        .map_err(|_| SignatureError::BadSignature)?;
    if !parsed.proven {
        parsed
            .key
            .verify_strict(cert.proof_message.as_bytes(), &cert.proof)
            .map_err(|_| SignatureError::Certificate(CertificateProblem::BadProof))?;
        proofs.insert(
            ProofCache::fingerprint(parsed.headers.agent_cert),
            parsed.key,
        );
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

/// The signature base the request's signer must have signed, from its own headers (which must
/// be present and well formed, with the right components). No time, certificate or signature
/// check: for tests and diagnostics.
pub fn signature_base(request: &SignedRequest<'_>) -> Result<String, SignatureError> {
    let parsed = Parsed::from_request(request, &ProofCache::disabled())?;
    signature_base_of(request, &parsed)
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

#[cfg(test)]
mod tests {
    use super::test_fixtures::*;
    use super::*;

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
}
