//! Bearer tokens: minted as a fixed prefix plus 192 random bits in hex, shown once, stored as
//! their SHA-256 only.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::random;
use crate::secret::Secret;

/// The kinds of bearer token assent issues; the prefix tells a human (and a secret scanner)
/// what a leaked string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Operator credential for `POST /api/v1/services` and other admin endpoints.
    Admin,
    /// A service's API key.
    ApiKey,
    /// A human's token for the ATP client API.
    User,
    /// An owner's dashboard session.
    Session,
    /// A single-use invitation to sign up.
    Invite,
    /// A single-use link to set a new password.
    PasswordReset,
    /// A single-use link in a message to an owner: decide an item, or verify a channel.
    Link,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Admin => "adm_",
            Self::ApiKey => "sk_live_",
            Self::User => "ut_",
            Self::Session => "ses_",
            Self::Invite => "inv_",
            Self::PasswordReset => "pwr_",
            Self::Link => "lnk_",
        }
    }
}

/// How many leading characters of an API key are kept in the clear to tell keys apart.
pub const API_KEY_DISPLAY_PREFIX_LEN: usize = 12;

/// The SHA-256 of a token, in lowercase hex: what the database stores and indexes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a presented token. Cheap (about 60 ns): fine on every request.
    pub fn of(token: &str) -> Self {
        Self(hex::encode(Sha256::digest(token.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the secret, but there is no reason to print one in full either.
        write!(f, "TokenHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

/// A freshly minted token: the plaintext to show once and the hash to store.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub plaintext: Secret,
    pub hash: TokenHash,
}

impl MintedToken {
    pub fn new(kind: TokenKind) -> Self {
        let plaintext = format!("{}{}", kind.prefix(), hex::encode(random::bytes::<24>()));
        Self::from_plaintext(Secret::new(plaintext))
    }

    /// Adopts a token chosen by the operator (the bootstrap `ASSENT_ADMIN_TOKEN`).
    pub fn from_plaintext(plaintext: Secret) -> Self {
        let hash = TokenHash::of(plaintext.expose());
        Self { plaintext, hash }
    }

    /// The non-secret leading characters shown in key listings (`sk_live_3f9a`).
    pub fn display_prefix(&self) -> String {
        self.plaintext
            .expose()
            .chars()
            .take(API_KEY_DISPLAY_PREFIX_LEN)
            .collect()
    }
}

/// A webhook signing secret made by the server: `whsec_` + 32 random bytes in base64.
pub fn webhook_secret() -> Secret {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(random::bytes::<32>());
    Secret::new(format!("whsec_{encoded}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_secrets_carry_32_random_bytes() {
        use base64::Engine;
        let secret = super::webhook_secret();
        let encoded = secret.expose().strip_prefix("whsec_").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(secret.expose(), super::webhook_secret().expose());
    }

    use super::*;

    #[test]
    fn api_keys_are_sk_live_and_48_hex() {
        let key = MintedToken::new(TokenKind::ApiKey);
        let text = key.plaintext.expose();
        assert!(text.starts_with("sk_live_"));
        assert_eq!(text.len(), 8 + 48);
        assert!(text[8..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key.display_prefix(), text[..12]);
    }

    #[test]
    fn each_kind_has_its_prefix() {
        for (kind, prefix) in [
            (TokenKind::Admin, "adm_"),
            (TokenKind::User, "ut_"),
            (TokenKind::Session, "ses_"),
        ] {
            let token = MintedToken::new(kind);
            assert!(token.plaintext.expose().starts_with(prefix));
            assert_eq!(token.plaintext.expose().len(), prefix.len() + 48);
        }
    }

    #[test]
    fn hash_is_sha256_hex_of_the_plaintext() {
        // echo -n abc | sha256sum
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = MintedToken::new(TokenKind::ApiKey);
        assert_eq!(t.hash, TokenHash::of(t.plaintext.expose()));
    }

    #[test]
    fn debug_shows_neither_token_nor_full_hash() {
        let t = MintedToken::new(TokenKind::Admin);
        let debug = format!("{t:?}");
        assert!(!debug.contains(t.plaintext.expose()));
        assert!(!debug.contains(t.hash.as_str()));
    }
}
