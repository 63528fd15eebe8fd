-- Interrupts from inside a node (ENGINE.md 8.3; lands as 0007 after the node-records migration): the waiting
-- and answered interrupts, and the pending writes (partials of the nodes that finished) of a paused step.
CREATE TABLE IF NOT EXISTS weavegraph_interrupts (id TEXT PRIMARY KEY, session_id TEXT NOT NULL,
    step BIGINT NOT NULL, node TEXT NOT NULL, idx INTEGER NOT NULL, payload TEXT NOT NULL, schema TEXT,
    created_at TEXT NOT NULL, answer TEXT, answered_at TEXT, seq BIGSERIAL);
CREATE INDEX IF NOT EXISTS weavegraph_interrupts_session ON weavegraph_interrupts (session_id, step);
CREATE INDEX IF NOT EXISTS weavegraph_interrupts_inbox ON weavegraph_interrupts (answered_at, seq);
CREATE TABLE IF NOT EXISTS weavegraph_pending_writes (session_id TEXT NOT NULL, step BIGINT NOT NULL,
    node TEXT NOT NULL, partial TEXT NOT NULL, PRIMARY KEY (session_id, step, node));
