//! Standing grants: from a notification they answered, owners let the same service's same
//! action, with the same arguments (or arguments matching a pattern they write), be answered
//! without asking again: once, for the next N minutes, or until revoked.

use assent_core::Timestamp;
use assent_core::canonical::digest;
use assent_core::notification::{NotificationStatus, ResponseType};
use assent_core::policy::{Binding, Grant, GrantUse, PolicyError, parse_pattern};
use assent_store::{Account, Party, TransitionError};
use serde_json::{Value, json};

use crate::policies::refused;
use crate::{App, Error, actor};

/// The longest a timed grant may last: 30 days.
pub const MAX_MINUTES: i64 = 30 * 24 * 60;
/// The most grants a listing shows.
pub const LIST_LIMIT: i64 = 500;

/// A grant as asked for.
#[derive(Debug, Clone, Default)]
pub struct GrantInput {
    /// The answered notification it is granted from.
    pub notification_id: Option<String>,
    /// `once`, `timed` or `always`.
    pub uses: Option<String>,
    /// How long it lasts (required for `timed`, optional for `once`, refused for `always`).
    pub minutes: Option<i64>,
    /// Arguments the later requests must match, instead of the exact arguments answered.
    pub pattern: Option<Value>,
}

/// Grants the answer the owner gave to `notification_id` again, to later notifications of the
/// same service with the same action and arguments. The notification must be one of the
/// owner's, answered (by them or automatically) with an action that needs no response data.
/// `VALIDATION_ERROR` naming the field otherwise; `NOT_FOUND` for another namespace's.
pub async fn create(app: &App, owner: &Account, input: GrantInput) -> Result<Grant, Error> {
    let field = |f: &str, why: &str| refused(PolicyError::new(f, why));
    let notification_id = input
        .notification_id
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| field("notification_id", "is required"))?;
    let uses = input
        .uses
        .as_deref()
        .and_then(GrantUse::parse)
        .ok_or_else(|| field("uses", "must be once, timed or always"))?;
    let now = Timestamp::now();
    let expires_at = match (uses, input.minutes) {
        (GrantUse::Timed, None) => return Err(field("minutes", "is required for a timed grant")),
        (GrantUse::Always, Some(_)) => {
            return Err(field("minutes", "contradicts uses `always` (leave it out)"));
        }
        (_, Some(m)) if !(1..=MAX_MINUTES).contains(&m) => {
            return Err(field(
                "minutes",
                &format!("must be a whole number from 1 to {MAX_MINUTES}"),
            ));
        }
        (_, Some(m)) => Some(Timestamp::from_millis(now.as_millis() + m * 60_000)),
        (_, None) => None,
    };
    let pattern = input
        .pattern
        .filter(|p| !p.is_null())
        .map(|p| parse_pattern("pattern", &p))
        .transpose()
        .map_err(refused)?;
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| {
        let n = store
            .get_notification(Party::Namespace(&namespace), &notification_id)
            .map_err(|e| match e {
                TransitionError::Store(e) => e.into(),
                _ => Error::not_found(),
            })?;
        let action_id = n
            .response
            .as_ref()
            .filter(|_| n.status == NotificationStatus::Responded)
            .and_then(|r| r["action_id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                field(
                    "notification_id",
                    "must name a notification that was answered",
                )
            })?;
        let simple = n
            .actions
            .iter()
            .any(|a| a.id == action_id && a.response_type == ResponseType::Simple);
        if !simple {
            return Err(field(
                "notification_id",
                "was answered with response data; only an action that needs none can be granted",
            ));
        }
        let arguments = n
            .context
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let grant = Grant {
            id: assent_auth::random::Id::Grant.mint(),
            namespace: namespace.clone(),
            service_id: n.service_id.clone(),
            service_slug: n.service_slug.clone(),
            action: action_id,
            binding: match pattern {
                Some(p) => Binding::Pattern(p),
                None => Binding::Digest(digest(&arguments)),
            },
            uses,
            expires_at,
            used_at: None,
            revoked_at: None,
            source_id: Some(n.id.clone()),
            matched: 0,
            created_at: now,
        };
        Ok(store.create_grant(&grant, &actor)?)
    })
    .await
}

/// The owner's grants, newest first (every state: active, used, expired, revoked).
pub async fn list(app: &App, owner: &Account) -> Result<Vec<Grant>, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| store.list_grants(&namespace, LIST_LIMIT))
        .await
}

/// Revokes one of the owner's grants: from the next request on it answers nothing.
/// `NOT_FOUND` for another namespace's.
pub async fn revoke(app: &App, owner: &Account, id: String) -> Result<Grant, Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    app.run(move |store| store.revoke_grant(&namespace, &id, &actor))
        .await
}
