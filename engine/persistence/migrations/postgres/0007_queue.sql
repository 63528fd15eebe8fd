-- 0005 (to be renumbered 0008 at merge): queue mode (ENGINE.md 8.5). PgQueuer keeps the queue itself (its own
-- tables, installed by `weavegraph migrate`); these tables keep what it does not: a job's graph, session, status,
-- worker, error and step for as long as we like, and the workers with their heartbeats.

CREATE TABLE IF NOT EXISTS weavegraph_jobs (
    id BIGINT PRIMARY KEY,                      -- PgQueuer's job id
    graph_name TEXT NOT NULL,
    session_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',      -- queued | running | completed | failed | interrupted | cancelled
    worker TEXT,
    error TEXT,
    step BIGINT,
    input_json TEXT,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS weavegraph_jobs_status ON weavegraph_jobs (status, id);

CREATE TABLE IF NOT EXISTS weavegraph_workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    graphs TEXT NOT NULL,                       -- JSON list of graph names
    concurrency INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
    jobs_done BIGINT NOT NULL DEFAULT 0
);

-- Every status change of a job is announced on channel weavegraph_jobs (payload: the job id), which
-- QueueClient.wait listens to.
CREATE OR REPLACE FUNCTION weavegraph_jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('weavegraph_jobs', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS weavegraph_jobs_notify ON weavegraph_jobs;
CREATE TRIGGER weavegraph_jobs_notify AFTER INSERT OR UPDATE OF status ON weavegraph_jobs
    FOR EACH ROW EXECUTE FUNCTION weavegraph_jobs_notify();
