//! API keys and user tokens as listed (never the secret), the tokens page, and a secret just
//! minted, which is shown once.

use askama::Template;

use super::{Nav, When};

#[derive(Debug, Template)]
#[template(path = "tokens.html")]
pub(in crate::dashboard) struct TokensPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub tokens: Vec<Credential>,
    pub name: String,
    pub error: Option<String>,
    /// A token just created, shown this once.
    pub new_token: Option<Secret>,
}

/// An API key or user token as listed: never the secret itself.
#[derive(Debug)]
pub(in crate::dashboard) struct Credential {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: When,
    pub last_used: Option<When>,
}

impl From<assent_store::ApiKey> for Credential {
    fn from(k: assent_store::ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created: When::from(k.created_at),
            last_used: k.last_used_at.map(When::from),
        }
    }
}

impl From<assent_store::UserToken> for Credential {
    fn from(t: assent_store::UserToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: When::from(t.created_at),
            last_used: t.last_used_at.map(When::from),
        }
    }
}

/// A secret just minted, with its name.
#[derive(Debug)]
pub(in crate::dashboard) struct Secret {
    pub name: String,
    pub value: String,
}
