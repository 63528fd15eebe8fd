-- 0006 on the merged main (after gcommit's 0005_lean_step_writes): node records (ENGINE.md 8.1), in a table
-- of our own beside Weavegraph's two. A step's records go in the same transaction as the step; deleting a
-- step (prune, delete_session's cascade) deletes its records.

CREATE TABLE IF NOT EXISTS wg_node_records (
    session_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    output_json JSONB,
    error_json JSONB,
    PRIMARY KEY (session_id, step, idx),
    FOREIGN KEY (session_id, step) REFERENCES steps (session_id, step) ON DELETE CASCADE
);
