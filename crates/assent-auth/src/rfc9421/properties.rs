//! Property tests of the verifier, whose parsers read headers straight off the network: any
//! `Signature-Input`, `Signature` or other profile header value never panics, every header
//! the profile accepts reads back as what was written, a request signed by the signer always
//! verifies, and a request with any one header changed never does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::signature_input::{SignatureInput, parse_signature, parse_signature_input};
use super::test_fixtures::{FIXTURE_CERT, NONCE, NOW, agent, check, sign};

/// A component name: graphic ASCII but `"`, `(` and `)`.
fn component() -> impl Strategy<Value = String> {
    "[!#-'*-~]{1,16}"
}

/// A quoted parameter's value: no `"`, no control character, some beyond ASCII.
fn parameter() -> impl Strategy<Value = String> {
    "[ !#-~\\x{a0}-\\x{2ff}]{1,60}"
}

fn methods() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "post", "Get"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_signature_header_text_never_panics(
        text in prop_oneof![
            "\\PC{0,120}",
            "sig1=\\([\" a-z@-]{0,30}\\);created=[0-9]{0,17};keyid=\"[^\"]{0,8}\";alg=\"[a-zA-Z0-9]{0,8}\";nonce=\"[^\"]{0,8}\"\\PC{0,3}",
            "sig1=:[A-Za-z0-9+/=]{0,100}:?",
        ],
    ) {
        let _ = parse_signature_input(&text);
        let _ = parse_signature(&text);
    }

    #[test]
    fn a_written_signature_input_reads_back(
        components in prop::collection::vec(component(), 0..8),
        created in 1_i64..1_000_000_000_000_000,
        key_id in parameter(),
        nonce in parameter(),
        alg in prop::sample::select(vec!["ed25519", "ED25519", "Ed25519"]),
    ) {
        let list: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
        let header = format!(
            "sig1=({});created={created};keyid=\"{key_id}\";alg=\"{alg}\";nonce=\"{nonce}\"",
            list.join(" ")
        );
        let expected = SignatureInput {
            components: components.iter().map(String::as_str).collect(),
            created,
            key_id: &key_id,
            nonce: &nonce,
        };
        prop_assert_eq!(parse_signature_input(&header), Ok(expected));
    }

    #[test]
    fn a_written_signature_reads_back(bytes in prop::collection::vec(any::<u8>(), 64)) {
        let header = format!("sig1=:{}:", STANDARD.encode(&bytes));
        prop_assert_eq!(parse_signature(&header).map(Vec::from), Ok(bytes));
    }

}

// Each case signs and verifies twice over (the request and the certificate): Ed25519 in an
// unoptimised test build takes milliseconds, so fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Signed by the signer, any method and body verifies anywhere in the time window.
    #[test]
    fn a_signed_request_verifies(
        method in methods(),
        body in prop::collection::vec(any::<u8>(), 0..48),
        age in -30_i64..=300,
    ) {
        let headers = sign(&agent(), method, &body, FIXTURE_CERT);
        let verified = check(method, &body, &headers, NOW + age).unwrap();
        prop_assert_eq!(verified.nonce, NONCE);
        prop_assert_eq!(verified.created, NOW);
    }

    /// Any one header replaced by other text (or the body changed) never verifies and never
    /// panics.
    #[test]
    fn a_request_with_any_header_changed_does_not_verify(
        method in methods(),
        body in prop::collection::vec(any::<u8>(), 0..48),
        which in any::<prop::sample::Index>(),
        replacement in prop_oneof!["\\PC{0,80}", "[ \\t]{0,2}sig1=\\PC{0,40}"],
    ) {
        let mut headers = sign(&agent(), method, &body, FIXTURE_CERT);
        let slot = which.index(headers.len());
        let unchanged = replacement.trim_matches([' ', '\t']) == headers[slot].1;
        headers[slot].1 = replacement;
        let result = check(method, &body, &headers, NOW);
        prop_assert!(unchanged || result.is_err(), "{:?} verified", headers[slot]);
    }
}
