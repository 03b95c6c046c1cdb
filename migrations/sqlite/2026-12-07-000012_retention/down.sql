DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
DROP TABLE audit_log_pruning;
DROP INDEX claim_history_archived;
DROP INDEX notifications_updated;
DROP INDEX events_created;
DROP INDEX delivery_attempts_attempted;
DROP INDEX deliveries_settled_completed;
