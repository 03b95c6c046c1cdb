//! Test support: a fresh, migrated database per test on either engine, removed afterwards.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database on the server named by
//! `ASSENT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`, this
//! machine's local server), dropped when the test ends. An unreachable server fails the test:
//! the PostgreSQL half of the suite is never skipped silently.
#![expect(
    clippy::expect_used,
    reason = "test support: a database that cannot be set up fails the test at once"
)]

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

use crate::db::{PoolOptions, Store};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A migrated, empty database that lives as long as this value.
pub struct TestDatabase {
    pub store: Store,
    /// The URL the store was opened with, for starting a server process on the same data.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(
            dead_code,
            reason = "held only so the directory lives as long as the test"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates the database and runs every migration. Panics (failing the test) when the
    /// engine is unavailable.
    pub fn new(engine: Engine) -> Self {
        let db = Self::unmigrated(engine);
        db.store.migrate().expect("migrate the test database");
        db
    }

    /// Runs raw SQL on the database: for a test that must put data where no operation would
    /// (a grant whose time is up, without waiting for it).
    pub fn execute(&self, sql: &str) {
        self.store
            .read(|conn| conn.batch_execute(sql).map_err(crate::StoreError::from))
            .expect("run the test's SQL");
    }

    /// An empty database without any table, for testing migrations themselves.
    pub fn unmigrated(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => Self::sqlite(),
            Engine::Postgres => Self::postgres(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("assent.db").display());
        let store = open(&url);
        Self {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    fn postgres() -> Self {
        let admin_url = std::env::var("ASSENT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let name = format!("assent_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server at ASSENT_TEST_DATABASE_URL \
                 (default {DEFAULT_TEST_DATABASE_URL}): {e}"
            )
        });
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let mut url = url::Url::parse(&admin_url).expect("ASSENT_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        let url = url.to_string();
        let store = open(&url);
        Self {
            store,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }
}

fn open(url: &str) -> Store {
    let options = PoolOptions {
        max_connections: 8,
        ..PoolOptions::default()
    };
    Store::connect(url, &options).expect("connect to the test database")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            // FORCE ends the pool's connections, which are still open at this point.
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Declares each named test function (taking an [`Engine`]) twice, as `sqlite::<name>` and
/// `postgres::<name>`, so that every storage test runs on both engines.
///
/// ```ignore
/// fn creates_accounts(engine: Engine) { … }
/// assent_store::on_both_engines!(creates_accounts);
/// ```
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::testing::Engine::Sqlite) } )+
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::testing::Engine::Postgres) } )+
        }
    };
}

/// [`on_both_engines!`] for async tests, run on actix's test runtime (which servers need).
#[macro_export]
macro_rules! on_both_engines_async {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name($crate::testing::Engine::Sqlite).await } )+
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() { super::$name($crate::testing::Engine::Postgres).await } )+
        }
    };
}
