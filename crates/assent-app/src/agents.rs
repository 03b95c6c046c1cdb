//! What services and agents ask with signed requests: submitting a claim for an agent key,
//! the service's feed of approved claims, and the public records of a namespace. The
//! signature itself is checked by the front end (it needs the request); what is checked here
//! needs the database. Verifying that a key may act is the one exception: its lookup rides
//! with the request's nonce in the front end's group commit (`assent-http/src/nonces.rs`),
//! one hand-off to the blocking pool for both.

use assent_core::claim::Claim;
use assent_core::{Namespace, Timestamp};
use assent_store::{Account, DidSubjects, NewClaim, StoreError, Submitted};

use crate::{App, Error, code};

/// How long a claim body's nonce stays used (single-use per service for this long).
pub const CLAIM_NONCE_TTL_SECONDS: i64 = 600;

/// The most approved claims a DID document lists (the most recent ones).
const DID_DOCUMENT_CLAIMS: i64 = 1000;

/// Submits the claim of an agent key on behalf of the service `new.service_id`, its body's
/// `nonce` single-use for that service (`NONCE_REPLAY`). A claim already pending or approved
/// for the same key is returned as it is. A new one goes through the owner's policy
/// (`crate::policies`): a rule may approve or reject it at once, and past a pending cap it is
/// rejected (`PENDING_LIMIT_REACHED`, with the rejected claim's id).
pub async fn submit(app: &App, new: NewClaim, nonce: String) -> Result<Submitted, Error> {
    let ttl = app.settings.claim_ttl;
    let source = crate::client_addr();
    let scope = format!("claim:{}", new.service_id);
    let expires =
        Timestamp::from_millis(Timestamp::now().as_millis() + CLAIM_NONCE_TTL_SECONDS * 1000);
    let submitted = app
        .run(move |store| {
            if !store.use_nonce(&scope, &nonce, expires)? {
                return Err(Error::conflict(
                    code::NONCE_REPLAY,
                    "Replay detected: this nonce has already been used.",
                ));
            }
            let screening = crate::policies::screen_claim(store, &new, source)?;
            let submitted = store.submit_screened_claim(&new, ttl, &screening)?;
            match &submitted {
                Submitted::Created(claim)
                    if claim
                        .decided_by
                        .as_deref()
                        .is_some_and(|by| by.starts_with("limit:")) =>
                {
                    Err(pending_limit(claim))
                }
                _ => Ok(submitted),
            }
        })
        .await;
    match &submitted {
        Ok(Submitted::Created(Claim {
            decided_by: Some(by),
            ..
        })) => app.decisions().add_automatic("claim", by),
        // Stored rejected by the pending cap.
        Err(e) if e.code() == code::PENDING_LIMIT_REACHED => {
            app.decisions().add("claim", "limit", 1);
        }
        _ => {}
    }
    submitted
}

/// The refusal of a claim past a pending cap (the claim is stored rejected, and
/// `request.rejected` says `max_pending_reached`).
fn pending_limit(claim: &Claim) -> Error {
    crate::policies::pending_limit(claim.decided_by.as_deref().unwrap_or_default())
        .with_detail("claim_id", claim.id.clone())
}

/// One page (`limit`, from `offset`) of the approved claims of a service, newest approval
/// first, and whether more follow.
pub async fn approved_claims(
    app: &App,
    service_id: String,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Claim>, bool), Error> {
    let mut claims = app
        .run(move |store| store.approved_claims_of_service(&service_id, limit + 1, offset))
        .await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = claims.len() > limit;
    claims.truncate(limit);
    Ok((claims, has_more))
}

/// The account owning `namespace` and how many claims it has approved (`NOT_FOUND` for a
/// namespace nobody owns).
pub async fn namespace_record(app: &App, namespace: &Namespace) -> Result<(Account, i64), Error> {
    let ns = namespace.as_str().to_owned();
    app.run(move |store| {
        let account = store
            .find_account_by_namespace(&ns)?
            .ok_or(StoreError::NotFound)?;
        let active = store.count_approved_claims(&ns)?;
        Ok::<_, StoreError>((account, active))
    })
    .await
}

/// What a namespace's DID document is made of (its owner's sign-up time, the agent keys of
/// its most recent approved claims, its webhook signing keys), in one read; `None` for a
/// namespace nobody owns. Reading never writes.
pub async fn did_subjects(app: &App, namespace: &Namespace) -> Result<Option<DidSubjects>, Error> {
    let ns = namespace.as_str().to_owned();
    app.run(move |store| store.did_subjects(&ns, DID_DOCUMENT_CLAIMS))
        .await
}
