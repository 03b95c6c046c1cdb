-- Owner channels: where an owner is reached (an email address, a chat webhook), the events each
-- one gets, its quiet hours and throttle. A channel gets nothing but its verification until it
-- is verified.
CREATE TABLE channels (
    id TEXT PRIMARY KEY NOT NULL,            -- chn_...
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'slack', 'discord', 'ntfy')),
    address TEXT NOT NULL,                   -- the email address, or the chat webhook URL
    events TEXT NOT NULL,                    -- JSON array of channel event names
    quiet_start INTEGER,                     -- quiet hours, minutes after midnight UTC
    quiet_end INTEGER,
    throttle_seconds INTEGER NOT NULL,       -- at most one message a period; more are digested
    verified_at BIGINT,
    last_sent_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX channels_account_id ON channels (account_id);

-- The outbox of messages to owners: leased, sent, retried like webhook deliveries. A pending
-- message not yet leased gathers every item that comes meanwhile (the digest).
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,            -- msg_...
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,                     -- a channel event name, channel.verify or channel.test
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'skipped', 'exhausted')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    item_count INTEGER NOT NULL DEFAULT 0,   -- what it carried, once sent
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX messages_channel_status ON messages (channel_id, status);
CREATE INDEX messages_account_created ON messages (account_id, created_at);

-- What a message carries: claims, or the channel to verify.
CREATE TABLE message_items (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    item_kind TEXT NOT NULL,                 -- claim or channel
    item_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX message_items_message ON message_items (message_id);

-- One-click links in messages: single use, stored as SHA-256, bound to (item, action, owner),
-- expiring with the item.
CREATE TABLE decision_links (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,         -- SHA-256 hex
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    item_kind TEXT NOT NULL,                 -- claim or channel
    item_id TEXT NOT NULL,
    action TEXT NOT NULL,                    -- approve, reject or verify
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX decision_links_item ON decision_links (item_kind, item_id);
