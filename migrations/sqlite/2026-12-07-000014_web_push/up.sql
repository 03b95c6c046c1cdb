-- Web Push: a fifth channel kind. Its address is the subscription's endpoint URL; the browser's
-- keys (p256dh and auth) are its secrets, sealed at rest like webhook secrets. A channel the
-- push service says is gone (404 or 410) is disabled: it gets nothing more.
-- SQLite cannot alter a CHECK constraint: its text is edited in the schema, as migration 000013
-- did (https://sqlite.org/lang_altertable.html, "other kinds of table schema changes"). The
-- ALTER TABLEs that follow bump the schema cookie, so every open connection reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (kind IN (''email'', ''slack'', ''discord'', ''ntfy''))',
                          'CHECK (kind IN (''email'', ''slack'', ''discord'', ''ntfy'', ''web_push''))')
 WHERE type = 'table' AND name = 'channels';
PRAGMA writable_schema = RESET;
ALTER TABLE channels ADD COLUMN push_keys_sealed TEXT;
ALTER TABLE channels ADD COLUMN disabled_at BIGINT;
ALTER TABLE channels ADD COLUMN disabled_reason TEXT;
