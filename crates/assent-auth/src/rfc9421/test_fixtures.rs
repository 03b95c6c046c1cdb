//! What the tests of the verifier share: the Sigilum fixture identity (seed, key, namespace,
//! certificate), a clock, and helpers to sign a request with it and to verify one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{AgentKey, RequestToSign, SignatureError, SignedRequest, VerifiedRequest, verify};

pub(super) const SEED_B64: &str = "ZMLKzZSCxP8QXOO1vlmejAvdFaesd3QC6JC9iCt8FfA=";
pub(super) const PUBLIC_KEY: &str = "ed25519:J07dj/co4diCmQYTTQGq4adhnMKYejHazCYUQ7eBh0k=";
pub(super) const NAMESPACE: &str = "fixture-alice";
pub(super) const NOW: i64 = 1_700_000_000;
pub(super) const NONCE: &str = "123e4567-e89b-12d3-a456-426614174000";
/// The fixture certificate header (`tests/conformance/sigilum-identity-record-v1.json`).
pub(super) const FIXTURE_CERT: &str = "eyJ2ZXJzaW9uIjoxLCJuYW1lc3BhY2UiOiJmaXh0dXJlLWFsaWNlIiwiZGlkIjoiZGlkOnNpZ2lsdW06Zml4dHVyZS1hbGljZSIsImtleUlkIjoiZGlkOnNpZ2lsdW06Zml4dHVyZS1hbGljZSNlZDI1NTE5LTk5ZmIwMGRjMTZlZTU1NWEiLCJwdWJsaWNLZXkiOiJlZDI1NTE5OkowN2RqL2NvNGRpQ21RWVRUUUdxNGFkaG5NS1llakhhekNZVVE3ZUJoMGs9IiwiaXNzdWVkQXQiOiIyMDI2LTAyLTIwVDE4OjA0OjI2WiIsImV4cGlyZXNBdCI6bnVsbCwicHJvb2YiOnsiYWxnIjoiZWQyNTUxOSIsInNpZyI6InZHcC1XTG1TcjBCV05jaTJsQmhjSk9SZzM5b3QtM1V1MWFhVkcyd0dFS0xJdEtfOTY0aEZhUnJWZDdESGZfMmUzeWtHcElhY29NOVE1Z3NfdFB5NkR3In19";

pub(super) fn agent() -> AgentKey {
    let seed: [u8; 32] = STANDARD.decode(SEED_B64).unwrap().try_into().unwrap();
    AgentKey::from_seed(&seed)
}

pub(super) fn sign(key: &AgentKey, method: &str, body: &[u8], cert: &str) -> Vec<(String, String)> {
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

pub(super) fn check(
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

pub(super) fn set(headers: &mut [(String, String)], name: &str, value: &str) {
    let slot = headers.iter_mut().find(|(n, _)| n == name).unwrap();
    slot.1 = value.to_owned();
}
