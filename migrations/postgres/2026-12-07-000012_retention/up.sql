-- Retention: the maintenance task deletes old rows in small batches, oldest first. These
-- indexes let each batch find its rows without scanning the table.
CREATE INDEX deliveries_settled_completed ON deliveries (completed_at) WHERE status <> 'pending';
CREATE INDEX delivery_attempts_attempted ON delivery_attempts (attempted_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX notifications_updated ON notifications (updated_at);
CREATE INDEX claim_history_archived ON claim_history (archived_at);

-- The audit log stays append-only, unless the operator sets a retention for it
-- (ASSENT_RETAIN_AUDIT_LOG): the pruning transaction inserts a row here, deletes, and removes
-- the row before it commits. No other transaction ever sees the row, so the trigger refuses
-- every other delete (and every update).
CREATE TABLE audit_log_pruning (active INTEGER PRIMARY KEY NOT NULL);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_log_pruning) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
