//! assent-store's integration tests, in one binary: one module per area, each on SQLite and
//! PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

mod accounts;
mod channels;
mod claims;
mod limits;
mod notifications;
mod operations;
mod owners;
mod quotas;
mod races;
mod repositories;
