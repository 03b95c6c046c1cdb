//! Group commit for the writes that come in bursts: new notifications and owners' answers.
//! Each is a write transaction; one by one, they pay a commit each (a WAL flush on
//! PostgreSQL, a journal sync on SQLite) and queue behind SQLite's one writer. Here the writes
//! that arrive together share a transaction: a writer thread per kind (several on PostgreSQL,
//! see [`POSTGRES_WRITERS`]) takes what has gathered in a bounded queue (without waiting for more: a lone write is written at once),
//! writes each in its own savepoint, commits once and answers each caller alone. A write
//! refused inside its savepoint (a taken id, a pending cap, an answer that lost) is rolled back
//! alone; if the transaction as a whole fails, nothing of it was stored and the group is
//! written again one by one, so one bad item cannot fail the others.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use assent_core::notification::Notification;
use assent_store::{
    Answer, ScreenedNotification, Store, StoreError, TransitionError, with_client_addr,
};
use tokio::sync::oneshot;

use crate::Error;

/// The most writes in one transaction.
const MAX_BATCH: usize = 256;

/// Writer threads on PostgreSQL. A group's transaction is a round trip per statement, one
/// after another, so one writer leaves the database and the cores mostly waiting; writers side
/// by side overlap them (their groups lock what they share, the owners' rows, in one order, so
/// they cannot deadlock). SQLite has one writer at a time: one thread.
const POSTGRES_WRITERS: usize = 4;

/// How many writes may wait for the writer; a caller beyond that waits for room
/// (backpressure) instead of growing the queue without bound.
const QUEUE: usize = 1024;

/// A kind of write that can be grouped: how a group is written in one transaction, and how
/// one is written alone.
pub(crate) trait Grouped: Send + Sync + 'static {
    type Item: Send + 'static;
    type Outcome: Send + 'static;
    /// The writer thread's name.
    const NAME: &'static str;
    /// Each item in its own savepoint of one transaction; the outcomes in the items' order.
    fn write_group(store: &Store, items: &[Self::Item]) -> Result<Vec<Self::Outcome>, StoreError>;
    /// One item in a transaction of its own.
    fn write_one(store: &Store, item: &Self::Item) -> Self::Outcome;
    /// The outcome of an item whose transaction failed.
    fn failed(error: StoreError) -> Self::Outcome;
}

/// New notifications ([`Store::create_screened_notifications`]).
pub(crate) struct Creates;

impl Grouped for Creates {
    type Item = ScreenedNotification;
    type Outcome = Result<Notification, StoreError>;
    const NAME: &'static str = "notification-writer";

    fn write_group(store: &Store, items: &[Self::Item]) -> Result<Vec<Self::Outcome>, StoreError> {
        store.create_screened_notifications(items)
    }

    fn write_one(store: &Store, item: &Self::Item) -> Self::Outcome {
        with_client_addr(item.client_addr, || {
            store.create_screened_notification(&item.notification, &item.screening)
        })
    }

    fn failed(error: StoreError) -> Self::Outcome {
        Err(error)
    }
}

/// Owners' answers ([`Store::respond_notifications`]).
pub(crate) struct Answers;

impl Grouped for Answers {
    type Item = Answer;
    type Outcome = Result<Notification, TransitionError>;
    const NAME: &'static str = "answer-writer";

    fn write_group(store: &Store, items: &[Self::Item]) -> Result<Vec<Self::Outcome>, StoreError> {
        store.respond_notifications(items)
    }

    fn write_one(store: &Store, item: &Self::Item) -> Self::Outcome {
        match store.respond_notifications(std::slice::from_ref(item)) {
            Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| {
                Self::failed(StoreError::Corrupt("an answer had no outcome".to_owned()))
            }),
            Err(e) => Self::failed(e),
        }
    }

    fn failed(error: StoreError) -> Self::Outcome {
        Err(TransitionError::Store(error))
    }
}

struct Pending<G: Grouped> {
    item: G::Item,
    reply: oneshot::Sender<G::Outcome>,
}

/// The queue and the threads that write it, started with the first write.
struct Writer<G: Grouped> {
    queue: SyncSender<Pending<G>>,
    threads: Vec<JoinHandle<()>>,
}

/// Writes one kind of write in groups; see the module doc. Dropping it (with the last clone
/// of the [`crate::App`]) closes the queue: the writer finishes what is queued and stops.
pub(crate) struct GroupCommit<G: Grouped> {
    writer: OnceLock<Mutex<Option<Writer<G>>>>,
}

impl<G: Grouped> Default for GroupCommit<G> {
    fn default() -> Self {
        Self {
            writer: OnceLock::new(),
        }
    }
}

impl<G: Grouped> std::fmt::Debug for GroupCommit<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupCommit({})", G::NAME)
    }
}

impl<G: Grouped> GroupCommit<G> {
    /// Writes `item` as [`Grouped::write_one`] would, in the next group: the store's outcome,
    /// or `Err` if the writer could not take it.
    pub(crate) async fn write(&self, store: &Store, item: G::Item) -> Result<G::Outcome, Error> {
        let (reply, outcome) = oneshot::channel();
        let mut pending = Pending { item, reply };
        loop {
            let queue = self.queue(store)?;
            match queue.try_send(pending) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    // Full: wait for room off the async workers, as a blocking send does.
                    let queue = queue.clone();
                    return match tokio::task::spawn_blocking(move || queue.send(back).is_ok()).await
                    {
                        Ok(true) => outcome.await.map_err(|_| stopped()),
                        _ => Err(stopped()),
                    };
                }
                Err(TrySendError::Disconnected(back)) => {
                    // The writer thread ended (it panicked): start another.
                    self.restart();
                    pending = back;
                }
            }
        }
        outcome.await.map_err(|_| stopped())
    }

    /// The queue of the running writer, started on first use.
    fn queue(&self, store: &Store) -> Result<SyncSender<Pending<G>>, Error> {
        let slot = self.writer.get_or_init(|| Mutex::new(None));
        let mut writer = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = writer.as_ref() {
            return Ok(running.queue.clone());
        }
        let (queue, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match store.backend() {
            assent_store::Backend::Sqlite => 1,
            assent_store::Backend::Postgres => POSTGRES_WRITERS,
        };
        let threads = (0..writers)
            .map(|_| {
                let store = store.clone();
                let receiver = Arc::clone(&receiver);
                std::thread::Builder::new()
                    .name(G::NAME.to_owned())
                    .spawn(move || write_groups::<G>(&store, &receiver))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(&format!("cannot start the {}: {e}", G::NAME)))?;
        *writer = Some(Writer {
            queue: queue.clone(),
            threads,
        });
        Ok(queue)
    }

    fn restart(&self) {
        if let Some(slot) = self.writer.get() {
            slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

impl<G: Grouped> Drop for GroupCommit<G> {
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .and_then(|slot| slot.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(Writer { queue, threads }) = writer {
            drop(queue);
            // What was queued is written and answered before the threads end.
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

fn stopped() -> Error {
    Error::internal(&"a group commit writer stopped")
}

/// A writer thread: waits for a first write, takes whatever else is already queued (up to
/// [`MAX_BATCH`]) and writes them together, until every sender is gone. Writers take turns at
/// the queue, not at the database: one gathers while the others write.
fn write_groups<G: Grouped>(store: &Store, queue: &Mutex<Receiver<Pending<G>>>) {
    loop {
        let group = {
            let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            let Ok(first) = queue.recv() else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            group
        };
        write_group::<G>(store, group);
    }
}

fn write_group<G: Grouped>(store: &Store, group: Vec<Pending<G>>) {
    let (items, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|p| (p.item, p.reply)).unzip();
    let outcomes = match G::write_group(store, &items) {
        Ok(outcomes) => outcomes,
        // Nothing was stored: one by one, each gets its own outcome.
        Err(_) if items.len() > 1 => items.iter().map(|item| G::write_one(store, item)).collect(),
        Err(e) => vec![G::failed(e)],
    };
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}
