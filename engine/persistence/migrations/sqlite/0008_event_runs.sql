-- 0008: stored events (persist_events) a row per run, not a row per event. A `wg_events` row now holds
-- consecutive events of one step (or of no step) in publish order: `event_json` is a JSON array of events,
-- rows in `id` order, events in array order. A save writes its events as two or three runs instead of two
-- dozen rows (issue 15's cost target), and the table drops AUTOINCREMENT (its sqlite_sequence row was one
-- more page written by every save): a rowid can be reused only after the newest row is deleted, and then
-- comes after every row left, so `id` order stays publish order. Rows written before this migration become
-- one-event arrays with their ids; the step and session delete triggers of 0006 are made again unchanged.
CREATE TABLE wg_events_runs (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    step INTEGER,
    event_json TEXT NOT NULL
);
INSERT INTO wg_events_runs (id, session_id, step, event_json)
SELECT id, session_id, step, '[' || event_json || ']' FROM wg_events ORDER BY id;
DROP TRIGGER IF EXISTS wg_events_step_deleted;
DROP TRIGGER IF EXISTS wg_debug_session_deleted;
DROP TABLE wg_events;
DELETE FROM sqlite_sequence WHERE name = 'wg_events';
ALTER TABLE wg_events_runs RENAME TO wg_events;
CREATE INDEX idx_wg_events_session ON wg_events (session_id, step);
CREATE TRIGGER wg_events_step_deleted AFTER DELETE ON steps
BEGIN
    DELETE FROM wg_events WHERE session_id = old.session_id AND step = old.step;
END;
CREATE TRIGGER wg_debug_session_deleted AFTER DELETE ON sessions
BEGIN
    DELETE FROM wg_events WHERE session_id = old.id;
    DELETE FROM wg_node_records WHERE session_id = old.id;
END;
