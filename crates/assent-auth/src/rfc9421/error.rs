//! Why a signed request was refused: one 401 error with a stable `SIGNATURE_*` code per
//! reason, and the finer reason when it is the certificate. The codes are a wire contract
//! (`docs/errors.md`), so they live apart from the checks that raise them.

use std::fmt;

/// Why a certificate was refused (all `SIGNATURE_CERT_INVALID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    Undecodable,
    UnsupportedVersion,
    UnsupportedProofAlgorithm,
    MalformedProof,
    BadProof,
    ControlCharacters,
    KeyMismatch,
    NamespaceMismatch,
    DidMismatch,
    KeyIdMismatch,
    SignatureKeyIdMismatch,
    InvalidExpiry,
    Expired,
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Undecodable => "not base64url (unpadded) of a JSON certificate",
            Self::UnsupportedVersion => "version must be 1",
            Self::UnsupportedProofAlgorithm => "proof alg must be ed25519",
            Self::MalformedProof => "proof sig is not unpadded base64url of 64 bytes",
            Self::BadProof => "proof does not verify with the agent key",
            Self::ControlCharacters => "a field contains control characters",
            Self::KeyMismatch => "publicKey does not match sigilum-agent-key",
            Self::NamespaceMismatch => "namespace does not match sigilum-namespace",
            Self::DidMismatch => "did is not did:sigilum:<namespace>",
            Self::KeyIdMismatch => "keyId is not <did>#ed25519-<key fingerprint>",
            Self::SignatureKeyIdMismatch => "keyId does not match the Signature-Input keyid",
            Self::InvalidExpiry => "expiresAt is not an RFC 3339 timestamp",
            Self::Expired => "certificate expired",
        })
    }
}

/// Why a signed request was refused. Every variant is a 401; [`SignatureError::code`] is the
/// stable wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing required signed-auth header {0}")]
    Missing(&'static str),
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    #[error("header {0} contains control characters")]
    InvalidHeaderValue(&'static str),
    #[error("invalid HTTP method")]
    InvalidMethod,
    #[error("invalid target URI")]
    InvalidTargetUri,
    #[error("invalid Signature-Input header format")]
    InvalidSignatureInput,
    #[error("unsupported signature algorithm (only ed25519)")]
    UnsupportedAlgorithm,
    #[error("invalid Signature header format")]
    InvalidSignatureHeader,
    #[error("invalid sigilum-agent-key (expected ed25519:<base64 of a 32-byte key>)")]
    InvalidAgentKey,
    #[error("signature expired (created more than 300 s ago)")]
    Expired,
    #[error("signature not yet valid (created more than 30 s in the future)")]
    Future,
    #[error("invalid sigilum-agent-cert: {0}")]
    Certificate(CertificateProblem),
    #[error("invalid signed components for this request")]
    ComponentsInvalid,
    #[error("content-digest does not match the body")]
    DigestMismatch,
    #[error("signature does not verify")]
    BadSignature,
}

impl SignatureError {
    /// The stable code of the error body.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "SIGNATURE_MISSING",
            Self::DuplicateHeader(_)
            | Self::InvalidHeaderValue(_)
            | Self::InvalidMethod
            | Self::InvalidTargetUri
            | Self::InvalidSignatureInput
            | Self::UnsupportedAlgorithm
            | Self::InvalidSignatureHeader
            | Self::InvalidAgentKey
            | Self::BadSignature => "SIGNATURE_INVALID",
            Self::Expired => "SIGNATURE_EXPIRED",
            Self::Future => "SIGNATURE_FUTURE",
            Self::Certificate(_) => "SIGNATURE_CERT_INVALID",
            Self::ComponentsInvalid => "SIGNATURE_COMPONENTS_INVALID",
            Self::DigestMismatch => "SIGNATURE_DIGEST_MISMATCH",
        }
    }

    /// Every code [`Self::code`] can answer.
    pub const CODES: &[&str] = &[
        "SIGNATURE_MISSING",
        "SIGNATURE_INVALID",
        "SIGNATURE_EXPIRED",
        "SIGNATURE_FUTURE",
        "SIGNATURE_CERT_INVALID",
        "SIGNATURE_COMPONENTS_INVALID",
        "SIGNATURE_DIGEST_MISMATCH",
    ];

    /// Always 401: nothing here is the server's fault.
    pub const fn status(&self) -> u16 {
        401
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc9421::headers::H_SIGNATURE;

    #[test]
    fn every_error_has_a_signature_code_and_a_401() {
        let errors = [
            SignatureError::Missing(H_SIGNATURE),
            SignatureError::DuplicateHeader(H_SIGNATURE),
            SignatureError::InvalidHeaderValue(H_SIGNATURE),
            SignatureError::InvalidMethod,
            SignatureError::InvalidTargetUri,
            SignatureError::InvalidSignatureInput,
            SignatureError::UnsupportedAlgorithm,
            SignatureError::InvalidSignatureHeader,
            SignatureError::InvalidAgentKey,
            SignatureError::Expired,
            SignatureError::Future,
            SignatureError::Certificate(CertificateProblem::Expired),
            SignatureError::ComponentsInvalid,
            SignatureError::DigestMismatch,
            SignatureError::BadSignature,
        ];
        for error in errors {
            assert!(error.code().starts_with("SIGNATURE_"), "{error:?}");
            assert_eq!(error.status(), 401);
            assert!(!error.to_string().is_empty());
        }
    }
}
