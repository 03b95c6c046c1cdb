-- Claims: may this agent key act on this service of this namespace? One row per
-- (namespace, service, key); a re-submission after a final decision archives the row's decided
-- state in claim_history and starts afresh. Keyed by service id, never by slug alone.
CREATE TABLE claims (
    id TEXT PRIMARY KEY NOT NULL,        -- cl_ + 24 hex, new on every (re-)submission
    namespace TEXT NOT NULL,
    service_id TEXT NOT NULL,            -- no foreign key: a deleted service's claims stay readable
    service_slug TEXT NOT NULL,          -- as it was at submission
    public_key TEXT NOT NULL,            -- as submitted: ed25519:<base64>
    agent_key TEXT NOT NULL,             -- the same key as a did:key
    agent_ip TEXT,
    subject TEXT,
    agent_id TEXT,
    agent_name TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'revoked', 'expired')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,          -- when a pending claim expires
    approved_at BIGINT,
    decided_at BIGINT,                   -- rejected, revoked or expired
    UNIQUE (namespace, service_id, public_key)
);
CREATE INDEX claims_namespace_created ON claims (namespace, created_at);
CREATE INDEX claims_pending_expiry ON claims (expires_at) WHERE status = 'pending';

CREATE TABLE claim_history (
    claim_id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL,
    service_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    approved_at BIGINT,
    decided_at BIGINT,
    archived_at BIGINT NOT NULL
);
CREATE INDEX claim_history_key ON claim_history (namespace, service_id, public_key);
