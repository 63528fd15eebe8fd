-- 0002: additive extras. Weavegraph 0.6 names its columns in every statement, so it keeps working with them.
--   sessions.graph_hash   the graph definition hash the runner recorded
--   steps.payload_bytes   UTF-8 size of the step's JSON as written
--   weavegraph_meta       storage mode and snapshot interval

ALTER TABLE sessions ADD COLUMN graph_hash TEXT;

ALTER TABLE steps ADD COLUMN payload_bytes INTEGER;

CREATE TABLE IF NOT EXISTS weavegraph_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE INDEX IF NOT EXISTS idx_sessions_created_at ON sessions(created_at);

CREATE INDEX IF NOT EXISTS idx_sessions_last_step ON sessions(last_step);
