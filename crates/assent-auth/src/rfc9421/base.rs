//! The signature base: the exact text an agent signs, rebuilt from the request. Which
//! components a request must sign, how `@method` and `@target-uri` are normalised, the
//! `content-digest` of a body, and the lines and `@signature-params` they make.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::headers::{H_AGENT_CERT, H_AGENT_KEY, H_CONTENT_DIGEST, H_NAMESPACE, H_SUBJECT, Parsed};
use super::{ALG, SignatureError, SignedRequest};

/// The signed components of a body-less request, in the only accepted order.
pub const COMPONENTS_WITHOUT_BODY: [&str; 6] = [
    "@method",
    "@target-uri",
    H_NAMESPACE,
    H_SUBJECT,
    H_AGENT_KEY,
    H_AGENT_CERT,
];
/// The signed components of a request with a body: `content-digest` after `@target-uri`.
pub const COMPONENTS_WITH_BODY: [&str; 7] = [
    "@method",
    "@target-uri",
    H_CONTENT_DIGEST,
    H_NAMESPACE,
    H_SUBJECT,
    H_AGENT_KEY,
    H_AGENT_CERT,
];

/// `@target-uri`: the WHATWG serialisation of the URL without its fragment (default ports
/// dropped, percent-encoding normalised). Only absolute `http`/`https` URLs with a host.
pub fn normalize_target_uri(target_uri: &str) -> Result<String, SignatureError> {
    let mut url = url::Url::parse(target_uri).map_err(|_| SignatureError::InvalidTargetUri)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SignatureError::InvalidTargetUri);
    }
    url.set_fragment(None);
    Ok(url.into())
}

/// `@method`: the method lowercased (the profile's deliberate deviation from RFC 9421).
pub fn method_component(method: &str) -> Result<String, SignatureError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(SignatureError::InvalidMethod);
    }
    Ok(method.to_ascii_lowercase())
}

/// Whether the body is signed: a non-empty body, except on GET and HEAD, which are always
/// treated as body-less (the caller must not act on a GET or HEAD body: it is unsigned).
pub fn body_is_signed(method: &str, body: &[u8]) -> bool {
    !body.is_empty() && !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD")
}

/// The component list a request must sign, in order.
pub fn expected_components(method: &str, body: &[u8]) -> &'static [&'static str] {
    if body_is_signed(method, body) {
        &COMPONENTS_WITH_BODY
    } else {
        &COMPONENTS_WITHOUT_BODY
    }
}

/// `content-digest` for a body: `sha-256=:<base64 of SHA-256(body)>:`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Checks the component list and the digest, then builds the base.
pub(super) fn signature_base_of(
    request: &SignedRequest<'_>,
    parsed: &Parsed<'_>,
) -> Result<String, SignatureError> {
    let expected = expected_components(request.method, request.body);
    if parsed.input.components != expected {
        return Err(SignatureError::ComponentsInvalid);
    }
    if let Some(digest) = parsed.headers.content_digest
        && digest != content_digest(request.body)
    {
        return Err(SignatureError::DigestMismatch);
    }
    let base = BaseInput {
        method: &method_component(request.method)?,
        target_uri: &normalize_target_uri(request.target_uri)?,
        content_digest: parsed.headers.content_digest,
        namespace: parsed.headers.namespace,
        subject: parsed.headers.subject,
        agent_key: parsed.headers.agent_key,
        agent_cert: parsed.headers.agent_cert,
        created: parsed.input.created,
        key_id: parsed.input.key_id,
        nonce: parsed.input.nonce,
    };
    Ok(base.build())
}

/// Everything that goes into a signature base, already normalised.
pub(super) struct BaseInput<'a> {
    pub(super) method: &'a str,
    pub(super) target_uri: &'a str,
    pub(super) content_digest: Option<&'a str>,
    pub(super) namespace: &'a str,
    pub(super) subject: &'a str,
    pub(super) agent_key: &'a str,
    pub(super) agent_cert: &'a str,
    pub(super) created: i64,
    pub(super) key_id: &'a str,
    pub(super) nonce: &'a str,
}

impl BaseInput<'_> {
    /// One `"<name>": <value>` line per component, then `"@signature-params"`, joined by `\n`.
    pub(super) fn build(&self) -> String {
        let components: &[&str] = match self.content_digest {
            Some(_) => &COMPONENTS_WITH_BODY,
            None => &COMPONENTS_WITHOUT_BODY,
        };
        let mut lines: Vec<String> = components
            .iter()
            .map(|&name| {
                let value = match name {
                    "@method" => self.method,
                    "@target-uri" => self.target_uri,
                    H_CONTENT_DIGEST => self.content_digest.unwrap_or_default(),
                    H_NAMESPACE => self.namespace,
                    H_SUBJECT => self.subject,
                    H_AGENT_KEY => self.agent_key,
                    _ => self.agent_cert,
                };
                format!("\"{name}\": {value}")
            })
            .collect();
        lines.push(format!(
            "\"@signature-params\": {}",
            self.signature_params(components)
        ));
        lines.join("\n")
    }

    /// The Signature-Input value without its label; `alg` always lowercase, as Sigilum's
    /// server rebuilds it.
    pub(super) fn signature_params(&self, components: &[&str]) -> String {
        let quoted: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
        format!(
            "({});created={};keyid=\"{}\";alg=\"{ALG}\";nonce=\"{}\"",
            quoted.join(" "),
            self.created,
            self.key_id,
            self.nonce
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc9421::headers::H_SIGNATURE_INPUT;
    use crate::rfc9421::test_fixtures::*;

    #[test]
    fn normalises_target_uris() {
        let cases = [
            (
                "https://api.sigilum.local:443/v1/x#frag",
                "https://api.sigilum.local/v1/x",
            ),
            (
                "http://API.Sigilum.LOCAL:80/v1/x?a=%2F#",
                "http://api.sigilum.local/v1/x?a=%2F",
            ),
            ("https://h:8443/a/../b?q=1", "https://h:8443/b?q=1"),
            ("https://h", "https://h/"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_target_uri(input).unwrap(), expected);
        }
        for bad in [
            "",
            "/v1/x",
            "ftp://h/x",
            "mailto:a@b",
            "https://",
            "data:text/plain,x",
        ] {
            assert_eq!(
                normalize_target_uri(bad),
                Err(SignatureError::InvalidTargetUri),
                "{bad}"
            );
        }
    }

    #[test]
    fn method_and_components() {
        assert_eq!(method_component("PoSt").unwrap(), "post");
        assert_eq!(method_component(""), Err(SignatureError::InvalidMethod));
        assert_eq!(
            method_component("GET /"),
            Err(SignatureError::InvalidMethod)
        );
        assert_eq!(expected_components("POST", b"x"), COMPONENTS_WITH_BODY);
        assert_eq!(expected_components("POST", b""), COMPONENTS_WITHOUT_BODY);
        assert_eq!(expected_components("get", b"x"), COMPONENTS_WITHOUT_BODY);
        assert_eq!(expected_components("Head", b"x"), COMPONENTS_WITHOUT_BODY);
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn components_digest_and_signature() {
        let key = agent();
        // The Go SDK's variant with sigilum-agent-id: the profile refuses it.
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        let input = headers[0].1.replace(
            "\"sigilum-subject\"",
            "\"sigilum-subject\" \"sigilum-agent-id\"",
        );
        set(&mut headers, H_SIGNATURE_INPUT, &input);
        assert_eq!(
            check("GET", b"", &headers, NOW),
            Err(SignatureError::ComponentsInvalid)
        );
        // Signed as body-less, sent with a body.
        let headers = sign(&key, "POST", b"", FIXTURE_CERT);
        let mut with_digest = headers.clone();
        with_digest.push((H_CONTENT_DIGEST.into(), content_digest(b"{}")));
        assert_eq!(
            check("POST", b"{}", &with_digest, NOW),
            Err(SignatureError::ComponentsInvalid)
        );

        let mut headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        assert_eq!(
            check("POST", b"{ }", &headers, NOW),
            Err(SignatureError::DigestMismatch)
        );
        set(&mut headers, H_CONTENT_DIGEST, &content_digest(b"{ }"));
        assert_eq!(
            check("POST", b"{ }", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
        let headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        assert_eq!(
            check("PUT", b"{}", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        set(&mut headers, H_SUBJECT, "mallory");
        assert_eq!(
            check("GET", b"", &headers, NOW),
            Err(SignatureError::BadSignature)
        );
    }
}
