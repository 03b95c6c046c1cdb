//! assent-http's integration tests, in one test binary: one module per area, against a real
//! server on SQLite and PostgreSQL, through the harness in `common` (declared first, with
//! `macro_use`, so that every module below can use its `on_both_engines!`).

#[macro_use]
mod common;

mod atp_registration;
mod browser;
mod claims;
mod dashboard;
mod dashboard_manage;
mod dashboard_webhooks;
mod logs;
mod nonces;
mod notifications;
mod operator;
mod owners;
mod signed;
mod streams;
mod webhooks;
