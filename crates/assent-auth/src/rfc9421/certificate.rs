//! The `sigilum-agent-cert` header: the self-signed certificate that binds an agent key to a
//! namespace. Decoding it and checking each field against the request is cheap and done first;
//! its Ed25519 proof is left to the caller, last, being the costly part.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;

use super::headers::Parsed;
use super::keys::{DID_PREFIX, key_id_for};
use super::{ALG, CertificateProblem, SignatureError};

/// Longest certificate header decoded (a real one is about 600 characters).
const MAX_CERT_LEN: usize = 16 * 1024;

/// The certificate JSON (§6.4). Unknown fields (the fixture's `issuedBy`) are ignored.
#[derive(serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Certificate {
    pub(super) version: u64,
    pub(super) namespace: String,
    pub(super) did: String,
    pub(super) key_id: String,
    pub(super) public_key: String,
    pub(super) issued_at: String,
    #[serde(default)]
    pub(super) expires_at: Option<String>,
    pub(super) proof: Proof,
}

#[derive(serde::Deserialize, serde::Serialize)]
pub(super) struct Proof {
    pub(super) alg: String,
    pub(super) sig: String,
}

/// The seven lines the certificate proof signs.
pub(super) fn certificate_proof_message(
    namespace: &str,
    did: &str,
    key_id: &str,
    public_key: &str,
    issued_at: &str,
    expires_at: Option<&str>,
) -> String {
    format!(
        "sigilum-certificate-v1\nnamespace:{namespace}\ndid:{did}\nkey-id:{key_id}\n\
         public-key:{public_key}\nissued-at:{issued_at}\nexpires-at:{}",
        expires_at.unwrap_or("")
    )
}

/// A certificate that agrees with the request, its proof still to verify (last, being the
/// costly part).
#[derive(Debug)]
pub(super) struct AgreeingCertificate {
    pub(super) key_id: String,
    /// The seven lines the proof signs.
    pub(super) proof_message: String,
    pub(super) proof: Signature,
}

/// Decodes the certificate and checks its fields against the request (no cryptography).
pub(super) fn check_certificate(
    parsed: &Parsed<'_>,
    now_unix: i64,
) -> Result<AgreeingCertificate, SignatureError> {
    use CertificateProblem as P;
    let fail = |problem| Err(SignatureError::Certificate(problem));
    let encoded = parsed.headers.agent_cert;
    if encoded.len() > MAX_CERT_LEN {
        return fail(P::Undecodable);
    }
    let Some(cert) = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice::<Certificate>(&json).ok())
    else {
        return fail(P::Undecodable);
    };
    if cert.version != 1 {
        return fail(P::UnsupportedVersion);
    }
    if !cert.proof.alg.eq_ignore_ascii_case(ALG) {
        return fail(P::UnsupportedProofAlgorithm);
    }
    let Some(proof) = URL_SAFE_NO_PAD
        .decode(&cert.proof.sig)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
    else {
        return fail(P::MalformedProof);
    };
    let texts = [
        &cert.namespace,
        &cert.did,
        &cert.key_id,
        &cert.public_key,
        &cert.issued_at,
    ];
    let expires_at = cert.expires_at.as_deref().filter(|e| !e.is_empty());
    if texts.iter().any(|t| t.chars().any(char::is_control)) {
        return fail(P::ControlCharacters);
    }
    // Self-signed: the proof is by the agent key itself, so it must be the header's key.
    if cert.public_key != parsed.headers.agent_key {
        return fail(P::KeyMismatch);
    }
    if cert.namespace != parsed.headers.namespace {
        return fail(P::NamespaceMismatch);
    }
    if cert.did != format!("{DID_PREFIX}{}", cert.namespace) {
        return fail(P::DidMismatch);
    }
    if cert.key_id != key_id_for(&cert.namespace, parsed.key.as_bytes()) {
        return fail(P::KeyIdMismatch);
    }
    if cert.key_id != parsed.input.key_id {
        return fail(P::SignatureKeyIdMismatch);
    }
    if let Some(expires_at) = expires_at {
        let Ok(expiry) =
            time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
        else {
            return fail(P::InvalidExpiry);
        };
        if i128::from(expiry.unix_timestamp()) <= i128::from(now_unix) {
            return fail(P::Expired);
        }
    }
    Ok(AgreeingCertificate {
        proof_message: certificate_proof_message(
            &cert.namespace,
            &cert.did,
            &cert.key_id,
            &cert.public_key,
            &cert.issued_at,
            expires_at,
        ),
        key_id: cert.key_id,
        proof: Signature::from_bytes(&proof),
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer;

    use super::*;
    use crate::rfc9421::headers::H_SIGNATURE_INPUT;
    use crate::rfc9421::test_fixtures::*;
    use crate::rfc9421::{AgentKey, RequestToSign};

    /// A certificate with arbitrary fields, properly self-signed by `key`.
    fn custom_cert(key: &AgentKey, edit: impl FnOnce(&mut Certificate)) -> String {
        let mut cert: Certificate =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(FIXTURE_CERT).unwrap()).unwrap();
        edit(&mut cert);
        let message = certificate_proof_message(
            &cert.namespace,
            &cert.did,
            &cert.key_id,
            &cert.public_key,
            &cert.issued_at,
            cert.expires_at.as_deref(),
        );
        cert.proof.sig = URL_SAFE_NO_PAD.encode(key.signing.sign(message.as_bytes()).to_bytes());
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cert).unwrap())
    }

    #[test]
    fn certificate_problems() {
        use CertificateProblem as P;
        let key = agent();
        let other = AgentKey::from_seed(&[9; 32]);
        let cert_err = |cert: &str, now| {
            let headers = sign(&key, "GET", b"", cert);
            check("GET", b"", &headers, now).err()
        };
        let expect = |problem| Some(SignatureError::Certificate(problem));
        let year_2030 = 1_893_456_000;

        let expiring = key.certificate(
            NAMESPACE,
            "2026-02-20T18:04:26Z",
            Some("2030-01-01T00:00:00.000Z"),
        );
        assert_eq!(cert_err(&expiring, NOW), None);
        // Signed at `now` too, so that only the certificate's expiry is in play.
        let signed_at = |now| {
            let headers = key
                .sign(&RequestToSign {
                    method: "GET",
                    target_uri: "https://api.sigilum.local/v1/verify?namespace=fixture-alice",
                    body: b"",
                    namespace: NAMESPACE,
                    subject: "fixture-alice",
                    certificate: &expiring,
                    created: now,
                    nonce: NONCE,
                })
                .unwrap();
            check("GET", b"", &headers, now).err()
        };
        assert_eq!(signed_at(year_2030 - 1), None);
        assert_eq!(signed_at(year_2030), expect(P::Expired));
        let bad_expiry = key.certificate(NAMESPACE, "2026-02-20T18:04:26Z", Some("next year"));
        assert_eq!(cert_err(&bad_expiry, NOW), expect(P::InvalidExpiry));
        let empty_expiry = key.certificate(NAMESPACE, "2026-02-20T18:04:26Z", Some(""));
        assert_eq!(
            cert_err(&empty_expiry, NOW),
            None,
            "an empty expiresAt signs like null"
        );

        let cases = [
            (custom_cert(&key, |c| c.version = 2), P::UnsupportedVersion),
            (
                custom_cert(&key, |c| c.proof.alg = "rsa".into()),
                P::UnsupportedProofAlgorithm,
            ),
            (
                custom_cert(&key, |c| c.issued_at = "a\nb".into()),
                P::ControlCharacters,
            ),
            (custom_cert(&other, |_| {}), P::BadProof),
            (
                custom_cert(&key, |c| c.public_key = other.public_key()),
                P::KeyMismatch,
            ),
            (
                custom_cert(&key, |c| {
                    c.namespace = "mallory".into();
                    c.did = "did:sigilum:mallory".into();
                }),
                P::NamespaceMismatch,
            ),
            (
                custom_cert(&key, |c| c.did = "did:sigilum:mallory".into()),
                P::DidMismatch,
            ),
            (
                custom_cert(&key, |c| c.key_id = "did:sigilum:fixture-alice#k1".into()),
                P::KeyIdMismatch,
            ),
        ];
        for (cert, problem) in cases {
            assert_eq!(cert_err(&cert, NOW), expect(problem), "{problem:?}");
        }
        let mut unsigned = custom_cert(&key, |_| {});
        unsigned = {
            let mut cert: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&unsigned).unwrap()).unwrap();
            cert["proof"]["sig"] = "AAAA".into();
            URL_SAFE_NO_PAD.encode(cert.to_string())
        };
        assert_eq!(cert_err(&unsigned, NOW), expect(P::MalformedProof));
        for junk in [
            "e30",
            "bnVsbA",
            "%%%",
            "eyJ2ZXJzaW9uIjoxfQ",
            &format!("{FIXTURE_CERT}="),
        ] {
            assert_eq!(cert_err(junk, NOW), expect(P::Undecodable), "{junk}");
        }

        // A Signature-Input keyid other than the certificate's.
        let mut headers = sign(&key, "GET", b"", FIXTURE_CERT);
        let input = headers[0].1.replace("#ed25519-99fb00dc16ee555a", "#other");
        set(&mut headers, H_SIGNATURE_INPUT, &input);
        assert_eq!(
            check("GET", b"", &headers, NOW).err(),
            expect(P::SignatureKeyIdMismatch)
        );
    }
}
