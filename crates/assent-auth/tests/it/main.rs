//! assent-auth's integration tests, in one binary (one module per area; the conformance data
//! they read stays in `tests/conformance/`).

mod conformance;
