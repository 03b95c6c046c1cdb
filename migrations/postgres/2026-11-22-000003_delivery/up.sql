-- The outbox (events and their deliveries, written with the change that causes them), the
-- delivery log, and webhook endpoints' rotation and health bookkeeping.

ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_sealed TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN failing_since BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason TEXT;

-- No foreign key to services: the history outlives the service.
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,        -- evt_...
    service_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,               -- the exact JSON that is signed and sent
    created_at BIGINT NOT NULL
);
CREATE INDEX events_service_created ON events (service_id, created_at);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,        -- dlv_..., the same on every retry
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted', 'skipped')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,                  -- claimed by a sender until then
    last_error TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_at);

CREATE TABLE delivery_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    response_excerpt TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempted_at);
