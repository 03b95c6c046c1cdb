//! Agents' claims as their owner sees them: read one, list them, and decide (approve, reject,
//! revoke). Of concurrent decisions on one claim exactly one wins.

use assent_core::FieldError;
use assent_core::claim::Claim;
use assent_core::claim::{ClaimStatus, Decision};
use assent_store::{Account, DecideError, StoreError};

use crate::pagination::{self, Page};
use crate::{App, Error, Kind, actor, code};

/// Which claims to list, as asked for (each part optional and checked here).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `pending`, `approved`, `rejected`, `revoked` or `expired`.
    pub status: Option<String>,
    /// Only this service's (its slug).
    pub service: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One of the owner's claims.
pub async fn get(app: &App, owner: &Account, claim_id: String) -> Result<Claim, Error> {
    let namespace = owner.namespace.clone();
    app.run(move |store| {
        store
            .get_claim(&namespace, &claim_id)?
            .ok_or(StoreError::NotFound)
    })
    .await
}

/// One page of the claims of `namespace`, which must be the owner's (`FORBIDDEN` otherwise),
/// newest first. `VALIDATION_ERROR` for a bad `status`, `limit` or `cursor`.
pub async fn list(
    app: &App,
    owner: &Account,
    namespace: &str,
    query: ListQuery,
) -> Result<Page<Claim>, Error> {
    if namespace != owner.namespace {
        return Err(Error::new(
            Kind::Forbidden,
            code::FORBIDDEN,
            "This is not your namespace.",
        ));
    }
    let status = query
        .status
        .map(|s| {
            ClaimStatus::parse(&s).ok_or_else(|| {
                FieldError::invalid(
                    "status",
                    "must be pending, approved, rejected, revoked or expired",
                )
            })
        })
        .transpose()?;
    let limit = pagination::limit(query.limit.as_deref())?;
    let before = query
        .cursor
        .map(|c| {
            c.split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(pagination::bad_cursor)
        })
        .transpose()?;
    let namespace = owner.namespace.clone();
    let service = query.service;
    let mut items = app
        .run(move |store| {
            store.list_claims(&namespace, status, service.as_deref(), limit + 1, before)
        })
        .await?;
    let next_cursor = pagination::finish(&mut items, limit, |c| {
        format!("{}.{}", c.created_at.as_millis(), c.id)
    });
    Ok(Page { items, next_cursor })
}

/// Decides one of the owner's claims. `NOT_FOUND`; `CLAIM_STATE_CONFLICT` (with the claim's
/// `status`) when its state does not allow the decision.
pub async fn decide(
    app: &App,
    owner: &Account,
    claim_id: String,
    decision: Decision,
) -> Result<Claim, Error> {
    let namespace = owner.namespace.clone();
    let actor = actor(owner);
    let claim = app
        .run(move |store| {
            store
                .decide_claim(&namespace, &claim_id, decision, &actor)
                .map_err(|e| match e {
                    DecideError::NotFound => Error::not_found(),
                    DecideError::Conflict(status) => conflict(decision, status),
                    DecideError::Store(e) => e.into(),
                })
        })
        .await?;
    app.decisions().add("claim", "owner", 1);
    Ok(claim)
}

/// The refusal of a decision the claim's state does not allow.
fn conflict(decision: Decision, status: ClaimStatus) -> Error {
    Error::conflict(
        code::CLAIM_STATE_CONFLICT,
        format!(
            "The claim is {status}; it can be {}d only when {}.",
            verb(decision),
            decision.from()
        ),
    )
    .with_detail("status", status.as_str())
}

fn verb(decision: Decision) -> &'static str {
    match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
        Decision::Revoke => "revoke",
    }
}
