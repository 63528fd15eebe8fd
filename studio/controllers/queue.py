"""The Queue panel's controller: one `engine.QueueClient` on a Postgres database, refreshed on a timer (jobs
with a status filter, workers, the jobs/s rate from the completed count), submit and cancel via the bridge."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.bridge import Bridge, one_line

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
    `set_status(status or None)`; `updated(QueueSnapshot)`, `submitted(job)`, `failed(message)`."""

    updated = Signal(object)
    submitted = Signal(object)
    connected = Signal(str)
    failed = Signal(str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None, *, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.client: Any = None
        self.status: str | None = None
        self._last: tuple[float, int] | None = None
        self._busy = False
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
        await self.aclose()
        self.client = client
        self._last = None
        self.connected.emit(url)
        self.timer.start()
        await self._refresh()

    async def aclose(self) -> None:
        self.timer.stop()
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
