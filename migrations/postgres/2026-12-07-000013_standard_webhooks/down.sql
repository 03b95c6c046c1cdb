UPDATE webhook_endpoints SET format = 'sigilum' WHERE format = 'standard';
ALTER TABLE webhook_endpoints DROP COLUMN public_key;
ALTER TABLE webhook_endpoints DROP COLUMN signing_key_sealed;
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_format_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_format_check
    CHECK (format IN ('sigilum', 'atp'));
