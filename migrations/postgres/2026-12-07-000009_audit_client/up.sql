-- The client address an audited change came from: the connecting address, or the one a
-- trusted proxy forwarded (docs/deployment.md). NULL for the operator's command line and for
-- entries written before it was kept.
ALTER TABLE audit_log ADD COLUMN client_addr TEXT;
