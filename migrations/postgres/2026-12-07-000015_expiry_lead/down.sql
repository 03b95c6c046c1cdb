ALTER TABLE channels DROP COLUMN expiry_lead_seconds;
