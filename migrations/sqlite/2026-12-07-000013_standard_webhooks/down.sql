UPDATE webhook_endpoints SET format = 'sigilum' WHERE format = 'standard';
ALTER TABLE webhook_endpoints DROP COLUMN public_key;
ALTER TABLE webhook_endpoints DROP COLUMN signing_key_sealed;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (format IN (''sigilum'', ''atp'', ''standard''))',
                          'CHECK (format IN (''sigilum'', ''atp''))')
 WHERE type = 'table' AND name = 'webhook_endpoints';
PRAGMA writable_schema = RESET;
-- A change that bumps the schema cookie, so every open connection reloads the schema.
ALTER TABLE webhook_endpoints ADD COLUMN standard_webhooks_removed INTEGER;
ALTER TABLE webhook_endpoints DROP COLUMN standard_webhooks_removed;
