-- 0003: per-session counts and an exact ran-node index, kept by triggers (so by every writer, Weavegraph 0.6
-- included), so totals, sizes and ran_node filters never count or scan a session's rows.
--   weavegraph_session_counts  steps, bytes, min/max step per session
--   weavegraph_step_nodes      (session, plain node name, step) for each node that ran in a step
--   weavegraph_node_counts     steps per (session, node)
-- The backfills recompute from the rows (a Weavegraph 0.6 file, or a file from before versioning).

CREATE TABLE IF NOT EXISTS weavegraph_session_counts (session_id TEXT PRIMARY KEY, steps INTEGER NOT NULL, bytes INTEGER NOT NULL, min_step INTEGER, max_step INTEGER) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS weavegraph_step_nodes (session_id TEXT NOT NULL, node TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (session_id, node, step)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS weavegraph_node_counts (session_id TEXT NOT NULL, node TEXT NOT NULL, steps INTEGER NOT NULL, PRIMARY KEY (session_id, node)) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS weavegraph_step_nodes_ai AFTER INSERT ON weavegraph_step_nodes BEGIN
        INSERT INTO weavegraph_node_counts (session_id, node, steps) VALUES (NEW.session_id, NEW.node, 1)
        ON CONFLICT (session_id, node) DO UPDATE SET steps = steps + 1;
    END;

CREATE TRIGGER IF NOT EXISTS weavegraph_step_nodes_ad AFTER DELETE ON weavegraph_step_nodes BEGIN
        UPDATE weavegraph_node_counts SET steps = steps - 1
        WHERE session_id = OLD.session_id AND node = OLD.node;
        DELETE FROM weavegraph_node_counts WHERE session_id = OLD.session_id AND node = OLD.node AND steps <= 0;
    END;

CREATE TRIGGER IF NOT EXISTS weavegraph_steps_ai AFTER INSERT ON steps BEGIN
        INSERT INTO weavegraph_session_counts (session_id, steps, bytes, min_step, max_step)
        VALUES (NEW.session_id, 1, COALESCE(NEW.payload_bytes, length(CAST(NEW.state_json AS BLOB)) + length(CAST(NEW.frontier_json AS BLOB)) + length(CAST(NEW.versions_seen_json AS BLOB)) + COALESCE(length(CAST(NEW.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.updated_channels_json AS BLOB)), 0)), NEW.step, NEW.step)
        ON CONFLICT (session_id) DO UPDATE SET steps = steps + 1, bytes = bytes + excluded.bytes,
            min_step = min(min_step, excluded.min_step), max_step = max(max_step, excluded.max_step);
        INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step)
        SELECT NEW.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
    END;

CREATE TRIGGER IF NOT EXISTS weavegraph_steps_au AFTER UPDATE ON steps BEGIN
        UPDATE weavegraph_session_counts SET bytes = bytes - COALESCE(OLD.payload_bytes, length(CAST(OLD.state_json AS BLOB)) + length(CAST(OLD.frontier_json AS BLOB)) + length(CAST(OLD.versions_seen_json AS BLOB)) + COALESCE(length(CAST(OLD.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.updated_channels_json AS BLOB)), 0)) + COALESCE(NEW.payload_bytes, length(CAST(NEW.state_json AS BLOB)) + length(CAST(NEW.frontier_json AS BLOB)) + length(CAST(NEW.versions_seen_json AS BLOB)) + COALESCE(length(CAST(NEW.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.updated_channels_json AS BLOB)), 0))
        WHERE session_id = NEW.session_id;
        DELETE FROM weavegraph_step_nodes WHERE session_id = OLD.session_id AND step = OLD.step
            AND node IN (SELECT (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END) FROM json_each(OLD.ran_nodes_json) WHERE type = 'text');
        INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step)
        SELECT NEW.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
    END;

CREATE TRIGGER IF NOT EXISTS weavegraph_steps_ad AFTER DELETE ON steps BEGIN
        UPDATE weavegraph_session_counts SET steps = steps - 1, bytes = bytes - COALESCE(OLD.payload_bytes, length(CAST(OLD.state_json AS BLOB)) + length(CAST(OLD.frontier_json AS BLOB)) + length(CAST(OLD.versions_seen_json AS BLOB)) + COALESCE(length(CAST(OLD.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.updated_channels_json AS BLOB)), 0)),
            min_step = (SELECT min(step) FROM steps WHERE session_id = OLD.session_id),
            max_step = (SELECT max(step) FROM steps WHERE session_id = OLD.session_id)
        WHERE session_id = OLD.session_id;
        DELETE FROM weavegraph_session_counts WHERE session_id = OLD.session_id AND steps <= 0;
        DELETE FROM weavegraph_step_nodes WHERE session_id = OLD.session_id AND step = OLD.step
            AND node IN (SELECT (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END) FROM json_each(OLD.ran_nodes_json) WHERE type = 'text');
    END;

INSERT OR REPLACE INTO weavegraph_session_counts (session_id, steps, bytes, min_step, max_step) SELECT t.session_id, count(*), sum(COALESCE(t.payload_bytes, length(CAST(t.state_json AS BLOB)) + length(CAST(t.frontier_json AS BLOB)) + length(CAST(t.versions_seen_json AS BLOB)) + COALESCE(length(CAST(t.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(t.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(t.updated_channels_json AS BLOB)), 0))), min(t.step), max(t.step) FROM steps t GROUP BY t.session_id;

INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step) SELECT t.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), t.step FROM steps t, json_each(t.ran_nodes_json) WHERE type = 'text';

INSERT OR REPLACE INTO weavegraph_node_counts (session_id, node, steps) SELECT session_id, node, count(*) FROM weavegraph_step_nodes GROUP BY session_id, node;
