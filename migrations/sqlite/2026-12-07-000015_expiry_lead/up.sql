-- How long before a pending claim or notification expires its channel reminds the owner
-- (item.expiring), 60 to 86400 seconds.
ALTER TABLE channels ADD COLUMN expiry_lead_seconds INTEGER NOT NULL DEFAULT 600;
