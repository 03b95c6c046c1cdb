//! Owner policies: a namespace's ordered rules and pending caps, Sigilum's
//! `/v1/auth/settings` mapped onto them, and the screening of each new claim by them.
//! (docs/policies.md is the user's guide.)

use std::collections::HashSet;
use std::net::IpAddr;

use assent_core::notification::{Notification, ResponseType};
use assent_core::policy::{
    self, AddressRange, Effect, PolicyError, Request, RequestKind, Risk, Rule, parse_rules,
};
use assent_store::{
    Account, NewClaim, NotificationScreening, PendingCaps, Policy, Screening, Store, StoreError,
};
use serde_json::{Map, Value, json};

use crate::{App, Error, actor, code, sentence};

/// The rule Sigilum's `trustedServices` with `autoApproveTrusted` becomes.
pub const SIGILUM_TRUSTED_SERVICES: &str = "sigilum-trusted-services";
/// The rule Sigilum's `trustedIPRanges` with `autoApproveIP` becomes.
pub const SIGILUM_TRUSTED_IP_RANGES: &str = "sigilum-trusted-ip-ranges";
/// Sigilum's pending cap when `maxPendingLimit` is switched on without a number.
pub const SIGILUM_MAX_PENDING: i32 = 20;
/// The largest cap accepted (beyond it a cap means nothing).
pub const MAX_CAP: i64 = 1_000_000;
/// The most bytes of Sigilum settings kept per namespace.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// The policy of the owner's namespace.
pub async fn get(app: &App, owner: &Account) -> Result<Policy, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.policy(&namespace)).await
}

/// Replaces the owner's rules and caps with `body`: `{rules: [...], max_pending?,
/// max_pending_per_service?}` (a cap absent or `null` is no cap). Refused with
/// `VALIDATION_ERROR` naming the field, nothing saved, for an invalid or contradictory rule, a
/// service the namespace does not have, an `id` that is not one of its rules, or a bad cap.
pub async fn replace(app: &App, owner: &Account, body: Value) -> Result<Policy, Error> {
    let Value::Object(body) = body else {
        return Err(refused(PolicyError::new("body", "must be a JSON object")));
    };
    if let Some(unknown) = body
        .keys()
        .find(|k| !["rules", "max_pending", "max_pending_per_service"].contains(&k.as_str()))
    {
        return Err(refused(PolicyError::new(
            unknown.clone(),
            "is not a policy field (use rules, max_pending, max_pending_per_service)",
        )));
    }
    let rules_value = body
        .get("rules")
        .ok_or_else(|| {
            refused(PolicyError::new(
                "rules",
                "is required (an empty array for none)",
            ))
        })?
        .clone();
    let caps = PendingCaps {
        namespace: cap("max_pending", body.get("max_pending"))?,
        per_service: cap(
            "max_pending_per_service",
            body.get("max_pending_per_service"),
        )?,
    };
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| {
        let current = store.policy(&namespace)?;
        let mut minted = HashSet::new();
        let rules = parse_rules("rules", &rules_value, || {
            let id = assent_auth::random::Id::PolicyRule.mint();
            minted.insert(id.clone());
            id
        })
        .map_err(refused)?;
        for (i, rule) in rules.iter().enumerate() {
            if !minted.contains(&rule.id) && !current.rules.iter().any(|r| r.rule.id == rule.id) {
                return Err(refused(PolicyError::new(
                    format!("rules[{i}].id"),
                    "is not one of this namespace's rules (leave it out for a new rule)",
                )));
            }
        }
        check_services(store, &namespace, &rules)?;
        Ok(store.save_policy(&namespace, &rules, caps, &current.sigilum, &actor)?)
    })
    .await
}

/// What the owner's policy says of a new claim from `source`: the screening the store
/// applies when it stores the claim. `source` is the connection's address (or what a trusted
/// proxy forwarded); the claim's `agent_ip` never counts.
pub(crate) fn screen_claim(
    store: &Store,
    new: &NewClaim,
    source: Option<IpAddr>,
) -> Result<Screening, StoreError> {
    let policy = store.policy(&new.namespace)?;
    if policy.rules.is_empty() && !policy.caps.is_set() {
        return Ok(Screening::default());
    }
    let request = Request {
        kind: RequestKind::Claim,
        service: &new.service_slug,
        public_key: Some(&new.public_key),
        agent_key: Some(&new.agent_key),
        source,
        action: None,
        flags: &[],
        risk: None,
    };
    let rule = policy
        .rules
        .iter()
        .find(|r| r.rule.matches(&request))
        .map(|r| (r.rule.id.clone(), r.rule.effect));
    Ok(Screening {
        rule,
        caps: policy.caps,
    })
}

/// What the owner's grants and policy are asked of a new notification from `source`. Its
/// arguments (what grants bind) are `context.metadata`, its risk `context.metadata.risk`; the
/// first of its actions (in order) that a rule matches decides. A rule that does not name an
/// action never auto-approves a notification: which action to answer with must be the
/// owner's choice, not the service's ordering.
pub(crate) fn screen_notification(
    store: &Store,
    n: &Notification,
    source: Option<IpAddr>,
) -> Result<NotificationScreening, StoreError> {
    let arguments = n
        .context
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let risk = arguments
        .get("risk")
        .and_then(Value::as_str)
        .and_then(Risk::parse);
    let answerable = n
        .actions
        .iter()
        .filter(|a| a.response_type == ResponseType::Simple)
        .map(|a| a.id.clone())
        .collect();
    let policy = store.policy(&n.namespace)?;
    let mut rule = None;
    for action in &n.actions {
        let request = Request {
            kind: RequestKind::Notification,
            service: &n.service_slug,
            public_key: None,
            agent_key: None,
            source,
            action: Some(&action.id),
            flags: &action.flags,
            risk,
        };
        let found = policy.rules.iter().map(|r| &r.rule).find(|r| {
            !(r.effect == Effect::AutoApprove && r.action.is_none()) && r.matches(&request)
        });
        if let Some(r) = found {
            rule = Some((r.id.clone(), r.effect, Some(action.id.clone())));
            break;
        }
    }
    Ok(NotificationScreening {
        arguments,
        answerable,
        rule,
        caps: policy.caps,
    })
}

/// The refusal of a request past one of the owner's pending caps; `decided_by` names it
/// (`limit:max_pending` or `limit:max_pending_per_service`).
pub(crate) fn pending_limit(decided_by: &str) -> Error {
    let which = match decided_by {
        "limit:max_pending_per_service" => "this service's",
        _ => "this namespace's",
    };
    Error::conflict(
        code::PENDING_LIMIT_REACHED,
        format!(
            "The limit of {which} pending requests is reached; the request was rejected. \
             Try again once the owner has decided some."
        ),
    )
    .with_detail("reason", "max_pending_reached")
    .with_detail("decided_by", decided_by.to_owned())
}

/// Sigilum's settings object of the owner: what was last saved, with the policy keys read
/// from the rules and caps they map onto (so they always say what is enforced).
pub async fn sigilum_settings(app: &App, owner: &Account) -> Result<Value, Error> {
    let policy = get(app, owner).await?;
    Ok(sigilum_view(&policy))
}

/// Sigilum's `PATCH /v1/auth/settings`: a shallow merge of `patch` into the saved settings
/// (and of its `policy` object into the saved policy). The policy keys become rules and a
/// cap: `autoApproveTrusted` with `trustedServices` the rule `sigilum-trusted-services`,
/// `autoApproveIP` with `trustedIPRanges` the rule `sigilum-trusted-ip-ranges` (both after the
/// owner's own rules, for claims), `maxPendingLimit` the namespace's pending cap (`true`: 20,
/// `false`: none, a number: that many). Refused naming the field, nothing saved, for a wrong
/// type, an unknown service, an invalid range, or `autoExpire: false` (pending claims always
/// expire here).
pub async fn patch_sigilum_settings(
    app: &App,
    owner: &Account,
    patch: Value,
) -> Result<Value, Error> {
    let Value::Object(patch) = patch else {
        return Err(refused(PolicyError::new(
            "settings",
            "must be a JSON object",
        )));
    };
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let saved = app
        .run(move |store| {
            let current = store.policy(&namespace)?;
            let mut settings = current.sigilum.clone();
            let mut policy_keys = match settings.get("policy") {
                Some(Value::Object(p)) => p.clone(),
                _ => Map::new(),
            };
            for (key, value) in patch {
                if key == "policy" {
                    let Value::Object(p) = value else {
                        return Err(refused(PolicyError::new("policy", "must be an object")));
                    };
                    policy_keys.extend(p);
                } else {
                    settings.insert(key, value);
                }
            }
            let mapped = read_sigilum_policy(&policy_keys)?;
            let slugs: Vec<String> = mapped.trusted_services.clone();
            check_slugs(store, &namespace, &slugs, "policy.trustedServices")?;
            // The owner's rules stay first; the managed ones are rebuilt after them.
            let mut rules: Vec<Rule> = current
                .rules
                .into_iter()
                .map(|r| r.rule)
                .filter(|r| r.id != SIGILUM_TRUSTED_SERVICES && r.id != SIGILUM_TRUSTED_IP_RANGES)
                .collect();
            if mapped.auto_approve_trusted && !slugs.is_empty() {
                rules.push(managed_rule(SIGILUM_TRUSTED_SERVICES, slugs, Vec::new()));
            }
            if mapped.auto_approve_ip && !mapped.trusted_ranges.is_empty() {
                rules.push(managed_rule(
                    SIGILUM_TRUSTED_IP_RANGES,
                    Vec::new(),
                    mapped.trusted_ranges.clone(),
                ));
            }
            // The whole set must still hold together (a managed rule may repeat an owner's).
            let as_json = Value::Array(rules.iter().map(Rule::to_json).collect());
            parse_rules("rules", &as_json, String::new).map_err(refused)?;
            let caps = PendingCaps {
                namespace: match mapped.max_pending {
                    MaxPending::Unchanged => current.caps.namespace,
                    MaxPending::Off => None,
                    MaxPending::On => current.caps.namespace.or(Some(SIGILUM_MAX_PENDING)),
                    MaxPending::Exactly(n) => Some(n),
                },
                per_service: current.caps.per_service,
            };
            // Only the lists are kept of the mapped keys: the switches and the cap are read
            // back from the rules and caps, so they cannot drift from what is enforced.
            for key in [
                "autoApproveTrusted",
                "autoApproveIP",
                "maxPendingLimit",
                "autoExpire",
            ] {
                policy_keys.remove(key);
            }
            settings.insert("policy".into(), Value::Object(policy_keys));
            if Value::Object(settings.clone()).to_string().len() > MAX_SETTINGS_BYTES {
                return Err(refused(PolicyError::new(
                    "settings",
                    format!("may hold at most {MAX_SETTINGS_BYTES} bytes of JSON"),
                )));
            }
            Ok(store.save_policy(&namespace, &rules, caps, &settings, &actor)?)
        })
        .await?;
    Ok(sigilum_view(&saved))
}

/// The settings object `GET /v1/auth/settings` shows.
pub fn sigilum_view(policy: &Policy) -> Value {
    let mut settings = policy.sigilum.clone();
    let mut keys = match settings.get("policy") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    let managed = |id: &str| policy.rules.iter().any(|r| r.rule.id == id);
    keys.entry("trustedServices").or_insert_with(|| json!([]));
    keys.entry("trustedIPRanges").or_insert_with(|| json!([]));
    keys.insert(
        "autoApproveTrusted".into(),
        managed(SIGILUM_TRUSTED_SERVICES).into(),
    );
    keys.insert(
        "autoApproveIP".into(),
        managed(SIGILUM_TRUSTED_IP_RANGES).into(),
    );
    keys.insert(
        "maxPendingLimit".into(),
        match policy.caps.namespace {
            Some(n) => n.into(),
            None => false.into(),
        },
    );
    keys.insert("autoExpire".into(), true.into());
    settings.insert("policy".into(), Value::Object(keys));
    Value::Object(settings)
}

enum MaxPending {
    Unchanged,
    Off,
    On,
    Exactly(i32),
}

struct SigilumPolicy {
    auto_approve_trusted: bool,
    trusted_services: Vec<String>,
    auto_approve_ip: bool,
    trusted_ranges: Vec<String>,
    max_pending: MaxPending,
}

/// Reads Sigilum's policy keys, naming the field (`policy.trustedIPRanges[1]`) at fault.
fn read_sigilum_policy(keys: &Map<String, Value>) -> Result<SigilumPolicy, Error> {
    let switch = |name: &str| match keys.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(refused(PolicyError::new(
            format!("policy.{name}"),
            "must be true or false",
        ))),
    };
    let list = |name: &str| -> Result<Vec<String>, Error> {
        match keys.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= policy::MAX_VALUES => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    _ => Err(refused(PolicyError::new(
                        format!("policy.{name}[{i}]"),
                        "must be a non-empty string",
                    ))),
                })
                .collect(),
            Some(_) => Err(refused(PolicyError::new(
                format!("policy.{name}"),
                format!("must be an array of at most {} strings", policy::MAX_VALUES),
            ))),
        }
    };
    let trusted_services = list("trustedServices")?;
    let trusted_ranges = list("trustedIPRanges")?;
    for (i, range) in trusted_ranges.iter().enumerate() {
        if AddressRange::parse(range).is_none() {
            return Err(refused(PolicyError::new(
                format!("policy.trustedIPRanges[{i}]"),
                "must be an IP address or a CIDR range (10.0.0.0/8, 2001:db8::/32)",
            )));
        }
    }
    if let Some(v) = keys.get("autoExpire")
        && v != &Value::Bool(true)
        && !v.is_null()
    {
        return Err(refused(PolicyError::new(
            "policy.autoExpire",
            "can only be true: pending claims always expire after the server's claim TTL",
        )));
    }
    let max_pending = match keys.get("maxPendingLimit") {
        None | Some(Value::Null) => MaxPending::Unchanged,
        Some(Value::Bool(false)) => MaxPending::Off,
        Some(Value::Bool(true)) => MaxPending::On,
        Some(n) => match n.as_i64() {
            Some(n) if (1..=MAX_CAP).contains(&n) => {
                MaxPending::Exactly(i32::try_from(n).unwrap_or(i32::MAX))
            }
            _ => {
                return Err(refused(PolicyError::new(
                    "policy.maxPendingLimit",
                    format!("must be true, false or a whole number from 1 to {MAX_CAP}"),
                )));
            }
        },
    };
    Ok(SigilumPolicy {
        auto_approve_trusted: switch("autoApproveTrusted")?,
        trusted_services,
        auto_approve_ip: switch("autoApproveIP")?,
        trusted_ranges,
        max_pending,
    })
}

fn managed_rule(id: &str, services: Vec<String>, sources: Vec<String>) -> Rule {
    Rule {
        id: id.to_owned(),
        kind: Some(RequestKind::Claim),
        services,
        agent_keys: Vec::new(),
        sources: sources
            .iter()
            .filter_map(|s| AddressRange::parse(s))
            .collect(),
        action: None,
        flags: Vec::new(),
        risks: Vec::new(),
        effect: Effect::AutoApprove,
        description: Some("Managed by Sigilum's /v1/auth/settings.".into()),
    }
}

/// A pending cap: absent or `null` is none, otherwise a whole number from 1 to [`MAX_CAP`].
fn cap(field: &str, value: Option<&Value>) -> Result<Option<i32>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=MAX_CAP).contains(&n) => Ok(Some(i32::try_from(n).unwrap_or(i32::MAX))),
            _ => Err(refused(PolicyError::new(
                field,
                format!("must be null or a whole number from 1 to {MAX_CAP}"),
            ))),
        },
    }
}

/// Every service a rule names must be one of the namespace's.
fn check_services(store: &Store, namespace: &str, rules: &[Rule]) -> Result<(), Error> {
    let known: HashSet<String> = store
        .list_services(namespace)?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        if let Some(j) = rule.services.iter().position(|s| !known.contains(s)) {
            return Err(refused(PolicyError::new(
                format!("rules[{i}].services[{j}]"),
                format!(
                    "names `{}`, which is not a service of this namespace",
                    rule.services[j]
                ),
            )));
        }
    }
    Ok(())
}

fn check_slugs(store: &Store, namespace: &str, slugs: &[String], field: &str) -> Result<(), Error> {
    if slugs.is_empty() {
        return Ok(());
    }
    let known: HashSet<String> = store
        .list_services(namespace)?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    if let Some(i) = slugs.iter().position(|s| !known.contains(s)) {
        return Err(refused(PolicyError::new(
            format!("{field}[{i}]"),
            format!(
                "names `{}`, which is not a service of this namespace",
                slugs[i]
            ),
        )));
    }
    Ok(())
}

/// A policy that cannot be saved: `VALIDATION_ERROR` naming the field.
pub(crate) fn refused(e: PolicyError) -> Error {
    Error::invalid(code::VALIDATION_ERROR, sentence(&format!("The field {e}")))
        .with_detail("field", e.field)
}
