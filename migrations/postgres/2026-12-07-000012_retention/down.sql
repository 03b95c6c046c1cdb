DROP INDEX claim_history_archived;
DROP INDEX notifications_updated;
DROP INDEX events_created;
DROP INDEX delivery_attempts_attempted;
DROP INDEX deliveries_settled_completed;
