"""The heartbeat-expiry sweep: a job our table says is "running" on a worker whose registry heartbeat is older
than that worker's lease (killed with -9, frozen with SIGSTOP, its machine lost) must not stay "running" for
ever. PgQueuer re-picks such a job by its own heartbeat once a live worker serves the graph; until then, and
when the queue no longer holds the job at all, our row says what happened:

- still in PgQueuer's queue: back to "queued", the error naming the silent worker (a live worker taking it
  over sets it "running" again; a frozen worker that comes back and finishes it first still marks it);
- gone from the queue with PgQueuer's log saying "canceled": "cancelled";
- gone otherwise: "failed", abandoned.

Live workers sweep on every heartbeat and `QueueClient.jobs()` sweeps before listing, so the table is right
even when no worker is alive. `weavegraph migrate` adds the `lease_timeout_s` column each worker registers
with (`LEASE_COLUMN`)."""

from __future__ import annotations

from functools import cache
from typing import Any

LEASE_COLUMN = (
    "ALTER TABLE weavegraph_workers ADD COLUMN IF NOT EXISTS"
    " lease_timeout_s DOUBLE PRECISION NOT NULL DEFAULT 30"
)


@cache
def _sql() -> str:
    from pgqueuer.domain.settings import DBSettings

    names = DBSettings()  # honours PGQUEUER_PREFIX like PgQueuer itself
    return f"""
WITH stale AS (
    SELECT j.id, j.worker, w.last_heartbeat
    FROM weavegraph_jobs j LEFT JOIN weavegraph_workers w ON w.id = j.worker
    WHERE j.status = 'running'
      AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => w.lease_timeout_s))
    FOR UPDATE OF j SKIP LOCKED
), fate AS (
    SELECT s.id, s.worker, s.last_heartbeat, q.status::text AS queued,
        (SELECT l.status::text FROM {names.queue_table_log} l WHERE l.job_id = s.id
         ORDER BY l.id DESC LIMIT 1) AS logged
    FROM stale s LEFT JOIN {names.queue_table} q ON q.id = s.id
)
UPDATE weavegraph_jobs j SET
    status = CASE WHEN f.queued IN ('queued', 'picked') THEN 'queued'
                  WHEN f.logged = 'canceled' THEN 'cancelled' ELSE 'failed' END,
    error = 'worker ' || coalesce(f.worker, '?') || CASE
        WHEN f.last_heartbeat IS NULL THEN ' left the registry while running it'
        ELSE ' sent no heartbeat since ' || to_char(f.last_heartbeat AT TIME ZONE 'UTC',
                                                   'YYYY-MM-DD HH24:MI:SS') || ' UTC' END
        || CASE WHEN f.queued IN ('queued', 'picked') THEN '; waiting for another worker to take it over'
                WHEN f.logged = 'canceled' THEN '; cancelled'
                ELSE '; abandoned: the queue no longer holds it (' || coalesce(f.logged, 'no log') || ')' END,
    finished_at = CASE WHEN f.queued IN ('queued', 'picked') THEN NULL ELSE now() END
FROM fate f
WHERE j.id = f.id AND j.status = 'running'
RETURNING j.id, j.status, j.error
"""


async def sweep(conn: Any) -> list[tuple[int, str, str]]:
    """Run the sweep on `conn` (an asyncpg connection or pool); (job id, new status, error) of each job
    it changed."""
    rows = await conn.fetch(_sql())
    return [(int(r["id"]), str(r["status"]), str(r["error"])) for r in rows]
