-- 0006: node records (ENGINE.md 8.1), in a table of our own beside Weavegraph's two. A step's records go in
-- the same transaction as the step; deleting a step (prune, delete_session) deletes its records.

CREATE TABLE IF NOT EXISTS wg_node_records (
    session_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    output_json TEXT,
    error_json TEXT,
    PRIMARY KEY (session_id, step, idx)
);

CREATE TRIGGER IF NOT EXISTS wg_node_records_step_deleted AFTER DELETE ON steps
BEGIN
    DELETE FROM wg_node_records WHERE session_id = old.session_id AND step = old.step;
END;
