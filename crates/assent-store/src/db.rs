//! Connections, pool and migrations for both backends.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::checkpoint::Checkpointer;
use crate::error::{StoreError, WriteError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// The advisory lock key that serialises migrations on PostgreSQL ("assent" in ASCII).
const MIGRATION_LOCK: i64 = 0x0000_6173_7365_6e74;
/// How many times a PostgreSQL write transaction runs at most when concurrent commits break it
/// ([`StoreError::is_concurrent_change`]): each retry sees what broke the one before, so a
/// second is almost always enough.
const WRITE_ATTEMPTS: usize = 4;

fn run_migrations<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|applied| applied.iter().map(ToString::to_string).collect())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Migrations of this version the database has not applied.
pub(crate) fn pending_migrations(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let pending = match conn {
        AnyConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|p| p.len()),
        AnyConnection::Postgresql(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|p| p.len()),
    };
    pending.map_err(|e| StoreError::Migration(e.to_string()))
}

/// busy_timeout first: it makes every later statement (switching a new file to WAL needs a
/// lock too) wait for a lock instead of failing with "database is locked". WAL lets readers
/// run beside the one writer; SQLite leaves foreign keys off unless asked. Checkpoints are the
/// [`Checkpointer`]'s, with the connections' own as a fallback. Statement journals (a
/// multi-row UPDATE's undo) stay in memory rather than in a temporary file created and
/// removed for each.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;";

/// One connection to either backend; queries written once against the schema run on both.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgresql(_) => "AnyConnection::Postgresql",
            Self::Sqlite(_) => "AnyConnection::Sqlite",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL, classified by scheme: `sqlite://<path>` (or a bare file path) or
/// `postgres://…` / `postgresql://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") || path == ":memory:" {
            // A pooled :memory: database would be a different empty database per connection.
            return Err(StoreError::InvalidUrl(
                "expected sqlite://<file path> or postgres://… (in-memory SQLite is not supported)"
                    .to_owned(),
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            // A PostgreSQL URL may carry a password.
            Self::Postgres(_) => f.write_str("postgres://<redacted>"),
        }
    }
}

/// Opens connections of the backend the URL names. Written out instead of using the
/// derive's `establish`, which tries every backend in turn and discards the real error.
#[derive(Debug)]
pub(crate) struct Manager(DatabaseUrl);

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match &self.0 {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    diesel::r2d2::Error::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "the SQLite path is not valid UTF-8".to_owned(),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .and_then(|()| {
                        conn.batch_execute(&format!(
                            "PRAGMA wal_autocheckpoint = {};",
                            crate::checkpoint::FALLBACK_PAGES
                        ))
                    })
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// Pool sizing and timeouts. An explicit checkout timeout turns pool exhaustion into a quick,
/// visible error instead of a hung request.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub checkout_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            checkout_timeout: Duration::from_secs(5),
        }
    }
}

type Pool = r2d2::Pool<Manager>;
pub(crate) type Conn = r2d2::PooledConnection<Manager>;

/// The storage handle: a connection pool plus the repository methods (in the other modules).
/// Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers that find the lock taken wait in SQLite's
    /// busy handler, which sleeps with backoff (up to 100 ms a nap): under load that is long
    /// tails and idle time. Queueing this process's writers here instead hands the lock over
    /// at once. Other processes are still kept out by `BEGIN IMMEDIATE`.
    sqlite_writer: Arc<Mutex<()>>,
    /// SQLite: checkpoints the WAL after commits, off the writers' path.
    checkpointer: Option<Arc<Checkpointer>>,
    /// Wakes the delivery engine after a commit that wrote deliveries.
    pub(crate) waker: crate::outbox::WakerSlot,
    /// Wakes the notification change feed after a commit that recorded changes.
    pub(crate) change_waker: crate::outbox::WakerSlot,
    /// Checkouts that had to wait, for the metrics (r2d2 counts none itself).
    pub(crate) pool_waits: Arc<crate::operations::PoolWaits>,
    /// Wakes this process's message sender after a commit that queued messages to owners.
    pub(crate) message_waker: crate::outbox::WakerSlot,
    /// Where the pool connects: the PostgreSQL listener opens its own connection there.
    pub(crate) url: Arc<DatabaseUrl>,
}

impl Store {
    /// Connects to `url`; creates the SQLite file (and its directory) if needed. Does not run
    /// migrations: call [`Store::migrate`].
    pub fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        if let DatabaseUrl::Sqlite(path) = &url
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::InvalidUrl(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let backend = url.backend();
        let shared_url = Arc::new(url.clone());
        let manager = Manager(url);
        // One connection first, alone: an unreachable server is one clear error now rather
        // than a pool retrying until its timeout. On SQLite it also switches a new file to
        // WAL, which needs an exclusive lock that SQLite does not wait for; the mode is
        // stored in the file, so the pool's connections find it set.
        let first = r2d2::ManageConnection::connect(&manager)?;
        // On SQLite that connection is the checkpointer's. Without the thread, the pool's
        // connections still checkpoint past their fallback size.
        let checkpointer = match first {
            AnyConnection::Sqlite(_) => Checkpointer::spawn(first)
                .inspect_err(|e| tracing::warn!(error = %e, "no SQLite checkpoint thread"))
                .ok()
                .map(Arc::new),
            AnyConnection::Postgresql(_) => None,
        };
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .connection_timeout(options.checkout_timeout)
            // Pings on checkout would add a round trip to every request; broken connections
            // are detected by `has_broken` instead.
            .test_on_check_out(false)
            .build(manager)?;
        Ok(Self {
            pool,
            backend,
            sqlite_writer: Arc::default(),
            checkpointer,
            waker: crate::outbox::WakerSlot::default(),
            change_waker: crate::outbox::WakerSlot::default(),
            pool_waits: Arc::default(),
            message_waker: crate::outbox::WakerSlot::default(),
            url: shared_url,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        let started = std::time::Instant::now();
        let conn = self.pool.get();
        self.pool_waits.record(started.elapsed(), conn.is_err());
        Ok(conn?)
    }

    /// The pool's connections now: (open, idle, most allowed).
    pub(crate) fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// Applies pending migrations; returns the versions applied now. Safe to run from several
    /// processes at once: they take turns (an advisory lock on PostgreSQL, the write lock on
    /// SQLite), and whoever comes second finds nothing left to do.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            AnyConnection::Sqlite(c) => {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
                let result = run_migrations(c, SQLITE_MIGRATIONS);
                if result.is_ok() {
                    AnsiTransactionManager::commit_transaction(c)?;
                } else {
                    AnsiTransactionManager::rollback_transaction(c)?;
                }
                result?
            }
            AnyConnection::Postgresql(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let result = run_migrations(c, POSTGRES_MIGRATIONS);
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                result?
            }
        };
        Ok(applied)
    }

    /// Runs `f` in a read-write transaction: commits if it returns `Ok`, rolls back otherwise.
    /// On SQLite the transaction is `BEGIN IMMEDIATE`, so it takes the write lock up front
    /// (waiting up to busy_timeout) instead of failing when a read later upgrades to a write.
    /// On PostgreSQL a transaction that a concurrent commit broke runs again, up to
    /// [`WRITE_ATTEMPTS`] times; `f` must therefore leave nothing behind but its writes.
    pub fn write<T, E: WriteError>(
        &self,
        mut f: impl FnMut(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        // Taken before the connection, so no pooled connection idles while it waits.
        let _writer = (self.backend == Backend::Sqlite).then(|| {
            self.sqlite_writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        });
        let mut conn = self.conn()?;
        let conn = &mut *conn;
        match conn {
            AnyConnection::Postgresql(_) => run_again_if_broken(|| conn.transaction(&mut f)),
            AnyConnection::Sqlite(sqlite) => {
                AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
                let result = f(conn);
                let AnyConnection::Sqlite(sqlite) = conn else {
                    unreachable!("the variant cannot change inside the transaction")
                };
                match result {
                    Ok(value) => {
                        if let Err(e) = AnsiTransactionManager::commit_transaction(sqlite) {
                            let _ = AnsiTransactionManager::rollback_transaction(sqlite);
                            return Err(e.into());
                        }
                        if let Some(checkpointer) = &self.checkpointer {
                            checkpointer.committed();
                        }
                        Ok(value)
                    }
                    Err(e) => {
                        AnsiTransactionManager::rollback_transaction(sqlite)?;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction.
    pub fn read<T, E>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        f(&mut conn)
    }

    /// Checks that the database answers: for readiness probes.
    pub fn ping(&self) -> Result<(), StoreError> {
        Ok(self.conn()?.ping()?)
    }
}

/// A status to compare a column with, as an SQL literal rather than a bound parameter. SQLite
/// prepares a statement again at every run when a bound parameter could decide whether a
/// partial index applies (`deliveries_due`, `messages_due` and `claims_pending_expiry` are
/// partial on `status`); that was a sixth of the DID document's CPU. `status` is one of the
/// domain's fixed names (`as_str()`), never input.
pub(crate) fn status_literal(
    status: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    diesel::dsl::sql(&format!("'{status}'"))
}

/// Runs `attempt` (a PostgreSQL transaction or savepoint) again while a concurrent commit
/// breaks it ([`StoreError::is_concurrent_change`]), at most [`WRITE_ATTEMPTS`] times in all.
pub(crate) fn run_again_if_broken<T, E: WriteError>(
    mut attempt: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut attempts = 1;
    loop {
        match attempt() {
            Err(e)
                if attempts < WRITE_ATTEMPTS
                    && e.store_error()
                        .is_some_and(StoreError::is_concurrent_change) =>
            {
                tracing::debug!(
                    attempts,
                    "a concurrent commit broke a write; running it again"
                );
                attempts += 1;
            }
            result => return result,
        }
    }
}

/// Makes a quota's count-then-insert exact under concurrency: call it inside the write
/// transaction before counting. On PostgreSQL it locks the row that owns the counted rows (the
/// namespace's account for services, the service for keys and webhooks) until the transaction
/// ends, so creations against one quota take turns and each counts what the one before it
/// inserted. `FOR NO KEY UPDATE` rather than `FOR UPDATE`: the foreign-key checks of other
/// inserts under that row take `FOR KEY SHARE`, which it does not block. On SQLite the write
/// transaction (`BEGIN IMMEDIATE`) already holds the database's only write lock.
pub(crate) fn lock_quota_owner(
    conn: &mut AnyConnection,
    quota: crate::error::Quota,
    owner: &str,
) -> diesel::QueryResult<()> {
    use crate::error::Quota;
    if let AnyConnection::Postgresql(pg) = conn {
        let sql = match quota {
            Quota::Services => "SELECT 1 FROM accounts WHERE namespace = $1 FOR NO KEY UPDATE",
            Quota::ApiKeys | Quota::Webhooks => {
                "SELECT 1 FROM services WHERE id = $1 FOR NO KEY UPDATE"
            }
            Quota::Channels => "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
        };
        diesel::RunQueryDsl::execute(
            diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(owner),
            pg,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/assent.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("./data/assent.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/assent.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("/var/lib/assent.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("data/assent.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("data/assent.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:pw@h/db")
                .map(|u| u.backend())
                .ok(),
            Some(Backend::Postgres)
        );
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn debug_hides_postgres_credentials() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").ok();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
