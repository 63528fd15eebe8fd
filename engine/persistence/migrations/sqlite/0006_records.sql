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

-- Stored events (persist_events): in publish order (id); a step's events go when the step goes, a session's
-- remaining ones (step NULL: run.start and the like) when the session goes.
CREATE TABLE IF NOT EXISTS wg_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    step INTEGER,
    event_json TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_wg_events_session ON wg_events(session_id, step);

CREATE TRIGGER IF NOT EXISTS wg_events_step_deleted AFTER DELETE ON steps
BEGIN
    DELETE FROM wg_events WHERE session_id = old.session_id AND step = old.step;
END;

CREATE TRIGGER IF NOT EXISTS wg_debug_session_deleted AFTER DELETE ON sessions
BEGIN
    DELETE FROM wg_events WHERE session_id = old.id;
    DELETE FROM wg_node_records WHERE session_id = old.id;
END;

-- Session info (ENGINE.md 8.2): where a fork came from and the graph's name, beside Weavegraph's sessions row.
CREATE TABLE IF NOT EXISTS wg_session_info (
    session_id TEXT PRIMARY KEY,
    parent_session TEXT,
    parent_step INTEGER,
    graph_name TEXT
);

CREATE INDEX IF NOT EXISTS idx_wg_session_info_parent ON wg_session_info(parent_session);

CREATE TRIGGER IF NOT EXISTS wg_session_info_deleted AFTER DELETE ON sessions
BEGIN
    DELETE FROM wg_session_info WHERE session_id = old.id;
END;
