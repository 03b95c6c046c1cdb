//! Wake-ups across replicas on PostgreSQL. A write transaction that recorded changes, queued
//! deliveries or queued messages to owners announces it with `NOTIFY assent, '<what>'`
//! (`crate::outbox`), which PostgreSQL sends to every listening connection when, and only
//! when, the transaction commits. Each replica holds one dedicated connection that `LISTEN`s
//! on its own thread and runs this process's wakers (the change feed, the delivery engine,
//! the message sender) as announcements arrive, so a commit on one replica reaches the
//! streams and engines of every other one in milliseconds instead of at their next poll.
//! Polling stays as the fallback: an announcement lost with a connection costs one poll
//! interval, never a change.
//!
//! The connection is diesel's own `PgConnection` (libpq, so the URL, TLS and authentication
//! are exactly the pool's), read with `notifications_iter()`. diesel gives no socket to wait
//! on, so the thread checks every [`CHECK_INTERVAL`]: each check is a non-blocking read of
//! what the server already sent, not a round trip. A lost connection (the server restarted,
//! the backend was terminated) is reconnected with backoff, and every waker runs once after
//! reconnecting, since announcements made meanwhile were missed. SQLite has one process and
//! needs none of this: its wakers run after each commit in that process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use crate::db::{DatabaseUrl, Store};

/// The channel every replica listens on.
pub(crate) const CHANNEL: &str = "assent";
/// How often the thread reads what arrived: the most an announcement waits once received.
const CHECK_INTERVAL: Duration = Duration::from_millis(2);
/// How often an idle connection is checked with a round trip: a connection lost without the
/// server closing it (a network partition) shows no error until something is sent on it.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// The first wait before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "assent listener";

/// What an announcement wakes: its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    Changes,
    Deliveries,
    Messages,
}

impl Wake {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Changes => "changes",
            Self::Deliveries => "deliveries",
            Self::Messages => "messages",
        }
    }
}

/// The running listener of one process; stops its thread (within [`CHECK_INTERVAL`] or one
/// backoff) when dropped.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Starts this process's listener on PostgreSQL (`None` on SQLite): announcements from any
    /// replica's commits run the wakers registered on this store. Keep the value for as long
    /// as the process serves.
    pub fn listen(&self) -> std::io::Result<Option<Listener>> {
        let DatabaseUrl::Postgres(url) = &*self.url else {
            return Ok(None);
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("assent-listener".to_owned())
            .spawn({
                let store = self.clone();
                let url = url.clone();
                let stop = Arc::clone(&stop);
                move || run(&store, &url, &stop)
            })?;
        Ok(Some(Listener {
            stop,
            thread: Some(thread),
        }))
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Changes => self.change_waker.wake(),
            Wake::Deliveries => self.waker.wake(),
            Wake::Messages => self.message_waker.wake(),
        }
    }
}

fn run(store: &Store, url: &str, stop: &AtomicBool) {
    let mut backoff = FIRST_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        let error = match PgConnection::establish(url) {
            Ok(mut conn) => match listen(store, &mut conn, stop, &mut backoff) {
                Ok(()) => return,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %error, retry_in = ?backoff, "the change listener lost its connection");
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Listens on `conn` until `stop` (`Ok`) or until the connection fails.
fn listen(
    store: &Store,
    conn: &mut PgConnection,
    stop: &AtomicBool,
    backoff: &mut Duration,
) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}"
    ))?;
    *backoff = FIRST_BACKOFF;
    tracing::debug!("the change listener is listening");
    // Whatever was announced while no connection listened was missed.
    for wake in [Wake::Changes, Wake::Deliveries, Wake::Messages] {
        store.wake(wake);
    }
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Several announcements of one kind since the last check need one wake-up.
        let mut woken = [false; 3];
        for notification in conn.notifications_iter() {
            let notification = notification?;
            let wake = match notification.payload.as_str() {
                "changes" => Wake::Changes,
                "deliveries" => Wake::Deliveries,
                "messages" => Wake::Messages,
                other => {
                    tracing::debug!(payload = other, "ignoring an unknown announcement");
                    continue;
                }
            };
            woken[wake as usize] = true;
        }
        for (wake, woken) in [Wake::Changes, Wake::Deliveries, Wake::Messages]
            .into_iter()
            .zip(woken)
        {
            if woken {
                store.wake(wake);
            }
        }
        if checked.elapsed() >= KEEPALIVE {
            diesel::sql_query("SELECT 1").execute(conn)?;
            checked = Instant::now();
        }
        std::thread::sleep(CHECK_INTERVAL);
    }
    Ok(())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    #![expect(
        clippy::expect_used,
        reason = "test helpers: a failure there fails the test"
    )]

    use std::sync::mpsc;

    use diesel::sql_types::BigInt;
    use serde_json::json;

    use super::*;
    use crate::changes::record;
    use crate::db::PoolOptions;
    use crate::testing::{Engine, TestDatabase};
    use crate::{ChangeKind, StoreError};

    const PATIENCE: Duration = Duration::from_secs(10);

    fn record_change(store: &Store, subject: &str) {
        store
            .write_changes(|conn, outbox| {
                record(
                    conn,
                    outbox,
                    "ada",
                    subject,
                    ChangeKind::Notification,
                    &json!({}),
                )?;
                Ok::<_, StoreError>(())
            })
            .expect("record a change");
    }

    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = BigInt)]
        pid: i64,
    }

    /// The backend pids of this database's listener connections.
    fn listeners(store: &Store) -> Vec<i64> {
        store
            .read(|conn| {
                Ok::<_, StoreError>(
                    diesel::sql_query(format!(
                        "SELECT pid::bigint AS pid FROM pg_stat_activity \
                         WHERE datname = current_database() AND application_name = '{APPLICATION_NAME}'"
                    ))
                    .load::<Pid>(conn)?
                    .into_iter()
                    .map(|p| p.pid)
                    .collect(),
                )
            })
            .expect("read pg_stat_activity")
    }

    /// Two stores on one database stand for two replicas: a commit on A runs B's change
    /// waker through B's listener (B's own process wrote nothing), a rolled-back write wakes
    /// no one, and after B's listening connection is killed it reconnects and wake-ups resume.
    #[test]
    fn a_commit_on_one_replica_wakes_another_and_survives_a_lost_connection() {
        let db = TestDatabase::new(Engine::Postgres);
        let a = &db.store;
        let b = Store::connect(&db.url, &PoolOptions::default()).expect("replica B");
        let (woke, wakes) = mpsc::channel();
        b.set_change_waker(Arc::new(move || {
            let _ = woke.send(Instant::now());
        }));
        let listener = b
            .listen()
            .expect("start")
            .expect("a listener on PostgreSQL");
        // Connecting wakes once, for whatever was announced before.
        wakes
            .recv_timeout(PATIENCE)
            .expect("the wake-up on connecting");
        let first = listeners(a);
        assert_eq!(first.len(), 1, "one listening connection");

        let committed = Instant::now();
        record_change(a, "one");
        let woken = wakes.recv_timeout(PATIENCE).expect("B woken by A's commit");
        assert!(woken.duration_since(committed) < Duration::from_secs(1));

        // A rolled-back write announces nothing.
        let rolled_back: Result<(), StoreError> = a.write_changes(|conn, outbox| {
            record(
                conn,
                outbox,
                "ada",
                "never",
                ChangeKind::Notification,
                &json!({}),
            )?;
            Err(StoreError::NotFound)
        });
        assert!(rolled_back.is_err());
        assert!(wakes.recv_timeout(Duration::from_millis(300)).is_err());

        let killed: bool = a
            .read(|conn| {
                Ok::<_, StoreError>(
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                        "pg_terminate_backend({})",
                        first[0]
                    )))
                    .get_result(conn)?,
                )
            })
            .expect("terminate the listener's backend");
        assert!(killed);
        // Reconnecting wakes once more; a new backend listens.
        wakes
            .recv_timeout(PATIENCE)
            .expect("the wake-up on reconnecting");
        let second = listeners(a);
        assert_eq!(second.len(), 1);
        assert_ne!(second, first, "a new connection");
        record_change(a, "two");
        wakes
            .recv_timeout(PATIENCE)
            .expect("B woken by A's commit after reconnecting");

        drop(listener);
        assert!(
            listeners(a).is_empty(),
            "dropping the listener closes its connection"
        );
    }

    #[test]
    fn sqlite_needs_no_listener() {
        let db = TestDatabase::new(Engine::Sqlite);
        assert!(db.store.listen().expect("listen").is_none());
    }
}
