-- Web Push: a fifth channel kind. Its address is the subscription's endpoint URL; the browser's
-- keys (p256dh and auth) are its secrets, sealed at rest like webhook secrets. A channel the
-- push service says is gone (404 or 410) is disabled: it gets nothing more.
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('email', 'slack', 'discord', 'ntfy', 'web_push'));
ALTER TABLE channels ADD COLUMN push_keys_sealed TEXT;
ALTER TABLE channels ADD COLUMN disabled_at BIGINT;
ALTER TABLE channels ADD COLUMN disabled_reason TEXT;
