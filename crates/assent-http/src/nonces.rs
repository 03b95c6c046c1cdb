//! Group commit for signed requests' nonces. Every verify consumes a nonce, and each
//! consumption is a write; written one transaction each, they queue behind the database's one
//! writer (SQLite) or pay a round trip each (PostgreSQL). Here requests that arrive together
//! share a transaction: the first to find the queue empty drains it on the blocking pool, batch
//! after batch, while the others wait for their own verdict.

use std::sync::Mutex;

use assent_core::Timestamp;
use assent_store::Store;
use tokio::sync::oneshot;

/// The most nonces written in one transaction.
const MAX_BATCH: usize = 512;

/// The verdict, or why the store could not give one (for the log; the caller answers 503).
type Verdict = Result<bool, String>;

struct Pending {
    nonce: (String, String, Timestamp),
    reply: oneshot::Sender<Verdict>,
}

#[derive(Default)]
pub struct NonceBatcher {
    queue: Mutex<Vec<Pending>>,
}

impl std::fmt::Debug for NonceBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceBatcher")
    }
}

impl NonceBatcher {
    /// Consumes `value` in `scope` until `expires_at`: `Ok(true)` the first time, `Ok(false)`
    /// for a replay, as [`Store::use_nonce`].
    pub async fn use_nonce(
        self: &std::sync::Arc<Self>,
        store: &Store,
        scope: String,
        value: String,
        expires_at: Timestamp,
    ) -> Verdict {
        let (reply, verdict) = oneshot::channel();
        let lead = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(Pending {
                nonce: (scope, value, expires_at),
                reply,
            });
            queue.len() == 1
        };
        if lead {
            let this = std::sync::Arc::clone(self);
            let store = store.clone();
            tokio::task::spawn_blocking(move || this.drain(&store));
        }
        verdict
            .await
            .unwrap_or_else(|_| Err("the nonce writer stopped".to_owned()))
    }

    /// Writes batches until the queue is empty. Whoever pushes onto an empty queue afterwards
    /// starts the next drainer, so no nonce waits without one.
    fn drain(&self, store: &Store) {
        loop {
            let batch: Vec<Pending> = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            if batch.is_empty() {
                return;
            }
            let nonces: Vec<(String, String, Timestamp)> =
                batch.iter().map(|p| p.nonce.clone()).collect();
            match store.use_nonces(&nonces) {
                Ok(verdicts) => {
                    for (pending, verdict) in batch.into_iter().zip(verdicts) {
                        let _ = pending.reply.send(Ok(verdict));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for pending in batch {
                        let _ = pending.reply.send(Err(message.clone()));
                    }
                }
            }
        }
    }
}
