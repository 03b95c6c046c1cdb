//! assent-delivery's integration tests, in one binary: the SSRF-safe client, and the engine end
//! to end on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

mod client;
mod engine;
