-- 0005: counts that survive INSERT OR REPLACE. Weavegraph 0.6 re-saves a step with INSERT OR REPLACE, which
-- deletes the old row WITHOUT firing delete triggers (SQLite fires them only with recursive_triggers on, which
-- Weavegraph's connection never sets), so the counts of 0003 drifted by one step per re-save.
-- Now a BEFORE INSERT trigger takes an existing row's share out of the counts and parks it in
-- weavegraph_replaced; AFTER INSERT (a REPLACE) drops the parked row, AFTER UPDATE (our upsert, which also
-- fires BEFORE INSERT) puts the share back before adjusting as before. Finally every count is recomputed
-- from the rows, repairing drift from before this migration.

CREATE TABLE IF NOT EXISTS weavegraph_replaced (session_id TEXT NOT NULL, step INTEGER NOT NULL,
    bytes INTEGER NOT NULL, PRIMARY KEY (session_id, step)) WITHOUT ROWID;

DROP TRIGGER IF EXISTS weavegraph_steps_bi;

CREATE TRIGGER weavegraph_steps_bi BEFORE INSERT ON steps
WHEN EXISTS (SELECT 1 FROM steps WHERE session_id = NEW.session_id AND step = NEW.step)
BEGIN
    INSERT INTO weavegraph_replaced (session_id, step, bytes)
    SELECT o.session_id, o.step, COALESCE(o.payload_bytes, length(CAST(o.state_json AS BLOB)) + length(CAST(o.frontier_json AS BLOB)) + length(CAST(o.versions_seen_json AS BLOB)) + COALESCE(length(CAST(o.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(o.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(o.updated_channels_json AS BLOB)), 0)) FROM steps o WHERE o.session_id = NEW.session_id AND o.step = NEW.step
    ON CONFLICT (session_id, step) DO UPDATE SET bytes = excluded.bytes;
    UPDATE weavegraph_session_counts SET steps = steps - 1, bytes = bytes - (SELECT bytes FROM weavegraph_replaced
        WHERE session_id = NEW.session_id AND step = NEW.step)
    WHERE session_id = NEW.session_id;
    DELETE FROM weavegraph_step_nodes WHERE session_id = NEW.session_id AND step = NEW.step;
END;

DROP TRIGGER IF EXISTS weavegraph_steps_ai;

CREATE TRIGGER weavegraph_steps_ai AFTER INSERT ON steps BEGIN
    DELETE FROM weavegraph_replaced WHERE session_id = NEW.session_id AND step = NEW.step;
    INSERT INTO weavegraph_session_counts (session_id, steps, bytes, min_step, max_step)
    VALUES (NEW.session_id, 1, COALESCE(NEW.payload_bytes, length(CAST(NEW.state_json AS BLOB)) + length(CAST(NEW.frontier_json AS BLOB)) + length(CAST(NEW.versions_seen_json AS BLOB)) + COALESCE(length(CAST(NEW.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.updated_channels_json AS BLOB)), 0)), NEW.step, NEW.step)
    ON CONFLICT (session_id) DO UPDATE SET steps = steps + 1, bytes = bytes + excluded.bytes,
        min_step = min(min_step, excluded.min_step), max_step = max(max_step, excluded.max_step);
    INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step)
    SELECT NEW.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
END;

DROP TRIGGER IF EXISTS weavegraph_steps_au;

CREATE TRIGGER weavegraph_steps_au AFTER UPDATE ON steps BEGIN
    UPDATE weavegraph_session_counts SET steps = steps + 1, bytes = bytes + (SELECT r.bytes
        FROM weavegraph_replaced r WHERE r.session_id = NEW.session_id AND r.step = NEW.step)
    WHERE session_id = NEW.session_id AND EXISTS (SELECT 1 FROM weavegraph_replaced r
        WHERE r.session_id = NEW.session_id AND r.step = NEW.step);
    DELETE FROM weavegraph_replaced WHERE session_id = NEW.session_id AND step = NEW.step;
    UPDATE weavegraph_session_counts SET bytes = bytes - COALESCE(OLD.payload_bytes, length(CAST(OLD.state_json AS BLOB)) + length(CAST(OLD.frontier_json AS BLOB)) + length(CAST(OLD.versions_seen_json AS BLOB)) + COALESCE(length(CAST(OLD.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(OLD.updated_channels_json AS BLOB)), 0)) + COALESCE(NEW.payload_bytes, length(CAST(NEW.state_json AS BLOB)) + length(CAST(NEW.frontier_json AS BLOB)) + length(CAST(NEW.versions_seen_json AS BLOB)) + COALESCE(length(CAST(NEW.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(NEW.updated_channels_json AS BLOB)), 0))
    WHERE session_id = NEW.session_id;
    DELETE FROM weavegraph_step_nodes WHERE session_id = OLD.session_id AND step = OLD.step
        AND node IN (SELECT (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END) FROM json_each(OLD.ran_nodes_json) WHERE type = 'text');
    INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step)
    SELECT NEW.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
END;

DELETE FROM weavegraph_session_counts;

INSERT INTO weavegraph_session_counts (session_id, steps, bytes, min_step, max_step)
SELECT t.session_id, count(*), sum(COALESCE(t.payload_bytes, length(CAST(t.state_json AS BLOB)) + length(CAST(t.frontier_json AS BLOB)) + length(CAST(t.versions_seen_json AS BLOB)) + COALESCE(length(CAST(t.ran_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(t.skipped_nodes_json AS BLOB)), 0) + COALESCE(length(CAST(t.updated_channels_json AS BLOB)), 0))), min(t.step), max(t.step) FROM steps t GROUP BY t.session_id;

DELETE FROM weavegraph_step_nodes WHERE NOT EXISTS (SELECT 1 FROM steps t, json_each(t.ran_nodes_json) j
    WHERE t.session_id = weavegraph_step_nodes.session_id AND t.step = weavegraph_step_nodes.step
    AND j.type = 'text' AND (CASE WHEN substr(j.value, 1, 7) = 'Custom:' THEN substr(j.value, 8) WHEN substr(j.value, 1, 8) = 'Custom("' AND substr(j.value, -2) = '")' THEN substr(j.value, 9, length(j.value) - 10) ELSE j.value END) = weavegraph_step_nodes.node);

INSERT OR IGNORE INTO weavegraph_step_nodes (session_id, node, step)
SELECT t.session_id, (CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8) WHEN substr(value, 1, 8) = 'Custom("' AND substr(value, -2) = '")' THEN substr(value, 9, length(value) - 10) ELSE value END), t.step FROM steps t, json_each(t.ran_nodes_json) WHERE type = 'text';

DELETE FROM weavegraph_node_counts;

INSERT INTO weavegraph_node_counts (session_id, node, steps)
SELECT session_id, node, count(*) FROM weavegraph_step_nodes GROUP BY session_id, node;
