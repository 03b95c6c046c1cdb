-- Retention: the maintenance task deletes old rows in small batches, oldest first. These
-- indexes let each batch find its rows without scanning the table.
CREATE INDEX deliveries_settled_completed ON deliveries (completed_at) WHERE status <> 'pending';
CREATE INDEX delivery_attempts_attempted ON delivery_attempts (attempted_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX notifications_updated ON notifications (updated_at);
CREATE INDEX claim_history_archived ON claim_history (archived_at);

-- The audit log stays append-only, unless the operator sets a retention for it
-- (ASSENT_RETAIN_AUDIT_LOG): the pruning transaction inserts a row here, deletes, and removes
-- the row before it commits. No other delete ever finds the row, so the trigger refuses it.
CREATE TABLE audit_log_pruning (active INTEGER PRIMARY KEY NOT NULL);
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_log_pruning)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
