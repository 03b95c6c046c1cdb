DROP TABLE one_time_tokens;
ALTER TABLE sessions DROP COLUMN address;
ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN last_seen_at;
ALTER TABLE accounts DROP COLUMN disabled_at;
