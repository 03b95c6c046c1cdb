ALTER TABLE delivery_attempts DROP COLUMN request_headers;
ALTER TABLE webhook_endpoints DROP COLUMN last_error;
ALTER TABLE webhook_endpoints DROP COLUMN consecutive_failures;
