//! `--metrics`: the spawned server runs with `ASSENT_METRICS=on`, so every request is timed
//! by the metrics middleware. Run a scenario (`health`, `verify`) without and with it in one
//! sitting to measure what the metrics cost (the budget is 3 %).

/// The server settings `--metrics` adds.
pub fn server_env(on: bool) -> Vec<(&'static str, String)> {
    if on {
        vec![("ASSENT_METRICS", "on".to_owned())]
    } else {
        Vec::new()
    }
}
