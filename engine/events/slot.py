"""One attached sink's bookkeeping: its bounded queue, worker handle, counters and health snapshot."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as _dt
import inspect
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.events.event import Event
from engine.events.health import SinkHealth
from engine.events.sinks import sink_name

__all__ = ["SinkSlot", "handle_batch", "health_of"]


class SinkSlot:
    """A sink with its queue, worker and counters. Only the bus and the sink's worker touch it."""

    __slots__ = (
        "abandoned",
        "adaptive",
        "busy_since",
        "capacity",
        "done_seq",
        "dropped",
        "errors",
        "executor",
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
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.busy_since: float | None = None
        self.retired = False
        # `blocking = True`: sync handle runs in a thread; `blocking = False`: always on the loop; no
        # attribute: on the loop until it is caught blocking it, then in a thread.
        blocking = getattr(sink, "blocking", None)
        self.threaded = blocking is True
        self.adaptive = blocking is None

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


def handle_batch(handle: Callable[[Event], Any], batch: list[Event]) -> list[tuple[int, Exception]]:
    """Run a blocking sink's sync `handle` over `batch` (in its thread); return the failures."""
    failures: list[tuple[int, Exception]] = []
    for i, event in enumerate(batch):
        try:
            result = handle(event)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("a blocking sink's handle() must be synchronous")
        except Exception as exc:
            failures.append((i, exc))
    return failures
