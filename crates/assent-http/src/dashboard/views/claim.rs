//! A claim as the inbox and history show it: who asks for which service, with which key, and
//! where it stands.

use std::collections::HashMap;

use assent_core::claim::Claim;
use assent_core::claim::ClaimStatus;

use super::When;

#[derive(Debug)]
pub(in crate::dashboard) struct ClaimView {
    pub id: String,
    /// Who asks: the agent's name, else its id, else a generic word.
    pub agent: String,
    pub agent_id: Option<String>,
    pub service: String,
    pub service_slug: String,
    pub public_key: String,
    pub subject: Option<String>,
    pub agent_ip: Option<String>,
    pub status: &'static str,
    pub pending: bool,
    pub approved: bool,
    pub created: When,
    pub expires: When,
    pub approved_at: Option<When>,
    pub decided_at: Option<When>,
    /// What decided it, when no person did: `policy:<rule id>`, `limit:max_pending`, ….
    pub decided_by: Option<String>,
    pub(super) created_at: i64,
    pub(super) changed_at: i64,
}

impl ClaimView {
    /// `names` maps service ids to their display names.
    pub fn new(row: Claim, names: &HashMap<String, String>) -> Self {
        let status = row.status;
        let agent = row
            .agent_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| row.agent_id.clone())
            .unwrap_or_else(|| "An agent".to_owned());
        Self {
            service: names
                .get(&row.service_id)
                .cloned()
                .unwrap_or_else(|| row.service_slug.clone()),
            agent_id: row.agent_id.filter(|id| *id != agent),
            agent,
            id: row.id,
            service_slug: row.service_slug,
            public_key: row.public_key,
            subject: row.subject,
            agent_ip: row.agent_ip,
            status: status.as_str(),
            pending: status == ClaimStatus::Pending,
            approved: status == ClaimStatus::Approved,
            created: When::from(row.created_at),
            expires: When::from(row.expires_at),
            approved_at: row.approved_at.map(When::from),
            decided_at: row.decided_at.map(When::from),
            decided_by: row
                .decided_by
                .filter(|by| by.starts_with("policy:") || by.starts_with("limit:")),
            created_at: row.created_at.as_millis(),
            changed_at: row.updated_at.as_millis(),
        }
    }
}
