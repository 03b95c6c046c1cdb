//! assent-delivery's integration tests, in one binary: the SSRF-safe client, and the engine end
//! to end on SQLite and PostgreSQL.

mod client;
mod engine;
