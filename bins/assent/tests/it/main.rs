//! The `assent` binary's integration tests, in one test binary: each module runs the real
//! `assent` (`CARGO_BIN_EXE_assent`) through the harness in `common`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

mod common;

mod cli;
mod delivery;
mod limits;
mod mcp;
mod operations;
