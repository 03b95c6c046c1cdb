DELETE FROM channels WHERE kind = 'web_push';
ALTER TABLE channels DROP COLUMN disabled_reason;
ALTER TABLE channels DROP COLUMN disabled_at;
ALTER TABLE channels DROP COLUMN push_keys_sealed;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (kind IN (''email'', ''slack'', ''discord'', ''ntfy'', ''web_push''))',
                          'CHECK (kind IN (''email'', ''slack'', ''discord'', ''ntfy''))')
 WHERE type = 'table' AND name = 'channels';
PRAGMA writable_schema = RESET;
-- A change that bumps the schema cookie, so every open connection reloads the schema.
ALTER TABLE channels ADD COLUMN web_push_removed INTEGER;
ALTER TABLE channels DROP COLUMN web_push_removed;
