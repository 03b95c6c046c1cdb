-- Account safety: disabling accounts, what a session was opened from and when it was last
-- used, and one-time tokens (signup invites and password resets), stored as SHA-256.

ALTER TABLE accounts ADD COLUMN disabled_at BIGINT;

ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN address TEXT;

CREATE TABLE one_time_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,               -- invite or password_reset
    token_hash TEXT NOT NULL UNIQUE,     -- SHA-256 hex
    email TEXT,                          -- invite: the only address it signs up
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE, -- password_reset
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX one_time_tokens_account_id ON one_time_tokens (account_id);
