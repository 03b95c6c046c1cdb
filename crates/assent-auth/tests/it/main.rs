//! assent-auth's integration tests, in one binary (one module per area; the conformance data
//! they read stays in `tests/conformance/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail at once, where it stands"
)]

mod conformance;
