//! assent's Model Context Protocol front end.
//!
//! An agent asks a human through one tool call: `request_approval` (approve or reject an exact
//! action), `ask_human` (a choice, a number or a text), `permission_prompt` (Claude Code's
//! `--permission-prompt-tool`), and `get_decision` for agents that do not wait. Each request is
//! an ATP notification of the calling service, so it is durable, answered in the dashboard or
//! any ATP client, and reported by the service's webhooks like any other.
//!
//! The protocol is transport-agnostic here: [`Mcp::handle`] takes one JSON-RPC message and
//! returns its response, sending progress notifications on the side. The HTTP server wraps it
//! in Streamable HTTP at `/mcp`; [`stdio`] bridges a local agent's stdin and stdout to that
//! endpoint. No state lives in memory between messages: a decision's id is the notification's
//! id, so any replica answers for it, before and after a restart.
//!
//! The official SDK, `rmcp`, is used for its protocol model (tool definitions, results, error
//! codes, protocol versions). Its server runtime is not: it drives its own tower/axum
//! transport and sessions, and bridging that into actix costs more than the few lines of
//! dispatch below (see `docs/mcp.md` for the measurements).

mod decision;
mod protocol;
pub mod stdio;
mod tools;

pub use decision::{Updates, Watch};
pub use protocol::{Mcp, Options, SUPPORTED_VERSIONS};
