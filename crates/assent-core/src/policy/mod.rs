//! Owner policies: the ordered rules of a namespace that decide a request before its owner is
//! asked, and the standing grants an owner gives from a decision.
//!
//! Everything here is pure. [`parse_rules`] reads a rule set as the owner wrote it (naming the
//! field at fault, refusing what would approve by accident); [`evaluate`] finds the first rule
//! a request matches; [`Grant::covers`] says whether a grant answers a request. The store keeps
//! the rules and grants, the application layer feeds requests through them.

mod grant;
mod range;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value};

pub use grant::{Binding, Grant, GrantUse, parse_pattern, pattern_matches};
pub use range::{AddressRange, canonical};

/// The most rules a namespace may have.
pub const MAX_RULES: usize = 200;
/// The most values in one list of a rule (services, keys, ranges, flags).
pub const MAX_VALUES: usize = 100;

/// What a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// May this agent key act on this service?
    Claim,
    /// Which of these actions should the service take?
    Notification,
}

impl RequestKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Notification => "notification",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "claim" => Some(Self::Claim),
            "notification" => Some(Self::Notification),
            _ => None,
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    AutoApprove,
    AutoReject,
    /// Ask the owner (what happens when no rule matches, too); stops the evaluation, so an
    /// `ask` rule placed first exempts requests from the broader rules after it.
    Ask,
}

impl Effect {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AutoApprove => "auto_approve",
            Self::AutoReject => "auto_reject",
            Self::Ask => "ask",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto_approve" => Some(Self::AutoApprove),
            "auto_reject" => Some(Self::AutoReject),
            "ask" => Some(Self::Ask),
            _ => None,
        }
    }
}

/// How risky a service says an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// One rule. Each condition that is set must hold (an empty list is no condition); a request
/// that lacks what a condition asks about (no source address, no action) does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `pol_` + hex, or a fixed name for the rules Sigilum's settings manage.
    pub id: String,
    pub kind: Option<RequestKind>,
    /// Service slugs; any of them.
    pub services: Vec<String>,
    /// Agent keys, as submitted (`ed25519:…`) or as a `did:key`; any of them.
    pub agent_keys: Vec<String>,
    /// Source address ranges; any of them.
    pub sources: Vec<AddressRange>,
    /// The action's id (notifications).
    pub action: Option<String>,
    /// Flags the action must all carry (`irreversible`).
    pub flags: Vec<String>,
    /// Risks the request may have; any of them.
    pub risks: Vec<Risk>,
    pub effect: Effect,
    /// The owner's note on why the rule exists.
    pub description: Option<String>,
}

impl Rule {
    /// Whether `request` meets every condition of the rule.
    pub fn matches(&self, request: &Request<'_>) -> bool {
        self.kind.is_none_or(|k| k == request.kind)
            && (self.services.is_empty() || self.services.iter().any(|s| s == request.service))
            && (self.agent_keys.is_empty()
                || self.agent_keys.iter().any(|k| {
                    request.public_key == Some(k.as_str()) || request.agent_key == Some(k.as_str())
                }))
            && (self.sources.is_empty()
                || request
                    .source
                    .is_some_and(|addr| self.sources.iter().any(|r| r.contains(addr))))
            && self
                .action
                .as_deref()
                .is_none_or(|a| request.action == Some(a))
            && self
                .flags
                .iter()
                .all(|f| request.flags.iter().any(|g| g == f))
            && (self.risks.is_empty() || request.risk.is_some_and(|r| self.risks.contains(&r)))
    }

    /// The rule as JSON, as the API shows and takes it.
    pub fn to_json(&self) -> Value {
        let mut rule = Map::new();
        rule.insert("id".into(), self.id.clone().into());
        rule.insert("kind".into(), self.kind.map(RequestKind::as_str).into());
        rule.insert("services".into(), self.services.clone().into());
        rule.insert("agent_keys".into(), self.agent_keys.clone().into());
        rule.insert(
            "sources".into(),
            self.sources
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .into(),
        );
        rule.insert("action".into(), self.action.clone().into());
        rule.insert("flags".into(), self.flags.clone().into());
        rule.insert(
            "risks".into(),
            self.risks
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .into(),
        );
        rule.insert("effect".into(), self.effect.as_str().into());
        rule.insert("description".into(), self.description.clone().into());
        Value::Object(rule)
    }

    /// The conditions alone, to compare two rules' reach.
    fn conditions(&self) -> impl PartialEq + '_ {
        (
            self.kind,
            sorted(&self.services),
            sorted(&self.agent_keys),
            sorted(&self.sources),
            &self.action,
            sorted(&self.flags),
            sorted(&self.risks),
        )
    }

    fn has_conditions(&self) -> bool {
        self.kind.is_some()
            || !self.services.is_empty()
            || !self.agent_keys.is_empty()
            || !self.sources.is_empty()
            || self.action.is_some()
            || !self.flags.is_empty()
            || !self.risks.is_empty()
    }
}

fn sorted<T: Ord + Clone>(values: &[T]) -> Vec<T> {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    values
}

/// What a rule is matched against: a submitted claim or notification as the server saw it.
/// `source` is the connection's address (or what a trusted proxy forwarded), never a body field.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub kind: RequestKind,
    pub service: &'a str,
    pub public_key: Option<&'a str>,
    pub agent_key: Option<&'a str>,
    pub source: Option<IpAddr>,
    pub action: Option<&'a str>,
    pub flags: &'a [String],
    pub risk: Option<Risk>,
}

/// The first rule `request` matches, in order; `None` when none does (ask the owner).
pub fn evaluate<'r>(rules: &'r [Rule], request: &Request<'_>) -> Option<&'r Rule> {
    rules.iter().find(|rule| rule.matches(request))
}

/// A rule set that cannot be saved: the field at fault (`rules[2].sources[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub field: String,
    pub reason: String,
}

impl PolicyError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.reason)
    }
}

impl std::error::Error for PolicyError {}

/// The fields a rule may have; any other is refused, so that a misspelt condition
/// (`service` for `services`) cannot silently widen a rule.
const RULE_FIELDS: [&str; 10] = [
    "id",
    "kind",
    "services",
    "agent_keys",
    "sources",
    "action",
    "flags",
    "risks",
    "effect",
    "description",
];

/// Reads an ordered rule set (a JSON array of rule objects, under the name `field`). A rule
/// without an `id` gets `mint()`; an `id` is kept as given (the caller checks it is one of the
/// namespace's). Refuses, naming the field: unknown fields, bad values, an invalid range, a
/// claim rule that names an action, flags or risks (claims have none), an `auto_approve` rule
/// without any condition (it would approve everything), and a rule whose conditions repeat an
/// earlier rule's (it could never match: the earlier one always wins).
pub fn parse_rules(
    field: &str,
    value: &Value,
    mut mint: impl FnMut() -> String,
) -> Result<Vec<Rule>, PolicyError> {
    let Value::Array(items) = value else {
        return Err(PolicyError::new(field, "must be an array of rules"));
    };
    if items.len() > MAX_RULES {
        return Err(PolicyError::new(
            field,
            format!("may hold at most {MAX_RULES} rules"),
        ));
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let rule = parse_rule(&path, item, &mut mint)?;
        if !ids.insert(rule.id.clone()) {
            return Err(PolicyError::new(
                format!("{path}.id"),
                "repeats the id of an earlier rule",
            ));
        }
        if let Some(j) = rules
            .iter()
            .position(|r| r.conditions() == rule.conditions())
        {
            let why = if rules[j].effect == rule.effect {
                format!("repeats the conditions of {field}[{j}], so it never matches")
            } else {
                format!(
                    "contradicts {field}[{j}]: the same conditions with another effect ({} after {}); \
                     the earlier rule always wins",
                    rule.effect.as_str(),
                    rules[j].effect.as_str()
                )
            };
            return Err(PolicyError::new(path, why));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// One rule of [`parse_rules`].
pub fn parse_rule(
    path: &str,
    value: &Value,
    mint: &mut impl FnMut() -> String,
) -> Result<Rule, PolicyError> {
    let Value::Object(object) = value else {
        return Err(PolicyError::new(path, "must be an object"));
    };
    if let Some(unknown) = object.keys().find(|k| !RULE_FIELDS.contains(&k.as_str())) {
        return Err(PolicyError::new(
            format!("{path}.{unknown}"),
            format!("is not a rule field (use {})", RULE_FIELDS.join(", ")),
        ));
    }
    let at = |name: &str| format!("{path}.{name}");
    let text = |name: &str, max: usize| -> Result<Option<String>, PolicyError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.trim().chars().count() <= max => {
                Ok(Some(s.trim().to_owned()))
            }
            Some(Value::String(_)) => Err(PolicyError::new(
                at(name),
                format!("must be at most {max} characters"),
            )),
            Some(_) => Err(PolicyError::new(at(name), "must be a string")),
        }
    };
    let list = |name: &str| -> Result<Vec<String>, PolicyError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(values)) if values.len() <= MAX_VALUES => values
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) if !s.trim().is_empty() && s.len() <= 256 => {
                        Ok(s.trim().to_owned())
                    }
                    _ => Err(PolicyError::new(
                        format!("{path}.{name}[{i}]"),
                        "must be a non-empty string of at most 256 bytes",
                    )),
                })
                .collect(),
            Some(Value::Array(_)) => Err(PolicyError::new(
                at(name),
                format!("may hold at most {MAX_VALUES} values"),
            )),
            Some(_) => Err(PolicyError::new(at(name), "must be an array of strings")),
        }
    };
    let each = |name: &str, values: &[String], check: &dyn Fn(&str) -> Option<&'static str>| {
        for (i, v) in values.iter().enumerate() {
            if let Some(why) = check(v) {
                return Err(PolicyError::new(format!("{path}.{name}[{i}]"), why));
            }
        }
        Ok(())
    };

    let id = match text("id", 64)? {
        Some(id) => id,
        None => mint(),
    };
    let kind = text("kind", 32)?
        .map(|k| {
            RequestKind::parse(&k)
                .ok_or_else(|| PolicyError::new(at("kind"), "must be claim or notification"))
        })
        .transpose()?;
    let services = list("services")?;
    each("services", &services, &|s| {
        crate::Slug::parse(s)
            .is_err()
            .then_some("must be a service slug")
    })?;
    let agent_keys = list("agent_keys")?;
    each("agent_keys", &agent_keys, &|k| {
        (!(k.starts_with("ed25519:") || k.starts_with("did:key:z")))
            .then_some("must be an agent key, ed25519:<base64> or did:key:z…")
    })?;
    let sources = list("sources")?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            AddressRange::parse(s).ok_or_else(|| {
                PolicyError::new(
                    format!("{path}.sources[{i}]"),
                    "must be an IP address or a CIDR range (10.0.0.0/8, 2001:db8::/32)",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let action = text("action", crate::notification::ACTION_ID_MAX_CHARS)?;
    let flags = list("flags")?;
    let risks = list("risks")?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Risk::parse(r).ok_or_else(|| {
                PolicyError::new(format!("{path}.risks[{i}]"), "must be low, medium or high")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let effect = match object.get("effect") {
        Some(Value::String(e)) => Effect::parse(e).ok_or_else(|| {
            PolicyError::new(at("effect"), "must be auto_approve, auto_reject or ask")
        })?,
        None | Some(Value::Null) => return Err(PolicyError::new(at("effect"), "is required")),
        Some(_) => return Err(PolicyError::new(at("effect"), "must be a string")),
    };
    let description = text("description", 500)?;
    let rule = Rule {
        id,
        kind,
        services,
        agent_keys,
        sources,
        action,
        flags,
        risks,
        effect,
        description,
    };
    if rule.kind == Some(RequestKind::Claim) {
        for (name, set) in [
            ("action", rule.action.is_some()),
            ("flags", !rule.flags.is_empty()),
            ("risks", !rule.risks.is_empty()),
        ] {
            if set {
                return Err(PolicyError::new(
                    at(name),
                    "contradicts kind `claim`: a claim has no action, flags or risk",
                ));
            }
        }
    }
    if rule.effect == Effect::AutoApprove && !rule.has_conditions() {
        return Err(PolicyError::new(
            path,
            "would approve every request: an auto_approve rule needs at least one condition",
        ));
    }
    if rule.effect == Effect::AutoApprove
        && rule.kind == Some(RequestKind::Notification)
        && rule.action.is_none()
    {
        return Err(PolicyError::new(
            at("action"),
            "is required to auto-approve a notification: it names the action to answer with",
        ));
    }
    Ok(rule)
}
