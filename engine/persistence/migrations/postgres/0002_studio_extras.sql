-- 0002: additive extras for Weavegraph Studio. Weavegraph 0.6 names its columns, so it keeps working.
--   sessions.graph_hash   the graph definition hash the runner recorded
--   steps.payload_bytes   UTF-8 size of the step's JSON as written, so sizes need not detoast the rows
--   a NOTIFY on every saved step, so watch() sees steps written by any process (including Weavegraph)

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS graph_hash TEXT;
ALTER TABLE steps ADD COLUMN IF NOT EXISTS payload_bytes BIGINT;

CREATE INDEX IF NOT EXISTS idx_sessions_created_at ON sessions (created_at);
CREATE INDEX IF NOT EXISTS idx_sessions_last_step ON sessions (last_step);

CREATE TABLE IF NOT EXISTS weavegraph_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO weavegraph_meta (key, value) VALUES ('schema_version', '2') ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION weavegraph_notify_step() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('weavegraph_steps', json_build_object('session_id', NEW.session_id, 'step', NEW.step)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS weavegraph_steps_notify ON steps;
CREATE TRIGGER weavegraph_steps_notify AFTER INSERT OR UPDATE ON steps
    FOR EACH ROW EXECUTE FUNCTION weavegraph_notify_step();
