"""The event bus: synchronous, never-blocking `publish`; one bounded queue and one worker task per sink.

Invariants: every sink sees the events it receives in publish order (`seq` increasing); a sink that is slow,
hung or raising costs the publisher O(1) and never affects another sink; when a queue is full its oldest
event is evicted and counted; a sync `handle` never runs on the event loop thread unless its sink declares
`non_blocking = True` (C8). The bus owns its worker tasks (started lazily on its event loop, awaited by
`aclose()`); it cannot use a TaskGroup because `publish` is synchronous and has no enclosing scope.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import engine.logsetup  # noqa: F401  (installs the library NullHandler on "engine")
from engine.errors import EngineError
from engine.events.event import Event
from engine.events.health import SINK_ERROR_SCOPE, BusMetrics, SinkDiagnostic, SinkHealth
from engine.events.sinks import as_sink, sink_name
from engine.events.slot import SinkSlot, health_of
from engine.events.subscription import Channel, DiagnosticStream, Subscription

__all__ = ["DEFAULT_CLOSE_TIMEOUT", "EventBus", "EventBusError"]

log = logging.getLogger("engine.events")
_running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop
_YIELD_EVERY = 1024
DEFAULT_CLOSE_TIMEOUT = 5.0
"""Seconds `EventBus.aclose()` waits for sinks to drain before cancelling the ones still busy."""


class EventBusError(EngineError):
    """An event bus was used in a way it cannot honour (e.g. a sink added after `aclose()`)."""


class EventBus:
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
        """Queue a copy of `event` stamped with the next `seq` for every sink and subscriber; return the copy.

        `event` itself never changes. After `aclose()` events are counted in
        `metrics()["published_after_close"]` and dropped.
        """
        loop = _running_loop()
        if loop is not self._loop and self._handed_off(loop, event):
            return event
        if self._closing:
            self._after_close += 1
            return event
        event = event.with_seq(self._next_seq)  # a stamped copy: events never change after creation
        self._next_seq += 1
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

    def _publish_except(self, event: Event, skip: SinkSlot) -> None:
        """Publish a sink-error diagnostic event to everyone but the sink that failed."""
        if self._closing:
            return
        event = event.with_seq(self._next_seq)
        self._last_diag_seq = self._next_seq
        self._next_seq += 1
        for slot in self._slots:
            if slot is not skip:
                if len(slot.queue) == slot.capacity:
                    slot.dropped += 1
                slot.queue.append(event)
                slot.wake()
        for channel in self._subs:
            channel.push(event)

    def _handed_off(self, loop: asyncio.AbstractEventLoop | None, event: Event) -> bool:
        """The running loop is not the bound one. Hand the event to the bound loop's thread when that loop
        runs elsewhere (True); otherwise bind to the current loop, if any, and let the caller go on."""
        bound = self._loop
        if (
            bound is not None
            and threading.get_ident() != self._loop_thread
            and bound.is_running()
            and not bound.is_closed()
        ):
            try:
                bound.call_soon_threadsafe(self.publish, event)
                return True
            except RuntimeError:  # closed in between
                pass
        if loop is None:
            if bound is not None and bound.is_closed():
                self._unbind()
            return False
        self._bind(loop)
        return False

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

    # ------------------------------------------------------------ workers

    async def _run_sink(self, slot: SinkSlot) -> None:
        queue = slot.queue
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        while True:
            if not queue:
                self._notify_progress()
                if self._closing or slot.retired:
                    return
                waiter = loop.create_future()
                slot.waiter = waiter
                try:
                    await waiter
                finally:
                    if slot.waiter is waiter:
                        slot.waiter = None
            elif slot.threaded:
                await self._run_threaded_batch(slot, loop)
            else:
                await self._run_inline_batch(slot, task)

    async def _run_inline_batch(self, slot: SinkSlot, task: asyncio.Task[None]) -> None:
        """Handle up to `_YIELD_EVERY` queued events on the loop, without awaiting between sync ones."""
        queue = slot.queue
        handle = slot.handle
        isawaitable = inspect.isawaitable
        count = 0
        while queue and count < _YIELD_EVERY:
            event = queue.popleft()
            slot.in_hand = 1
            try:
                result = handle(event)
                if result is not None and isawaitable(result):
                    slot.busy_since = time.monotonic()
                    await result
            except asyncio.CancelledError as exc:
                if task.cancelling():  # the bus is cancelling this worker: stop
                    raise
                self._sink_failed(slot, exc, event)  # the sink's own work was cancelled: an error
            except Exception as exc:
                self._sink_failed(slot, exc, event)
            else:
                slot.handled += 1
            slot.busy_since = None
            slot.in_hand = 0
            slot.done_seq = event.seq
            count += 1
        if count >= _YIELD_EVERY:  # a long backlog: let the rest of the loop breathe
            self._notify_progress()
            await asyncio.sleep(0)

    async def _run_threaded_batch(self, slot: SinkSlot, loop: asyncio.AbstractEventLoop) -> None:
        """Hand up to `_YIELD_EVERY` queued events to the sink's thread and wait for it without blocking the
        loop; an awaitable a sync `handle` returned is awaited here, then the thread goes on."""
        thread = slot.thread
        assert thread is not None
        queue = slot.queue
        batch = [queue.popleft() for _ in range(min(len(queue), _YIELD_EVERY))]
        slot.in_hand = len(batch)
        slot.busy_since = time.monotonic()
        while batch and not thread.stopped:
            outcome = await thread.run(slot.handle, batch, loop)
            if outcome.done == 0:  # stopped before taking any
                break
            failed = {index for index, _ in outcome.failures}
            for index, exc in outcome.failures:
                self._sink_failed(slot, exc, batch[index])
            last = outcome.done - 1
            slot.handled += outcome.done - len(failed) - (outcome.pending is not None)
            if outcome.pending is not None:
                try:
                    await outcome.pending
                except asyncio.CancelledError as exc:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    self._sink_failed(slot, exc, batch[last])
                except Exception as exc:
                    self._sink_failed(slot, exc, batch[last])
                else:
                    slot.handled += 1
            slot.done_seq = batch[last].seq
            batch = batch[outcome.done :]
            slot.in_hand = len(batch)
        slot.busy_since = None
        slot.in_hand = 0

    def _notify_progress(self) -> None:
        progress = self._progress
        if progress is not None:
            self._progress = None
            if not progress.done():
                progress.set_result(None)

    def _sink_failed(self, slot: SinkSlot, exc: BaseException, event: Event | None) -> None:
        slot.errors += 1
        try:
            detail = str(exc)
        except Exception:  # a broken __str__ must not take the worker down with it
            detail = "<unprintable error>"
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        now = _dt.datetime.now(_dt.UTC)
        slot.last_error = text
        slot.last_error_at = now
        diag = SinkDiagnostic(slot.name, text, now, slot.errors, event.seq if event else None, exc)
        self._diag_history.append(diag)
        for channel in self._diag_subs:
            channel.push(diag)
        if slot.errors == 1:
            log.warning(
                "event sink %r failed: %s (later failures of this sink log at debug)", slot.name, text
            )
        else:
            log.debug("event sink %r failed (#%d): %s", slot.name, slot.errors, text)
        if self._diag_events and (event is None or event.scope != SINK_ERROR_SCOPE):
            meta: dict[str, Any] = {"sink": slot.name, "occurrence": slot.errors}
            if event is not None:
                meta["event_seq"] = event.seq
            self._publish_except(Event.create("diagnostic", SINK_ERROR_SCOPE, text, metadata=meta), slot)

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

    # ------------------------------------------------------------ draining and closing

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109  (documented API)
        """Wait until every sink has dealt with (handled, failed on, or dropped) every event published so
        far, and with the diagnostic events about sink failures on them. Returns False if `timeout` seconds
        passed first (a hung sink), True otherwise."""
        loop = self._bind_here()
        self._listening = True
        for slot in self._slots:
            self._start_worker(slot)
        target = self._next_seq - 1
        try:
            async with asyncio.timeout(timeout):
                while True:
                    behind = [s for s in self._slots if not s.caught_up(target)]
                    if not behind:
                        if self._last_diag_seq > target:  # sink failures on those events: deliver them too
                            target = self._last_diag_seq
                            continue
                        return True
                    if all(s.task is None or s.task.done() for s in behind):
                        return False  # closed: nobody will ever deliver these
                    if self._progress is None or self._progress.done():
                        self._progress = loop.create_future()
                    await asyncio.shield(self._progress)
        except TimeoutError:
            return False

    async def aclose(self, timeout: float | None = None) -> None:  # noqa: ASYNC109  (documented API)
        """Deliver everything queued, close the sinks, stop the workers and end every subscription (after
        it drains). A sink still busy after `timeout` seconds (default: the bus's `close_timeout`, 5 s) is
        cancelled; its undelivered events count as dropped and a diagnostic says so. Idempotent."""
        if self._close_done is not None:
            await self._close_done.wait()
            return
        self._close_done = asyncio.Event()
        timeout = self._close_timeout if timeout is None else timeout
        self._bind_here()
        self._listening = True
        self._closing = True
        try:
            await self._drain(self._slots, timeout)
            for slot in self._slots:
                await self._close_sink(slot, timeout)
        finally:
            self._closed = True
            for slot in self._slots:
                if slot.task is not None and not slot.task.done():  # only if aclose itself was cancelled
                    slot.task.cancel()
                if slot.thread is not None:
                    slot.thread.stop()
            for channel in self._subs:
                channel.close()
            for diag_channel in self._diag_subs:
                diag_channel.close()
            self._notify_progress()
            self._close_done.set()

    async def _drain(self, slots: tuple[SinkSlot, ...], limit: float | None) -> None:
        """Let the workers of `slots` finish their queues (they exit when empty); cancel the late ones."""
        for slot in slots:
            self._start_worker(slot)
            slot.wake()
        tasks = {slot.task: slot for slot in slots if slot.task is not None and not slot.task.done()}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=limit)
        for task in pending:
            task.cancel()
            thread = tasks[task].thread
            if thread is not None:
                thread.stop()  # it finishes the event in hand and never calls handle() again
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for task in pending:
            slot = tasks[task]
            lost = len(slot.queue) + slot.in_hand
            slot.queue.clear()
            slot.in_hand = 0
            slot.busy_since = None
            slot.abandoned += lost
            self._sink_failed(
                slot,
                TimeoutError(
                    f"sink {slot.name!r} did not drain within {limit}s; cancelled with {lost} "
                    "event(s) undelivered"
                ),
                None,
            )

    async def _close_sink(self, slot: SinkSlot, limit: float | None) -> None:
        closer = getattr(slot.sink, "aclose", None)
        if not callable(closer):
            closer = getattr(slot.sink, "close", None)
        if not callable(closer):
            return
        try:
            result = closer()
            if inspect.isawaitable(result):
                async with asyncio.timeout(limit):
                    await result
        except Exception as exc:
            self._sink_failed(slot, exc, None)

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(slot.name for slot in self._slots)
        state = "closed" if self._closing else "open"
        return f"EventBus({state}, capacity={self._capacity}, sinks=[{names}], published={self._next_seq})"
