//! The client side of the profile: an agent's key signs a request and mints its self-signed
//! certificate. For tests and tools (the conformance tests, the load harness); the server only
//! verifies.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};

use super::base::BaseInput;
use super::certificate::{Certificate, Proof, certificate_proof_message};
use super::headers::{
    H_AGENT_CERT, H_AGENT_KEY, H_CONTENT_DIGEST, H_NAMESPACE, H_SIGNATURE, H_SIGNATURE_INPUT,
    H_SUBJECT,
};
use super::keys::{DID_PREFIX, KEY_PREFIX, did_key, key_id_for};
use super::{
    ALG, COMPONENTS_WITH_BODY, COMPONENTS_WITHOUT_BODY, LABEL, SignatureError, body_is_signed,
    content_digest, method_component, normalize_target_uri,
};

/// An agent's Ed25519 key: the client side of the profile (sign requests, mint the
/// self-signed certificate). For tests and tools; the server only verifies. `Debug` shows the
/// public key only.
pub struct AgentKey {
    /// Visible to the module so that its tests can sign arbitrary certificates.
    pub(super) signing: SigningKey,
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
    use crate::rfc9421::base58btc;
    use crate::rfc9421::test_fixtures::*;

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
    fn agent_key_debug_hides_the_seed() {
        let shown = format!("{:?}", agent());
        assert!(shown.contains("J07dj"));
        assert!(!shown.contains("ZMLKz"));
    }
}
