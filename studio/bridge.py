"""The one place where asyncio meets Qt: owned tasks with cancel-on-destroy, and batched event signals.

Every coroutine the studio runs goes through :class:`Bridge.start`; engine event streams are re-emitted as Qt
signals in batches by :class:`EventPump` (on a timer, never once per event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable, Coroutine
from typing import Any, TypeVar

import PySide6  # noqa: F401  (import the binding before qasync so qasync picks PySide6)
from PySide6.QtCore import QObject, QTimer, Signal

__all__ = ["CLOSE_GRACE_S", "Bridge", "ErrorHandler", "EventPump", "one_line", "wait_signal"]

CLOSE_GRACE_S = 5.0
"""How long a closing controller lets its reads (or the close of an old database) finish before cancelling
them (`Bridge.stop_owned`)."""

_log = logging.getLogger("studio.bridge")
YIELD_EVERY = 500
T = TypeVar("T")

ErrorHandler = Callable[[str, BaseException], None]
"""Told `(what, exception)` when a guarded task fails (never for cancellation)."""


def one_line(exc: BaseException) -> str:
    """A one-line description of an exception: its message (or class name), newlines folded."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


class Bridge(QObject):
    """Owns every asyncio task the studio starts.

    Tasks are kept by strong reference until they finish; an exception is logged and reported through
    `task_failed(name, message)` (never a dialog); cancellation is silent. A task started with an `owner`
    is cancelled when that QObject is destroyed (or by `cancel_owned`).
    """

    task_failed = Signal(str, str)
    """A task ended with an exception: (task name, one-line error message)."""

    def __init__(
        self, parent: QObject | None = None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(parent)
        self._loop = loop
        self._tasks: set[asyncio.Task[Any]] = set()
        self._owned: dict[int, set[asyncio.Task[Any]]] = {}
        self._owner_of: dict[asyncio.Task[Any], int] = {}
        self._closing = False

    @property
    def closing(self) -> bool:
        """True while `shutdown()` runs: `start` refuses new tasks then."""
        return self._closing

    # ------------------------------------------------------------------ tasks

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None:
                raise RuntimeError("Bridge.start needs a running qasync loop (or pass loop=...)") from None
            return self._loop

    def start(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        name: str = "",
        owner: QObject | None = None,
    ) -> asyncio.Task[T]:
        """Run `coro` as a task owned by the bridge (and by `owner`, when given) and return the task."""
        if self._closing:
            coro.close()
            raise RuntimeError(f"the studio is shutting down; task '{name or coro}' was not started")
        loop = self._event_loop()
        task = loop.create_task(coro, name=name or None)
        self._tasks.add(task)
        if owner is not None:
            key = id(owner)
            tasks = self._owned.get(key)
            if tasks is None:
                tasks = self._owned[key] = set()
                owner.destroyed.connect(lambda *_args, key=key: self._on_owner_destroyed(key))
            tasks.add(task)
            self._owner_of[task] = key
        task.add_done_callback(self._on_task_done)
        return task

    def guarded(
        self,
        coro: Coroutine[Any, Any, Any],
        what: str,
        *,
        owner: QObject,
        on_error: ErrorHandler | None = None,
        on_busy: Callable[[bool], None] | None = None,
    ) -> asyncio.Task[None]:
        """Run `coro` as a task owned by `owner` whose failure is handed to `on_error(what, exc)` instead of
        `task_failed` (the owner shows it in one line and stays usable). `on_busy(True)` is called before
        and `on_busy(False)` after, however it ends. Cancellation is silent."""
        name = f"{owner.objectName() or type(owner).__name__}: {what}"
        try:
            task = self.start(self._guard(coro, what, on_error, on_busy), name=name, owner=owner)
        except BaseException:
            coro.close()
            raise
        # A task cancelled before its first step never starts `coro`: close it (a no-op once it ran).
        task.add_done_callback(lambda _t: coro.close())
        return task

    @staticmethod
    async def _guard(
        coro: Coroutine[Any, Any, Any],
        what: str,
        on_error: ErrorHandler | None,
        on_busy: Callable[[bool], None] | None,
    ) -> None:
        if on_busy is not None:
            on_busy(True)
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if on_error is None:
                raise
            on_error(what, exc)
        finally:
            if on_busy is not None:
                on_busy(False)

    def run_blocking(
        self, func: Callable[..., T], *args: Any, name: str = "", owner: QObject | None = None
    ) -> asyncio.Task[T]:
        """Run a blocking function in a worker thread as an owned task (touch no Qt object in `func`)."""
        return self.start(
            asyncio.to_thread(func, *args), name=name or getattr(func, "__name__", ""), owner=owner
        )

    def cancel_owned(self, owner: QObject) -> None:
        """Cancel every unfinished task started with this owner."""
        self._cancel_key(id(owner))

    async def stop_owned(self, owner: QObject, *, grace: float = 0.0) -> None:
        """Stop the owner's unfinished tasks (but the calling one) and return once each has ended, so what a
        task opened it has also closed on its way out. `grace`: seconds they may take to finish on their own
        before they are cancelled (a task cancelled in the middle of closing a database may leave it open)."""
        current = asyncio.current_task()
        tasks = [t for t in self.owned_tasks(owner) if t is not current]
        if not tasks:
            return
        if grace > 0:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            tasks = list(pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def running_tasks(self) -> list[asyncio.Task[Any]]:
        """The tasks that have not finished yet."""
        return [t for t in self._tasks if not t.done()]

    def owned_tasks(self, owner: QObject) -> list[asyncio.Task[Any]]:
        """Unfinished tasks started with this owner."""
        return [t for t in self._owned.get(id(owner), ()) if not t.done()]

    async def shutdown(self) -> None:
        """Cancel every task and wait until all of them have finished."""
        self._closing = True
        try:
            while self._tasks:
                pending = list(self._tasks)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                for task in pending:
                    self._forget(task)
        finally:
            self._closing = False

    # ------------------------------------------------------------------ internals

    def _cancel_key(self, key: int) -> None:
        for task in list(self._owned.get(key, ())):
            task.cancel()

    def _on_owner_destroyed(self, key: int) -> None:
        self._cancel_key(key)
        self._owned.pop(key, None)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        key = self._owner_of.pop(task, None)
        if key is not None:
            tasks = self._owned.get(key)
            if tasks is not None:
                tasks.discard(task)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._forget(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        name = task.get_name()
        _log.error("task %s failed: %s", name, one_line(exc), exc_info=exc)
        try:
            self.task_failed.emit(name, one_line(exc))
        except RuntimeError:  # the bridge's C++ object is gone during interpreter shutdown
            pass


class EventPump(QObject):
    """Reads an async iterable (an engine event stream) in a bridge task and re-emits it in batches.

    Items are buffered as they arrive and flushed by a QTimer every `interval_ms` as one
    `batch_ready(list)` signal; at most `max_batch` items go out per flush so a flood never stalls a frame.
    `finished(str)` is emitted once the stream is exhausted and the buffer is empty ("" or an error message).
    """

    batch_ready = Signal(list)
    finished = Signal(str)

    def __init__(
        self,
        bridge: Bridge,
        *,
        interval_ms: int = 50,
        max_batch: int = 5000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._buffer: list[Any] = []
        self._max_batch = max_batch
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._task: asyncio.Task[None] | None = None
        self._ended: str | None = None
        self.received = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def pending(self) -> int:
        """Items received but not emitted yet."""
        return len(self._buffer)

    def pump(self, stream: AsyncIterable[Any], *, name: str = "event-pump") -> asyncio.Task[None]:
        """Start consuming `stream` (owned by this pump: destroying the pump cancels it)."""
        self._ended = None
        self._timer.start()
        self._task = self._bridge.start(self._consume(stream), name=name, owner=self)
        return self._task

    def push(self, item: Any) -> None:
        """Add one item directly (for sources that call back instead of being iterated)."""
        self._buffer.append(item)
        if not self._timer.isActive():
            self._timer.start()

    def stop(self) -> None:
        """Cancel the consuming task; what was buffered is still flushed."""
        if self._task is not None:
            self._task.cancel()

    def flush(self) -> None:
        """Emit everything buffered now (used at the end of a run)."""
        while self._buffer:
            self._emit_some()

    async def _consume(self, stream: AsyncIterable[Any]) -> None:
        error = ""
        try:
            async for item in stream:
                self._buffer.append(item)
                self.received += 1
                if self.received % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a backlog never holds the loop (and the window) for long
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        except Exception as exc:
            error = one_line(exc)
            raise
        finally:
            self._ended = error

    def _emit_some(self) -> None:
        batch = self._buffer[: self._max_batch]
        del self._buffer[: self._max_batch]
        self.batch_ready.emit(batch)

    def _on_timer_timeout(self) -> None:
        if self._buffer:
            self._emit_some()
        if not self._buffer and self._ended is not None:
            self._timer.stop()
            ended, self._ended = self._ended, None
            self.finished.emit(ended)


async def wait_signal(signal: Any) -> tuple[Any, ...]:
    """Await the next emission of a Qt signal and return its arguments (wrap in `asyncio.timeout` to bound
    it). Coroutines use this with `dialog.open()` instead of a nested `exec()`."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def _on_emit(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)

    signal.connect(_on_emit)
    try:
        return await fut
    finally:
        signal.disconnect(_on_emit)
