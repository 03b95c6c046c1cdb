//! The `assent` binary's integration tests, in one test binary: each module runs the real
//! `assent` (`CARGO_BIN_EXE_assent`) through the harness in `common`.

mod common;

mod cli;
mod delivery;
