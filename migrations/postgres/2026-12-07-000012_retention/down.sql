CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
DROP TABLE audit_log_pruning;
DROP INDEX claim_history_archived;
DROP INDEX notifications_updated;
DROP INDEX events_created;
DROP INDEX delivery_attempts_attempted;
DROP INDEX deliveries_settled_completed;
