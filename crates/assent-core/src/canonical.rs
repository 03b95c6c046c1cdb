//! Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the digest that binds a
//! decision to exact content.
//!
//! An approval given for `{"amount": 10}` must not be usable for `{"amount": 1000}`, and the same
//! arguments written with other key order or number spelling must still match. So content is
//! compared by the SHA-256 of its canonical form, never by its bytes as sent.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The RFC 8785 serialization of `value`: keys sorted by UTF-16 code units, no insignificant
/// whitespace, numbers in their shortest ECMAScript form.
#[expect(
    clippy::expect_used,
    reason = "serde_jcs fails only for what JSON cannot hold (non-string keys, NaN), which a serde_json::Value never holds"
)]
pub fn canonical_json(value: &Value) -> String {
    serde_jcs::to_string(value).expect("a serde_json::Value always has a canonical form")
}

/// `sha256:` and the lowercase hex SHA-256 of the canonical JSON of `value`.
///
/// The algorithm is named in the string so that a stored digest says how it was made.
pub fn digest(value: &Value) -> String {
    let hash = Sha256::digest(canonical_json(value).as_bytes());
    format!("sha256:{}", hex::encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_change_the_digest() {
        let a: Value = serde_json::from_str(r#"{"b": [1, 2], "a": {"y": 1, "x": "é"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"é","y":1},"b":[1,2]}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"é","y":1},"b":[1,2]}"#);
        assert_eq!(digest(&a), digest(&b));
    }

    #[test]
    fn different_content_has_a_different_digest() {
        assert_ne!(
            digest(&json!({"amount": 10})),
            digest(&json!({"amount": 1000}))
        );
        assert_ne!(digest(&json!([1, 2])), digest(&json!([2, 1])));
        assert_ne!(digest(&json!({"a": "1"})), digest(&json!({"a": 1})));
    }

    #[test]
    fn numbers_take_their_shortest_form() {
        // RFC 8785 section 3.2.2.3: numbers are serialized as ECMAScript does.
        let v: Value = serde_json::from_str(r#"[1.0, 1e2, 0.5e-1, -0]"#).unwrap();
        assert_eq!(canonical_json(&v), "[1,100,0.05,0]");
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16, so it sorts before U+FB33, though
        // after it in UTF-8 byte order (F0 against EF): RFC 8785 section 3.2.3 asks for UTF-16.
        let v = json!({"\u{fb33}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_json(&v), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn the_digest_names_its_algorithm() {
        let d = digest(&json!({}));
        assert_eq!(
            d,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
