"""`Worker`: serves its graphs from the queue (PgQueuer entrypoint `weavegraph:<graph name>`), runs each
job's session over one shared Postgres checkpointer, keeps its row in `weavegraph_workers` alive, and marks
every job with its outcome. Lease takeover is PgQueuer's: a job whose heartbeat is older than
`lease_timeout_s` is picked again by any worker, which resumes the session from its latest checkpoint;
`expected_last_step` refuses the late save of a worker that was only cut off."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import engine.queue.schema as schema
import engine.queue.sweep as sweep
from engine.errors import CheckpointConflict
from engine.persistence.urls import DatabaseURL
from engine.queue.jobrun import run_session
from engine.queue.models import ENTRYPOINT_PREFIX, QueueError, entrypoint

log = logging.getLogger("weavegraph.queue")

_SET_RUNNING = (
    "UPDATE weavegraph_jobs SET status = 'running', worker = $2, error = NULL,"
    " started_at = coalesce(started_at, now()) WHERE id = $1 AND status IN ('queued', 'running')"
    " RETURNING session_id"
)
_FINISH = (
    "UPDATE weavegraph_jobs j SET status = $3, error = $4, finished_at = now(),"
    " step = (SELECT s.last_step FROM sessions s WHERE s.id = j.session_id)"
    " WHERE j.id = $1 AND j.worker = $2 AND j.status IN ('running', 'queued')"
)
# A sweep (sweep.py) put our job back to "queued" while this worker was cut off; it is running it again.
_STILL_RUNNING = (
    "UPDATE weavegraph_jobs SET status = 'running', error = NULL"
    " WHERE id = ANY($1::bigint[]) AND worker = $2 AND status = 'queued'"
)


class Worker:
    """`await Worker(url, apps={"name": app}).run()` serves until cancelled or `drain()`ed."""

    def __init__(
        self,
        url: str | DatabaseURL,
        apps: dict[str, Any],
        concurrency: int = 4,
        heartbeat_s: float = 5,
        lease_timeout_s: float = 30,
        *,
        runner_options: Mapping[str, Mapping[str, Any]] | None = None,
        before_job: Callable[[str, str, Mapping[str, str]], None] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        """`runner_options[graph]`: builder options of that graph's runners (`open_runner`: e.g. an
        `event_bus` with tracing/metrics sinks and `lifecycle_events=True`). `before_job(graph, session_id,
        trace)` is called before each job runs, with the W3C trace context the submitter sent (a worker
        hands it to `Instrumentation.continue_trace`). `unavailable[graph]`: why a graph this worker was asked
        to serve could not be loaded; its queued jobs say so (they wait for a worker that can serve it)."""
        if not apps:
            raise QueueError("a worker needs at least one graph to serve")
        if concurrency < 1:
            raise QueueError(f"concurrency must be at least 1, not {concurrency}")
        self.url = schema.postgres_url(url)
        self.apps = dict(apps)
        self.concurrency = concurrency
        self.heartbeat_s = heartbeat_s
        self.lease_timeout_s = lease_timeout_s
        self.runner_options = {name: dict(opts) for name, opts in (runner_options or {}).items()}
        self.before_job = before_job
        self.unavailable = dict(unavailable or {})
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.jobs_done = 0
        self._qm: Any = None
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = False
        self._finished = asyncio.Event()
        self._running: set[int] = set()

    async def run(self) -> None:
        """Serve jobs until cancelled or drained. Raises `QueueError` (one line) when the database cannot be
        reached or has no queue tables."""
        from pgqueuer import QueueManager
        from pgqueuer.queries import Queries

        from engine.persistence.factory import open_checkpointer

        conn = await schema.connect(self.url)
        pool: Any = None
        checkpointer: Any = None
        try:
            await schema.check_installed(conn, self.url.redacted())
            import asyncpg

            pool = await asyncpg.create_pool(self.url.dsn(), min_size=1, max_size=2)
            checkpointer = await open_checkpointer(self.url)
            self._qm = qm = QueueManager(Queries.from_asyncpg_connection(conn))
            for name in self.apps:
                qm.entrypoint(entrypoint(name), accepts_context=True)(self._handler(name, pool, checkpointer))
            await self._register(pool)
            await self._mark_unavailable(pool)
            beat = asyncio.create_task(self._heartbeat(pool))
            try:
                if self._stopping:
                    return
                batch = max(1, self.concurrency // 2)
                await qm.run(
                    dequeue_timeout=timedelta(seconds=max(1.0, self.heartbeat_s)),
                    batch_size=batch,
                    max_concurrent_tasks=max(self.concurrency, 2 * batch),
                    heartbeat_timeout=timedelta(seconds=self.lease_timeout_s),
                    log_aggregation_interval=timedelta(0),
                )
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
                with contextlib.suppress(Exception):
                    await pool.execute("DELETE FROM weavegraph_workers WHERE id = $1", self.id)
        finally:
            self._finished.set()
            if checkpointer is not None:
                await checkpointer.aclose()
            if pool is not None:
                await pool.close()
            await conn.close()

    async def drain(self) -> None:
        """Take no more jobs, let the running ones finish, then return (`run()` returns too)."""
        self._stopping = True
        if self._qm is not None:
            self._qm.shutdown.set()
        await self._finished.wait()

    # ------------------------------------------------------------ the registry

    async def _register(self, pool: Any) -> None:
        await pool.execute(
            "INSERT INTO weavegraph_workers (id, host, pid, graphs, concurrency, lease_timeout_s)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            self.id,
            socket.gethostname(),
            os.getpid(),
            json.dumps(sorted(self.apps)),
            self.concurrency,
            float(self.lease_timeout_s),
        )

    async def _mark_unavailable(self, pool: Any) -> None:
        for graph, reason in self.unavailable.items():
            note = f"worker {self.id} cannot serve graph '{graph}': {reason}; waiting for a worker that can"
            await pool.execute(
                "UPDATE weavegraph_jobs SET error = $2 WHERE graph_name = $1 AND status = 'queued'"
                " AND error IS DISTINCT FROM $2",
                graph,
                note,
            )

    async def _heartbeat(self, pool: Any) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await pool.execute(
                    "UPDATE weavegraph_workers SET last_heartbeat = now(), jobs_done = $2 WHERE id = $1",
                    self.id,
                    self.jobs_done,
                )
                if self._running:
                    await pool.execute(_STILL_RUNNING, sorted(self._running), self.id)
                await self._mark_unavailable(pool)
                # Jobs of workers whose heartbeat is older than their lease: back to "queued" for PgQueuer
                # to hand to a live worker, or failed/cancelled when the queue no longer holds them.
                for job_id, status, error in await sweep.sweep(pool):
                    log.warning("worker %s: job %s %s: %s", self.id, job_id, status, error)
            except Exception as exc:  # the database is away for a moment: the next beat tries again
                log.warning("worker %s: heartbeat failed: %s", self.id, exc)

    # ------------------------------------------------------------ one job

    def _handler(self, graph_name: str, pool: Any, checkpointer: Any) -> Any:
        app = self.apps[graph_name]

        async def handle(job: Any, context: Any) -> None:
            async with self._slots:
                await self._serve(job, context, app, graph_name, pool, checkpointer)

        handle.__name__ = f"serve_{graph_name}"
        return handle

    async def _serve(
        self, job: Any, context: Any, app: Any, graph_name: str, pool: Any, checkpointer: Any
    ) -> None:
        job_id = int(job.id)
        self._running.add(job_id)
        try:
            await self._serve_job(job_id, job, context, app, graph_name, pool, checkpointer)
        finally:
            self._running.discard(job_id)

    async def _serve_job(
        self, job_id: int, job: Any, context: Any, app: Any, graph_name: str, pool: Any, checkpointer: Any
    ) -> None:
        session_id = await pool.fetchval(_SET_RUNNING, job_id, self.id)
        if session_id is None:  # cancelled or finished meanwhile
            return
        try:
            payload = json.loads(job.payload or b"{}")
        except ValueError as exc:
            await self._finish(pool, job_id, "failed", f"job payload is not JSON: {exc}")
            return
        status, error = "completed", None
        with context.cancellation:
            while True:
                try:
                    trace = payload.get("trace") or {}
                    if self.before_job is not None and isinstance(trace, dict):
                        self.before_job(graph_name, session_id, trace)
                    outcome = await run_session(
                        app,
                        checkpointer,
                        graph_name,
                        session_id,
                        payload.get("input"),
                        payload.get("resume"),
                        **self.runner_options.get(graph_name, {}),
                    )
                    if outcome.interrupts:
                        status = "interrupted"
                        error = f"waiting for {len(outcome.interrupts)} answer(s): " + ", ".join(
                            f"{i.id} ({i.node})" for i in outcome.interrupts
                        )
                except CheckpointConflict as exc:
                    # Another worker saved a step of this session first (a takeover): our save was refused
                    # and nothing of it written. The job's owner goes on from the latest checkpoint; a worker
                    # that lost the job leaves it (and its row) to the new owner.
                    owner = await pool.fetchval("SELECT worker FROM weavegraph_jobs WHERE id = $1", job_id)
                    if owner == self.id:
                        continue
                    log.warning("worker %s: job %s taken over by %s: %s", self.id, job_id, owner, exc)
                    return
                except Exception as exc:
                    status, error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
                    log.warning("worker %s: job %s (%s) failed: %s", self.id, job_id, graph_name, error)
                break
        if context.cancellation.cancelled_caught:
            status, error = "cancelled", "cancelled while running"
        await self._finish(pool, job_id, status, error)

    async def _finish(self, pool: Any, job_id: int, status: str, error: str | None) -> None:
        if await pool.execute(_FINISH, job_id, self.id, status, error) == "UPDATE 1":
            self.jobs_done += 1


__all__ = ["ENTRYPOINT_PREFIX", "Worker"]
