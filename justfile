# Everyday commands. Each is plain cargo underneath; `just --list` shows them.

# Run the server on the embedded default (SQLite in ./data, 127.0.0.1:8080).
serve *args:
    cargo run -p assent -- serve {{args}}

# Run every test (SQLite, the local PostgreSQL, and the dashboard in Chromium).
test:
    .ci/install-test-tools
    cargo test --workspace

# What CI runs: fmt, clippy, architecture, OpenAPI, settings reference, tests.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the committed OpenAPI document.
openapi:
    cargo run --quiet -p assent -- openapi > docs/openapi.json

# Regenerate the settings tables of docs/configuration.md from the settings table.
config-reference:
    cargo run --quiet -p assent -- config-reference --write docs/configuration.md

# Measure an endpoint: just bench health | register | verify | did | deliveries | notify | respond
bench scenario="health" *args:
    cargo build --release -p assent -p assent-bench
    target/release/assent-bench --scenario {{scenario}} {{args}}
