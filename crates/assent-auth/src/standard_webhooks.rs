//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, specification 1.0.0), the
//! sender side: the signed content `{webhook-id}.{webhook-timestamp}.{body}`, a symmetric
//! `v1,<base64 HMAC-SHA256>` keyed by the base64-decoded bytes of a `whsec_` secret, and an
//! asymmetric `v1a,<base64 Ed25519>` by a `whsk_` key whose public half is shown as `whpk_`.
//!
//! It lives here rather than in `assent-signing` because that crate stays hmac/sha2/hex only
//! for receivers of the `t=,v1=` scheme; receivers of this scheme use the Standard Webhooks
//! libraries as they are (`docs/webhooks.md`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Secret, random};

/// The prefix of a symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The prefix of an Ed25519 secret key (the 64-byte key pair, base64).
pub const SECRET_KEY_PREFIX: &str = "whsk_";
/// The prefix of an Ed25519 public key (32 bytes, base64).
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// The bytes every signature covers: `{msg_id}.{timestamp}.{body}`.
pub fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// The HMAC key of a `whsec_<base64>` secret: its decoded bytes (`None` when it is not one).
pub fn symmetric_key(secret: &Secret) -> Option<Vec<u8>> {
    let encoded = secret.expose().strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|key| !key.is_empty())
}

/// One symmetric signature, `v1,<base64>`.
#[expect(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length (long ones are hashed), so this never fails"
)]
pub fn sign_symmetric(key: &[u8], content: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(content);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// An endpoint's Ed25519 signing key. `Debug` shows the public key only.
pub struct WebhookSigningKey(SigningKey);

impl WebhookSigningKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(SigningKey::from_bytes(&random::bytes::<32>()))
    }

    /// From its `whsk_<base64 of the 64-byte key pair>` form (`None` when it is not one, or
    /// when the pair's halves disagree).
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let encoded = secret.expose().strip_prefix(SECRET_KEY_PREFIX)?;
        let bytes: [u8; 64] = STANDARD.decode(encoded).ok()?.try_into().ok()?;
        SigningKey::from_keypair_bytes(&bytes).ok().map(Self)
    }

    /// Its `whsk_` form, to seal at rest; never shown.
    pub fn to_secret(&self) -> Secret {
        Secret::new(format!(
            "{SECRET_KEY_PREFIX}{}",
            STANDARD.encode(self.0.to_keypair_bytes())
        ))
    }

    /// The raw 32 bytes of the public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The public key as `whpk_<base64>`.
    pub fn public_key(&self) -> String {
        format!(
            "{PUBLIC_KEY_PREFIX}{}",
            STANDARD.encode(self.public_bytes())
        )
    }

    /// One asymmetric signature, `v1a,<base64>`.
    pub fn sign(&self, content: &[u8]) -> String {
        format!("v1a,{}", STANDARD.encode(self.0.sign(content).to_bytes()))
    }
}

impl fmt::Debug for WebhookSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookSigningKey")
            .field(&self.public_key())
            .finish()
    }
}

/// The raw 32 bytes of a `whpk_<base64>` public key.
pub fn public_key_bytes(public_key: &str) -> Option<[u8; 32]> {
    let encoded = public_key.strip_prefix(PUBLIC_KEY_PREFIX)?;
    STANDARD.decode(encoded).ok()?.try_into().ok()
}

/// A `whpk_<base64>` public key as a JWK's `x` (RFC 8037): the raw bytes in base64url.
pub fn jwk_x(public_key: &str) -> Option<String> {
    public_key_bytes(public_key).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a space-separated `webhook-signature` value holds a `v1a` signature of `content`
/// by the `whpk_` key. Used by tests and tools; receivers use their own library.
pub fn verify_asymmetric(public_key: &str, header: &str, content: &[u8]) -> bool {
    let Some(key) = public_key_bytes(public_key).and_then(|b| VerifyingKey::from_bytes(&b).ok())
    else {
        return false;
    };
    header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1a,")
            .and_then(|sig| STANDARD.decode(sig).ok())
            .and_then(|sig| <[u8; 64]>::try_from(sig).ok())
            .is_some_and(|sig| {
                key.verify(content, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_symmetric_signature_matches_the_specifications_example() {
        // The example of the reference libraries: secret, id, timestamp, body and signature.
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let key = symmetric_key(&secret).unwrap();
        let content = signed_content(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sign_symmetric(&key, &content),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_without_its_prefix_or_base64_has_no_key() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_***"] {
            assert!(symmetric_key(&Secret::new(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn an_asymmetric_key_survives_its_sealed_form_and_its_signatures_verify() {
        let key = WebhookSigningKey::generate();
        let again = WebhookSigningKey::from_secret(&key.to_secret()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let content = signed_content("evt_1", 1_700_000_000, b"{}");
        let header = format!("v1,abc= {}", again.sign(&content));
        assert!(verify_asymmetric(&key.public_key(), &header, &content));
        let tampered = signed_content("evt_1", 1_700_000_000, b"{ }");
        assert!(!verify_asymmetric(&key.public_key(), &header, &tampered));
        let other = WebhookSigningKey::generate().public_key();
        assert!(!verify_asymmetric(&other, &header, &content));
        assert!(!format!("{key:?}").contains(key.to_secret().expose()));
    }
}
