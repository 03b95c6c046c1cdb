DROP TABLE change_inbox;
