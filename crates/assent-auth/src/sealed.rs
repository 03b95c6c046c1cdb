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

use crate::random;
use crate::secret::Secret;

const VERSION: &str = "v1.";
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
