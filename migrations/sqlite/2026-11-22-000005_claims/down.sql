DROP TABLE claim_history;
DROP TABLE claims;
