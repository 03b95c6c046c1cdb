-- Retention: the maintenance task deletes old rows in small batches, oldest first. These
-- indexes let each batch find its rows without scanning the table.
CREATE INDEX deliveries_settled_completed ON deliveries (completed_at) WHERE status <> 'pending';
CREATE INDEX delivery_attempts_attempted ON delivery_attempts (attempted_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX notifications_updated ON notifications (updated_at);
CREATE INDEX claim_history_archived ON claim_history (archived_at);
