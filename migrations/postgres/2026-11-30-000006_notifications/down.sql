DROP TABLE changes;
DROP TABLE notifications;
