//! The Policies page: the namespace's rules in order with what each decided, the form that
//! edits them and the pending caps, and the standing grants with their state.

use askama::Template;
use assent_core::Timestamp;
use assent_core::policy::{Binding, Grant, Rule};
use assent_store::{Policy, StoredRule};
use serde_json::Value;

use super::{Nav, When};

#[derive(Debug, Template)]
#[template(path = "policies.html")]
pub(in crate::dashboard) struct PoliciesPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub rules: Vec<RuleItem>,
    /// The rules as the edit form shows them: JSON, one rule an object.
    pub rules_json: String,
    pub max_pending: String,
    pub max_pending_per_service: String,
    pub grants: Vec<GrantItem>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct RuleItem {
    pub id: String,
    pub position: usize,
    /// `auto_approve`, `auto_reject`, `ask`.
    pub effect: &'static str,
    /// The conditions in words.
    pub conditions: String,
    pub description: Option<String>,
    pub matched: i64,
    pub last_matched: Option<When>,
}

#[derive(Debug)]
pub(in crate::dashboard) struct GrantItem {
    pub id: String,
    pub service: String,
    pub action: String,
    /// What it is bound to, in words.
    pub binding: String,
    /// `once`, `timed`, `always`.
    pub uses: &'static str,
    /// `active`, `used`, `expired`, `revoked`.
    pub state: &'static str,
    pub expires: Option<When>,
    pub matched: i64,
    pub active: bool,
}

impl PoliciesPage {
    pub fn new(nav: Nav, policy: &Policy, grants: Vec<Grant>) -> Self {
        let rules: Vec<Rule> = policy.rules.iter().map(|r| r.rule.clone()).collect();
        Self {
            csrf: nav.csrf.clone(),
            nav: Some(nav),
            rules: policy
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleItem::new(i + 1, r))
                .collect(),
            rules_json: rules_json(&rules),
            max_pending: policy
                .caps
                .namespace
                .map(|n| n.to_string())
                .unwrap_or_default(),
            max_pending_per_service: policy
                .caps
                .per_service
                .map(|n| n.to_string())
                .unwrap_or_default(),
            grants: grants.into_iter().map(GrantItem::new).collect(),
            error: None,
            notice: None,
        }
    }
}

/// Rules as the edit form holds them: without the empty conditions, so what an owner reads is
/// what they wrote.
fn rules_json(rules: &[Rule]) -> String {
    let shown: Vec<Value> = rules
        .iter()
        .map(|r| {
            let mut rule = r.to_json();
            if let Value::Object(fields) = &mut rule {
                fields.retain(|_, v| !(v.is_null() || v.as_array().is_some_and(|a| a.is_empty())));
            }
            rule
        })
        .collect();
    serde_json::to_string_pretty(&shown).unwrap_or_else(|_| "[]".to_owned())
}

impl RuleItem {
    fn new(position: usize, stored: &StoredRule) -> Self {
        let r = &stored.rule;
        let mut parts = Vec::new();
        if let Some(kind) = r.kind {
            parts.push(format!("{}s", kind.as_str()));
        }
        let list = |name: &str, values: Vec<String>| format!("{name} {}", values.join(" or "));
        if !r.services.is_empty() {
            parts.push(list("service", r.services.clone()));
        }
        if !r.agent_keys.is_empty() {
            parts.push(list("agent key", r.agent_keys.clone()));
        }
        if !r.sources.is_empty() {
            parts.push(list(
                "from",
                r.sources.iter().map(ToString::to_string).collect(),
            ));
        }
        if let Some(action) = &r.action {
            parts.push(format!("action {action}"));
        }
        if !r.flags.is_empty() {
            parts.push(format!("flagged {}", r.flags.join(" and ")));
        }
        if !r.risks.is_empty() {
            parts.push(list(
                "risk",
                r.risks.iter().map(|k| k.as_str().to_owned()).collect(),
            ));
        }
        Self {
            id: r.id.clone(),
            position,
            effect: r.effect.as_str(),
            conditions: if parts.is_empty() {
                "every request".to_owned()
            } else {
                parts.join("; ")
            },
            description: r.description.clone(),
            matched: stored.matched,
            last_matched: stored.last_matched_at.map(When::from),
        }
    }
}

impl GrantItem {
    fn new(g: Grant) -> Self {
        let state = g.state(Timestamp::now());
        Self {
            binding: match &g.binding {
                Binding::Digest(d) => format!("the same arguments ({})", short(d)),
                Binding::Pattern(p) => format!("arguments matching {}", Value::Object(p.clone())),
            },
            active: state == "active",
            state,
            uses: g.uses.as_str(),
            expires: g.expires_at.map(When::from),
            matched: g.matched,
            id: g.id,
            service: g.service_slug,
            action: g.action,
        }
    }
}

/// `sha256:` and the first 12 hex digits: enough to tell digests apart on a page.
fn short(digest: &str) -> String {
    digest.chars().take(19).collect::<String>() + "…"
}
