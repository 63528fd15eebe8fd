"""The event bus: synchronous, never-blocking `publish`; one bounded queue and one worker task per sink.

Invariants: every sink sees the events it receives in publish order (`seq` increasing); a sink that is slow,
hung or raising costs the publisher O(1) and never affects another sink; when a queue is full its oldest
event is evicted and counted; a sync `handle` never runs on the event loop thread unless its sink declares
`non_blocking = True` (C8). The bus owns its worker tasks (started lazily on its event loop, awaited by
`aclose()`); it cannot use a TaskGroup because `publish` is synchronous and has no enclosing scope.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import engine.logsetup  # noqa: F401  (installs the library NullHandler on "engine")
from engine.errors import EngineError
from engine.events.delivery import SinkDelivery
from engine.events.event import Event, stamp_seq
from engine.events.health import BusMetrics, SinkDiagnostic, SinkHealth
from engine.events.sinks import as_sink, sink_name
from engine.events.slot import SinkSlot, health_of
from engine.events.subscription import Channel, DiagnosticStream, Subscription

__all__ = ["DEFAULT_CLOSE_TIMEOUT", "EventBus", "EventBusError"]

log = logging.getLogger("engine.events")
_running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop
_set_seq = Event.__dict__["seq"].__set__
DEFAULT_CLOSE_TIMEOUT = 5.0
"""Seconds `EventBus.aclose()` waits for sinks to drain before cancelling the ones still busy."""


class EventBusError(EngineError):
    """An event bus was used in a way it cannot honour (e.g. a sink added after `aclose()`)."""


class EventBus(SinkDelivery):
    """Fans published events out to sinks and subscribers.

    `publish(event)` is synchronous, O(sinks + subscribers), never blocks and never raises because of a
    sink. Each sink has a queue of `buffer_capacity` events and a worker task; each subscriber a queue of
    the same size (or its own `capacity`). A sink's sync `handle` runs on the loop, in batches, unless the
    sink sets `blocking = True` or is caught blocking the loop for more than 50 ms (then it runs in a
    thread of its own; `blocking = False` pins it to the loop). `publish` from another thread is safe: the
    event is handed to the bus's loop and gets its `seq` there.

    `diagnostics_as_events=True` also publishes each sink failure as a diagnostic event (scope
    `SINK_ERROR_SCOPE`) to every other sink and subscriber; never to the failing sink, and a failure to
    handle such an event is counted but not re-published. `close_timeout` is `aclose()`'s default.
    """

    def __init__(
        self,
        buffer_capacity: int = 1024,
        sinks: Iterable[Any] | None = None,
        *,
        diagnostics_as_events: bool = False,
        close_timeout: float | None = DEFAULT_CLOSE_TIMEOUT,
        listening: bool = True,
    ) -> None:
        if not isinstance(buffer_capacity, int) or buffer_capacity < 1:
            raise ValueError(f"EventBus buffer_capacity must be a positive int, got {buffer_capacity!r}")
        self._capacity = buffer_capacity
        self._diag_events = diagnostics_as_events
        self._close_timeout = close_timeout
        self._slots: tuple[SinkSlot, ...] = ()
        self._subs: tuple[Channel[Event], ...] = ()
        self._diag_subs: tuple[Channel[SinkDiagnostic], ...] = ()
        self._diag_history: deque[SinkDiagnostic] = deque(maxlen=buffer_capacity)
        self._observers: tuple[Any, ...] = ()
        self._next_seq = 0
        self._last_diag_seq = -1
        self._after_close = 0
        self._retired_sub_dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._progress: asyncio.Future[None] | None = None
        self._closing = False
        self._closed = False
        self._close_done: asyncio.Event | None = None
        self._listening = listening
        self._lock = threading.Lock()  # publishing off the bound loop, and binding (see _publish_elsewhere)
        for sink in sinks or ():
            self.add_sink(sink)

    # ------------------------------------------------------------ construction

    @classmethod
    def with_sinks(cls, sinks: Iterable[Any], buffer_capacity: int = 1024, **options: Any) -> EventBus:
        return cls(buffer_capacity, sinks, **options)

    @classmethod
    def with_sink(cls, sink: Any, buffer_capacity: int = 1024, **options: Any) -> EventBus:
        return cls(buffer_capacity, [sink], **options)

    def add_sink(self, sink: Any) -> EventBus:
        """Attach a sink (an object with `handle(event)`, or a bare callable); it sees events published
        from now on. Returns the bus."""
        if self._closing:
            raise EventBusError(f"cannot add sink {sink_name(sink)!r}: the event bus is closed")
        slot = SinkSlot(as_sink(sink), self._capacity)
        self._slots = (*self._slots, slot)
        bound = self._loop
        if bound is not None and not bound.is_closed():
            if threading.get_ident() == self._loop_thread:
                self._start_worker(slot)
            else:
                bound.call_soon_threadsafe(self._start_worker, slot)
        return self

    async def remove_sink(self, sink: Any, timeout: float | None = None) -> SinkHealth:  # noqa: ASYNC109
        """Detach `sink`: it gets no new events, finishes its queue (cancelled after `timeout`, default
        the bus's `close_timeout`), is closed like at `aclose()`, and its final health is returned."""
        slot = next((s for s in self._slots if s.sink is sink), None)
        if slot is None:
            raise EventBusError(f"sink {sink_name(sink)!r} is not attached to this event bus")
        self._bind_here()
        self._slots = tuple(s for s in self._slots if s is not slot)
        slot.retired = True
        limit = self._close_timeout if timeout is None else timeout
        await self._drain((slot,), limit)
        await self._close_sink(slot, limit)
        if slot.thread is not None:
            slot.thread.stop()
        return health_of(slot, time.monotonic())

    def add_observer(self, observer: Any) -> EventBus:
        """Attach a `RunObserver` (engine.events.observer): the runner this bus is given to calls it directly
        with its lifecycle records, without publishing events for it (the cheap path tracing and metrics
        take). Attach before the runner is built. Returns the bus."""
        if observer not in self._observers:
            self._observers = (*self._observers, observer)
        return self

    @property
    def observers(self) -> tuple[Any, ...]:
        """The attached run observers, in the order they were added."""
        return self._observers

    @property
    def sinks(self) -> tuple[Any, ...]:
        return tuple(slot.sink for slot in self._slots)

    @property
    def buffer_capacity(self) -> int:
        return self._capacity

    @property
    def closed(self) -> bool:
        return self._closing

    # ------------------------------------------------------------ publishing

    def publish(self, event: Event) -> Event:
        """Queue `event` for every sink and subscriber, stamped with the next `seq`; return it.

        A fresh event gets its `seq` in place (its one write; no copy); an event published before is
        published as a stamped copy, which is returned. After `aclose()` events are counted in
        `metrics()["published_after_close"]` and dropped. From a thread other than the bound loop's, the
        event is handed to that loop (and returned before it has its `seq`).
        """
        loop = _running_loop()
        if loop is None or loop is not self._loop:
            return self._publish_elsewhere(loop, event)
        if self._closing:
            self._after_close += 1
            return event
        seq = self._next_seq
        self._next_seq = seq + 1
        if event.seq < 0:
            _set_seq(event, seq)  # a fresh event: stamped in place, once
        else:
            event = event.with_seq(seq)
        for slot in self._slots:
            queue = slot.queue
            if len(queue) == slot.capacity:
                slot.dropped += 1
            queue.append(event)
            waiter = slot.waiter
            if waiter is not None:
                slot.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        for channel in self._subs:
            channel.push(event)
        return event

    def _publish_elsewhere(self, loop: asyncio.AbstractEventLoop | None, event: Event) -> Event:
        """`publish` off the bound loop: no running loop here, or another one. Under the bus's lock, so that
        threads publishing before (or while) a loop binds neither share a `seq` nor queue out of order: the
        event goes to the bound loop's thread when that loop runs elsewhere; otherwise the bus binds to this
        thread's running loop, if any, and delivers the event here. Once a loop is bound and running, every
        other thread hands off to it in publish order (FIFO `call_soon_threadsafe`), and the loop's own
        publishes never take the lock."""
        with self._lock:
            bound = self._loop
            if (
                bound is not None
                and threading.get_ident() != self._loop_thread
                and bound.is_running()
                and not bound.is_closed()
            ):
                try:
                    bound.call_soon_threadsafe(self.publish, event)
                    return event
                except RuntimeError:  # closed in between
                    pass
            if loop is None:
                if bound is not None and bound.is_closed():
                    self._unbind()
            else:
                self._bind(loop)
            if self._closing:
                self._after_close += 1
                return event
            event = stamp_seq(event, self._next_seq)
            self._next_seq += 1
            for slot in self._slots:
                if len(slot.queue) == slot.capacity:
                    slot.dropped += 1
                slot.queue.append(event)
                if loop is not None:
                    slot.wake()
            for channel in self._subs:
                channel.push(event)
            return event

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._unbind()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        for slot in self._slots:
            self._start_worker(slot)

    def _unbind(self) -> None:
        """Forget the previous loop: its waiters and workers can never run on another one."""
        old = self._loop
        for slot in self._slots:
            task = slot.task
            if task is not None and not task.done() and old is not None and not old.is_closed():
                task.cancel()
            slot.task = None
            slot.waiter = None
            slot.in_hand = 0
        self._progress = None
        self._loop = None
        self._loop_thread = None

    def _bind_here(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            with self._lock:
                self._bind(loop)
        return loop

    @property
    def listening(self) -> bool:
        """Whether sinks are being fed. A bus built with `listening=False` (the runner's
        `start_listener(False)`) queues events for its sinks (bounded, drop-oldest) until `start_listening()`,
        `flush()` or `aclose()`; subscribers are fed either way."""
        return self._listening

    def defer_listening(self) -> bool:
        """Hold sink delivery until `start_listening()` (or `flush()`/`aclose()`). Only a bus whose sinks are
        not being fed yet can be held; returns whether it now is."""
        if any(slot.task is not None and not slot.task.done() for slot in self._slots):
            return False
        self._listening = False
        return True

    def start_listening(self) -> None:
        """Start feeding the sinks (a no-op when they are already fed)."""
        if self._listening:
            return
        self._listening = True
        if self._loop is not None and not self._loop.is_closed():
            for slot in self._slots:
                self._start_worker(slot)

    def _start_worker(self, slot: SinkSlot) -> None:
        if not self._listening:
            return
        if slot.task is None and self._loop is not None and not self._closed:
            slot.task = self._loop.create_task(self._run_sink(slot), name=f"weavegraph-sink:{slot.name}")

    # ------------------------------------------------------------ readers

    def subscribe(self, *, until_stream_end: bool = False, capacity: int | None = None) -> Subscription:
        """An async iterator over events published from now on (bounded queue, drop-oldest).

        It ends once the bus is closed and it has drained, on `close()`/`aclose()`, or right after the
        next stream-end event when `until_stream_end` is true.
        """
        channel: Channel[Event] = Channel(capacity or self._capacity)
        if self._closing:
            channel.close()
        else:
            self._subs = (*self._subs, channel)
        sub = Subscription(channel, self._unsubscribe, until_stream_end=until_stream_end)
        weakref.finalize(sub, self._unsubscribe, channel).atexit = False
        return sub

    def _unsubscribe(self, channel: Channel[Any]) -> None:
        if channel in self._subs:
            self._subs = tuple(c for c in self._subs if c is not channel)
            self._retired_sub_dropped += channel.dropped
        elif channel in self._diag_subs:
            self._diag_subs = tuple(c for c in self._diag_subs if c is not channel)

    def diagnostics(self, *, history: bool = True) -> DiagnosticStream[SinkDiagnostic]:
        """An async iterator of `SinkDiagnostic`: the retained recent ones first (unless `history=False`),
        then new ones as sinks fail. It ends when the bus closes."""
        channel: Channel[SinkDiagnostic] = Channel(self._capacity)
        if history:
            channel.queue.extend(self._diag_history)
        if self._closing:
            channel.close()
        else:
            self._diag_subs = (*self._diag_subs, channel)
        stream = DiagnosticStream(channel, self._unsubscribe)
        weakref.finalize(stream, self._unsubscribe, channel).atexit = False
        return stream

    def sink_health(self) -> list[SinkHealth]:
        """One `SinkHealth` per sink, in the order they were added."""
        now = time.monotonic()
        return [health_of(slot, now) for slot in self._slots]

    def metrics(self) -> BusMetrics:
        """Counters (a dict, also readable as attributes): `published`, `dropped` (sinks + subscribers),
        `subscribers`, `sinks`, `sink_dropped`, `subscriber_dropped`, `sink_errors`, `handled`,
        `queue_depth`, `buffer_capacity`, `published_after_close`, `closed`."""
        sink_dropped = sum(slot.dropped + slot.abandoned for slot in self._slots)
        sub_dropped = self._retired_sub_dropped + sum(c.dropped for c in self._subs)
        return BusMetrics(
            published=self._next_seq,
            dropped=sink_dropped + sub_dropped,
            subscribers=len(self._subs),
            sinks=len(self._slots),
            sink_dropped=sink_dropped,
            subscriber_dropped=sub_dropped,
            sink_errors=sum(slot.errors for slot in self._slots),
            handled=sum(slot.handled for slot in self._slots),
            queue_depth=sum(len(slot.queue) + slot.in_hand for slot in self._slots),
            buffer_capacity=self._capacity,
            published_after_close=self._after_close,
            closed=self._closing,
        )

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(slot.name for slot in self._slots)
        state = "closed" if self._closing else "open"
        return f"EventBus({state}, capacity={self._capacity}, sinks=[{names}], published={self._next_seq})"
