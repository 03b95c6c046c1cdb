//! Owner policies as stored: a namespace's ordered rules (with how often each decided), its
//! pending caps and Sigilum settings, and its standing grants. A single-use grant is used by a
//! compare-and-set, so of concurrent requests exactly one gets it.

use assent_core::Timestamp;
use assent_core::policy::{Binding, Grant, GrantUse, Rule, parse_rule};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::AnyConnection;
use crate::audit::{self, Actor, AuditEntry};
use crate::db::Store;
use crate::error::StoreError;
use crate::schema::{grants, policy_rules, policy_settings};

/// A rule and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub rule: Rule,
    /// How many requests it decided.
    pub matched: i64,
    pub last_matched_at: Option<Timestamp>,
}

/// A namespace's whole policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// In evaluation order.
    pub rules: Vec<StoredRule>,
    pub caps: PendingCaps,
    /// Sigilum's settings keys other than the ones mapped onto rules and caps, as last saved.
    pub sigilum: serde_json::Map<String, Value>,
}

/// How many pending requests a namespace, and each of its services, may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PendingCaps {
    pub namespace: Option<i32>,
    pub per_service: Option<i32>,
}

impl PendingCaps {
    pub fn is_set(&self) -> bool {
        self.namespace.is_some() || self.per_service.is_some()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
struct GrantRow {
    id: String,
    namespace: String,
    service_id: String,
    service_slug: String,
    action: String,
    args_digest: Option<String>,
    args_pattern: Option<String>,
    uses: String,
    expires_at: Option<i64>,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    source_id: Option<String>,
    matched: i64,
    created_at: i64,
}

impl GrantRow {
    fn into_grant(self) -> Grant {
        let binding = match (self.args_digest, self.args_pattern) {
            (Some(d), _) => Binding::Digest(d),
            (None, p) => Binding::Pattern(
                p.and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or_default(),
            ),
        };
        Grant {
            id: self.id,
            namespace: self.namespace,
            service_id: self.service_id,
            service_slug: self.service_slug,
            action: self.action,
            binding,
            // A row the CHECK let in has one of the three.
            uses: GrantUse::parse(&self.uses).unwrap_or(GrantUse::Once),
            expires_at: self.expires_at.map(Timestamp::from_millis),
            used_at: self.used_at.map(Timestamp::from_millis),
            revoked_at: self.revoked_at.map(Timestamp::from_millis),
            source_id: self.source_id,
            matched: self.matched,
            created_at: Timestamp::from_millis(self.created_at),
        }
    }
}

impl Store {
    /// The policy of `namespace` (empty if it never set one).
    pub fn policy(&self, namespace: &str) -> Result<Policy, StoreError> {
        self.read(|conn| load_policy(conn, namespace))
    }

    /// Replaces the rules, caps and Sigilum settings of `namespace` at once. A rule whose id
    /// it already had keeps its match count.
    pub fn save_policy(
        &self,
        namespace: &str,
        rules: &[Rule],
        caps: PendingCaps,
        sigilum: &serde_json::Map<String, Value>,
        actor: &Actor,
    ) -> Result<Policy, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let before = load_policy(conn, namespace)?;
            diesel::delete(policy_rules::table.filter(policy_rules::namespace.eq(namespace)))
                .execute(conn)?;
            for (position, rule) in rules.iter().enumerate() {
                let kept = before.rules.iter().find(|r| r.rule.id == rule.id);
                diesel::insert_into(policy_rules::table)
                    .values((
                        policy_rules::namespace.eq(namespace),
                        policy_rules::id.eq(&rule.id),
                        policy_rules::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                        policy_rules::rule.eq(rule.to_json().to_string()),
                        policy_rules::matched.eq(kept.map_or(0, |r| r.matched)),
                        policy_rules::last_matched_at
                            .eq(kept.and_then(|r| r.last_matched_at.map(|t| t.as_millis()))),
                        policy_rules::created_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            let sigilum_text = Value::Object(sigilum.clone()).to_string();
            diesel::delete(policy_settings::table.filter(policy_settings::namespace.eq(namespace)))
                .execute(conn)?;
            diesel::insert_into(policy_settings::table)
                .values((
                    policy_settings::namespace.eq(namespace),
                    policy_settings::max_pending.eq(caps.namespace),
                    policy_settings::max_pending_per_service.eq(caps.per_service),
                    policy_settings::sigilum.eq(&sigilum_text),
                    policy_settings::updated_at.eq(now),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace,
                    actor,
                    action: "policy.updated",
                    target_id: namespace,
                    details: json!({
                        "rules": rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                        "max_pending": caps.namespace,
                        "max_pending_per_service": caps.per_service,
                    }),
                },
            )?;
            load_policy(conn, namespace)
        })
    }

    /// Records a new standing grant (audited as `grant.created`).
    pub fn create_grant(&self, grant: &Grant, actor: &Actor) -> Result<Grant, StoreError> {
        self.write(|conn| {
            let (digest, pattern) = match &grant.binding {
                Binding::Digest(d) => (Some(d.clone()), None),
                Binding::Pattern(p) => (None, Some(Value::Object(p.clone()).to_string())),
            };
            diesel::insert_into(grants::table)
                .values((
                    grants::id.eq(&grant.id),
                    grants::namespace.eq(&grant.namespace),
                    grants::service_id.eq(&grant.service_id),
                    grants::service_slug.eq(&grant.service_slug),
                    grants::action.eq(&grant.action),
                    grants::args_digest.eq(digest),
                    grants::args_pattern.eq(pattern),
                    grants::uses.eq(grant.uses.as_str()),
                    grants::expires_at.eq(grant.expires_at.map(|t| t.as_millis())),
                    grants::used_at.eq(None::<i64>),
                    grants::revoked_at.eq(None::<i64>),
                    grants::source_id.eq(&grant.source_id),
                    grants::matched.eq(0_i64),
                    grants::created_at.eq(grant.created_at.as_millis()),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: &grant.namespace,
                    actor,
                    action: "grant.created",
                    target_id: &grant.id,
                    details: json!({
                        "service": grant.service_slug,
                        "action": grant.action,
                        "uses": grant.uses.as_str(),
                        "expires_at": grant.expires_at,
                        "source_id": grant.source_id,
                    }),
                },
            )?;
            Ok(grant.clone())
        })
    }

    /// The grants of `namespace`, newest first.
    pub fn list_grants(&self, namespace: &str, limit: i64) -> Result<Vec<Grant>, StoreError> {
        self.read(|conn| {
            Ok(grants::table
                .filter(grants::namespace.eq(namespace))
                .order((grants::created_at.desc(), grants::id.desc()))
                .limit(limit)
                .select(GrantRow::as_select())
                .load::<GrantRow>(conn)?
                .into_iter()
                .map(GrantRow::into_grant)
                .collect())
        })
    }

    /// Revokes one grant of `namespace`; `NotFound` for another namespace's or an unknown id.
    /// Revoking a revoked grant changes nothing.
    pub fn revoke_grant(
        &self,
        namespace: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<Grant, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let changed = diesel::update(
                grants::table
                    .filter(grants::id.eq(id))
                    .filter(grants::namespace.eq(namespace))
                    .filter(grants::revoked_at.is_null()),
            )
            .set(grants::revoked_at.eq(Some(now)))
            .execute(conn)?;
            let grant = grants::table
                .filter(grants::id.eq(id))
                .filter(grants::namespace.eq(namespace))
                .select(GrantRow::as_select())
                .first::<GrantRow>(conn)
                .optional()?
                .ok_or(StoreError::NotFound)?
                .into_grant();
            if changed == 1 {
                audit::record(
                    conn,
                    AuditEntry {
                        namespace,
                        actor,
                        action: "grant.revoked",
                        target_id: id,
                        details: json!({ "service": grant.service_slug, "action": grant.action }),
                    },
                )?;
            }
            Ok(grant)
        })
    }
}

/// The live grants of one service for one action (inside a transaction).
pub(crate) fn live_grants(
    conn: &mut AnyConnection,
    service_id: &str,
    action: &str,
    now: i64,
) -> Result<Vec<Grant>, StoreError> {
    Ok(grants::table
        .filter(grants::service_id.eq(service_id))
        .filter(grants::action.eq(action))
        .filter(grants::revoked_at.is_null())
        .filter(grants::used_at.is_null())
        .filter(grants::expires_at.is_null().or(grants::expires_at.gt(now)))
        .order(grants::created_at.asc())
        .select(GrantRow::as_select())
        .load::<GrantRow>(conn)?
        .into_iter()
        .map(GrantRow::into_grant)
        .collect())
}

/// Uses `grant` for one request: counts the match and, for a single-use grant, marks it used
/// if nobody did first. `false` when it was no longer usable (used, revoked or expired since
/// it was read), so the caller tries the next one or asks the owner.
pub(crate) fn use_grant(
    conn: &mut AnyConnection,
    grant: &Grant,
    now: i64,
) -> Result<bool, StoreError> {
    let live = grants::table
        .filter(grants::id.eq(&grant.id))
        .filter(grants::revoked_at.is_null())
        .filter(grants::used_at.is_null())
        .filter(grants::expires_at.is_null().or(grants::expires_at.gt(now)));
    let changed = if grant.uses == GrantUse::Once {
        diesel::update(live)
            .set((
                grants::used_at.eq(Some(now)),
                grants::matched.eq(grants::matched + 1),
            ))
            .execute(conn)?
    } else {
        diesel::update(live)
            .set(grants::matched.eq(grants::matched + 1))
            .execute(conn)?
    };
    Ok(changed == 1)
}

/// Counts one request decided by the rule `id` of `namespace`.
pub(crate) fn count_match(
    conn: &mut AnyConnection,
    namespace: &str,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(
        policy_rules::table
            .filter(policy_rules::namespace.eq(namespace))
            .filter(policy_rules::id.eq(id)),
    )
    .set((
        policy_rules::matched.eq(policy_rules::matched + 1),
        policy_rules::last_matched_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(())
}

fn load_policy(conn: &mut AnyConnection, namespace: &str) -> Result<Policy, StoreError> {
    let rows: Vec<(String, String, i64, Option<i64>)> = policy_rules::table
        .filter(policy_rules::namespace.eq(namespace))
        .order(policy_rules::position.asc())
        .select((
            policy_rules::id,
            policy_rules::rule,
            policy_rules::matched,
            policy_rules::last_matched_at,
        ))
        .load(conn)?;
    let mut rules = Vec::with_capacity(rows.len());
    for (id, text, matched, last) in rows {
        // Stored rules were checked when saved; one that no longer reads (a bug) is an error,
        // not a rule silently dropped from the evaluation.
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("policy rule {id}: {e}")))?;
        let rule = parse_rule("rule", &value, &mut || id.clone())
            .map_err(|e| StoreError::Corrupt(format!("policy rule {id}: {e}")))?;
        rules.push(StoredRule {
            rule,
            matched,
            last_matched_at: last.map(Timestamp::from_millis),
        });
    }
    let settings: Option<(Option<i32>, Option<i32>, String)> = policy_settings::table
        .filter(policy_settings::namespace.eq(namespace))
        .select((
            policy_settings::max_pending,
            policy_settings::max_pending_per_service,
            policy_settings::sigilum,
        ))
        .first(conn)
        .optional()?;
    let (caps, sigilum) = match settings {
        Some((namespace, per_service, sigilum)) => (
            PendingCaps {
                namespace,
                per_service,
            },
            serde_json::from_str(&sigilum).unwrap_or_default(),
        ),
        None => (PendingCaps::default(), serde_json::Map::new()),
    };
    Ok(Policy {
        rules,
        caps,
        sigilum,
    })
}
