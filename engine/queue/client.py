"""`QueueClient`: submit jobs (a PgQueuer job and a `weavegraph_jobs` row in one transaction), wait for them
through LISTEN/NOTIFY, list jobs and workers, cancel."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import engine.queue.schema as schema
from engine.persistence.urls import DatabaseURL
from engine.queue.models import (
    JOB_COLUMNS,
    NOTIFY_CHANNEL,
    STATUSES,
    WORKER_COLUMNS,
    Job,
    QueueError,
    WorkerInfo,
    entrypoint,
)

RESUME_UNAVAILABLE = (
    "submit(resume=...): answering interrupts needs node interrupts (ENGINE.md 8.3), which this build "
    "does not have yet; submit without resume= to run a session on from its latest checkpoint"
)


class QueueClient:
    """Talks to the queue in one Postgres database. `client = await QueueClient.connect(url)`; `await
    client.aclose()` (or `async with`)."""

    def __init__(self, conn: Any, url: DatabaseURL) -> None:
        self._conn = conn
        self._url = url
        self._lock = asyncio.Lock()  # one asyncpg connection: one query at a time

    @classmethod
    async def connect(cls, url: str | DatabaseURL) -> QueueClient:
        parsed = schema.postgres_url(url)
        conn = await schema.connect(parsed)
        try:
            await schema.check_installed(conn, parsed.redacted())
        except BaseException:
            await conn.close()
            raise
        return cls(conn, parsed)

    async def aclose(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> QueueClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def submit(
        self,
        graph_name: str,
        session_id: str | None = None,
        input: dict[str, Any] | None = None,
        resume: dict[str, Any] | None = None,
        *,
        trace: dict[str, str] | None = None,
    ) -> Job:
        """Queue a run of `session_id` (default: a new `job-<uuid>`) of the graph `graph_name`, started from
        `input` (`{"messages": [...], "extra": {...}}`) when the session is new. `trace`: W3C trace context
        (`engine.observability.tracing.inject_trace_context`) the worker continues."""
        from pgqueuer.queries import Queries

        if resume is not None:
            raise QueueError(RESUME_UNAVAILABLE)
        if not graph_name:
            raise QueueError("submit: the graph name is empty")
        if input is not None and not isinstance(input, dict):
            raise QueueError(f"submit: input must be a JSON object, not {type(input).__name__}")
        session = session_id or f"job-{uuid.uuid4()}"
        payload = {"session_id": session, "input": input, "trace": trace or {}}
        data = json.dumps(payload).encode()
        async with self._lock, self._conn.transaction():
            queries = Queries.from_asyncpg_connection(self._conn)
            (job_id,) = await queries.enqueue([entrypoint(graph_name)], [data], [0])
            row = await self._conn.fetchrow(
                "INSERT INTO weavegraph_jobs (id, graph_name, session_id, input_json)"
                f" VALUES ($1, $2, $3, $4) RETURNING {JOB_COLUMNS}",
                int(job_id),
                graph_name,
                session,
                json.dumps(input) if input is not None else None,
            )
        return Job.from_row(row)

    async def job(self, job_id: int) -> Job:
        async with self._lock:
            row = await self._conn.fetchrow(
                f"SELECT {JOB_COLUMNS} FROM weavegraph_jobs WHERE id = $1", job_id
            )
        if row is None:
            raise QueueError(f"no job {job_id} in {self._url.redacted()}")
        return Job.from_row(row)

    async def wait(self, job_id: int, timeout: float | None = None) -> Job:  # noqa: ASYNC109 (the contract)
        """The job once it is completed, failed, interrupted or cancelled (woken by NOTIFY, no polling);
        `TimeoutError` after `timeout` seconds."""
        changed = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload == str(job_id):
                changed.set()

        async with self._lock:
            await self._conn.add_listener(NOTIFY_CHANNEL, on_notify)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    job = await self.job(job_id)  # after LISTEN: a change in between is not missed
                    if job.done:
                        return job
                    await changed.wait()
                    changed.clear()
        finally:
            async with self._lock:
                await self._conn.remove_listener(NOTIFY_CHANNEL, on_notify)

    async def jobs(self, status: str | None = None, limit: int = 100) -> list[Job]:
        """The newest jobs first, only those with `status` when given."""
        if status is not None and status not in STATUSES:
            raise QueueError(f"unknown job status {status!r}; use one of {', '.join(STATUSES)}")
        async with self._lock:
            rows = await self._conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM weavegraph_jobs WHERE $1::text IS NULL OR status = $1"
                " ORDER BY id DESC LIMIT $2",
                status,
                limit,
            )
        return [Job.from_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        """How many jobs have each status (every status present, 0 when none)."""
        async with self._lock:
            rows = await self._conn.fetch("SELECT status, count(*) AS n FROM weavegraph_jobs GROUP BY status")
        found = {str(r["status"]): int(r["n"]) for r in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    async def workers(self) -> list[WorkerInfo]:
        async with self._lock:
            rows = await self._conn.fetch(f"SELECT {WORKER_COLUMNS} FROM weavegraph_workers ORDER BY id")
        return [WorkerInfo.from_row(r) for r in rows]

    async def cancel(self, job_id: int) -> Job:
        """Cancel a queued job (it never runs) or a running one (its worker stops it at once; the steps it
        saved stay). A job already finished is returned unchanged."""
        from pgqueuer.queries import Queries

        job = await self.job(job_id)
        if job.done:
            return job
        async with self._lock:
            await Queries.from_asyncpg_connection(self._conn).mark_job_as_cancelled([job_id])  # type: ignore[list-item]
            if job.status == "queued":
                await self._conn.execute(
                    "UPDATE weavegraph_jobs SET status = 'cancelled', error = 'cancelled before it ran',"
                    " finished_at = now() WHERE id = $1 AND status = 'queued'",
                    job_id,
                )
        return await self.job(job_id)
