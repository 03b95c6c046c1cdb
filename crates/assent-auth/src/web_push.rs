//! Web Push, the pure half: the server's VAPID key and the JWT that proves it (RFC 8292), a
//! browser subscription's keys, and the payload encryption (RFC 8291, `aes128gcm` of RFC 8188).
//!
//! Nothing here draws randomness or reads a clock: the ephemeral key, the salt and the time are
//! arguments, so the RFC 8291 Appendix A example is reproduced byte for byte by a unit test.
//! The sender (`assent-delivery`) draws them and does the HTTP.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::{PublicKey, SecretKey as EcSecretKey};
use sha2::Sha256;

use crate::random;
use crate::secret::Secret;

/// An uncompressed P-256 point: `0x04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;
/// The subscription's authentication secret.
pub const AUTH_SECRET_LEN: usize = 16;
/// The record size announced in the header: one record holds every payload we send.
const RECORD_SIZE: u32 = 4096;
/// The header: salt (16), record size (4), key id length (1), key id (65).
const HEADER_LEN: usize = 16 + 4 + 1 + PUBLIC_KEY_LEN;
/// AES-GCM's tag.
const TAG_LEN: usize = 16;
/// The most plaintext one record carries: the record less its tag and padding delimiter.
pub const MAX_PAYLOAD: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;

/// Why a key or a payload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("p256dh must be an uncompressed P-256 public key, 65 bytes in base64url")]
    BadP256dh,
    #[error("auth must be 16 bytes in base64url")]
    BadAuth,
    #[error("the VAPID private key must be a P-256 private key, 32 bytes in base64url")]
    BadVapidKey,
    #[error("the payload is longer than one push message holds ({MAX_PAYLOAD} bytes)")]
    TooLong,
}

/// Decodes base64url with or without padding (browsers send it unpadded; some tools pad).
fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

/// The keys of a browser's push subscription (`PushSubscription.toJSON().keys`).
#[derive(Clone, PartialEq, Eq)]
pub struct PushKeys {
    /// The user agent's ECDH public key.
    pub p256dh: [u8; PUBLIC_KEY_LEN],
    /// The authentication secret.
    pub auth: [u8; AUTH_SECRET_LEN],
}

impl PushKeys {
    /// Reads the keys as the browser gives them (base64url); the public key must lie on the
    /// curve.
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, PushError> {
        let p256dh: [u8; PUBLIC_KEY_LEN] = decode(p256dh)
            .and_then(|b| b.try_into().ok())
            .ok_or(PushError::BadP256dh)?;
        if p256dh[0] != 0x04 || PublicKey::from_sec1_bytes(&p256dh).is_err() {
            return Err(PushError::BadP256dh);
        }
        let auth: [u8; AUTH_SECRET_LEN] = decode(auth)
            .and_then(|b| b.try_into().ok())
            .ok_or(PushError::BadAuth)?;
        Ok(Self { p256dh, auth })
    }

    /// The keys as one text, `p256dh.auth` in base64url, for sealing at rest.
    pub fn to_text(&self) -> Secret {
        Secret::new(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(self.p256dh),
            URL_SAFE_NO_PAD.encode(self.auth)
        ))
    }

    /// Reads [`PushKeys::to_text`].
    pub fn from_text(text: &Secret) -> Result<Self, PushError> {
        let (p256dh, auth) = text.expose().split_once('.').ok_or(PushError::BadP256dh)?;
        Self::parse(p256dh, auth)
    }
}

impl fmt::Debug for PushKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushKeys(<redacted>)")
    }
}

/// The server's VAPID key pair (ECDSA P-256). `Debug` is redacted.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl VapidKey {
    /// A new random key.
    pub fn generate() -> Self {
        loop {
            // A random 32-byte string is a valid scalar but for a 2^-32 chance: draw again.
            if let Ok(key) = Self::from_bytes(&random::bytes::<32>()) {
                return key;
            }
        }
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, PushError> {
        let secret = EcSecretKey::from_slice(bytes).map_err(|_| PushError::BadVapidKey)?;
        let public = uncompressed(&secret.public_key());
        Ok(Self {
            signing: SigningKey::from(&secret),
            public,
        })
    }

    /// Reads the private key as web-push tools print it: the 32-byte scalar in base64url.
    pub fn from_base64url(text: &str) -> Result<Self, PushError> {
        Self::from_bytes(&decode(text).ok_or(PushError::BadVapidKey)?)
    }

    /// The private key in base64url, as [`VapidKey::from_base64url`] reads it.
    pub fn to_base64url(&self) -> Secret {
        Secret::new(URL_SAFE_NO_PAD.encode(self.signing.to_bytes()))
    }

    /// The public key in base64url: the browser's `applicationServerKey`, and `k=` of the
    /// `Authorization` header.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// The signed JWT (ES256) for a push service at `audience` (the endpoint's origin),
    /// expiring at `expires_at` (Unix seconds; RFC 8292 allows at most 24 hours ahead),
    /// naming `subject` (a `mailto:` or `https:` URI) as the contact.
    pub fn jwt(&self, audience: &str, expires_at: i64, subject: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": expires_at, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The `Authorization` header value: `vapid t=<jwt>, k=<public key>`.
    pub fn authorization(&self, audience: &str, expires_at: i64, subject: &str) -> String {
        format!(
            "vapid t={}, k={}",
            self.jwt(audience, expires_at, subject),
            self.public_key()
        )
    }
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VapidKey({})", self.public_key())
    }
}

fn uncompressed(public: &PublicKey) -> [u8; PUBLIC_KEY_LEN] {
    let point = public.to_sec1_bytes();
    let mut out = [0u8; PUBLIC_KEY_LEN];
    // `to_sec1_bytes` is the uncompressed form: 65 bytes.
    if point.len() == PUBLIC_KEY_LEN {
        out.copy_from_slice(&point);
    }
    out
}

/// The randomness one encryption takes: an ephemeral ECDH private key (32 bytes) and a salt.
#[derive(Clone)]
pub struct Ephemeral {
    pub private_key: [u8; 32],
    pub salt: [u8; 16],
}

impl Ephemeral {
    /// Fresh randomness for one message.
    pub fn generate() -> Self {
        loop {
            let private_key = random::bytes::<32>();
            if EcSecretKey::from_slice(&private_key).is_ok() {
                return Self {
                    private_key,
                    salt: random::bytes::<16>(),
                };
            }
        }
    }
}

impl fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ephemeral(<redacted>)")
    }
}

/// HKDF-SHA-256 of `length` (at most 32) bytes.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    // Every length asked for here is at most one hash: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out);
}

/// Encrypts `payload` for the subscription `keys` (RFC 8291): the whole `aes128gcm` body,
/// header included, in one record.
pub fn encrypt(
    payload: &[u8],
    keys: &PushKeys,
    ephemeral: &Ephemeral,
) -> Result<Vec<u8>, PushError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PushError::TooLong);
    }
    let as_secret =
        EcSecretKey::from_slice(&ephemeral.private_key).map_err(|_| PushError::BadVapidKey)?;
    let as_public = uncompressed(&as_secret.public_key());
    let ua_public = PublicKey::from_sec1_bytes(&keys.p256dh).map_err(|_| PushError::BadP256dh)?;
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());

    // IKM = HKDF(auth, ecdh, "WebPush: info\0" ‖ ua_public ‖ as_public)
    let mut key_info = Vec::with_capacity(14 + 2 * PUBLIC_KEY_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&keys.p256dh);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    hkdf(
        &keys.auth,
        shared.raw_secret_bytes().as_slice(),
        &key_info,
        &mut ikm,
    );
    let mut cek = [0u8; 16];
    hkdf(
        &ephemeral.salt,
        &ikm,
        b"Content-Encoding: aes128gcm\0",
        &mut cek,
    );
    let mut nonce = [0u8; 12];
    hkdf(
        &ephemeral.salt,
        &ikm,
        b"Content-Encoding: nonce\0",
        &mut nonce,
    );

    // One record, the last: the payload and its delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(payload.len() + 1);
    record.extend_from_slice(payload);
    record.push(0x02);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushError::BadVapidKey)?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .map_err(|_| PushError::TooLong)?;

    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(&ephemeral.salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291, Appendix A: the example's keys, salt and plaintext give its exact body.
    #[test]
    fn the_rfc_8291_example_is_reproduced_byte_for_byte() {
        let keys = PushKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        let ephemeral = Ephemeral {
            private_key: b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
                .try_into()
                .unwrap(),
            salt: b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap(),
        };
        let body = encrypt(
            b"When I grow up, I want to be a watermelon",
            &keys,
            &ephemeral,
        )
        .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLo\
             cInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBW\
             LVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn subscription_keys_must_have_their_lengths_and_lie_on_the_curve() {
        let p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        let keys = PushKeys::parse(p256dh, auth).unwrap();
        assert_eq!(PushKeys::from_text(&keys.to_text()).unwrap(), keys);
        assert_eq!(
            PushKeys::parse(p256dh, "BTBZMqHH6r4T"),
            Err(PushError::BadAuth)
        );
        assert_eq!(
            PushKeys::parse(&p256dh[..40], auth),
            Err(PushError::BadP256dh)
        );
        // 65 bytes, but not a point on the curve.
        let off_curve = URL_SAFE_NO_PAD.encode([4u8; 65]);
        assert_eq!(PushKeys::parse(&off_curve, auth), Err(PushError::BadP256dh));
        assert_eq!(
            PushKeys::parse("not base64!", auth),
            Err(PushError::BadP256dh)
        );
        assert!(format!("{keys:?}").contains("redacted"));
    }

    #[test]
    fn a_vapid_jwt_is_es256_signed_with_its_claims() {
        let key = VapidKey::generate();
        let again = VapidKey::from_base64url(key.to_base64url().expose()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let header = key.authorization(
            "https://push.example.net",
            1_800_000_000,
            "mailto:a@b.example",
        );
        let (jwt, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, key.public_key());
        let parts: Vec<&str> = jwt.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_800_000_000);
        assert_eq!(claims["sub"], "mailto:a@b.example");
        let verifying = VerifyingKey::from_sec1_bytes(&b64(k)).unwrap();
        let signature = Signature::from_slice(&b64(parts[2])).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(verifying.verify(signed.as_bytes(), &signature).is_ok());
        assert!(verifying.verify(b"something else", &signature).is_err());
        assert!(VapidKey::from_base64url("short").is_err());
        assert!(!format!("{key:?}").contains(again.to_base64url().expose()));
    }
}
