DROP TABLE nonces;
