-- Standard Webhooks: a third endpoint format, and an optional Ed25519 signing key per endpoint.
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_format_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_format_check
    CHECK (format IN ('sigilum', 'atp', 'standard'));
-- The endpoint's Ed25519 key pair (`whsk_…`), sealed like its secret; null when the endpoint
-- signs with its secret only. Its public half (`whpk_…`) is published.
ALTER TABLE webhook_endpoints ADD COLUMN signing_key_sealed TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN public_key TEXT;
