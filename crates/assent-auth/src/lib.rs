//! Credentials for assent: minting and hashing bearer tokens, argon2id passwords, and sealing
//! webhook secrets at rest.
//!
//! Policy: tokens (admin tokens, API keys, user tokens, sessions) are high-entropy random
//! strings, so a SHA-256 and an indexed lookup is enough to check one; argon2id is for human
//! passwords only and never runs on a hot path. Plaintexts live in [`Secret`], whose `Debug`
//! is redacted.

pub mod password;
pub mod random;
pub mod rfc9421;
pub mod sealed;
pub mod secret;
pub mod standard_webhooks;
pub mod token;
pub mod web_push;

pub use password::{PasswordError, hash_password, verify_login, verify_password};
pub use sealed::{SealError, SecretKey};
pub use secret::Secret;
pub use token::{MintedToken, TokenHash, TokenKind, webhook_secret};
