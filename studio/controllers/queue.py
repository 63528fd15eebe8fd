"""The Queue panel's controller: one `engine.QueueClient` on a Postgres database, refreshed on a timer (jobs
with a status filter, workers, the jobs/s rate from the completed count), submit and cancel via the bridge,
the live events of one followed job's session (`follow`), and runs sent from the run console (`send_run`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.bridge import CLOSE_GRACE_S, Bridge, one_line
from studio.services.storage import redact

__all__ = ["QueueController", "QueueSnapshot"]


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What one refresh read: the jobs shown, the workers, the counts per status, jobs/s since the last."""

    jobs: list[Any]
    workers: list[Any]
    counts: dict[str, int]
    rate: float | None


class QueueController(QObject):
    """`open(url)` connects (and starts refreshing every `interval_ms`); `submit(graph, input)`, `cancel(id)`,
    `set_status(status or None)`; `updated(QueueSnapshot)`, `submitted(job)`, `failed(message)`.
    `follow(job_id)` streams that job's session events (`job_event(job_id, Event)`, then `events_ended(job_id,
    status)`) as the workers store them; following another job (or None) stops the previous stream.
    `send_run(url, graph, session, input)` connects to `url` when needed and submits (the run console's "Send
    to queue"); the job sent is followed."""

    updated = Signal(object)
    submitted = Signal(object)
    connected = Signal(str)
    failed = Signal(str)
    job_event = Signal(int, object)
    events_ended = Signal(int, str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None, *, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.client: Any = None
        self.status: str | None = None
        self._last: tuple[float, int] | None = None
        self._busy = False
        self.url: str | None = None
        self.followed: int | None = None
        self._stream: asyncio.Task[None] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)

    def open(self, url: str) -> None:
        self.bridge.start(self._open(url), name="queue: connect", owner=self)

    async def _open(self, url: str) -> None:
        from engine import QueueClient

        try:
            client = await QueueClient.connect(url)
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        await self._close_client()
        self.client = client
        self.url = url
        self._last = None
        self.connected.emit(redact(url))
        self.timer.start()
        await self._refresh()

    async def aclose(self) -> None:
        """Stop refreshing and close the connection: a connect or read still going on ends first (cancelled
        after `CLOSE_GRACE_S`), so no connection opens after this returned."""
        self.timer.stop()
        await self.bridge.stop_owned(self, grace=CLOSE_GRACE_S)
        await self._close_client()

    async def _close_client(self) -> None:
        self.timer.stop()
        self._stop_stream()
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    def set_status(self, status: str | None) -> None:
        self.status = status
        self.refresh()

    def refresh(self) -> None:
        if self.client is not None and not self._busy:
            self.bridge.start(self._refresh(), name="queue: refresh", owner=self)

    async def _refresh(self) -> None:
        client = self.client
        if client is None or self._busy:
            return
        self._busy = True
        try:
            jobs = await client.jobs(status=self.status, limit=200)
            workers = await client.workers()
            counts = await client.counts()
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        finally:
            self._busy = False
        now, finished = time.monotonic(), counts["completed"]
        rate = None
        if self._last is not None and now > self._last[0]:
            rate = (finished - self._last[1]) / (now - self._last[0])
        self._last = (now, finished)
        self.updated.emit(QueueSnapshot(jobs, workers, counts, rate))

    def submit(self, graph_name: str, value: dict[str, Any] | None) -> None:
        self.bridge.start(self._submit(graph_name, value), name="queue: submit", owner=self)

    async def _submit(self, graph_name: str, value: dict[str, Any] | None) -> None:
        if self.client is None:
            self.failed.emit("connect to a PostgreSQL database first")
            return
        try:
            job = await self.client.submit(graph_name, input=value)
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        self.submitted.emit(job)
        await self._refresh()

    def cancel(self, job_id: int) -> None:
        self.bridge.start(self._cancel(job_id), name="queue: cancel", owner=self)

    async def _cancel(self, job_id: int) -> None:
        if self.client is None:
            return
        try:
            await self.client.cancel(job_id)
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        await self._refresh()

    # ------------------------------------------------------------ live events of one job

    def follow(self, job_id: int | None) -> None:
        """Stream the events of `job_id`'s session (all stored so far, then live) until the job ends."""
        if job_id == self.followed and (job_id is None or self._stream is not None):
            return
        self._stop_stream()
        self.followed = job_id
        if job_id is not None and self.client is not None:
            self._stream = self.bridge.start(
                self._events(job_id), name=f"queue: events of job {job_id}", owner=self
            )

    def _stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and not stream.done():
            stream.cancel()

    async def _events(self, job_id: int) -> None:
        client = self.client
        if client is None:
            return
        try:
            async for event in client.events(job_id):
                if self.followed != job_id:
                    return
                self.job_event.emit(job_id, event)
            status = (await client.job(job_id)).status
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        finally:
            if self._stream is asyncio.current_task():
                self._stream = None
        if self.followed == job_id:
            self.events_ended.emit(job_id, status)

    # ------------------------------------------------------------ the run console's "Send to queue"

    def send_run(self, url: str, graph_name: str, session_id: str | None, value: dict[str, Any]) -> None:
        self.bridge.start(
            self._send_run(url, graph_name, session_id, value), name="queue: send run", owner=self
        )

    async def _send_run(
        self, url: str, graph_name: str, session_id: str | None, value: dict[str, Any]
    ) -> None:
        if self.client is None or self.url != url:
            await self._open(url)
            if self.client is None or self.url != url:
                return  # `failed` said why
        try:
            job = await self.client.submit(graph_name, session_id=session_id or None, input=value)
        except Exception as exc:
            self.failed.emit(one_line(exc))
            return
        self.submitted.emit(job)
        self.follow(job.id)
        await self._refresh()
