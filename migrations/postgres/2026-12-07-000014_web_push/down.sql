DELETE FROM channels WHERE kind = 'web_push';
ALTER TABLE channels DROP COLUMN disabled_reason;
ALTER TABLE channels DROP COLUMN disabled_at;
ALTER TABLE channels DROP COLUMN push_keys_sealed;
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('email', 'slack', 'discord', 'ntfy'));
