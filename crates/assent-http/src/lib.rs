//! assent's HTTP surface: the ATP (`/api/v1`) and Sigilum-style (`/v1`) dialects over one
//! core, plus the operator endpoints.
//!
//! Error policy: every handler returns `Result<_, ApiError>`. An [`ApiError`] carries a status,
//! a stable SCREAMING_SNAKE code and a message for humans; the request-context middleware
//! renders it in the caller's dialect with the request id. Bad input is always a 4xx; a 500
//! means a bug or an outage, is logged with its cause, and shows the caller nothing internal.

pub mod auth;
pub mod client_addr;
pub mod dashboard;
pub mod error;
pub mod feed;
pub mod json;
pub mod metrics;
pub mod nonces;
pub mod openapi;
pub mod rate_limit;
mod request_context;
pub mod routes;
mod server;
pub mod signed;
mod state;

pub use assent_app::throttle;
pub use client_addr::{ClientAddr, TrustedProxies};
pub use error::{ApiError, Dialect};
pub use server::{ServerOptions, app_config, start, start_metrics};
pub use state::{AppState, HttpSettings, Quotas};
