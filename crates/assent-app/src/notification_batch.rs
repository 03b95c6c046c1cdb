//! Group commit for new notifications. Each create is a write transaction; one by one, they
//! pay a commit each (a WAL flush on PostgreSQL, a journal sync on SQLite) and queue behind
//! SQLite's one writer. Here the creates that arrive together share a transaction: one writer
//! thread takes what has gathered in a bounded queue (without waiting for more: a lone create
//! is written at once), writes each in its own savepoint, commits once and answers each
//! caller alone. A create refused inside its savepoint (a taken id, a pending cap) is rolled
//! back alone; if the transaction as a whole fails, nothing of it was stored and the group is
//! written again one by one, so one bad item cannot fail the others.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use assent_core::notification::Notification;
use assent_store::{ScreenedNotification, Store, StoreError, with_client_addr};
use tokio::sync::oneshot;

use crate::Error;

/// The most notifications written in one transaction.
const MAX_BATCH: usize = 256;

/// How many creates may wait for the writer; a caller beyond that waits for room
/// (backpressure) instead of growing the queue without bound.
const QUEUE: usize = 1024;

type Outcome = Result<Notification, StoreError>;

struct Pending {
    item: ScreenedNotification,
    reply: oneshot::Sender<Outcome>,
}

/// The queue and the thread that writes it, started with the first create.
struct Writer {
    queue: SyncSender<Pending>,
    thread: JoinHandle<()>,
}

/// Writes new notifications in groups; see the module doc. Dropping it (with the last clone
/// of the [`crate::App`]) closes the queue: the writer finishes what is queued and stops.
#[derive(Default)]
pub(crate) struct NotificationBatcher {
    writer: OnceLock<Mutex<Option<Writer>>>,
}

impl std::fmt::Debug for NotificationBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotificationBatcher")
    }
}

impl NotificationBatcher {
    /// Stores `item` as [`Store::create_screened_notification`] does, in the next group: the
    /// store's outcome, or `Err` if the writer could not take it.
    pub(crate) async fn create(
        &self,
        store: &Store,
        item: ScreenedNotification,
    ) -> Result<Outcome, Error> {
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
    fn queue(&self, store: &Store) -> Result<SyncSender<Pending>, Error> {
        let slot = self.writer.get_or_init(|| Mutex::new(None));
        let mut writer = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = writer.as_ref() {
            return Ok(running.queue.clone());
        }
        let (queue, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let store = store.clone();
        let thread = std::thread::Builder::new()
            .name("notification-writer".to_owned())
            .spawn(move || write_groups(&store, &receiver))
            .map_err(|e| Error::internal(&format!("cannot start the notification writer: {e}")))?;
        *writer = Some(Writer {
            queue: queue.clone(),
            thread,
        });
        Ok(queue)
    }

    fn restart(&self) {
        if let Some(slot) = self.writer.get() {
            slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

impl Drop for NotificationBatcher {
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .and_then(|slot| slot.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(Writer { queue, thread }) = writer {
            drop(queue);
            // What was queued is written and answered before the thread ends.
            let _ = thread.join();
        }
    }
}

fn stopped() -> Error {
    Error::internal(&"the notification writer stopped")
}

/// The writer thread: waits for a first create, takes whatever else is already queued (up to
/// [`MAX_BATCH`]) and writes them together, until every sender is gone.
fn write_groups(store: &Store, queue: &Receiver<Pending>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        write_group(store, group);
    }
}

fn write_group(store: &Store, group: Vec<Pending>) {
    let (items, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|p| (p.item, p.reply)).unzip();
    let outcomes = match store.create_screened_notifications(&items) {
        Ok(outcomes) => outcomes,
        // Nothing was stored: one by one, each gets its own outcome.
        Err(_) if items.len() > 1 => items
            .iter()
            .map(|item| {
                with_client_addr(item.client_addr, || {
                    store.create_screened_notification(&item.notification, &item.screening)
                })
            })
            .collect(),
        Err(e) => vec![Err(e)],
    };
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}
