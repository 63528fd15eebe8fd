"""The delivery half of the event bus: one worker task per sink draining its bounded queue (in batches on the
loop, or handed to the sink's own thread), sink failures turned into diagnostics, and draining/closing sinks.

`SinkDelivery` is `EventBus`'s base class; only the bus and its workers touch these attributes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import logging
import time
from collections import deque
from typing import Any

from engine.events.event import Event, stamp_seq
from engine.events.health import SINK_ERROR_SCOPE, SinkDiagnostic
from engine.events.slot import SinkSlot
from engine.events.subscription import Channel

__all__ = ["SinkDelivery"]

log = logging.getLogger("engine.events")
_YIELD_EVERY = 1024


class SinkDelivery:
    """Sink workers, failure bookkeeping and draining, for `EventBus` (see there)."""

    _slots: tuple[SinkSlot, ...]
    _subs: tuple[Channel[Event], ...]
    _diag_subs: tuple[Channel[SinkDiagnostic], ...]
    _diag_history: deque[SinkDiagnostic]
    _diag_events: bool
    _next_seq: int
    _last_diag_seq: int
    _progress: asyncio.Future[None] | None
    _closing: bool

    _listening: bool
    _close_timeout: float | None
    _close_done: asyncio.Event | None
    _closed: bool
    _observers: tuple[Any, ...]

    def _start_worker(self, slot: SinkSlot) -> None:
        raise NotImplementedError

    def _bind_here(self) -> asyncio.AbstractEventLoop:
        raise NotImplementedError

    def _publish_except(self, event: Event, skip: SinkSlot) -> None:
        """Publish a sink-error diagnostic event to everyone but the sink that failed."""
        if self._closing:
            return
        event = stamp_seq(event, self._next_seq)
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
            sinks = {id(slot.sink) for slot in self._slots}
            for observer in self._observers:  # run observers end what they hold open (e.g. spans)
                close = getattr(observer, "close", None)
                if id(observer) not in sinks and callable(close):
                    try:
                        close()
                    except Exception as exc:
                        log.warning(
                            "run observer %r failed to close: %s: %s", observer, type(exc).__name__, exc
                        )
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
