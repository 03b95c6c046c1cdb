-- The same table as on PostgreSQL, where writers put changes before they have a number. On
-- SQLite it stays empty: one writer at a time numbers `changes` in commit order already.
CREATE TABLE change_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    namespace TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('notification', 'status_update', 'claim')),
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
