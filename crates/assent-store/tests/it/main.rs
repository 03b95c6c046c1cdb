//! assent-store's integration tests, in one binary: one module per area, each on SQLite and
//! PostgreSQL.

mod claims;
mod notifications;
mod owners;
mod repositories;
