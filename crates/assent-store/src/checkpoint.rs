//! SQLite's WAL checkpoints, on a thread of their own.
//!
//! By default SQLite checkpoints in the connection whose commit takes the WAL past 1,000
//! pages: that commit copies pages into the database file and syncs it before it returns,
//! while this process's other writers queue behind it (`Store::write` hands the write lock
//! over in turn). In a profile of the delivery engine emptying a backlog, those checkpoints
//! were 8 % of the server's CPU, all of it on the one writer's critical path. Here a thread
//! with a connection of its own checkpoints (`PASSIVE`: it never blocks a writer or a reader)
//! shortly after commits, on whichever core is free. The pool's connections still checkpoint
//! themselves past [`FALLBACK_PAGES`], so the WAL stays bounded should this thread fall
//! behind or stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use crate::AnyConnection;

/// Where a pool connection checkpoints by itself (pages of 4 KiB: 64 MiB): far past what the
/// thread lets the WAL reach, but a bound if it cannot run.
pub(crate) const FALLBACK_PAGES: u32 = 16_384;
/// How long after the first commit the thread checkpoints, so one checkpoint covers the
/// commits of a busy stretch rather than each.
const GATHER: Duration = Duration::from_millis(100);

/// The handle the [`crate::Store`] keeps: commits nudge the thread; when the last clone of the
/// store is dropped, the thread checkpoints once more and ends.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
    /// Set by the first commit after a checkpoint, so that commits cost an atomic load, not a
    /// channel send, while one is pending.
    pending: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread on `conn`, a connection of its own (not the pool's).
    pub(crate) fn spawn(mut conn: AnyConnection) -> std::io::Result<Self> {
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let pending = Arc::new(AtomicBool::new(false));
        let gathered = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("assent-sqlite-checkpoint".to_owned())
            .spawn(move || {
                // Ends when the store is gone (the last connection to close checkpoints too).
                while nudged.recv().is_ok() {
                    // Commits go on meanwhile; this checkpoint copies them too.
                    let stop = matches!(
                        nudged.recv_timeout(GATHER),
                        Err(RecvTimeoutError::Disconnected)
                    );
                    gathered.store(false, Ordering::Release);
                    checkpoint(&mut conn);
                    if stop {
                        break;
                    }
                }
            })?;
        Ok(Self { nudge, pending })
    }

    /// After a commit: asks for a checkpoint soon, unless one is already asked for.
    pub(crate) fn committed(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.nudge.try_send(());
        }
    }
}

fn checkpoint(conn: &mut AnyConnection) {
    if let AnyConnection::Sqlite(sqlite) = conn
        && let Err(e) = sqlite.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
    {
        tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
    }
}
