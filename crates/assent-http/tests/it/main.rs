//! assent-http's integration tests, in one test binary: one module per area, against a real
//! server on SQLite and PostgreSQL, through the harness in `common` (declared first, with
//! `macro_use`, so that every module below can use its `on_both_engines!`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

#[macro_use]
mod common;

mod accounts;
mod atp_registration;
mod browser;
mod channels;
mod claims;
mod client_crate;
mod copy;
mod dashboard;
mod dashboard_health;
mod dashboard_manage;
mod dashboard_webhooks;
mod logs;
mod metrics;
mod nonces;
mod notifications;
mod operator;
mod owners;
mod policies;
mod proxies;
mod quotas;
mod replicas;
mod security;
mod signed;
mod signing_doc;
mod standard_webhooks;
mod streams;
mod web_push;
mod webhooks;
