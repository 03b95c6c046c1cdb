//! Human passwords: argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane; the argon2
//! crate's defaults), about 20 ms per hash in a release build. Never on a hot path.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use assent_core::account::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long")]
    Length,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(PasswordError::Length);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a login attempt. With no stored hash (an unknown email) it still runs one argon2
/// verification, against a hash of a password nobody knows, so that an unknown email and a
/// wrong password take about the same time and answer the same.
pub fn verify_login(password: &str, stored: Option<&str>) -> bool {
    static NOBODY: OnceLock<String> = OnceLock::new();
    match stored {
        Some(stored) => verify_password(password, stored),
        None => {
            let nobody = NOBODY.get_or_init(|| {
                let unguessable = hex::encode(crate::random::bytes::<16>());
                hash_password(&unguessable).unwrap_or_default()
            });
            let _ = verify_password(password, nobody);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(
            hash_password("same password").unwrap(),
            hash_password("same password").unwrap()
        );
    }

    #[test]
    fn length_rules() {
        assert_eq!(hash_password("short"), Err(PasswordError::Length));
        assert_eq!(hash_password(&"x".repeat(257)), Err(PasswordError::Length));
    }

    #[test]
    fn an_unknown_account_never_logs_in() {
        assert!(!verify_login("anything at all", None));
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_login("correct horse battery", Some(&hash)));
        assert!(!verify_login("wrong", Some(&hash)));
    }

    #[test]
    fn a_garbage_stored_hash_never_matches() {
        assert!(!verify_password("anything", "not-a-phc-string"));
    }
}
