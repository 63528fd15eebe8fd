"""One attached sink's bookkeeping (its bounded queue, worker handle, counters and health snapshot) and the
daemon thread that runs a sync sink's `handle` off the event loop."""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import queue
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine.events.event import Event
from engine.events.health import SinkHealth
from engine.events.sinks import sink_name

__all__ = ["BatchOutcome", "SinkSlot", "SinkThread", "handle_batch", "health_of", "runs_on_loop"]

IDLE_EXIT = 10.0
"""Seconds a sink thread waits for work before it ends (a new one starts with the next batch)."""


def runs_on_loop(sink: Any) -> bool:
    """Whether the bus may call `sink.handle` on the event loop thread: only for an async `handle` or a
    sink that declares `non_blocking = True` (C8). Every other sync sink runs in a thread of its own."""
    if getattr(sink, "non_blocking", False) is True:
        return True
    handle = getattr(sink, "handle", None)
    return inspect.iscoroutinefunction(handle) or inspect.iscoroutinefunction(
        getattr(handle, "__call__", None)  # noqa: B004  (an async callable object)
    )


class SinkSlot:
    """A sink with its queue, worker and counters. Only the bus and the sink's worker touch it."""

    __slots__ = (
        "abandoned",
        "busy_since",
        "capacity",
        "done_seq",
        "dropped",
        "errors",
        "handle",
        "handled",
        "in_hand",
        "last_error",
        "last_error_at",
        "name",
        "queue",
        "retired",
        "sink",
        "task",
        "thread",
        "threaded",
        "waiter",
    )

    def __init__(self, sink: Any, capacity: int) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self.handle: Callable[[Event], Any] = sink.handle
        self.capacity = capacity
        self.queue: deque[Event] = deque(maxlen=capacity)
        self.dropped = 0
        self.abandoned = 0
        self.handled = 0
        self.errors = 0
        self.in_hand = 0
        self.done_seq = -1
        self.last_error: str | None = None
        self.last_error_at: _dt.datetime | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.busy_since: float | None = None
        self.retired = False
        self.threaded = not runs_on_loop(sink)
        self.thread: SinkThread | None = SinkThread(self.name) if self.threaded else None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def caught_up(self, seq: int) -> bool:
        return (not self.queue and self.in_hand == 0) or self.done_seq >= seq


def health_of(slot: SinkSlot, now: float) -> SinkHealth:
    """The health row of `slot`; `now` is `time.monotonic()`."""
    return SinkHealth(
        slot.name,
        slot.handled,
        slot.errors,
        slot.last_error,
        slot.last_error_at,
        len(slot.queue) + slot.in_hand,
        slot.dropped + slot.abandoned,
        None if slot.busy_since is None else now - slot.busy_since,
        slot.threaded,
    )


@dataclass(slots=True)
class BatchOutcome:
    """What a sink thread did with a batch: `done` events taken (handled, failed or handed back), the
    failures as (index, exception), and the awaitable the last one returned, to be awaited on the loop."""

    done: int = 0
    failures: list[tuple[int, Exception]] = field(default_factory=list)
    pending: Awaitable[Any] | None = None


def handle_batch(
    handle: Callable[[Event], Any], batch: list[Event], stopped: Callable[[], bool] = lambda: False
) -> BatchOutcome:
    """Run a sync sink's `handle` over `batch` (in its thread) until the batch ends, `stopped()` turns true
    (checked before each event) or `handle` returns an awaitable (handed back for the loop to await, so a
    sync `handle` that sometimes returns a coroutine still sees its events in order)."""
    outcome = BatchOutcome()
    for i, event in enumerate(batch):
        if stopped():
            break
        outcome.done = i + 1
        try:
            result = handle(event)
        except Exception as exc:
            outcome.failures.append((i, exc))
            continue
        if result is not None and inspect.isawaitable(result):
            outcome.pending = result
            break
    return outcome


_Job = tuple[Callable[[Event], Any], list[Event], asyncio.AbstractEventLoop, "asyncio.Future[BatchOutcome]"]


class SinkThread:
    """The daemon thread of one sync sink: it runs the batches the sink's worker task hands it, one at a
    time and in order. `stop()` (the bus gave up on the sink, or closed) makes it call `handle` no more:
    the event in hand finishes, the rest of its batch and later batches are never handled. A daemon, so a
    sink stuck in `handle` never keeps the process alive; it also ends after `IDLE_EXIT` seconds without
    work (the next batch starts a new one)."""

    def __init__(self, name: str) -> None:
        self.name = f"weavegraph-sink-{name}"
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stopped = False

    def run(
        self, handle: Callable[[Event], Any], batch: list[Event], loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[BatchOutcome]:
        """Queue `batch`; the future (of `loop`) gets the outcome. After `stop()` it is done at once."""
        future: asyncio.Future[BatchOutcome] = loop.create_future()
        with self._lock:
            if self.stopped:
                future.set_result(BatchOutcome())
                return future
            self._jobs.put((handle, batch, loop, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
                self._thread.start()
        return future

    def stop(self) -> None:
        """Call `handle` no more (the event in hand, if any, finishes); the thread ends."""
        with self._lock:
            self.stopped = True
            self._jobs.put(None)

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _is_stopped(self) -> bool:
        return self.stopped

    def _main(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            if job is None or self.stopped:
                return
            handle, batch, loop, future = job
            outcome = handle_batch(handle, batch, self._is_stopped)
            try:
                loop.call_soon_threadsafe(_resolve, future, outcome)
            except RuntimeError:  # the loop is closed: nobody waits for this outcome
                pass


def _resolve(future: asyncio.Future[BatchOutcome], outcome: BatchOutcome) -> None:
    if not future.done():
        future.set_result(outcome)
    elif inspect.iscoroutine(outcome.pending):  # the worker was cancelled meanwhile: nobody awaits it
        outcome.pending.close()
