//! The two headers that carry the signature: `Signature-Input` (which components were signed,
//! when, with which key id and nonce) and `Signature` (the 64 bytes). The profile accepts one
//! exact shape of each, so that what we rebuild is what the agent signed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{ALG, LABEL, SignatureError};

/// Longest nonce accepted: the caller stores it (the SDKs send a 36-character UUID).
const MAX_NONCE_LEN: usize = 256;

/// A parsed `Signature-Input` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput<'a> {
    pub components: Vec<&'a str>,
    pub created: i64,
    pub key_id: &'a str,
    pub nonce: &'a str,
}

/// Parses `sig1=(<components>);created=<int>;keyid="<k>";alg="ed25519";nonce="<n>"`: label
/// `sig1`, exactly these parameters in this order, components double-quoted and separated by
/// single spaces, `created` a positive integer without leading zeros, `alg` ed25519 in any
/// case. Any other shape is [`SignatureError::InvalidSignatureInput`].
pub fn parse_signature_input(value: &str) -> Result<SignatureInput<'_>, SignatureError> {
    use SignatureError::InvalidSignatureInput as Invalid;
    let rest = value
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=("))
        .ok_or(Invalid)?;
    let (list, rest) = rest.split_once(')').ok_or(Invalid)?;
    let components = parse_component_list(list)?;
    let rest = rest.strip_prefix(";created=").ok_or(Invalid)?;
    let (created, rest) = rest.split_once(';').ok_or(Invalid)?;
    let created = parse_created(created)?;
    let (key_id, rest) = quoted_parameter(rest, "keyid=")?;
    let (alg, rest) = quoted_parameter(rest.strip_prefix(';').ok_or(Invalid)?, "alg=")?;
    let (nonce, rest) = quoted_parameter(rest.strip_prefix(';').ok_or(Invalid)?, "nonce=")?;
    if !rest.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(Invalid);
    }
    if !alg.eq_ignore_ascii_case(ALG) {
        return Err(SignatureError::UnsupportedAlgorithm);
    }
    Ok(SignatureInput {
        components,
        created,
        key_id,
        nonce,
    })
}

/// `"a" "b" "c"`: names quoted and non-empty, single spaces between. An empty list parses
/// (and is then refused as the wrong set of components).
fn parse_component_list(list: &str) -> Result<Vec<&str>, SignatureError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(' ')
        .map(|item| {
            item.strip_prefix('"')
                .and_then(|i| i.strip_suffix('"'))
                .filter(|name| {
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'(' | b')'))
                })
                .ok_or(SignatureError::InvalidSignatureInput)
        })
        .collect()
}

/// A positive decimal integer, no sign and no leading zero (so that it prints back the same
/// in `@signature-params`), small enough for any sane clock.
fn parse_created(digits: &str) -> Result<i64, SignatureError> {
    let well_formed = (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !well_formed {
        return Err(SignatureError::InvalidSignatureInput);
    }
    digits
        .parse()
        .map_err(|_| SignatureError::InvalidSignatureInput)
}

/// `name="value"` at the start of `input`: the value non-empty, without `"` or control
/// characters. Returns the value and what follows the closing quote.
fn quoted_parameter<'a>(input: &'a str, name: &str) -> Result<(&'a str, &'a str), SignatureError> {
    let rest = input
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('"'))
        .ok_or(SignatureError::InvalidSignatureInput)?;
    let (value, rest) = rest
        .split_once('"')
        .ok_or(SignatureError::InvalidSignatureInput)?;
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(SignatureError::InvalidSignatureInput);
    }
    Ok((value, rest))
}

/// Parses `sig1=:<standard base64 of 64 bytes>:`.
pub fn parse_signature(value: &str) -> Result<[u8; 64], SignatureError> {
    value
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=:"))
        .and_then(|r| r.strip_suffix(':'))
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or(SignatureError::InvalidSignatureHeader)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::rfc9421::COMPONENTS_WITHOUT_BODY;
    use crate::rfc9421::test_fixtures::*;

    const INPUT: &str = r#"sig1=("@method" "@target-uri" "sigilum-namespace" "sigilum-subject" "sigilum-agent-key" "sigilum-agent-cert");created=1700000000;keyid="did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a";alg="ed25519";nonce="123e4567-e89b-12d3-a456-426614174000""#;

    #[test]
    fn parses_the_profile_signature_input() {
        let input = parse_signature_input(INPUT).unwrap();
        assert_eq!(input.components, COMPONENTS_WITHOUT_BODY);
        assert_eq!(input.created, NOW);
        assert_eq!(
            input.key_id,
            "did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a"
        );
        assert_eq!(input.nonce, NONCE);
        let upper = INPUT.replace(r#"alg="ed25519""#, r#"alg="ED25519""#);
        assert!(
            parse_signature_input(&upper).is_ok(),
            "alg is case-insensitive"
        );
        assert_eq!(
            parse_signature_input(r#"sig1=();created=1;keyid="k";alg="ed25519";nonce="n""#)
                .unwrap()
                .components,
            Vec::<&str>::new()
        );
    }

    #[test]
    fn refuses_any_other_signature_input_shape() {
        use SignatureError::{InvalidSignatureInput as Invalid, UnsupportedAlgorithm};
        let keyid = r#"keyid="did:sigilum:fixture-alice#ed25519-99fb00dc16ee555a""#;
        let cases: Vec<(String, SignatureError)> = vec![
            (INPUT.replacen("sig1=", "sig2=", 1), Invalid),
            (INPUT.replacen("sig1=", "", 1), Invalid),
            (INPUT.replacen("sig1=", "SIG1=", 1), Invalid),
            (
                INPUT.replace(r#"alg="ed25519""#, r#"alg="rsa-pss-sha512""#),
                UnsupportedAlgorithm,
            ),
            (INPUT.replace(r#"alg="ed25519""#, "alg=ed25519"), Invalid),
            (INPUT.replace("created=1700000000", "created=0"), Invalid),
            (
                INPUT.replace("created=1700000000", "created=-1700000000"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=01700000000"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=1700000000.5"),
                Invalid,
            ),
            (
                INPUT.replace("created=1700000000", "created=99999999999999999999"),
                Invalid,
            ),
            (INPUT.replace("created=1700000000", "created="), Invalid),
            (
                INPUT.replace("created=1700000000", r#"created="1700000000""#),
                Invalid,
            ),
            (INPUT.replace(NONCE, ""), Invalid),
            (
                INPUT.replace(NONCE, &"n".repeat(MAX_NONCE_LEN + 1)),
                Invalid,
            ),
            (INPUT.replace(NONCE, "a\u{7}b"), Invalid),
            (
                INPUT.replace(&format!("nonce=\"{NONCE}\""), "nonce=\"abc"),
                Invalid,
            ),
            (format!("{INPUT};tag=\"x\""), Invalid),
            (format!("{INPUT} "), Invalid),
            (INPUT.replace(&format!(";{keyid}"), ""), Invalid),
            // The order the published docs show: created;nonce;alg;keyid.
            (
                format!(
                    r#"sig1=("@method");created=1700000000;nonce="{NONCE}";alg="ed25519";{keyid}"#
                ),
                Invalid,
            ),
            (INPUT.replace("\" \"", "\"  \""), Invalid),
            (INPUT.replace("\"@method\"", "@method"), Invalid),
            (INPUT.replace("\"@method\"", "\"\""), Invalid),
            (INPUT.replace("\"@method\"", "\"@method"), Invalid),
            (INPUT.replace(')', ""), Invalid),
            (String::new(), Invalid),
            ("sig1=".to_owned(), Invalid),
            ("sig1=(".to_owned(), Invalid),
            ("\"\"\"\"".to_owned(), Invalid),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_signature_input(&value), Err(expected), "{value}");
        }
    }

    #[test]
    fn parses_only_a_64_byte_sig1_signature() {
        let good = format!("sig1=:{}:", STANDARD.encode([7u8; 64]));
        assert_eq!(parse_signature(&good), Ok([7u8; 64]));
        let bad = [
            format!("sig1=:{}:", STANDARD.encode([7u8; 63])),
            format!("sig1=:{}:", STANDARD.encode([7u8; 65])),
            format!("sig2=:{}:", STANDARD.encode([7u8; 64])),
            format!("sig1={}", STANDARD.encode([7u8; 64])),
            format!("sig1=:{}", STANDARD.encode([7u8; 64])),
            format!(
                "sig1=:{}:",
                STANDARD.encode([7u8; 64]).trim_end_matches('=')
            ),
            format!("sig1=:{}:", URL_SAFE_NO_PAD.encode([0xfbu8; 64])),
            "sig1=::".to_owned(),
            "sig1=:!!!!:".to_owned(),
            String::new(),
        ];
        for value in bad {
            assert_eq!(
                parse_signature(&value),
                Err(SignatureError::InvalidSignatureHeader),
                "{value}"
            );
        }
    }
}
