//! Namespaces: every account owns exactly one, and every service lives in one.

use std::fmt;

use serde::Serialize;

/// 3 to 64 characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit
/// (`^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Namespace(String);

/// Names no account may take: every literal path segment the API and the dashboard use (a
/// namespace called `claims` would own `/v1/namespaces/claims`, which is the claims feed),
/// and a few that would mislead. A test in `assent-http` holds this list to every route of
/// the OpenAPI document and the dashboard.
pub const RESERVED: &[&str] = &[
    "account",
    "acknowledge",
    "admin",
    "api",
    "approve",
    "assent",
    "audit",
    "audit-log",
    "auth",
    "channels",
    "claims",
    "client",
    "dashboard",
    "decide",
    "delete",
    "deliveries",
    "did",
    "end",
    "end-others",
    "events",
    "grants",
    "health",
    "history",
    "identifiers",
    "inbox",
    "invites",
    "items",
    "keys",
    "links",
    "login",
    "logout",
    "mcp",
    "messages",
    "metrics",
    "namespaces",
    "notifications",
    "openapi",
    "password",
    "policies",
    "ready",
    "reject",
    "reset-password",
    "respond",
    "retry",
    "revoke",
    "rotate",
    "rotate-secret",
    "services",
    "sessions",
    "settings",
    "signup",
    "static",
    "stream",
    "test",
    "tokens",
    "verification",
    "verify",
    "web-push",
    "webhooks",
    "well-known",
];

impl Namespace {
    /// Whether this name is in [`RESERVED`]: valid in shape, but no account may own it.
    pub fn is_reserved(&self) -> bool {
        RESERVED.contains(&self.0.as_str())
    }

    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let bytes = value.as_bytes();
        if !(3..=64).contains(&bytes.len()) {
            return Err("must be 3 to 64 characters long");
        }
        let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !bytes.iter().all(|&b| edge_ok(b) || b == b'-') {
            return Err("may contain only lowercase letters, digits and hyphens");
        }
        if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
            return Err("must start and end with a letter or digit");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace's decentralised identifier, `did:sigilum:<namespace>`.
    pub fn did(&self) -> String {
        format!("did:sigilum:{}", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        assert!(Namespace::parse("ada").is_ok());
        assert!(Namespace::parse("team-42").is_ok());
        assert!(Namespace::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["ab", "Ada", "-ada", "ada-", "a_b", "a.b", "", "ädä"] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
        assert!(Namespace::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn reserved_names_are_valid_shapes_and_sorted() {
        for name in RESERVED {
            let parsed = Namespace::parse(name).unwrap();
            assert!(parsed.is_reserved(), "{name}");
        }
        assert!(
            RESERVED.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        assert!(!Namespace::parse("ada").unwrap().is_reserved());
    }

    #[test]
    fn has_a_sigilum_did() {
        assert_eq!(
            Namespace::parse("ada").map(|n| n.did()),
            Ok("did:sigilum:ada".to_owned())
        );
    }
}
