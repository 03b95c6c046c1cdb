//! The audit log page: one entry per change to the account, the visitor's own actions shown
//! as `You`.

use askama::Template;
use serde_json::Map;

use super::{Nav, When};

#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub(in crate::dashboard) struct AuditPage {
    pub nav: Option<Nav>,
    pub entries: Vec<AuditItem>,
    /// Whether this is a later page (it links back to the first).
    pub later: bool,
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct AuditItem {
    pub at: When,
    /// `You` for the visitor's own account, else the stored actor.
    pub actor: String,
    pub action: String,
    pub target_id: String,
    /// Compact JSON; empty for no details.
    pub details: String,
}

impl AuditItem {
    pub fn new(r: assent_store::AuditRecord, own_actor: &str) -> Self {
        let empty = r.details.is_null() || r.details.as_object().is_some_and(Map::is_empty);
        Self {
            at: When::from(r.created_at),
            actor: if r.actor == own_actor {
                "You".to_owned()
            } else {
                r.actor
            },
            action: r.action,
            target_id: r.target_id,
            details: if empty {
                String::new()
            } else {
                r.details.to_string()
            },
        }
    }
}
