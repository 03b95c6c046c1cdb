//! The change feed: pushes changes to the open connections of their namespace (ATP's SSE and
//! WebSocket streams, the dashboard's), each connection receiving only the kinds it asked for.
//!
//! One task per process tails the change log of the database ([`assent_store::Change`]), so
//! a change made on any replica reaches connections on every replica. A commit in this process
//! wakes the task at once; on PostgreSQL so does a commit on any other replica, through the
//! store's listener (`assent_store::Listener`, started by the binary); otherwise it polls. A `notification` pushed to at least one
//! connection moves that notification from `created` to `delivered`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use assent_store::{Change, ChangeKind, Store};
use tokio::sync::{Notify, mpsc};

/// Changes read per round.
const BATCH: i64 = 500;
/// Changes a connection may have queued before it counts as stalled and is dropped (its
/// client reconnects and resumes from its last event id).
const CONNECTION_QUEUE: usize = 1024;

/// One registered connection.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    changes: mpsc::Sender<Arc<Change>>,
    /// The kinds of change it wants; others never enter its queue.
    kinds: Vec<ChangeKind>,
    /// Whether it shows new notifications to its user (an SSE client may ask for status
    /// updates only, the dashboard lists them itself): only then does a push count as a
    /// delivery.
    shows_notifications: bool,
}

/// Registered connections, by namespace.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    subscribers: Mutex<HashMap<String, Vec<Subscriber>>>,
    next_id: AtomicU64,
    wake: Notify,
}

/// One connection's stream of changes; unregisters when dropped.
#[derive(Debug)]
pub struct Subscription {
    pub changes: mpsc::Receiver<Arc<Change>>,
    feed: Arc<ChangeFeed>,
    namespace: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self
            .feed
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = subscribers.get_mut(&self.namespace) {
            list.retain(|subscriber| subscriber.id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.namespace);
            }
        }
    }
}

impl ChangeFeed {
    /// Registers a connection of `namespace`; changes of `kinds` recorded from now on reach
    /// it. `shows_notifications` says whether it passes `notification` changes on to its user.
    pub fn subscribe(
        self: &Arc<Self>,
        namespace: &str,
        kinds: &[ChangeKind],
        shows_notifications: bool,
    ) -> Subscription {
        let (sender, receiver) = mpsc::channel(CONNECTION_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(namespace.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                changes: sender,
                kinds: kinds.to_vec(),
                shows_notifications,
            });
        Subscription {
            changes: receiver,
            feed: Arc::clone(self),
            namespace: namespace.to_owned(),
            id,
        }
    }

    /// Ends every registered connection's stream (SSE ends its response, WebSocket closes
    /// with 1013 "try again"), so a server shutting down is not held open by long-lived
    /// connections and their clients reconnect elsewhere.
    pub fn close_all(&self) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Runs the feed on `store` until the process ends: wakes on this process's commits and,
    /// with a listener, other replicas' (the store's change waker), and every `poll`.
    pub async fn run(self: Arc<Self>, store: Store, poll: Duration) {
        let waker = Arc::clone(&self);
        store.set_change_waker(Arc::new(move || waker.wake.notify_one()));
        let mut last = loop {
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.latest_change()).await {
                Ok(Ok(seq)) => break seq,
                Ok(Err(e)) => tracing::warn!(error = %e, "change feed cannot start; retrying"),
                Err(e) => tracing::error!(error = %e, "change feed start panicked"),
            }
            tokio::time::sleep(poll).await;
        };
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            // With no connection open there is no one to hand changes to: skip to the newest.
            // The number is read before the check, so a connection that registers after it
            // finds everything since in its own opening.
            if !self.has_subscribers() {
                let store = store.clone();
                if let Ok(Ok(newest)) =
                    tokio::task::spawn_blocking(move || store.latest_change()).await
                    && !self.has_subscribers()
                {
                    last = last.max(newest);
                    continue;
                }
            }
            loop {
                let read_from = last;
                let store_for_read = store.clone();
                let changes = match tokio::task::spawn_blocking(move || {
                    store_for_read.changes_after(None, read_from, BATCH)
                })
                .await
                {
                    Ok(Ok(changes)) => changes,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "change feed cannot read; retrying");
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "change feed read panicked");
                        break;
                    }
                };
                let Some(newest) = changes.last().map(|c| c.seq) else {
                    break;
                };
                last = newest;
                let full = changes.len() >= usize::try_from(BATCH).unwrap_or(usize::MAX);
                let delivered = self.dispatch(changes);
                if !delivered.is_empty() {
                    let store = store.clone();
                    match tokio::task::spawn_blocking(move || store.mark_delivered(&delivered))
                        .await
                    {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "cannot mark notifications delivered")
                        }
                        Err(e) => tracing::error!(error = %e, "marking delivered panicked"),
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }

    fn has_subscribers(&self) -> bool {
        !self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Hands each change to its namespace's connections. Returns the notifications that
    /// reached at least one connection as new (`notification` changes).
    fn dispatch(&self, changes: Vec<Change>) -> Vec<String> {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut delivered = Vec::new();
        for change in changes {
            let Some(list) = subscribers.get_mut(&change.namespace) else {
                continue;
            };
            let change = Arc::new(change);
            // A full or closed queue drops that connection: a stalled client reconnects and
            // resumes rather than holding memory without bound.
            let mut shown = false;
            list.retain(|subscriber| {
                if !subscriber.kinds.contains(&change.kind) {
                    return true;
                }
                let accepted = subscriber.changes.try_send(Arc::clone(&change)).is_ok();
                shown |= accepted && subscriber.shows_notifications;
                accepted
            });
            if shown && change.kind == ChangeKind::Notification {
                delivered.push(change.subject_id.clone());
            }
        }
        subscribers.retain(|_, list| !list.is_empty());
        delivered
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(seq: i64, namespace: &str, kind: ChangeKind) -> Change {
        Change {
            seq,
            namespace: namespace.to_owned(),
            subject_id: format!("n{seq}"),
            kind,
            payload: json!({}),
        }
    }

    #[test]
    fn changes_reach_only_their_namespace_and_unsubscribe_on_drop() {
        let feed = Arc::new(ChangeFeed::default());
        let mut ada = feed.subscribe("ada", &ChangeKind::ATP, true);
        let mut ada_too = feed.subscribe("ada", &ChangeKind::ATP, true);
        let mut grace = feed.subscribe("grace", &ChangeKind::ATP, true);
        let delivered = feed.dispatch(vec![
            change(1, "ada", ChangeKind::Notification),
            change(2, "ada", ChangeKind::StatusUpdate),
            change(3, "nobody", ChangeKind::Notification),
        ]);
        assert_eq!(delivered, ["n1"]);
        for sub in [&mut ada, &mut ada_too] {
            assert_eq!(sub.changes.try_recv().unwrap().seq, 1);
            assert_eq!(sub.changes.try_recv().unwrap().seq, 2);
        }
        assert!(grace.changes.try_recv().is_err());
        drop(ada);
        drop(ada_too);
        assert!(
            feed.dispatch(vec![change(4, "ada", ChangeKind::Notification)])
                .is_empty()
        );
        assert!(!feed.subscribers.lock().unwrap().contains_key("ada"));
        let mut open = feed.subscribe("ada", &ChangeKind::ATP, true);
        feed.close_all();
        assert!(matches!(
            open.changes.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn only_a_connection_that_shows_notifications_delivers_them() {
        let feed = Arc::new(ChangeFeed::default());
        let mut updates_only = feed.subscribe("ada", &ChangeKind::ATP, false);
        let delivered = feed.dispatch(vec![change(1, "ada", ChangeKind::Notification)]);
        assert!(delivered.is_empty());
        assert_eq!(updates_only.changes.try_recv().unwrap().seq, 1);
        let _shows = feed.subscribe("ada", &ChangeKind::ATP, true);
        let delivered = feed.dispatch(vec![change(2, "ada", ChangeKind::Notification)]);
        assert_eq!(delivered, ["n2"]);
    }

    #[test]
    fn a_connection_receives_only_the_kinds_it_wants() {
        let feed = Arc::new(ChangeFeed::default());
        let mut atp = feed.subscribe("ada", &ChangeKind::ATP, true);
        let mut updates = feed.subscribe("ada", &[ChangeKind::StatusUpdate], false);
        let delivered = feed.dispatch(vec![
            change(1, "ada", ChangeKind::Claim),
            change(2, "ada", ChangeKind::Notification),
            change(3, "ada", ChangeKind::StatusUpdate),
        ]);
        assert_eq!(delivered, ["n2"]);
        assert_eq!(atp.changes.try_recv().unwrap().seq, 2);
        assert_eq!(atp.changes.try_recv().unwrap().seq, 3);
        assert!(atp.changes.try_recv().is_err(), "no claim");
        assert_eq!(updates.changes.try_recv().unwrap().seq, 3);
        assert!(updates.changes.try_recv().is_err());
        // Claims fill no ATP queue: a connection is not dropped for changes it never wanted.
        let claims: Vec<Change> = (10..=10 + i64::try_from(CONNECTION_QUEUE).unwrap())
            .map(|seq| change(seq, "ada", ChangeKind::Claim))
            .collect();
        feed.dispatch(claims);
        assert!(feed.subscribers.lock().unwrap().contains_key("ada"));
    }

    #[test]
    fn a_stalled_connection_is_dropped() {
        let feed = Arc::new(ChangeFeed::default());
        let mut stalled = feed.subscribe("ada", &ChangeKind::ATP, true);
        let changes: Vec<Change> = (0..=i64::try_from(CONNECTION_QUEUE).unwrap())
            .map(|seq| change(seq, "ada", ChangeKind::StatusUpdate))
            .collect();
        feed.dispatch(changes);
        assert!(!feed.subscribers.lock().unwrap().contains_key("ada"));
        // What was queued can still be read; then the stream ends.
        let mut read = 0;
        while stalled.changes.try_recv().is_ok() {
            read += 1;
        }
        assert_eq!(read, CONNECTION_QUEUE);
    }
}
