//! The profile's headers as the verifier reads them: each present exactly once and non-empty,
//! none with a line break that could forge a line of the signature base, then parsed into the
//! values the later checks compare.

use ed25519_dalek::VerifyingKey;

use super::keys::decode_agent_key;
use super::proof_cache::ProofCache;
use super::signature_input::{SignatureInput, parse_signature, parse_signature_input};
use super::{SignatureError, SignedRequest, body_is_signed};

pub(super) const H_SIGNATURE_INPUT: &str = "signature-input";
pub(super) const H_SIGNATURE: &str = "signature";
pub(super) const H_NAMESPACE: &str = "sigilum-namespace";
pub(super) const H_SUBJECT: &str = "sigilum-subject";
pub(super) const H_AGENT_KEY: &str = "sigilum-agent-key";
pub(super) const H_AGENT_CERT: &str = "sigilum-agent-cert";
pub(super) const H_CONTENT_DIGEST: &str = "content-digest";

/// The profile's headers, trimmed.
#[derive(Debug)]
pub(super) struct ProfileHeaders<'a> {
    pub(super) signature_input: &'a str,
    pub(super) signature: &'a str,
    pub(super) namespace: &'a str,
    pub(super) subject: &'a str,
    pub(super) agent_key: &'a str,
    pub(super) agent_cert: &'a str,
    /// Present when the body is signed.
    pub(super) content_digest: Option<&'a str>,
}

/// A request whose headers are all there and well formed (not yet checked against each other).
#[derive(Debug)]
pub(super) struct Parsed<'a> {
    pub(super) headers: ProfileHeaders<'a>,
    pub(super) input: SignatureInput<'a>,
    pub(super) signature: [u8; 64],
    pub(super) key: VerifyingKey,
    /// The certificate's proof verified before (it is in the [`ProofCache`]), with this key.
    pub(super) proven: bool,
}

impl<'a> Parsed<'a> {
    /// A certificate in `proofs` lends its key, decompressed, when the header names that same
    /// key (the certificate is checked to name the header's key later, on every request).
    pub(super) fn from_request(
        request: &SignedRequest<'a>,
        proofs: &ProofCache,
    ) -> Result<Self, SignatureError> {
        let body_signed = body_is_signed(request.method, request.body);
        let headers = ProfileHeaders {
            signature_input: required_header(request, H_SIGNATURE_INPUT)?,
            signature: required_header(request, H_SIGNATURE)?,
            namespace: required_header(request, H_NAMESPACE)?,
            subject: required_header(request, H_SUBJECT)?,
            agent_key: required_header(request, H_AGENT_KEY)?,
            agent_cert: required_header(request, H_AGENT_CERT)?,
            content_digest: if body_signed {
                Some(required_header(request, H_CONTENT_DIGEST)?)
            } else {
                None
            },
        };
        headers.check_values()?;
        let input = parse_signature_input(headers.signature_input)?;
        let signature = parse_signature(headers.signature)?;
        let known = proofs.key_of(&ProofCache::fingerprint(headers.agent_cert));
        let key = decode_agent_key(headers.agent_key, known.as_ref())?;
        Ok(Self {
            headers,
            input,
            signature,
            proven: known == Some(key),
            key,
        })
    }
}

impl ProfileHeaders<'_> {
    /// A line break in a value could forge extra lines of the signature base.
    fn check_values(&self) -> Result<(), SignatureError> {
        let values = [
            (H_SIGNATURE_INPUT, self.signature_input),
            (H_SIGNATURE, self.signature),
            (H_NAMESPACE, self.namespace),
            (H_SUBJECT, self.subject),
            (H_AGENT_KEY, self.agent_key),
            (H_AGENT_CERT, self.agent_cert),
            (H_CONTENT_DIGEST, self.content_digest.unwrap_or_default()),
        ];
        match values
            .iter()
            .find(|(_, value)| value.chars().any(|c| c.is_control() && c != '\t'))
        {
            Some((name, _)) => Err(SignatureError::InvalidHeaderValue(name)),
            None => Ok(()),
        }
    }
}

/// A header that must be present once and non-empty; its value trimmed of HTTP whitespace.
fn required_header<'a>(
    request: &SignedRequest<'a>,
    name: &'static str,
) -> Result<&'a str, SignatureError> {
    let mut found = None;
    for (header, value) in request.headers {
        if header.eq_ignore_ascii_case(name) {
            if found.is_some() {
                // Two values: the verifier and a handler could each pick a different one.
                return Err(SignatureError::DuplicateHeader(name));
            }
            found = Some(value.trim_matches([' ', '\t']));
        }
    }
    found
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc9421::test_fixtures::*;

    #[test]
    fn header_problems() {
        let key = agent();
        let headers = sign(&key, "POST", b"{}", FIXTURE_CERT);
        for name in [
            H_SIGNATURE_INPUT,
            H_SIGNATURE,
            H_NAMESPACE,
            H_SUBJECT,
            H_AGENT_KEY,
            H_AGENT_CERT,
            H_CONTENT_DIGEST,
        ] {
            let without: Vec<_> = headers.iter().filter(|(n, _)| n != name).cloned().collect();
            assert_eq!(
                check("POST", b"{}", &without, NOW),
                Err(SignatureError::Missing(name))
            );
            let mut empty = headers.clone();
            set(&mut empty, name, "  ");
            assert_eq!(
                check("POST", b"{}", &empty, NOW),
                Err(SignatureError::Missing(name))
            );
            let mut twice = headers.clone();
            twice.extend(headers.iter().filter(|(n, _)| n == name).cloned());
            assert_eq!(
                check("POST", b"{}", &twice, NOW),
                Err(SignatureError::DuplicateHeader(name))
            );
        }
        let mut injected = headers.clone();
        set(
            &mut injected,
            H_SUBJECT,
            "x\n\"sigilum-subject\": fixture-alice",
        );
        assert_eq!(
            check("POST", b"{}", &injected, NOW),
            Err(SignatureError::InvalidHeaderValue(H_SUBJECT))
        );
        // A body-less request needs no content-digest.
        let get = sign(&key, "GET", b"", FIXTURE_CERT);
        assert!(get.iter().all(|(n, _)| n != H_CONTENT_DIGEST));
    }
}
