"""`QueueClient`: submit jobs (a PgQueuer job and a `weavegraph_jobs` row in one transaction), wait for them
through LISTEN/NOTIFY, list jobs and workers, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import engine.queue.schema as schema
import engine.queue.sweep as sweep
from engine.persistence.urls import DatabaseURL
from engine.queue.models import (
    FINAL,
    JOB_COLUMNS,
    NOTIFY_CHANNEL,
    STATUSES,
    WORKER_COLUMNS,
    Job,
    QueueError,
    WorkerInfo,
    entrypoint,
)

_EVENTS_AFTER = (
    "SELECT id, event_json::text FROM wg_events WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT 1000"
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
        `input` (`{"messages": [...], "extra": {...}}`) when the session is new. `resume`: answers of an
        interrupted session (interrupt id -> answer): the worker answers them and runs on, to completion or to
        the next interrupt (the job ends "interrupted"). `trace`: W3C trace context
        (`engine.observability.tracing.inject_trace_context`) the worker continues."""
        from pgqueuer.queries import Queries

        if not graph_name:
            raise QueueError("submit: the graph name is empty")
        if input is not None and not isinstance(input, dict):
            raise QueueError(f"submit: input must be a JSON object, not {type(input).__name__}")
        if resume is not None:
            if not session_id:
                raise QueueError("submit: resume= needs the session_id of the interrupted session")
            if not isinstance(resume, dict) or not resume or not all(isinstance(k, str) for k in resume):
                raise QueueError("submit: resume must map interrupt ids to answers")
        session = session_id or f"job-{uuid.uuid4()}"
        payload = {"session_id": session, "input": input, "trace": trace or {}}
        if resume is not None:
            payload["resume"] = resume
        try:
            data = json.dumps(payload, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise QueueError(f"submit: input and answers must be JSON: {exc}") from None
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
            await sweep.sweep(self._conn)  # jobs of dead workers are not shown as running
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

    # ------------------------------------------------------------ live events of a job's session

    async def event_mark(self, session_id: str) -> int:
        """The position after the session's stored events so far: `events(job, after=mark)` streams only
        newer ones (0 for a session with none)."""
        async with self._lock:
            mark = await self._conn.fetchval(
                "SELECT coalesce(max(id), 0) FROM wg_events WHERE session_id = $1", session_id
            )
        return int(mark)

    async def events(self, job_id: int, after: int = 0, *, poll_s: float = 1.0) -> AsyncIterator[Any]:
        """The stored events (`engine.Event`) of the job's session as its workers write them, in order and
        each once, from the position `after` (`event_mark`; 0: all of them), ending once the job has ended
        (completed, failed, interrupted, cancelled). Workers store events with each checkpoint save (ENGINE.md
        8.1); their NOTIFYs wake this stream at once (a connection of its own LISTENs to the step and job
        channels), and it also looks every `poll_s` seconds, so a lost notification only delays an event."""
        from engine.events.event import Event
        from engine.persistence.postgres import CHANNEL as STEPS_CHANNEL

        job = await self.job(job_id)
        conn = await schema.connect(self._url)
        wake = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, channel: str, payload: str) -> None:
            if channel == NOTIFY_CHANNEL and payload != str(job_id):
                return
            if channel == STEPS_CHANNEL:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    if json.loads(payload)["session_id"] != job.session_id:
                        return
            wake.set()

        try:
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            await conn.add_listener(STEPS_CHANNEL, on_notify)
            cursor = after
            while True:
                wake.clear()
                ended = (
                    await conn.fetchval("SELECT status FROM weavegraph_jobs WHERE id = $1", job_id) in FINAL
                )
                while True:  # everything stored so far (after the job's end: everything it wrote)
                    rows = await conn.fetch(_EVENTS_AFTER, job.session_id, cursor)
                    for row in rows:  # a row is a run of events (migration 0010): a JSON array
                        cursor = int(row[0])
                        for value in json.loads(row[1]):
                            yield Event.from_json(value)
                    if len(rows) < 1000:
                        break
                if ended:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_s):
                        await wake.wait()
        finally:
            await conn.close()
