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

-- Stored events (persist_events): in publish order (id); a step's events go when the step goes, a session's
-- remaining ones (step NULL: run.start and the like) when the session goes.
CREATE TABLE IF NOT EXISTS wg_events (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    step BIGINT,
    event_json JSONB NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_wg_events_session ON wg_events (session_id, step);

CREATE OR REPLACE FUNCTION wg_events_step_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM wg_events WHERE session_id = OLD.session_id AND step = OLD.step;
    RETURN OLD;
END;
$$;

DROP TRIGGER IF EXISTS wg_events_step_deleted ON steps;
CREATE TRIGGER wg_events_step_deleted AFTER DELETE ON steps
    FOR EACH ROW EXECUTE FUNCTION wg_events_step_deleted();

-- Session info (ENGINE.md 8.2): where a fork came from and the graph's name, beside Weavegraph's sessions row.
CREATE TABLE IF NOT EXISTS wg_session_info (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    parent_session TEXT,
    parent_step BIGINT,
    graph_name TEXT
);

CREATE INDEX IF NOT EXISTS idx_wg_session_info_parent ON wg_session_info (parent_session);
