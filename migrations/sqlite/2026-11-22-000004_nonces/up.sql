-- Single-use nonces of signed requests, shared by every replica: a nonce is accepted once per
-- scope (for signatures: the namespace) until it expires.
CREATE TABLE nonces (
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, value)
);
CREATE INDEX nonces_expires_at ON nonces (expires_at);
