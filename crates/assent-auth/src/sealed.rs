//! Secrets sealed at rest: webhook secrets must be readable again (to sign with them), so they
//! are encrypted rather than hashed. XChaCha20-Poly1305 with a random 192-bit nonce, and the
//! row's id as associated data, so a ciphertext copied to another row fails to open.
//!
//! Stored form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit as _, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::random;
use crate::secret::Secret;

const VERSION: &str = "v1.";
/// Prefixes the purpose a MAC key is derived for, so derived keys never meet other uses.
const MAC_KEY_LABEL: &str = "assent mac key v1:";

type HmacSha256 = Hmac<Sha256>;
const NONCE_LEN: usize = 24;

/// The server's 256-bit key for sealing secrets. `Debug` is redacted.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the secret key must be 32 bytes, base64 encoded (44 characters)")]
    BadKey,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value does not open with this key and id")]
    Unauthentic,
}

impl SecretKey {
    pub fn generate() -> Self {
        Self(random::bytes::<32>())
    }

    /// Reads a key in standard base64, as written by [`SecretKey::to_base64`].
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(key))
    }

    pub fn to_base64(&self) -> Secret {
        Secret::new(STANDARD.encode(self.0))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Encrypts `plaintext`, bound to `row_id`.
    pub fn seal(&self, plaintext: &Secret, row_id: &str) -> String {
        let nonce = random::bytes::<NONCE_LEN>();
        let payload = Payload {
            msg: plaintext.expose().as_bytes(),
            aad: row_id.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(blob))
    }

    /// A MAC (HMAC-SHA256, lowercase hex) of `message` under a key derived from this one for
    /// `purpose` alone: tags made for one purpose say nothing about another, and neither
    /// the key nor the derived key ever leaves this type.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        let mut derive = keyed(&self.0);
        derive.update(MAC_KEY_LABEL.as_bytes());
        derive.update(purpose.as_bytes());
        let derived = derive.finalize().into_bytes();
        let mut mac = keyed(&derived);
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `tag` is [`SecretKey::mac`] of `message` for `purpose`, compared in constant
    /// time.
    pub fn verify_mac(&self, purpose: &str, message: &str, tag: &str) -> bool {
        self.mac(purpose, message)
            .as_bytes()
            .ct_eq(tag.as_bytes())
            .into()
    }

    /// Decrypts a value sealed for `row_id`.
    pub fn open(&self, sealed: &str, row_id: &str) -> Result<Secret, SealError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(SealError::Malformed)?;
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: row_id.as_bytes(),
        };
        let plaintext = self
            .cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Unauthentic)?;
        String::from_utf8(plaintext)
            .map(Secret::new)
            .map_err(|_| SealError::Malformed)
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let key = SecretKey::generate();
        let sealed = key.seal(&Secret::new("whsec_abc"), "wh_1");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(key.open(&sealed, "wh_1").unwrap().expose(), "whsec_abc");
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(&Secret::new("whsec_abc"), "wh_1");
        assert_eq!(
            key.open(&sealed, "wh_2").unwrap_err(),
            SealError::Unauthentic
        );
    }

    #[test]
    fn another_key_or_tampering_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(&Secret::new("whsec_abc"), "wh_1");
        assert_eq!(
            SecretKey::generate().open(&sealed, "wh_1").unwrap_err(),
            SealError::Unauthentic
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(key.open(&tampered, "wh_1").is_err());
        assert_eq!(key.open("v1.", "wh_1").unwrap_err(), SealError::Malformed);
        assert_eq!(
            key.open("garbage", "wh_1").unwrap_err(),
            SealError::Malformed
        );
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let key = SecretKey::generate();
        let s = Secret::new("x");
        assert_ne!(key.seal(&s, "wh_1"), key.seal(&s, "wh_1"));
    }

    #[test]
    fn macs_depend_on_key_purpose_and_message() {
        let key = SecretKey::generate();
        let tag = key.mac("csrf", "sid_1");
        assert_eq!(tag.len(), 64);
        assert_eq!(tag, key.mac("csrf", "sid_1"));
        assert!(key.verify_mac("csrf", "sid_1", &tag));
        assert!(!key.verify_mac("csrf", "sid_2", &tag));
        assert!(!key.verify_mac("other", "sid_1", &tag));
        assert!(!key.verify_mac("csrf", "sid_1", &tag[..63]));
        assert!(!key.verify_mac("csrf", "sid_1", ""));
        assert!(!SecretKey::generate().verify_mac("csrf", "sid_1", &tag));
        // Not a plain HMAC under the key itself: the key is derived for the purpose.
        let plain = keyed(&key.0).chain_update(b"sid_1").finalize().into_bytes();
        assert_ne!(tag, hex::encode(plain));
    }

    #[test]
    fn keys_round_trip_through_base64() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        let again = SecretKey::from_base64(text.expose()).unwrap();
        let sealed = key.seal(&Secret::new("v"), "id");
        assert_eq!(again.open(&sealed, "id").unwrap().expose(), "v");
        assert_eq!(
            SecretKey::from_base64("c2hvcnQ=").unwrap_err(),
            SealError::BadKey
        );
        assert!(!format!("{key:?}").contains(text.expose()));
    }
}
