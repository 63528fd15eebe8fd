-- 0003: per-session counts and an exact ran-node index, kept by triggers (so by every writer), so that
-- query_steps totals, ran_node filters and session pages never scan a session's rows.
--   weavegraph_session_counts  steps, bytes, min/max step per session
--   weavegraph_step_nodes      (session, plain node name, step) for each node that ran in a step
--   weavegraph_node_counts     steps per (session, node)

CREATE TABLE IF NOT EXISTS weavegraph_session_counts (
    session_id TEXT PRIMARY KEY,
    steps      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    min_step   BIGINT,
    max_step   BIGINT
);

CREATE TABLE IF NOT EXISTS weavegraph_step_nodes (
    session_id TEXT NOT NULL,
    node       TEXT NOT NULL,
    step       BIGINT NOT NULL,
    PRIMARY KEY (session_id, node, step)
);

CREATE TABLE IF NOT EXISTS weavegraph_node_counts (
    session_id TEXT NOT NULL,
    node       TEXT NOT NULL,
    steps      BIGINT NOT NULL,
    PRIMARY KEY (session_id, node)
);

-- The plain name of a stored node: "Custom:A", 'Custom("A")' and "A" are all "A"; "Start"/"End" stay.
CREATE OR REPLACE FUNCTION weavegraph_node_name(value TEXT) RETURNS TEXT AS $$
    SELECT CASE
        WHEN left(value, 7) = 'Custom:' THEN substr(value, 8)
        WHEN left(value, 8) = 'Custom("' AND right(value, 2) = '")' THEN substr(value, 9, length(value) - 10)
        ELSE value
    END
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION weavegraph_step_bytes(payload BIGINT, a JSONB, b JSONB, c JSONB, d JSONB, e JSONB,
                                                 f JSONB) RETURNS BIGINT AS $$
    SELECT COALESCE(payload, octet_length(a::text) + octet_length(b::text) + octet_length(c::text)
                    + COALESCE(octet_length(d::text), 0) + COALESCE(octet_length(e::text), 0)
                    + COALESCE(octet_length(f::text), 0))
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION weavegraph_nodes_of(nodes JSONB) RETURNS SETOF TEXT AS $$
    SELECT DISTINCT weavegraph_node_name(v)
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(nodes) = 'array' THEN nodes ELSE '[]'::jsonb END) v
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION weavegraph_steps_counts() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE weavegraph_session_counts c
        SET steps = c.steps - 1,
            bytes = c.bytes - weavegraph_step_bytes(OLD.payload_bytes, OLD.state_json, OLD.frontier_json,
                        OLD.versions_seen_json, OLD.ran_nodes_json, OLD.skipped_nodes_json,
                        OLD.updated_channels_json)
        WHERE c.session_id = OLD.session_id;
        WITH gone AS (
            DELETE FROM weavegraph_step_nodes n
            WHERE n.session_id = OLD.session_id AND n.step = OLD.step
              AND n.node IN (SELECT weavegraph_nodes_of(OLD.ran_nodes_json))
            RETURNING n.node
        )
        UPDATE weavegraph_node_counts nc SET steps = nc.steps - 1
        FROM gone WHERE nc.session_id = OLD.session_id AND nc.node = gone.node;
        DELETE FROM weavegraph_node_counts WHERE session_id = OLD.session_id AND steps <= 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO weavegraph_session_counts AS c (session_id, steps, bytes, min_step, max_step)
        VALUES (NEW.session_id, 1,
                weavegraph_step_bytes(NEW.payload_bytes, NEW.state_json, NEW.frontier_json,
                    NEW.versions_seen_json, NEW.ran_nodes_json, NEW.skipped_nodes_json, NEW.updated_channels_json),
                NEW.step, NEW.step)
        ON CONFLICT (session_id) DO UPDATE SET
            steps = c.steps + 1,
            bytes = c.bytes + excluded.bytes,
            min_step = LEAST(c.min_step, excluded.min_step),
            max_step = GREATEST(c.max_step, excluded.max_step);
        WITH added AS (
            INSERT INTO weavegraph_step_nodes (session_id, node, step)
            SELECT NEW.session_id, name, NEW.step FROM weavegraph_nodes_of(NEW.ran_nodes_json) AS name
            ON CONFLICT DO NOTHING
            RETURNING node
        )
        INSERT INTO weavegraph_node_counts AS nc (session_id, node, steps)
        SELECT NEW.session_id, node, 1 FROM added
        ON CONFLICT (session_id, node) DO UPDATE SET steps = nc.steps + 1;
    END IF;
    IF TG_OP = 'DELETE' THEN
        UPDATE weavegraph_session_counts c
        SET min_step = (SELECT min(step) FROM steps WHERE session_id = OLD.session_id),
            max_step = (SELECT max(step) FROM steps WHERE session_id = OLD.session_id)
        WHERE c.session_id = OLD.session_id;
        DELETE FROM weavegraph_session_counts WHERE session_id = OLD.session_id AND steps <= 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS weavegraph_steps_counts ON steps;
CREATE TRIGGER weavegraph_steps_counts AFTER INSERT OR UPDATE OR DELETE ON steps
    FOR EACH ROW EXECUTE FUNCTION weavegraph_steps_counts();

-- Backfill for rows written before this migration (a Weavegraph 0.6 database).
INSERT INTO weavegraph_session_counts (session_id, steps, bytes, min_step, max_step)
SELECT session_id, count(*),
       sum(weavegraph_step_bytes(payload_bytes, state_json, frontier_json, versions_seen_json, ran_nodes_json,
                                 skipped_nodes_json, updated_channels_json)),
       min(step), max(step)
FROM steps GROUP BY session_id
ON CONFLICT (session_id) DO NOTHING;

INSERT INTO weavegraph_step_nodes (session_id, node, step)
SELECT t.session_id, n.name, t.step FROM steps t, weavegraph_nodes_of(t.ran_nodes_json) AS n(name)
ON CONFLICT DO NOTHING;

INSERT INTO weavegraph_node_counts (session_id, node, steps)
SELECT session_id, node, count(*) FROM weavegraph_step_nodes GROUP BY session_id, node
ON CONFLICT (session_id, node) DO NOTHING;
