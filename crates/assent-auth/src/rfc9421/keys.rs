//! How the profile spells an agent's Ed25519 key: the `sigilum-agent-key` header
//! (`ed25519:<base64>`), its `did:key`, and the certificate `keyId` derived from it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::SignatureError;

pub(super) const KEY_PREFIX: &str = "ed25519:";
pub(super) const DID_PREFIX: &str = "did:sigilum:";

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

/// Parses `ed25519:<standard padded base64 of 32 bytes>`: the raw key, which is a valid
/// Ed25519 point. (Padded, canonical base64 has one spelling per key, so two keys are the same
/// exactly when their header strings are.)
pub fn parse_agent_key(value: &str) -> Result<[u8; 32], SignatureError> {
    decode_agent_key(value, None).map(|key| key.to_bytes())
}

/// The key in an `ed25519:` header value; `known` is returned as it is when it has the same
/// bytes, saving the point's decompression.
pub(super) fn decode_agent_key(
    value: &str,
    known: Option<&VerifyingKey>,
) -> Result<VerifyingKey, SignatureError> {
    value
        .strip_prefix(KEY_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|raw| match known {
            Some(key) if key.as_bytes() == &raw => Some(*key),
            _ => VerifyingKey::from_bytes(&raw).ok(),
        })
        .ok_or(SignatureError::InvalidAgentKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc9421::test_fixtures::*;

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
}
