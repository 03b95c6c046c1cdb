-- Standard Webhooks: a third endpoint format, and an optional Ed25519 signing key per endpoint.
-- SQLite cannot alter a CHECK constraint; the documented way to relax one without rebuilding
-- the table (https://sqlite.org/lang_altertable.html, "other kinds of table schema changes")
-- is to edit its text in the schema. The ALTER TABLE that follows bumps the schema cookie, so
-- every open connection reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (format IN (''sigilum'', ''atp''))',
                          'CHECK (format IN (''sigilum'', ''atp'', ''standard''))')
 WHERE type = 'table' AND name = 'webhook_endpoints';
PRAGMA writable_schema = RESET;
-- The endpoint's Ed25519 key pair (`whsk_…`), sealed like its secret; null when the endpoint
-- signs with its secret only. Its public half (`whpk_…`) is published.
ALTER TABLE webhook_endpoints ADD COLUMN signing_key_sealed TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN public_key TEXT;
