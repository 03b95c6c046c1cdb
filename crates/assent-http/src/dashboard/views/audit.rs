//! The audit log page: one entry per change to the account, read as a sentence ("You revoked
//! API key ak_… of service Billing") with links to what still exists, the visitor's own actions
//! shown as `You`, and the stored details kept under a disclosure.

use std::collections::HashMap;

use askama::Template;
use serde_json::{Map, Value};

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
    /// The entry in words, part by part.
    pub sentence: Vec<Part>,
    pub action: String,
    pub target_id: String,
    /// Compact JSON; empty for no details.
    pub details: String,
    /// The client address the change came from; empty for the command line.
    pub client_addr: String,
}

/// A piece of a sentence: plain words, an id or value (`code`), or a link.
#[derive(Debug)]
pub(in crate::dashboard) struct Part {
    pub text: String,
    pub code: bool,
    pub href: Option<String>,
}

impl Part {
    fn words(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            code: false,
            href: None,
        }
    }

    fn code(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            code: true,
            href: None,
        }
    }

    fn link(text: impl Into<String>, href: String) -> Self {
        Self {
            text: text.into(),
            code: false,
            href: Some(href),
        }
    }
}

impl AuditItem {
    /// `own_actor` is the visitor's actor (`account:…`); `services` holds the name and slug
    /// of each service that still exists, by id, so they are linked.
    pub fn new(r: assent_store::AuditRecord, own_actor: &str, services: &Services) -> Self {
        let empty = r.details.is_null() || r.details.as_object().is_some_and(Map::is_empty);
        let actor = if r.actor == own_actor {
            "You".to_owned()
        } else {
            r.actor.clone()
        };
        let mut sentence = vec![Part::words(actor)];
        sentence.extend(describe(&r, services));
        Self {
            at: When::from(r.created_at),
            sentence,
            action: r.action,
            target_id: r.target_id,
            details: if empty {
                String::new()
            } else {
                r.details.to_string()
            },
            client_addr: r.client_addr.unwrap_or_default(),
        }
    }
}

/// The services that exist, by id: their name and slug.
pub(in crate::dashboard) type Services = HashMap<String, (String, String)>;

/// What the actor did, after their name.
fn describe(r: &assent_store::AuditRecord, services: &Services) -> Vec<Part> {
    let detail = |key: &str| r.details.get(key).and_then(Value::as_str).unwrap_or("");
    let target = r.target_id.as_str();
    // The service an entry is about: itself, the one its details name, or (a claim) the one
    // of its slug.
    let service_id = match r.action.as_str() {
        "service.created" | "service.updated" | "service.deleted" => target,
        "claim.approved" | "claim.rejected" | "claim.revoked" => services
            .iter()
            .find(|(_, (_, slug))| slug == detail("service"))
            .map_or("", |(id, _)| id.as_str()),
        _ => detail("service_id"),
    };
    let service = || match services.get(service_id) {
        Some((name, _)) => Part::link(name.clone(), format!("/dashboard/services/{service_id}")),
        None if !detail("service").is_empty() => Part::code(detail("service")),
        None if service_id.is_empty() => Part::words("a service"),
        None => Part::code(service_id),
    };
    let webhook = |id: &str| {
        if services.contains_key(service_id) {
            Part::link(
                id,
                format!("/dashboard/services/{service_id}/webhooks/{id}"),
            )
        } else {
            Part::code(id)
        }
    };
    match r.action.as_str() {
        "account.created" => vec![
            Part::words("created the account"),
            Part::code(detail("email")),
        ],
        "service.created" => vec![
            Part::words("created service"),
            service(),
            Part::words("with slug"),
            Part::code(detail("slug")),
        ],
        "service.updated" => {
            let mut changed: Vec<&str> = r
                .details
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            // The name first, as a person would say it.
            changed.sort_by_key(|k| *k != "name");
            let what = if changed.is_empty() {
                "changed service".to_owned()
            } else {
                format!("changed the {} of service", changed.join(" and "))
            };
            vec![Part::words(what), service()]
        }
        "service.deleted" => vec![
            Part::words("deleted service"),
            Part::words(format!("“{}”", detail("name"))),
            Part::words("with slug"),
            Part::code(detail("slug")),
        ],
        "api_key.created" => vec![
            Part::words(format!("created API key “{}”", detail("name"))),
            Part::code(detail("prefix")),
            Part::words("of service"),
            service(),
        ],
        "api_key.revoked" => vec![
            Part::words("revoked API key"),
            Part::code(target),
            Part::words("of service"),
            service(),
        ],
        "user_token.created" => vec![
            Part::words(format!("created user token “{}”", detail("name"))),
            Part::link(detail("prefix"), "/dashboard/tokens".to_owned()),
        ],
        "user_token.revoked" => vec![
            Part::words("revoked user token"),
            Part::link(target, "/dashboard/tokens".to_owned()),
        ],
        "webhook.created" => vec![
            Part::words("added webhook"),
            webhook(target),
            Part::words("for"),
            Part::code(detail("url")),
            Part::words("to service"),
            service(),
        ],
        "webhook.updated" => {
            let what = match r.details.get("enabled").and_then(Value::as_bool) {
                Some(true) => "enabled webhook",
                Some(false) => "disabled webhook",
                None => "changed webhook",
            };
            vec![
                Part::words(what),
                webhook(target),
                Part::words("of service"),
                service(),
            ]
        }
        "webhook.secret_rotated" => vec![
            Part::words("rotated the secret of webhook"),
            webhook(target),
            Part::words("of service"),
            service(),
        ],
        "webhook.deleted" => vec![
            Part::words("deleted webhook"),
            Part::code(target),
            Part::words("of service"),
            service(),
        ],
        "delivery.retried" => vec![
            Part::words("retried delivery"),
            Part::code(target),
            Part::words("of webhook"),
            webhook(detail("webhook_id")),
        ],
        "claim.approved" | "claim.rejected" | "claim.revoked" => vec![
            Part::words(format!(
                "{} the claim",
                r.action.trim_start_matches("claim.")
            )),
            Part::link(target, format!("/dashboard/history#claim-{target}")),
            Part::words("of service"),
            service(),
        ],
        other => vec![
            Part::words("did"),
            Part::code(other),
            Part::words("to"),
            Part::code(target),
        ],
    }
}
