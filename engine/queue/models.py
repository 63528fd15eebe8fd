"""The queue's records (`Job`, `WorkerInfo`), its errors, and the SQL our own queue tables are read with.
PgQueuer keeps the queue itself; these tables (migration `*_queue.sql`) keep what it does not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.errors import EngineError

STATUSES = ("queued", "running", "completed", "failed", "interrupted", "cancelled")
"""Every status a `Job` can have; the last four are final."""
FINAL = frozenset(STATUSES[2:])
NOTIFY_CHANNEL = "weavegraph_jobs"
"""The channel our trigger announces every status change on (payload: the job id)."""
ENTRYPOINT_PREFIX = "weavegraph:"
"""PgQueuer entrypoint of a graph: the prefix and the graph name. A job waits until a worker serves it."""

JOB_COLUMNS = "id, graph_name, session_id, status, worker, error, step, enqueued_at, started_at, finished_at"
WORKER_COLUMNS = "id, host, pid, graphs, concurrency, started_at, last_heartbeat, jobs_done"


class QueueError(EngineError):
    """Queue mode cannot do what was asked (no Postgres, no queue schema, unknown job, bad job)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One queued run of a session, as the `weavegraph_jobs` table has it."""

    id: int
    graph_name: str
    session_id: str
    status: str
    worker: str | None
    error: str | None
    step: int | None
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(**{name: row[name] for name in JOB_COLUMNS.split(", ")})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in JOB_COLUMNS.split(", "):
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process as it registered itself; `last_heartbeat` moves every `heartbeat_s` seconds."""

    id: str
    host: str
    pid: int
    graphs: tuple[str, ...]
    concurrency: int
    started_at: datetime
    last_heartbeat: datetime
    jobs_done: int

    @classmethod
    def from_row(cls, row: Any) -> WorkerInfo:
        values = {name: row[name] for name in WORKER_COLUMNS.split(", ")}
        values["graphs"] = tuple(json.loads(values["graphs"]))
        return cls(**values)


def entrypoint(graph_name: str) -> str:
    return ENTRYPOINT_PREFIX + graph_name
