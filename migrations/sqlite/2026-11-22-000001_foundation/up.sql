-- Times are integer milliseconds since the Unix epoch (UTC); ids are text. The PostgreSQL
-- migration of the same name creates the same tables.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,          -- lowercased
    namespace TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,         -- argon2id PHC string
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,     -- SHA-256 hex
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL REFERENCES accounts (namespace) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    icon_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (namespace, slug)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,       -- SHA-256 hex
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_service_id ON api_keys (service_id);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('sigilum', 'atp')),
    events TEXT NOT NULL,                -- JSON array of event type names
    secret_sealed TEXT NOT NULL,         -- AEAD ciphertext, associated data = id
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_service_id ON webhook_endpoints (service_id);
