//! Claims: submission (idempotent while a claim is live), compare-and-set decisions, expiry,
//! and the lookups behind verification. Every state change writes its `request.*` event through
//! the outbox, and its change (for the owner's dashboard), in the same transaction.

use std::time::Duration;

use assent_core::claim::{Claim, ClaimStatus, Decision};
use assent_core::policy::Effect;
use assent_core::{EventType, Timestamp};
use diesel::prelude::*;
use serde_json::json;

use crate::AnyConnection;
use crate::audit::{self, Actor, AuditEntry};
use crate::changes::{self, ChangeKind};
use crate::db::Store;
use crate::db::status_literal;
use crate::error::{StoreError, conflict_as};
use crate::outbox::{NewEvent, Outbox};
use crate::policies::PendingCaps;
use crate::schema::{accounts, claim_history, claims, decisions, services};

/// A claim as stored; callers get it as a [`Claim`].
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = claims)]
pub(crate) struct ClaimRow {
    pub id: String,
    pub namespace: String,
    pub service_id: String,
    pub service_slug: String,
    pub public_key: String,
    pub agent_key: String,
    pub agent_ip: Option<String>,
    pub subject: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub approved_at: Option<i64>,
    pub decided_at: Option<i64>,
}

impl From<ClaimRow> for Claim {
    fn from(row: ClaimRow) -> Self {
        Self {
            status: row.status(),
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
            expires_at: Timestamp::from_millis(row.expires_at),
            approved_at: row.approved_at.map(Timestamp::from_millis),
            decided_at: row.decided_at.map(Timestamp::from_millis),
            id: row.id,
            namespace: row.namespace,
            service_id: row.service_id,
            service_slug: row.service_slug,
            public_key: row.public_key,
            agent_key: row.agent_key,
            agent_ip: row.agent_ip,
            subject: row.subject,
            agent_id: row.agent_id,
            agent_name: row.agent_name,
            decided_by: None,
        }
    }
}

impl ClaimRow {
    fn status(&self) -> ClaimStatus {
        ClaimStatus::parse(&self.status).unwrap_or(ClaimStatus::Expired)
    }
}

/// A submission, after the signature and the API key were checked.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub namespace: String,
    pub service_id: String,
    pub service_slug: String,
    pub public_key: String,
    pub agent_key: String,
    pub agent_ip: Option<String>,
    pub subject: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
}

/// What the owner's policy says of a submission, worked out before it is stored: the first
/// matching rule (if any), and the pending caps to hold it to if it is left to the owner.
#[derive(Debug, Clone, Default)]
pub struct Screening {
    /// The rule that decides, and what it says.
    pub rule: Option<(String, Effect)>,
    pub caps: PendingCaps,
}

/// One verify's question: may `public_key` act on the service `service_slug` of `namespace`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimQuestion {
    pub namespace: String,
    pub public_key: String,
    pub service_slug: String,
}

/// What a namespace's DID document lists ([`Store::did_subjects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidSubjects {
    /// When the namespace's owner signed up.
    pub created_at: Timestamp,
    /// `(agent_key, service_slug)` of each approved claim, most recent first.
    pub agents: Vec<(String, String)>,
    pub webhook_keys: Vec<crate::webhooks::PublishedKey>,
}

/// What a submission came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new pending claim (and its `request.submitted` event).
    Created(Claim),
    /// The key already has a live (pending or approved) claim: nothing changed.
    Existing(Claim),
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no such claim")]
    NotFound,
    /// The claim is not in the state the decision needs (another decider won, or it expired).
    #[error("the claim is {0}")]
    Conflict(ClaimStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::WriteError for DecideError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for DecideError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl Store {
    /// Submits a claim. A live claim for the same key is returned as it is; otherwise a new
    /// pending claim starts with fresh timestamps (an earlier decided one moves to the history),
    /// expiring after `ttl`.
    pub fn submit_claim(&self, new: &NewClaim, ttl: Duration) -> Result<Submitted, StoreError> {
        self.submit_screened_claim(new, ttl, &Screening::default())
    }

    /// [`Store::submit_claim`] under the owner's policy: a new claim a rule approves or
    /// rejects is stored decided (by `policy:<rule id>`, with its event and audit entry);
    /// one left to the owner past a pending cap is stored rejected with the reason
    /// `max_pending_reached` (by `limit:max_pending` or `limit:max_pending_per_service`).
    /// The count and the insert are one transaction with the namespace locked, so a cap holds
    /// exactly under concurrent submissions.
    pub fn submit_screened_claim(
        &self,
        new: &NewClaim,
        ttl: Duration,
        screening: &Screening,
    ) -> Result<Submitted, StoreError> {
        // Concurrent first submissions of one key: the unique index lets one insert win; the
        // others, run again, find its claim and answer with it.
        match self.submit_claim_once(new, ttl, screening) {
            Err(StoreError::Conflict(_)) => self.submit_claim_once(new, ttl, screening),
            other => other,
        }
    }

    fn submit_claim_once(
        &self,
        new: &NewClaim,
        ttl: Duration,
        screening: &Screening,
    ) -> Result<Submitted, StoreError> {
        let now = Timestamp::now().as_millis();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.write_changes(|conn, outbox| {
            let existing: Option<ClaimRow> = claims::table
                .filter(claims::namespace.eq(&new.namespace))
                .filter(claims::service_id.eq(&new.service_id))
                .filter(claims::public_key.eq(&new.public_key))
                .select(ClaimRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(existing) = existing {
                let mut existing = existing;
                if existing.status() == ClaimStatus::Pending && existing.expires_at <= now {
                    existing = expire(conn, outbox, existing, now)?;
                }
                if existing.status().is_live() {
                    return Ok(Submitted::Existing(existing.into()));
                }
                diesel::insert_into(claim_history::table)
                    .values((
                        claim_history::claim_id.eq(&existing.id),
                        claim_history::namespace.eq(&existing.namespace),
                        claim_history::service_id.eq(&existing.service_id),
                        claim_history::public_key.eq(&existing.public_key),
                        claim_history::status.eq(&existing.status),
                        claim_history::created_at.eq(existing.created_at),
                        claim_history::approved_at.eq(existing.approved_at),
                        claim_history::decided_at.eq(existing.decided_at),
                        claim_history::archived_at.eq(now),
                    ))
                    .execute(conn)?;
                diesel::delete(claims::table.find(&existing.id)).execute(conn)?;
            }
            let verdict = screen(conn, new, screening, now)?;
            let claim = ClaimRow {
                id: assent_auth::random::Id::Claim.mint(),
                namespace: new.namespace.clone(),
                service_id: new.service_id.clone(),
                service_slug: new.service_slug.clone(),
                public_key: new.public_key.clone(),
                agent_key: new.agent_key.clone(),
                agent_ip: new.agent_ip.clone(),
                subject: new.subject.clone(),
                agent_id: new.agent_id.clone(),
                agent_name: new.agent_name.clone(),
                status: verdict.status.as_str().to_owned(),
                created_at: now,
                updated_at: now,
                expires_at: now.saturating_add(ttl_ms),
                approved_at: (verdict.status == ClaimStatus::Approved).then_some(now),
                decided_at: (verdict.status == ClaimStatus::Rejected).then_some(now),
            };
            diesel::insert_into(claims::table)
                .values(&claim)
                .execute(conn)
                .map_err(conflict_as("claim"))?;
            let Some(by) = verdict.by else {
                emit(conn, outbox, &claim, EventType::RequestSubmitted, None)?;
                crate::channels::notify_owner(
                    conn,
                    outbox,
                    &claim.namespace,
                    assent_core::channel::ChannelEvent::ClaimSubmitted,
                    (crate::channels::ItemKind::Claim, &claim.id),
                )?;
                crate::channels::schedule_reminders(
                    conn,
                    outbox,
                    &claim.namespace,
                    (crate::channels::ItemKind::Claim, &claim.id),
                    claim.expires_at,
                )?;
                return Ok(Submitted::Created(claim.into()));
            };
            record_decider(conn, &claim.namespace, &claim.id, &by, now)?;
            let (event, action) = match verdict.status {
                ClaimStatus::Approved => (EventType::RequestApproved, "claim.approved"),
                _ => (EventType::RequestRejected, "claim.rejected"),
            };
            emit_decided(conn, outbox, &claim, event, verdict.reason, &by)?;
            audit::record(
                conn,
                AuditEntry {
                    namespace: &claim.namespace,
                    actor: &Actor::Automatic(by.clone()),
                    action,
                    target_id: &claim.id,
                    details: json!({
                        "service": claim.service_slug,
                        "public_key": claim.public_key,
                        "decided_by": by,
                        "reason": verdict.reason,
                    }),
                },
            )?;
            let mut claim = Claim::from(claim);
            claim.decided_by = Some(by);
            Ok(Submitted::Created(claim))
        })
    }

    /// Applies an owner's decision if, and only if, the claim is in the state it needs: of many
    /// concurrent deciders exactly one changes it (and writes its one event); the others get
    /// `Conflict`. Another namespace's claim is `NotFound`.
    pub fn decide_claim(
        &self,
        namespace: &str,
        claim_id: &str,
        decision: Decision,
        actor: &Actor,
    ) -> Result<Claim, DecideError> {
        let now = Timestamp::now().as_millis();
        self.write_changes(|conn, outbox| {
            let mut guarded = diesel::update(
                claims::table
                    .filter(claims::id.eq(claim_id))
                    .filter(claims::namespace.eq(namespace))
                    .filter(claims::status.eq(status_literal(decision.from().as_str()))),
            )
            .into_boxed();
            if decision.from() == ClaimStatus::Pending {
                guarded = guarded.filter(claims::expires_at.gt(now));
            }
            let changed = match decision {
                Decision::Approve => guarded
                    .set((
                        claims::status.eq(decision.to().as_str()),
                        claims::approved_at.eq(Some(now)),
                        claims::updated_at.eq(now),
                    ))
                    .execute(conn)?,
                Decision::Reject | Decision::Revoke => guarded
                    .set((
                        claims::status.eq(decision.to().as_str()),
                        claims::decided_at.eq(Some(now)),
                        claims::updated_at.eq(now),
                    ))
                    .execute(conn)?,
            };
            let claim = find(conn, namespace, claim_id)?.ok_or(DecideError::NotFound)?;
            if changed == 0 {
                let claim = if claim.status() == ClaimStatus::Pending && claim.expires_at <= now {
                    expire(conn, outbox, claim, now)?
                } else {
                    claim
                };
                return Err(DecideError::Conflict(claim.status()));
            }
            emit(conn, outbox, &claim, decision.event(), None)?;
            audit::record(conn, AuditEntry {
                namespace,
                actor,
                action: match decision {
                    Decision::Approve => "claim.approved",
                    Decision::Reject => "claim.rejected",
                    Decision::Revoke => "claim.revoked",
                },
                target_id: claim_id,
                details: json!({ "service": claim.service_slug, "public_key": claim.public_key }),
            })?;
            let by = actor.to_string();
            record_decider(conn, namespace, claim_id, &by, now)?;
            let mut claim = Claim::from(claim);
            claim.decided_by = Some(by);
            Ok(claim)
        })
    }

    /// A claim of `namespace`; a pending one past its expiry is expired on the way (with its
    /// event), so a read never shows a stale pending claim.
    pub fn get_claim(&self, namespace: &str, claim_id: &str) -> Result<Option<Claim>, StoreError> {
        let now = Timestamp::now().as_millis();
        let claim = self.read(|conn| find(conn, namespace, claim_id))?;
        let claim = match claim {
            Some(claim) if claim.status() == ClaimStatus::Pending && claim.expires_at <= now => {
                self.write_changes(|conn, outbox| {
                    // Re-read under the write lock: a decision may have won meanwhile.
                    match find(conn, namespace, claim_id)? {
                        Some(c) if c.status() == ClaimStatus::Pending && c.expires_at <= now => {
                            expire(conn, outbox, c, now).map(Some)
                        }
                        other => Ok(other),
                    }
                })?
            }
            other => other,
        };
        let mut claims: Vec<Claim> = claim.into_iter().map(Claim::from).collect();
        self.read(|conn| attach_deciders(conn, &mut claims))?;
        Ok(claims.pop())
    }

    /// A namespace's claims, newest first, optionally of one status and one service slug.
    pub fn list_claims(
        &self,
        namespace: &str,
        status: Option<ClaimStatus>,
        service_slug: Option<&str>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<Claim>, StoreError> {
        // Only this namespace's due claims, and only when pending ones can be listed: a listing
        // of approved claims (the public DID document) never writes.
        if matches!(status, None | Some(ClaimStatus::Pending)) {
            self.expire_due(Some(namespace), Timestamp::now(), 1000)?;
        }
        self.read(|conn| {
            let mut query = claims::table
                .filter(claims::namespace.eq(namespace))
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(claims::status.eq(status.as_str()));
            }
            if let Some(slug) = service_slug {
                query = query.filter(claims::service_slug.eq(slug));
            }
            if let Some((created_at, id)) = before {
                query = query.filter(
                    claims::created_at
                        .lt(created_at)
                        .or(claims::created_at.eq(created_at).and(claims::id.lt(id))),
                );
            }
            let mut claims: Vec<Claim> = query
                .order((claims::created_at.desc(), claims::id.desc()))
                .limit(limit)
                .select(ClaimRow::as_select())
                .load::<ClaimRow>(conn)?
                .into_iter()
                .map(Claim::from)
                .collect();
            attach_deciders(conn, &mut claims)?;
            Ok(claims)
        })
    }

    /// Expires up to `limit` pending claims past their expiry, each with its event. Returns
    /// how many. Run periodically by the server, and before listings.
    pub fn expire_due_claims(&self, now: Timestamp, limit: i64) -> Result<usize, StoreError> {
        self.expire_due(None, now, limit)
    }

    /// [`Store::expire_due_claims`], optionally of one namespace only.
    fn expire_due(
        &self,
        namespace: Option<&str>,
        now: Timestamp,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let now = now.as_millis();
        let due: Vec<String> = self.read(|conn| {
            let mut query = claims::table
                .filter(claims::status.eq(status_literal(ClaimStatus::Pending.as_str())))
                .filter(claims::expires_at.le(now))
                .into_boxed();
            if let Some(namespace) = namespace {
                query = query.filter(claims::namespace.eq(namespace));
            }
            Ok::<_, StoreError>(query.limit(limit).select(claims::id).load(conn)?)
        })?;
        if due.is_empty() {
            return Ok(0);
        }
        self.write_changes(|conn, outbox| {
            let rows: Vec<ClaimRow> = claims::table
                .filter(claims::id.eq_any(&due))
                .filter(claims::status.eq(status_literal(ClaimStatus::Pending.as_str())))
                .filter(claims::expires_at.le(now))
                // In id order, so concurrent sweeps lock rows in one order and cannot deadlock.
                .order(claims::id.asc())
                .select(ClaimRow::as_select())
                .load(conn)?;
            let count = rows.len();
            for row in rows {
                expire(conn, outbox, row, now)?;
            }
            Ok(count)
        })
    }

    /// The approved claim of `public_key` for the service `service_slug` of `namespace`, if the
    /// service still exists: the lookup behind `GET /v1/verify`. Two indexed lookups.
    pub fn find_approved_claim(
        &self,
        namespace: &str,
        public_key: &str,
        service_slug: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        self.read(|conn| approved_claim(conn, namespace, public_key, service_slug))
    }

    /// [`Store::find_approved_claim`] for many questions at once, the answers in order, on one
    /// connection: one cached statement a question. (Verifies that arrive together ask through
    /// [`Store::use_nonces_and_find`], which on PostgreSQL folds them into its nonces' write.)
    pub fn find_approved_claims(
        &self,
        questions: &[ClaimQuestion],
    ) -> Result<Vec<Option<(String, Timestamp)>>, StoreError> {
        if questions.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            questions
                .iter()
                .map(|q| approved_claim(conn, &q.namespace, &q.public_key, &q.service_slug))
                .collect()
        })
    }

    /// What the DID document of `namespace` is made of, read on one connection: when its
    /// owner signed up, the agent keys of its `limit` most recent approved claims with their
    /// service slugs, and the keys its webhooks sign with; `None` for a namespace nobody
    /// owns. Only the columns the document shows. Reading never writes (no expiry runs), so
    /// the public endpoint cannot be used to make the server write.
    pub fn did_subjects(
        &self,
        namespace: &str,
        limit: i64,
    ) -> Result<Option<DidSubjects>, StoreError> {
        self.read(|conn| {
            // `load`, not `first`: no bound LIMIT, so SQLite keeps the prepared statement
            // (the namespace is unique).
            let created: Vec<i64> = accounts::table
                .filter(accounts::namespace.eq(namespace))
                .select(accounts::created_at)
                .load(conn)?;
            let Some(&created_at) = created.first() else {
                return Ok(None);
            };
            let agents: Vec<(String, String)> = claims::table
                .filter(claims::namespace.eq(namespace))
                .filter(claims::status.eq(status_literal(ClaimStatus::Approved.as_str())))
                .order((claims::created_at.desc(), claims::id.desc()))
                .limit(limit)
                .select((claims::agent_key, claims::service_slug))
                .load(conn)?;
            let webhook_keys = crate::webhooks::published_keys_on(conn, namespace)?;
            Ok(Some(DidSubjects {
                created_at: Timestamp::from_millis(created_at),
                agents,
                webhook_keys,
            }))
        })
    }

    /// The approved claims of one service, newest approval first: the calling service's feed.
    pub fn approved_claims_of_service(
        &self,
        service_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Claim>, StoreError> {
        self.read(|conn| {
            Ok(claims::table
                .filter(claims::service_id.eq(service_id))
                .filter(claims::status.eq(status_literal(ClaimStatus::Approved.as_str())))
                .order((claims::approved_at.desc(), claims::created_at.desc()))
                .limit(limit)
                .offset(offset)
                .select(ClaimRow::as_select())
                .load::<ClaimRow>(conn)?
                .into_iter()
                .map(Claim::from)
                .collect())
        })
    }

    /// How many claims of `namespace` are approved.
    pub fn count_approved_claims(&self, namespace: &str) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(claims::table
                .filter(claims::namespace.eq(namespace))
                .filter(claims::status.eq(status_literal(ClaimStatus::Approved.as_str())))
                .count()
                .get_result(conn)?)
        })
    }
}

/// Records who decided `subject_id` (a claim or a notification), replacing an earlier decider.
pub(crate) fn record_decider(
    conn: &mut AnyConnection,
    namespace: &str,
    subject_id: &str,
    by: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::delete(decisions::table.find(subject_id)).execute(conn)?;
    diesel::insert_into(decisions::table)
        .values((
            decisions::subject_id.eq(subject_id),
            decisions::namespace.eq(namespace),
            decisions::decided_by.eq(by),
            decisions::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Fills in who decided each of `claims`.
fn attach_deciders(conn: &mut AnyConnection, claims: &mut [Claim]) -> Result<(), StoreError> {
    if claims.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    let deciders: Vec<(String, String)> = decisions::table
        .filter(decisions::subject_id.eq_any(&ids))
        .select((decisions::subject_id, decisions::decided_by))
        .load(conn)?;
    for (id, by) in deciders {
        if let Some(claim) = claims.iter_mut().find(|c| c.id == id) {
            claim.decided_by = Some(by);
        }
    }
    Ok(())
}

/// What a new claim starts as, and who decided that.
struct Verdict {
    status: ClaimStatus,
    by: Option<String>,
    reason: Option<&'static str>,
}

/// Applies the screening to a new claim inside its transaction: the rule's effect, or, for a
/// claim left to the owner, the pending caps, counted with the namespace locked.
fn screen(
    conn: &mut AnyConnection,
    new: &NewClaim,
    screening: &Screening,
    now: i64,
) -> Result<Verdict, StoreError> {
    if let Some((rule, effect)) = &screening.rule {
        crate::policies::count_match(conn, &new.namespace, rule, now)?;
        let by = Some(format!("policy:{rule}"));
        match effect {
            Effect::AutoApprove => {
                return Ok(Verdict {
                    status: ClaimStatus::Approved,
                    by,
                    reason: None,
                });
            }
            Effect::AutoReject => {
                return Ok(Verdict {
                    status: ClaimStatus::Rejected,
                    by,
                    reason: Some("rejected_by_policy"),
                });
            }
            Effect::Ask => {}
        }
    }
    let caps = screening.caps;
    if caps.is_set() {
        // The namespace's account row: the lock every pending count of the namespace takes.
        crate::db::lock_quota_owner(conn, crate::Quota::Services, &new.namespace)?;
        let pending = |conn: &mut AnyConnection, service: Option<&str>| {
            let mut query = claims::table
                .filter(claims::namespace.eq(&new.namespace))
                .filter(claims::status.eq(status_literal(ClaimStatus::Pending.as_str())))
                .filter(claims::expires_at.gt(now))
                .into_boxed();
            if let Some(service) = service {
                query = query.filter(claims::service_id.eq(service));
            }
            query.count().get_result::<i64>(conn)
        };
        let limits = [
            (caps.namespace, None, "limit:max_pending"),
            (
                caps.per_service,
                Some(new.service_id.as_str()),
                "limit:max_pending_per_service",
            ),
        ];
        for (cap, service, by) in limits {
            if let Some(cap) = cap
                && pending(conn, service)? >= i64::from(cap)
            {
                return Ok(Verdict {
                    status: ClaimStatus::Rejected,
                    by: Some(by.to_owned()),
                    reason: Some("max_pending_reached"),
                });
            }
        }
    }
    Ok(Verdict {
        status: ClaimStatus::Pending,
        by: None,
        reason: None,
    })
}

fn find(
    conn: &mut AnyConnection,
    namespace: &str,
    claim_id: &str,
) -> Result<Option<ClaimRow>, StoreError> {
    Ok(claims::table
        .filter(claims::id.eq(claim_id))
        .filter(claims::namespace.eq(namespace))
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()?)
}

/// The approved claim behind one verify. The status is compared here rather than bound into
/// the SQL: SQLite prepares a cached statement again whenever a parameter its plan depends on
/// is bound anew, and `status = ?` is one (the partial index of pending claims); for the same
/// reason there is no bound `LIMIT` (the unique keys allow one row at most anyway).
fn approved_claim(
    conn: &mut AnyConnection,
    namespace: &str,
    public_key: &str,
    service_slug: &str,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    let rows: Vec<(String, String, Option<i64>)> = claims::table
        .inner_join(services::table.on(services::id.eq(claims::service_id)))
        .filter(services::namespace.eq(namespace))
        .filter(services::slug.eq(service_slug))
        .filter(claims::namespace.eq(namespace))
        .filter(claims::public_key.eq(public_key))
        .select((claims::id, claims::status, claims::approved_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .find(|(_, status, _)| status == ClaimStatus::Approved.as_str())
        .map(|(id, _, at)| (id, Timestamp::from_millis(at.unwrap_or_default()))))
}

fn expire(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    claim: ClaimRow,
    now: i64,
) -> Result<ClaimRow, StoreError> {
    diesel::update(
        claims::table
            .filter(claims::id.eq(&claim.id))
            .filter(claims::status.eq(status_literal(ClaimStatus::Pending.as_str()))),
    )
    .set((
        claims::status.eq(ClaimStatus::Expired.as_str()),
        claims::decided_at.eq(Some(now)),
        claims::updated_at.eq(now),
    ))
    .execute(conn)?;
    let expired = ClaimRow {
        status: ClaimStatus::Expired.as_str().to_owned(),
        decided_at: Some(now),
        updated_at: now,
        ..claim
    };
    emit(
        conn,
        outbox,
        &expired,
        EventType::RequestExpired,
        Some("expired"),
    )?;
    Ok(expired)
}

/// The Sigilum-format event of a claim's change (`docs/webhooks.md`, "Sigilum format").
fn emit(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    claim: &ClaimRow,
    event_type: EventType,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    emit_with(conn, outbox, claim, event_type, reason, None)
}

/// The event of an automatic decision: `auto_approved` (Sigilum's field) and `decided_by`,
/// the rule or limit that decided, beside the usual data.
fn emit_decided(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    claim: &ClaimRow,
    event_type: EventType,
    reason: Option<&str>,
    by: &str,
) -> Result<(), StoreError> {
    emit_with(conn, outbox, claim, event_type, reason, Some(by))
}

fn emit_with(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    claim: &ClaimRow,
    event_type: EventType,
    reason: Option<&str>,
    decided_by: Option<&str>,
) -> Result<(), StoreError> {
    let mut data = json!({
        "claim_id": claim.id,
        "namespace": claim.namespace,
        "service": claim.service_slug,
        "agent_key": claim.agent_key,
        "public_key": claim.public_key,
        "status": claim.status,
        "subject": claim.subject,
        "agent_id": claim.agent_id,
        "agent_name": claim.agent_name,
    });
    if let Some(object) = data.as_object_mut() {
        if let Some(reason) = reason {
            object.insert("reason".into(), reason.into());
        }
        if let Some(by) = decided_by {
            object.insert(
                "auto_approved".into(),
                (event_type == EventType::RequestApproved).into(),
            );
            object.insert("decided_by".into(), by.into());
            if let Some(rule) = by.strip_prefix("policy:") {
                object.insert("rule".into(), rule.into());
            }
        }
    }
    let payload =
        json!({ "event": event_type.as_str(), "timestamp": Timestamp::now(), "data": data });
    let event = NewEvent {
        id: assent_auth::random::Id::Event.mint(),
        service_id: claim.service_id.clone(),
        namespace: claim.namespace.clone(),
        event_type,
        payload: payload.to_string(),
    };
    outbox.emit(conn, &event, None)?;
    let change = json!({
        "claim_id": claim.id,
        "status": claim.status,
        "updated_at": Timestamp::from_millis(claim.updated_at),
    });
    changes::record(
        conn,
        outbox,
        &claim.namespace,
        &claim.id,
        ChangeKind::Claim,
        &change,
    )?;
    Ok(())
}
