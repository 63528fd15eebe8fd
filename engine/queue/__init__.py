"""Queue mode (ENGINE.md 8.5): workers on many machines serving sessions from one Postgres database, through
PgQueuer (jobs, LISTEN/NOTIFY dispatch, `FOR UPDATE SKIP LOCKED`, heartbeats and re-picking stalled jobs) plus
our own `weavegraph_jobs` / `weavegraph_workers` tables for what PgQueuer does not keep."""

from __future__ import annotations

from engine.queue.client import QueueClient
from engine.queue.models import Job, QueueError, WorkerInfo
from engine.queue.worker import Worker

__all__ = ["Job", "QueueClient", "QueueError", "Worker", "WorkerInfo"]
