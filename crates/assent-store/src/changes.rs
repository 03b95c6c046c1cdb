//! The change log of decision requests: every new notification, every notification status
//! update and every new state of a claim, numbered in commit order, written in the
//! transaction of the change. Open client connections (SSE, WebSocket, the dashboard) are fed
//! from it on every replica, and a client that reconnects resumes from the last number it saw
//! (`Last-Event-ID`).
//!
//! Numbers must become visible in order, or a reader that has seen 12 would skip an 11 that
//! commits later. SQLite has one writer at a time; on PostgreSQL every transaction that may
//! record changes takes a transaction-scoped advisory lock first ([`Store::write_changes`]),
//! so notification and claim writes commit one at a time there too: the price of exact
//! resumption, paid by every namespace's claim submissions and decisions alike (nonces,
//! deliveries and owner changes do not take it). Taking it first, before any row lock, is
//! what keeps two transactions that each move several notifications from deadlocking.

use assent_core::Timestamp;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::AnyConnection;
use crate::db::Store;
use crate::error::StoreError;
use crate::outbox::Outbox;
use crate::schema::changes;

/// The advisory lock key that orders change numbers on PostgreSQL ("changes" in ASCII).
const CHANGES_LOCK: i64 = 0x0063_6861_6e67_6573;

/// What a client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A notification for the user, in full.
    Notification,
    /// A notification's status changed: `{notification_id, status, updated_at, reason?}`.
    StatusUpdate,
    /// A claim was submitted or changed state: `{claim_id, status, updated_at}`. Not part of
    /// ATP: only the owner's dashboard hears it.
    Claim,
}

impl ChangeKind {
    pub const ALL: [Self; 3] = [Self::Notification, Self::StatusUpdate, Self::Claim];

    /// What the ATP client streams carry.
    pub const ATP: [Self; 2] = [Self::Notification, Self::StatusUpdate];

    /// The event name on both streams.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::StatusUpdate => "status_update",
            Self::Claim => "claim",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One numbered change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub namespace: String,
    /// The notification or claim it concerns.
    pub subject_id: String,
    pub kind: ChangeKind,
    pub payload: Value,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = changes)]
struct ChangeRow {
    seq: i64,
    namespace: String,
    subject_id: String,
    kind: String,
    payload: String,
}

impl TryFrom<ChangeRow> for Change {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: row.seq,
            namespace: row.namespace,
            subject_id: row.subject_id,
            kind: ChangeKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("change kind {}", row.kind)))?,
            payload: serde_json::from_str(&row.payload)
                .map_err(|e| StoreError::Corrupt(format!("change payload: {e}")))?,
        })
    }
}

/// Records a change in a [`Store::write_changes`] transaction; the change waker runs after it
/// commits.
pub(crate) fn record(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    namespace: &str,
    subject_id: &str,
    kind: ChangeKind,
    payload: &Value,
) -> Result<(), StoreError> {
    diesel::insert_into(changes::table)
        .values((
            changes::namespace.eq(namespace),
            changes::subject_id.eq(subject_id),
            changes::kind.eq(kind.as_str()),
            changes::payload.eq(payload.to_string()),
            changes::created_at.eq(Timestamp::now().as_millis()),
        ))
        .execute(conn)?;
    outbox.changed();
    Ok(())
}

impl Store {
    /// A write transaction that may record changes (and emit events): on PostgreSQL it first
    /// takes the lock that orders change numbers. Every write path of notifications and claims
    /// goes through here.
    pub(crate) fn write_changes<T, E>(
        &self,
        f: impl FnOnce(&mut AnyConnection, &mut Outbox) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + From<diesel::result::Error>,
    {
        self.write_with_outbox(|conn, outbox| {
            if let AnyConnection::Postgresql(pg) = conn {
                pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({CHANGES_LOCK})"))?;
            }
            f(conn, outbox)
        })
    }

    /// Changes numbered after `after`, in order, at most `limit`; of one namespace, or of all.
    pub fn changes_after(
        &self,
        namespace: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Change>, StoreError> {
        self.read(|conn| {
            let mut query = changes::table.filter(changes::seq.gt(after)).into_boxed();
            if let Some(namespace) = namespace {
                query = query.filter(changes::namespace.eq(namespace));
            }
            query
                .order(changes::seq.asc())
                .limit(limit)
                .select(ChangeRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Change::try_from)
                .collect()
        })
    }

    /// The number of the newest change (0 when there is none).
    pub fn latest_change(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(changes::table
                .select(diesel::dsl::max(changes::seq))
                .get_result::<Option<i64>>(conn)?
                .unwrap_or(0))
        })
    }

    /// The number of the oldest change still kept (`None` when there is none): a client that
    /// resumes from before it has missed changes and is sent the current state instead.
    pub fn oldest_change(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            Ok(changes::table
                .select(diesel::dsl::min(changes::seq))
                .get_result::<Option<i64>>(conn)?)
        })
    }

    /// Deletes changes recorded before `before`. Returns how many.
    pub fn purge_changes(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|conn| {
            Ok(
                diesel::delete(changes::table.filter(changes::created_at.lt(before.as_millis())))
                    .execute(conn)?,
            )
        })
    }

    /// Registers what wakes this process's change feed after a commit that recorded changes.
    pub fn set_change_waker(&self, waker: crate::outbox::Waker) {
        self.change_waker.set(waker);
    }
}
