-- Changes as their transactions write them, before they have a number. Writers insert here
-- without waiting for each other; whoever reads `changes` first moves the committed rows into
-- it under one short lock, so `changes.seq` is still commit order and a reader that resumes
-- after a number never skips a change (crates/assent-store/src/changes.rs).
CREATE TABLE change_inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('notification', 'status_update', 'claim')),
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
