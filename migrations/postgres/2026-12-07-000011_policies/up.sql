-- Owner policies (docs/policies.md): the ordered rules of a namespace, its pending caps and
-- the Sigilum settings it was given, standing grants, and who decided each claim and
-- notification (an account, `policy:<rule id>`, `grant:<grant id>`, `limit:<cap>`).
CREATE TABLE policy_rules (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,                    -- pol_ + hex, or a fixed name for Sigilum's settings
    position INTEGER NOT NULL,           -- evaluation order, from 0
    rule TEXT NOT NULL,                  -- the rule as JSON, as the API shows it
    matched BIGINT NOT NULL DEFAULT 0,   -- requests it decided
    last_matched_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX policy_rules_order ON policy_rules (namespace, position);

CREATE TABLE policy_settings (
    namespace TEXT PRIMARY KEY NOT NULL,
    max_pending INTEGER,                 -- pending requests per namespace; NULL: no cap
    max_pending_per_service INTEGER,     -- pending requests per service; NULL: no cap
    sigilum TEXT NOT NULL,               -- Sigilum's other settings keys, as last PATCHed (JSON)
    updated_at BIGINT NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,        -- gr_ + hex
    namespace TEXT NOT NULL,
    service_id TEXT NOT NULL,
    service_slug TEXT NOT NULL,
    action TEXT NOT NULL,
    args_digest TEXT,                    -- sha256:<hex> of the RFC 8785 arguments, or
    args_pattern TEXT,                   -- a JSON object pattern the owner wrote
    uses TEXT NOT NULL CHECK (uses IN ('once', 'timed', 'always')),
    expires_at BIGINT,
    used_at BIGINT,                      -- a single-use grant, once used
    revoked_at BIGINT,
    source_id TEXT,                      -- the notification it was granted from
    matched BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CHECK ((args_digest IS NULL) <> (args_pattern IS NULL))
);
CREATE INDEX grants_namespace ON grants (namespace, created_at);
CREATE INDEX grants_live ON grants (service_id, action) WHERE revoked_at IS NULL AND used_at IS NULL;

-- Who decided a claim or answered a notification (kept beside them: their tables are at
-- diesel's 16-column limit).
CREATE TABLE decisions (
    subject_id TEXT PRIMARY KEY NOT NULL,  -- the claim or notification id
    namespace TEXT NOT NULL,
    decided_by TEXT NOT NULL,             -- account:<id>, policy:<rule id>, grant:<grant id>, limit:<cap>
    created_at BIGINT NOT NULL
);
