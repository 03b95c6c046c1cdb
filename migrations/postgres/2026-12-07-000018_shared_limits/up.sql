-- Limits that hold across replicas (docs/security.md, "Quotas and rate limits"). UNLOGGED: a
-- write to them is never flushed to disk before the commit returns, so a limited request costs
-- no fsync; after a crash of PostgreSQL they start empty, which forgets recent counts (and
-- frees every stream's place), an acceptable loss for limits.

-- One GCRA bucket per (operation, caller): the moment, in microseconds since the epoch, when
-- the bucket is full again. A row whose moment has passed is as if never written.
CREATE UNLOGGED TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    refilled_at BIGINT NOT NULL
);
CREATE INDEX rate_buckets_refilled_at ON rate_buckets (refilled_at);

-- Failed logins (and those being checked) per email and per client address in a fixed window
-- that ends at window_ends (milliseconds since the epoch).
CREATE UNLOGGED TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_ends BIGINT NOT NULL
);
CREATE INDEX login_failures_window_ends ON login_failures (window_ends);

-- Open streaming connections: one lease per connection, renewed while it is open and deleted
-- when it closes; a lease whose replica died expires on its own.
CREATE UNLOGGED TABLE stream_leases (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX stream_leases_account ON stream_leases (account_id, kind, expires_at);
CREATE INDEX stream_leases_expires_at ON stream_leases (expires_at);
