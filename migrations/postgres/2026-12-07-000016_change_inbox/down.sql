-- Rows still waiting for a number are numbered now, so none is lost.
INSERT INTO changes (namespace, subject_id, kind, payload, created_at)
    SELECT namespace, subject_id, kind, payload, created_at FROM change_inbox ORDER BY id;
DROP TABLE change_inbox;
