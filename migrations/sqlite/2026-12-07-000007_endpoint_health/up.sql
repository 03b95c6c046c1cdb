-- What an owner needs to see why a webhook fails, and what was sent to it.
-- A failing endpoint's streak: how many attempts in a row failed, and the last one's error
-- (the failure's sentence, as a delivery's last_error; never a secret or a response body).
-- Both are cleared by a success or by re-enabling.
ALTER TABLE webhook_endpoints ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN last_error TEXT;
-- The headers of each attempt as sent (a JSON array of [name, value] pairs: the signature
-- headers included, the secret never). Attempts made before this migration have none.
ALTER TABLE delivery_attempts ADD COLUMN request_headers TEXT NOT NULL DEFAULT '[]';
