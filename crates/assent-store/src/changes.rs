//! The change log of decision requests: every new notification, every notification status
//! update and every new state of a claim, numbered in commit order. Open client connections
//! (SSE, WebSocket, the dashboard) are fed from it on every replica, and a client that
//! reconnects resumes from the last number it saw (`Last-Event-ID`).
//!
//! Numbers must become visible in order, or a reader that has seen 12 would skip an 11 that
//! commits later. SQLite has one writer at a time, so a change numbered in its transaction is
//! numbered in commit order. On PostgreSQL a number handed out inside a writer's transaction
//! is not: two writers take 11 and 12, and 12 may commit first. Writers there therefore put
//! their changes in `change_inbox`, unnumbered, and never wait for each other; whoever reads
//! the log next (a replica's change feed, a client's resumption) first moves every committed
//! inbox row into `changes` in one short transaction under an advisory lock that only these
//! moves take ([`Store::number_committed`]). The moves run one at a time, each numbers only
//! rows whose transactions have committed, and each commits before the next begins, so
//! numbers become visible in order: a reader of one namespace or of all never skips one.
//!
//! Why this and not a lock per namespace: a lock must be taken before the first write of the
//! transaction, and many writers learn their namespaces only as they go (a notification moved
//! by id, an expiry sweep, a batch marked delivered across namespaces); and an all-namespace
//! reader would still need an order across namespaces it can trust. A visibility horizon
//! (`pg_snapshot_xmin`) gives that order, but holds every replica's streams back behind the
//! oldest open write transaction in the whole database, however unrelated, and would need
//! event ids that are not the plain numbers clients already hold. The inbox costs one more
//! row write per change and a move per read round (a few hundred microseconds for a batch);
//! in exchange writers take no lock at all and the numbers, the API and resumption stay as
//! they were. Transactions that move several notifications lock them in id order, so without
//! the global lock they still cannot deadlock.

use assent_core::Timestamp;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::AnyConnection;
use crate::db::{Backend, Store};
use crate::error::{StoreError, WriteError};
use crate::outbox::Outbox;
use crate::schema::{change_inbox, changes};

/// The advisory lock key that numbering committed changes takes on PostgreSQL ("changes" in
/// ASCII). Writers never take it.
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
/// commits. On PostgreSQL it goes to the inbox, to be numbered once it has committed.
pub(crate) fn record(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    namespace: &str,
    subject_id: &str,
    kind: ChangeKind,
    payload: &Value,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_millis();
    let payload = payload.to_string();
    match conn {
        AnyConnection::Postgresql(_) => diesel::insert_into(change_inbox::table)
            .values((
                change_inbox::namespace.eq(namespace),
                change_inbox::subject_id.eq(subject_id),
                change_inbox::kind.eq(kind.as_str()),
                change_inbox::payload.eq(payload),
                change_inbox::created_at.eq(now),
            ))
            .execute(conn)?,
        AnyConnection::Sqlite(_) => diesel::insert_into(changes::table)
            .values((
                changes::namespace.eq(namespace),
                changes::subject_id.eq(subject_id),
                changes::kind.eq(kind.as_str()),
                changes::payload.eq(payload),
                changes::created_at.eq(now),
            ))
            .execute(conn)?,
    };
    outbox.changed();
    Ok(())
}

impl Store {
    /// A write transaction that may record changes (and emit events). It takes no lock: every
    /// write path of notifications and claims goes through here, and writers in any
    /// namespaces run side by side.
    pub(crate) fn write_changes<T, E: WriteError>(
        &self,
        f: impl FnMut(&mut AnyConnection, &mut Outbox) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_with_outbox(f)
    }

    /// Numbers every change committed so far that has no number yet (PostgreSQL; on SQLite
    /// changes are numbered as they are written). Called before each read of the log, so a
    /// read sees every change committed before it began.
    pub(crate) fn number_committed(&self) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        // A read first: an empty inbox is the common case and takes no lock. A move under way
        // still shows its rows here (its delete has not committed), so this reader then waits
        // for it below rather than reading before its numbers are visible.
        let waiting = self.read(|conn| {
            Ok::<_, StoreError>(
                diesel::select(diesel::dsl::exists(
                    change_inbox::table.select(change_inbox::id),
                ))
                .get_result::<bool>(conn)?,
            )
        })?;
        if !waiting {
            return Ok(());
        }
        self.write(|conn| {
            let AnyConnection::Postgresql(pg) = conn else {
                return Ok(());
            };
            // Two statements, so the move's snapshot is taken after the lock is held and sees
            // what the move before it committed.
            pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({CHANGES_LOCK})"))?;
            pg.batch_execute(
                "WITH moved AS (DELETE FROM change_inbox RETURNING *) \
                 INSERT INTO changes (namespace, subject_id, kind, payload, created_at) \
                 SELECT namespace, subject_id, kind, payload, created_at FROM moved ORDER BY id",
            )?;
            Ok(())
        })
    }

    /// Changes numbered after `after`, in order, at most `limit`; of one namespace, or of all.
    /// Every change committed before the call is numbered first, and no change committed later
    /// can take a number at or below one this returns.
    pub fn changes_after(
        &self,
        namespace: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Change>, StoreError> {
        self.number_committed()?;
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

    /// The number of the newest change (0 when there is none), counting every change committed
    /// before the call.
    pub fn latest_change(&self) -> Result<i64, StoreError> {
        self.number_committed()?;
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    #![expect(
        clippy::expect_used,
        reason = "test helpers: a failure there fails the test"
    )]

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::testing::{Engine, TestDatabase};

    /// One writer's transaction: records `subjects` in `namespace`, then holds the
    /// transaction open for `hold` before it commits, so writers that numbered later commit
    /// first.
    fn write(store: &Store, namespace: &str, subjects: &[String], hold: Duration) {
        store
            .write_changes(|conn, outbox| {
                for subject in subjects {
                    record(
                        conn,
                        outbox,
                        namespace,
                        subject,
                        ChangeKind::Notification,
                        &json!({}),
                    )?;
                }
                std::thread::sleep(hold);
                Ok::<_, StoreError>(())
            })
            .unwrap_or_else(|e| panic!("write in {namespace}: {e}"));
    }

    /// Polls like a resuming client or the change feed: everything after the last number
    /// seen, of one namespace or of all, until `done` and a last read finds nothing new.
    fn poll(store: &Store, namespace: Option<&str>, done: &AtomicBool) -> Vec<Change> {
        let mut read = Vec::new();
        let mut last = 0;
        loop {
            let finished = done.load(Ordering::SeqCst);
            let batch = store
                .changes_after(namespace, last, 7)
                .unwrap_or_else(|e| panic!("read: {e}"));
            if let Some(change) = batch.last() {
                last = change.seq;
            }
            let empty = batch.is_empty();
            read.extend(batch);
            if finished && empty {
                return read;
            }
        }
    }

    /// Many writers at once, four in each of two namespaces, with readers polling throughout:
    /// every committed change is read exactly once by every reader that should see it, in
    /// increasing numbers, each writer's changes in the order it committed them, and a
    /// namespace's reader in the same order as the reader of all. Without an order-safe
    /// numbering (PostgreSQL numbers inside the writer's transaction; a later number commits
    /// first) the readers skip changes and this fails.
    fn a_reader_never_skips_a_committed_change(engine: Engine) {
        const WRITERS: usize = 8;
        const ROUNDS: usize = 40;
        let namespaces = ["ada", "grace"];
        let db = TestDatabase::new(engine);
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = [None, Some("ada"), Some("grace")]
            .into_iter()
            .map(|namespace| {
                let store = db.store.clone();
                let done = Arc::clone(&done);
                std::thread::spawn(move || (namespace, poll(&store, namespace, &done)))
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = db.store.clone();
                let namespace = namespaces[writer % namespaces.len()];
                std::thread::spawn(move || {
                    for round in 0..ROUNDS {
                        // Some transactions record two changes; holds vary so commits overtake.
                        let subjects: Vec<String> = (0..1 + round % 2)
                            .map(|part| format!("{writer}:{round:03}:{part}"))
                            .collect();
                        let hold =
                            Duration::from_micros(((writer * 7 + round * 13) % 4) as u64 * 500);
                        write(&store, namespace, &subjects, hold);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("a writer panicked");
        }
        done.store(true, Ordering::SeqCst);
        let reads: HashMap<Option<&str>, Vec<Change>> = readers
            .into_iter()
            .map(|reader| reader.join().expect("a reader panicked"))
            .collect();

        let written = (0..WRITERS)
            .map(|_| (0..ROUNDS).map(|round| 1 + round % 2).sum::<usize>())
            .sum::<usize>();
        let all = &reads[&None];
        let subjects: Vec<&str> = all.iter().map(|c| c.subject_id.as_str()).collect();
        let mut unique = subjects.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            subjects.len(),
            "{engine}: a change was read twice"
        );
        assert_eq!(
            subjects.len(),
            written,
            "{engine}: the reader of all namespaces skipped committed changes"
        );
        assert!(
            all.windows(2).all(|w| w[0].seq < w[1].seq),
            "{engine}: numbers out of order"
        );
        // Each writer committed its rounds one after another: they are read in that order.
        for writer in 0..WRITERS {
            let prefix = format!("{writer}:");
            let own: Vec<&str> = subjects
                .iter()
                .copied()
                .filter(|s| s.starts_with(&prefix))
                .collect();
            assert!(
                own.windows(2).all(|w| w[0] < w[1]),
                "{engine}: writer {writer}'s changes out of commit order: {own:?}"
            );
        }
        for namespace in namespaces {
            let expected: Vec<&Change> = all.iter().filter(|c| c.namespace == namespace).collect();
            let read: Vec<&Change> = reads[&Some(namespace)].iter().collect();
            assert_eq!(
                read, expected,
                "{engine}: the reader of {namespace} read other changes, or in another order"
            );
        }
    }

    /// On PostgreSQL a write transaction held open does not hold up another writer, in
    /// another namespace or in its own, nor the readers: the others' changes are read at once,
    /// and the open one's change, when it commits, is numbered after them.
    #[test]
    fn an_open_write_holds_up_no_other_writer_nor_reader_on_postgres() {
        let db = TestDatabase::new(Engine::Postgres);
        let (recorded, is_recorded) = mpsc::channel();
        let (release, is_released) = mpsc::channel::<()>();
        let open = {
            let store = db.store.clone();
            std::thread::spawn(move || {
                store
                    .write_changes(|conn, outbox| {
                        record(
                            conn,
                            outbox,
                            "ada",
                            "held",
                            ChangeKind::Notification,
                            &json!({}),
                        )?;
                        recorded.send(()).expect("signal");
                        is_released
                            .recv_timeout(Duration::from_secs(30))
                            .expect("released");
                        Ok::<_, StoreError>(())
                    })
                    .expect("the held write");
            })
        };
        is_recorded
            .recv_timeout(Duration::from_secs(10))
            .expect("the held write recorded its change");
        // Other writes run and commit while it is open, each in its own thread so a wait
        // shows as a timeout here rather than a hung test.
        for (namespace, subject) in [("grace", "other-namespace"), ("ada", "same-namespace")] {
            let (written, is_written) = mpsc::channel();
            let store = db.store.clone();
            std::thread::spawn(move || {
                write(&store, namespace, &[subject.to_owned()], Duration::ZERO);
                let _ = written.send(());
            });
            is_written
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("a write in {namespace} waited for the open one"));
        }
        let before = db.store.changes_after(None, 0, 100).expect("read");
        let subjects: Vec<&str> = before.iter().map(|c| c.subject_id.as_str()).collect();
        assert_eq!(subjects, ["other-namespace", "same-namespace"]);
        assert_eq!(db.store.latest_change().expect("latest"), before[1].seq);
        release.send(()).expect("release");
        open.join().expect("the held write panicked");
        let after = db
            .store
            .changes_after(Some("ada"), before[1].seq, 100)
            .expect("read");
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].subject_id, "held");
        assert!(after[0].seq > before[1].seq);
    }

    crate::on_both_engines!(a_reader_never_skips_a_committed_change);
}
