DROP TABLE decision_links;
DROP TABLE message_items;
DROP TABLE messages;
DROP TABLE channels;
