//! Sign and verify assent webhook signatures.
//!
//! Every webhook carries a signature header whose value looks like
//! `t=<unix seconds>,v1=<hex>`, where
//! `v1 = hex(HMAC-SHA256(secret, "{t}.{raw body bytes}"))`.
//! While a secret is being rotated the header carries one `v1` per secret,
//! for example `t=1700000000,v1=<new>,v1=<old>`, and a receiver accepts the
//! request if any of them matches the secret it holds.
//!
//! Receivers should also reject timestamps more than a tolerance (300 s by
//! default) away from their clock, in either direction, to limit replays.
//!
//! This crate depends only on `hmac`, `sha2` and `hex`, so receivers can use
//! it without the rest of assent.
//!
//! # Verifying a request (receiver side)
//!
//! ```
//! use assent_signing::{Verifier, VerifyError};
//!
//! let secret = b"whsec_test_secret";
//! // The raw request body, exactly as received (before any JSON parsing).
//! let body = br#"{"event":"request.approved"}"#;
//! // The signature header value, exactly as received.
//! let header = "t=1700000000,\
//!               v1=5ce66e7cc807a3232e48d527d2cd876bb4f1877024ed9abecf6b9c4ee78370ea";
//!
//! let verifier = Verifier::default();
//! // A real handler would call `verifier.verify_now(secret, header, body)`;
//! // here the clock is fixed at one minute after the webhook was sent.
//! let now = 1_700_000_060;
//! verifier.verify(secret, header, body, now)?;
//!
//! // Anything else is rejected: a tampered body, a stale delivery, ...
//! assert_eq!(
//!     verifier.verify(secret, header, b"{}", now),
//!     Err(VerifyError::Mismatch)
//! );
//! assert_eq!(
//!     verifier.verify(secret, header, body, now + 3600),
//!     Err(VerifyError::TimestampOutOfTolerance)
//! );
//! # Ok::<(), VerifyError>(())
//! ```
//!
//! # Signing (sender side)
//!
//! ```
//! let body = br#"{"event":"request.approved"}"#;
//! // During a rotation, sign with the new secret first and the old one second.
//! let header = assent_signing::signature_header(
//!     &[b"whsec_new".as_slice(), b"whsec_old".as_slice()],
//!     1_700_000_000,
//!     body,
//! );
//! assert!(header.starts_with("t=1700000000,v1="));
//! assert_eq!(header.matches(",v1=").count(), 2);
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of an HMAC-SHA256 tag (the decoded `v1` value).
const SIGNATURE_LEN: usize = 32;

/// How far a header's timestamp may be from the receiver's clock by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Returns the lowercase hex of one `v1` signature of `body` sent at
/// `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(keyed_mac(secret, timestamp, body).finalize().into_bytes())
}

/// Returns a full header value, `t=<timestamp>,v1=<hex>[,v1=<hex>...]`, with
/// one `v1` per secret in the given order.
///
/// With no secrets the header has no `v1` entry and will never verify.
pub fn signature_header(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

/// The MAC state after absorbing the signed message `"{t}.{body}"`.
#[expect(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length (long ones are hashed), so this never fails"
)]
fn keyed_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a signature header was rejected.
///
/// Messages never include the secret or the expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The header is not a comma-separated list of `key=value` entries, or
    /// has more than one `t`, or a `t` or `v1` value is invalid.
    Malformed,
    /// The header has no `t` entry.
    MissingTimestamp,
    /// The header has no `v1` entry.
    MissingSignature,
    /// The timestamp is further from the receiver's clock than the tolerance.
    TimestampOutOfTolerance,
    /// No `v1` signature matches the secret and body.
    Mismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed webhook signature header",
            Self::MissingTimestamp => "webhook signature header has no timestamp (t=)",
            Self::MissingSignature => "webhook signature header has no signature (v1=)",
            Self::TimestampOutOfTolerance => {
                "webhook signature timestamp is outside the allowed tolerance"
            }
            Self::Mismatch => "no webhook signature matches the body",
        })
    }
}

impl std::error::Error for VerifyError {}

/// Checks signature headers on incoming webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verifier {
    tolerance: Duration,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(DEFAULT_TOLERANCE)
    }
}

impl Verifier {
    /// A verifier that accepts timestamps up to `tolerance` away from the
    /// clock, in either direction. Only whole seconds count.
    pub const fn new(tolerance: Duration) -> Self {
        Self { tolerance }
    }

    /// The configured timestamp tolerance.
    pub const fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies `header` for the raw `body`, with the clock at `now_unix`
    /// (unix seconds).
    ///
    /// Succeeds if the timestamp is within the tolerance and any `v1` entry
    /// matches `secret`. Unknown keys are ignored so that future signature
    /// versions can be added alongside `v1`.
    pub fn verify(
        &self,
        secret: &[u8],
        header: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let parsed = ParsedHeader::parse(header)?;
        // Cheap check first: skip hashing the body of stale or replayed requests.
        // `abs_diff` cannot overflow, even for timestamps near i64::MIN/MAX.
        if now_unix.abs_diff(parsed.timestamp) > self.tolerance.as_secs() {
            return Err(VerifyError::TimestampOutOfTolerance);
        }
        // Absorb the body once; each candidate only clones the state and finalizes.
        let mac = keyed_mac(secret, parsed.timestamp, body);
        // `verify_slice` compares in constant time, so timing leaks nothing about the tag.
        let matched = parsed
            .signatures
            .iter()
            .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// Like [`Verifier::verify`], with the clock read from the system.
    pub fn verify_now(&self, secret: &[u8], header: &str, body: &[u8]) -> Result<(), VerifyError> {
        self.verify(secret, header, body, unix_now())
    }
}

/// The current time in unix seconds; a clock before 1970 reads as 0.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The parts of a header that matter to `v1` verification.
#[derive(Debug)]
struct ParsedHeader {
    timestamp: i64,
    signatures: Vec<[u8; SIGNATURE_LEN]>,
}

impl ParsedHeader {
    fn parse(header: &str) -> Result<Self, VerifyError> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for entry in header.split(',') {
            let (key, value) = entry.trim().split_once('=').ok_or(VerifyError::Malformed)?;
            match key {
                "" => return Err(VerifyError::Malformed),
                "t" => {
                    // A second `t` is ambiguous about which one was signed.
                    if timestamp.is_some() {
                        return Err(VerifyError::Malformed);
                    }
                    timestamp = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
                }
                "v1" => {
                    // Rejects non-hex, odd lengths and anything but 32 bytes.
                    let mut tag = [0; SIGNATURE_LEN];
                    hex::decode_to_slice(value, &mut tag).map_err(|_| VerifyError::Malformed)?;
                    signatures.push(tag);
                }
                // Unknown keys (e.g. a future `v2`) are ignored for forward compatibility.
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
        if signatures.is_empty() {
            return Err(VerifyError::MissingSignature);
        }
        Ok(Self {
            timestamp,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;
    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"event":"request.approved"}"#;

    // Vectors computed independently with Python's hmac module:
    //   python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test_secret", b"1700000000." + b"{\"event\":\"request.approved\"}", hashlib.sha256).hexdigest())'
    // (the other vectors change only the secret and body bytes, as noted).

    #[test]
    fn sign_matches_python_vector_json_body() {
        assert_eq!(
            sign(SECRET, T, BODY),
            "5ce66e7cc807a3232e48d527d2cd876bb4f1877024ed9abecf6b9c4ee78370ea"
        );
    }

    #[test]
    fn sign_matches_python_vector_atp_seed_secret() {
        // secret b"your-secure-random-string", same body.
        assert_eq!(
            sign(b"your-secure-random-string", T, BODY),
            "6d04e6c919de9f50842086505906df07c6c9f5cf0ee00506933b71aab4633c0a"
        );
    }

    #[test]
    fn sign_matches_python_vector_empty_body() {
        // body b"" (message is just b"1700000000.").
        assert_eq!(
            sign(SECRET, T, b""),
            "316b9ab98c15bfa039d243f3196acee619cf29749a91a634e6a8154e2f7b6727"
        );
    }

    #[test]
    fn sign_matches_python_vector_binary_utf8_body() {
        // body "héllo ✓".encode() + b"\x00\xff\n"
        let body = ["héllo ✓".as_bytes(), b"\x00\xff\n"].concat();
        assert_eq!(
            sign(SECRET, T, &body),
            "d0c57864bab4f29c4c1e3fbeb9829276699e75c09d4c2be969f4afb5fa580e7e"
        );
    }

    #[test]
    fn header_with_two_secrets_matches_python_vectors_in_order() {
        // Second secret b"whsec_old_secret", JSON body.
        assert_eq!(
            signature_header(&[SECRET, b"whsec_old_secret"], T, BODY),
            "t=1700000000,\
             v1=5ce66e7cc807a3232e48d527d2cd876bb4f1877024ed9abecf6b9c4ee78370ea,\
             v1=f9b29041f2d69689368d97246250a469b7d1a701091f24ec53e6c5bb1de72413"
        );
    }

    #[test]
    fn python_vector_header_verifies() {
        let header =
            "t=1700000000,v1=5ce66e7cc807a3232e48d527d2cd876bb4f1877024ed9abecf6b9c4ee78370ea";
        assert_eq!(Verifier::default().verify(SECRET, header, BODY, T), Ok(()));
    }

    #[test]
    fn round_trip_sign_then_verify() {
        for body in [BODY, b"".as_slice(), b"\x00\xff binary"] {
            let header = signature_header(&[SECRET], T, body);
            assert_eq!(Verifier::default().verify(SECRET, &header, body, T), Ok(()));
        }
    }

    #[test]
    fn verify_now_accepts_fresh_header_and_rejects_old_one() {
        let verifier = Verifier::default();
        let fresh = signature_header(&[SECRET], unix_now(), BODY);
        assert_eq!(verifier.verify_now(SECRET, &fresh, BODY), Ok(()));
        let old = signature_header(&[SECRET], unix_now() - 3600, BODY);
        assert_eq!(
            verifier.verify_now(SECRET, &old, BODY),
            Err(VerifyError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn rotation_header_verifies_with_either_secret_but_not_a_third() {
        let (new, old) = (b"whsec_new".as_slice(), b"whsec_old".as_slice());
        let header = signature_header(&[new, old], T, BODY);
        let verifier = Verifier::default();
        assert_eq!(verifier.verify(new, &header, BODY, T), Ok(()));
        assert_eq!(verifier.verify(old, &header, BODY, T), Ok(()));
        assert_eq!(
            verifier.verify(b"whsec_other", &header, BODY, T),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        let header = signature_header(&[SECRET], T, BODY);
        let verifier = Verifier::default();
        let at = |now| verifier.verify(SECRET, &header, BODY, now);
        assert_eq!(at(T + 300), Ok(()));
        assert_eq!(at(T - 300), Ok(()));
        assert_eq!(at(T + 301), Err(VerifyError::TimestampOutOfTolerance));
        assert_eq!(at(T - 301), Err(VerifyError::TimestampOutOfTolerance));
    }

    #[test]
    fn custom_and_zero_tolerance() {
        let header = signature_header(&[SECRET], T, BODY);
        let strict = Verifier::new(Duration::ZERO);
        assert_eq!(strict.verify(SECRET, &header, BODY, T), Ok(()));
        assert_eq!(
            strict.verify(SECRET, &header, BODY, T + 1),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        let loose = Verifier::new(Duration::from_secs(3600));
        assert_eq!(loose.tolerance(), Duration::from_secs(3600));
        assert_eq!(loose.verify(SECRET, &header, BODY, T - 3600), Ok(()));
        assert_eq!(Verifier::default().tolerance(), DEFAULT_TOLERANCE);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        for (t, now) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (i64::MAX, 0)] {
            let header = signature_header(&[SECRET], t, BODY);
            assert_eq!(
                Verifier::default().verify(SECRET, &header, BODY, now),
                Err(VerifyError::TimestampOutOfTolerance)
            );
            assert_eq!(
                Verifier::new(Duration::MAX).verify(SECRET, &header, BODY, now),
                Ok(())
            );
        }
    }

    #[test]
    fn tampered_body_timestamp_or_signature_is_rejected() {
        let verifier = Verifier::default();
        let header = signature_header(&[SECRET], T, BODY);
        assert_eq!(
            verifier.verify(SECRET, &header, br#"{"event":"request.denied"}"#, T),
            Err(VerifyError::Mismatch)
        );
        // Moving `t` (e.g. to replay later) breaks the signature.
        let shifted = header.replace("t=1700000000", "t=1700000100");
        assert_eq!(
            verifier.verify(SECRET, &shifted, BODY, T + 100),
            Err(VerifyError::Mismatch)
        );
        // Flip one hex digit of the signature.
        let mut flipped = header.clone().into_bytes();
        let last = flipped.last_mut().expect("header is not empty");
        *last = if *last == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("still ASCII");
        assert_eq!(
            verifier.verify(SECRET, &flipped, BODY, T),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn whitespace_uppercase_hex_and_unknown_keys_are_tolerated() {
        let sig = sign(SECRET, T, BODY);
        let verifier = Verifier::default();
        for header in [
            format!(" t={T} ,\tv1={sig} "),
            format!("v1={sig},t={T}"),
            format!("t={T},v1={},v0=abc,v2=future,x=", sig.to_uppercase()),
            format!("t={T},v1={},v1={sig}", "0".repeat(64)),
        ] {
            assert_eq!(
                verifier.verify(SECRET, &header, BODY, T),
                Ok(()),
                "{header}"
            );
        }
    }

    #[test]
    fn missing_parts_are_reported() {
        let sig = sign(SECRET, T, BODY);
        let verifier = Verifier::default();
        let check = |header: &str| verifier.verify(SECRET, header, BODY, T);
        assert_eq!(
            check(&format!("v1={sig}")),
            Err(VerifyError::MissingTimestamp)
        );
        assert_eq!(check(&format!("t={T}")), Err(VerifyError::MissingSignature));
        assert_eq!(
            check(&format!("t={T},v2={sig}")),
            Err(VerifyError::MissingSignature)
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let sig = sign(SECRET, T, BODY);
        let verifier = Verifier::default();
        let cases = [
            String::new(),
            "   ".to_owned(),
            ",".to_owned(),
            "t".to_owned(),
            "=".to_owned(),
            format!("={sig},t={T}"),
            format!("t={T},v1={sig},"),
            format!("t={T},,v1={sig}"),
            format!("t={T};v1={sig}"),
            format!("t={T},v1"),
            format!("t=,v1={sig}"),
            format!("t=abc,v1={sig}"),
            format!("t=1.5,v1={sig}"),
            format!("t= {T},v1={sig}"),
            format!("t=99999999999999999999999,v1={sig}"),
            format!("t=١٧٠٠٠٠٠٠٠٠,v1={sig}"),
            format!("t={T},t={T},v1={sig}"),
            format!("t={T},v1="),
            format!("t={T},v1=zz{}", &sig[2..]),
            format!("t={T},v1={}", &sig[1..]),
            format!("t={T},v1={}", &sig[2..]),
            format!("t={T},v1={sig}00"),
            format!("t={T},v1={}é", &sig[2..]),
            format!("t={T},v1={sig},v1=nothex"),
        ];
        for header in &cases {
            assert_eq!(
                verifier.verify(SECRET, header, BODY, T),
                Err(VerifyError::Malformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn arbitrary_short_headers_never_panic() {
        // Every string up to 5 characters over an alphabet of header syntax.
        const ALPHABET: [char; 10] = ['t', 'v', '1', '=', ',', ' ', 'a', '0', '-', 'é'];
        let verifier = Verifier::default();
        let mut headers = vec![String::new()];
        for _ in 0..5 {
            headers = headers
                .iter()
                .flat_map(|h| ALPHABET.iter().map(move |c| format!("{h}{c}")))
                .collect();
            for header in &headers {
                assert!(verifier.verify(SECRET, header, BODY, T).is_err());
            }
        }
    }

    #[test]
    fn error_messages_do_not_leak_secret_or_signature() {
        let sig = sign(SECRET, T, BODY);
        let secret = String::from_utf8_lossy(SECRET);
        for error in [
            VerifyError::Malformed,
            VerifyError::MissingTimestamp,
            VerifyError::MissingSignature,
            VerifyError::TimestampOutOfTolerance,
            VerifyError::Mismatch,
        ] {
            let message = error.to_string();
            assert!(!message.is_empty());
            assert!(!message.contains(&*secret) && !message.contains(&sig));
            let _: &dyn std::error::Error = &error;
        }
    }
}
