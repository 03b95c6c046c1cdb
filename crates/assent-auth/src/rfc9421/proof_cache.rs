//! The certificate proofs already verified, so that an agent's many requests cost one Ed25519
//! verification each instead of two, and decompress the agent's key once. Only the proof and
//! the key's decompression are skipped: every other check runs on every request.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Certificates whose self-signed proof verified, by the SHA-256 of their exact text, with the
/// agent key they name, decompressed. A proof's validity depends on nothing but those bytes
/// (the certificate names its key, which must be the request's key), so an agent's many
/// requests need its proof checked once: one Ed25519 verification per request instead of two.
/// Decompressing the key (a square root in the field, about a sixth of a verification) is
/// done once too. Bounded: it starts over when full.
#[derive(Debug)]
pub struct ProofCache {
    verified: std::sync::Mutex<HashMap<[u8; 32], VerifyingKey>>,
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

    pub(super) fn fingerprint(certificate: &str) -> [u8; 32] {
        Sha256::digest(certificate.as_bytes()).into()
    }

    /// The key of the certificate with this fingerprint, if its proof verified.
    pub(super) fn key_of(&self, fingerprint: &[u8; 32]) -> Option<VerifyingKey> {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(fingerprint)
            .copied()
    }

    pub(super) fn insert(&self, fingerprint: [u8; 32], key: VerifyingKey) {
        if self.capacity == 0 {
            return;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.capacity {
            verified.clear();
        }
        verified.insert(fingerprint, key);
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::rfc9421::test_fixtures::*;
    use crate::rfc9421::{
        RequestToSign, SignatureError, SignedRequest, VerifiedRequest, verify_cached,
    };

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

        // The cached certificate lends its key only to a request whose header names that key:
        // another agent presenting it is refused as before.
        let other = crate::rfc9421::AgentKey::from_seed(&[9; 32]);
        let headers = sign(&other, "GET", b"", FIXTURE_CERT);
        assert_eq!(
            check_cached(&headers, NOW, &proofs).unwrap_err().code(),
            "SIGNATURE_CERT_INVALID"
        );

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
        let key = agent().signing.verifying_key();
        for i in 0..5u8 {
            proofs.insert([i; 32], key);
        }
        assert!(proofs.verified.lock().unwrap().len() <= 2);
        let disabled = ProofCache::disabled();
        disabled.insert([1; 32], key);
        assert!(disabled.key_of(&[1; 32]).is_none());
    }
}
