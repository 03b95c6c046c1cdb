DROP TABLE notification_changes;
DROP TABLE notifications;
