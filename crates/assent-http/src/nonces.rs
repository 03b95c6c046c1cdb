//! Group commit for signed requests' nonces. Every verify consumes a nonce, and each
//! consumption is a write; written one transaction each, they queue behind the database's one
//! writer (SQLite) or pay a round trip each (PostgreSQL). Here requests that arrive together
//! share a write: the first to find the queue empty drains it on the blocking pool, batch
//! after batch, while the others wait for their own verdict.
//!
//! A verify also asks the database whether its key has an approved claim. That question rides
//! in the same batch ([`NonceBatcher::use_nonce_and_find`]): it is read right after the batch's
//! nonces are written, on the same blocking thread, so a verify costs one hand-off to the
//! blocking pool and back, not two. The answer is read from the database at that moment, as
//! a lookup of its own would be: a revocation committed before it counts at once, on every
//! replica.

use std::sync::{Arc, Mutex};

use assent_core::Timestamp;
use assent_store::{ClaimQuestion, NoncesFound, Store};
use tokio::sync::oneshot;

/// The most nonces written in one transaction.
const MAX_BATCH: usize = 512;

/// The verdict, or why the store could not give one (for the log; the caller answers 503).
type Verdict = Result<bool, String>;

/// An approved claim's id and approval time.
pub type Approved = (String, Timestamp);

/// What [`NonceBatcher::use_nonce_and_find`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The nonce was used before: the question was not asked.
    Replay,
    /// The nonce was fresh, and the approved claim, if any.
    Fresh(Option<Approved>),
}

/// Why a batch gave no answer: the nonce could not be written (503), or it was and the lookup
/// failed (500, as a failed read is anywhere else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    NonceStore(String),
    Lookup(String),
}

struct Pending {
    nonce: (String, String, Timestamp),
    question: Option<ClaimQuestion>,
    reply: oneshot::Sender<Result<Found, BatchError>>,
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
        self: &Arc<Self>,
        store: &Store,
        scope: String,
        value: String,
        expires_at: Timestamp,
    ) -> Verdict {
        match self.submit(store, (scope, value, expires_at), None).await {
            Ok(Found::Fresh(_)) => Ok(true),
            Ok(Found::Replay) => Ok(false),
            Err(BatchError::NonceStore(e) | BatchError::Lookup(e)) => Err(e),
        }
    }

    /// [`NonceBatcher::use_nonce`], then, if the nonce was fresh, the approved claim that
    /// answers `question` ([`Store::find_approved_claim`]), read after the nonce is written.
    pub async fn use_nonce_and_find(
        self: &Arc<Self>,
        store: &Store,
        nonce: (String, String, Timestamp),
        question: ClaimQuestion,
    ) -> Result<Found, BatchError> {
        self.submit(store, nonce, Some(question)).await
    }

    async fn submit(
        self: &Arc<Self>,
        store: &Store,
        nonce: (String, String, Timestamp),
        question: Option<ClaimQuestion>,
    ) -> Result<Found, BatchError> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(Pending {
                nonce,
                question,
                reply,
            });
            queue.len() == 1
        };
        if lead {
            let this = Arc::clone(self);
            let store = store.clone();
            tokio::task::spawn_blocking(move || this.drain(&store));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(BatchError::NonceStore("the nonce writer stopped".into())))
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
            let answers = answer(store, &batch);
            for (pending, answer) in batch.into_iter().zip(answers) {
                let _ = pending.reply.send(answer);
            }
        }
    }
}

/// The answers of one batch, in order: its nonces written, and the questions of the fresh
/// ones read, by [`Store::use_nonces_and_find`].
fn answer(store: &Store, batch: &[Pending]) -> Vec<Result<Found, BatchError>> {
    let nonces: Vec<(String, String, Timestamp)> = batch.iter().map(|p| p.nonce.clone()).collect();
    let questions: Vec<Option<ClaimQuestion>> = batch.iter().map(|p| p.question.clone()).collect();
    let NoncesFound { fresh, found } = match store.use_nonces_and_find(&nonces, &questions) {
        Ok(answers) => answers,
        Err(e) => {
            let message = e.to_string();
            return batch
                .iter()
                .map(|_| Err(BatchError::NonceStore(message.clone())))
                .collect();
        }
    };
    fresh
        .into_iter()
        .enumerate()
        .map(|(i, fresh)| match &found {
            _ if !fresh => Ok(Found::Replay),
            Err(e) if batch[i].question.is_some() => Err(BatchError::Lookup(e.to_string())),
            Err(_) => Ok(Found::Fresh(None)),
            Ok(found) => Ok(Found::Fresh(found.get(i).cloned().flatten())),
        })
        .collect()
}
