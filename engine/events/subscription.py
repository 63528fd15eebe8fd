"""Bounded, drop-oldest channels between the bus and its readers, and the async iterators over them."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from engine.events.event import Event

T = TypeVar("T")

__all__ = ["Channel", "DiagnosticStream", "Subscription"]


class Channel(Generic[T]):
    """A bounded FIFO written synchronously by the bus (on its loop's thread) and read by one iterator.

    When full, the oldest item is evicted and counted in `dropped`. `closed` means no more items will come;
    what is queued is still read, unless the reader closed it (`discard`).
    """

    __slots__ = ("capacity", "closed", "dropped", "queue", "waiter")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.queue: deque[T] = deque(maxlen=capacity)
        self.dropped = 0
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None

    def push(self, item: T) -> None:
        queue = self.queue
        if len(queue) == self.capacity:
            self.dropped += 1
        queue.append(item)
        if self.waiter is not None:
            self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        self.waiter = None
        if waiter is not None and not waiter.done():
            try:
                waiter.set_result(None)
            except RuntimeError:  # the reader's loop is closed: nobody is left to wake
                pass

    def close(self, *, discard: bool = False) -> None:
        self.closed = True
        if discard:
            self.queue.clear()
        self._wake()

    async def get(self) -> T:
        """The next item; raises `StopAsyncIteration` once closed and empty."""
        while True:
            if self.queue:
                return self.queue.popleft()
            if self.closed:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self.waiter = waiter
            try:
                await waiter
            finally:
                if self.waiter is waiter:
                    self.waiter = None


class _Reader(Generic[T]):
    """Shared iterator machinery: unregisters from the bus when closed."""

    def __init__(self, channel: Channel[T], unregister: Callable[[Channel[T]], None]) -> None:
        self._channel = channel
        self._unregister = unregister

    def __aiter__(self) -> _Reader[T]:
        return self

    async def __anext__(self) -> T:
        return await self._channel.get()

    @property
    def dropped(self) -> int:
        """Items evicted because this reader fell `capacity` behind."""
        return self._channel.dropped

    @property
    def pending(self) -> int:
        return len(self._channel.queue)

    @property
    def closed(self) -> bool:
        return self._channel.closed

    def close(self) -> None:
        """Stop now: pending items are discarded and iteration ends. Idempotent."""
        self._channel.close(discard=True)
        self._unregister(self._channel)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> _Reader[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Subscription(_Reader[Event]):
    """Events published after `bus.subscribe()`, in order. Ends after the bus closes (and this drains),
    after `close()`, or - with `until_stream_end=True` - right after the next stream-end event."""

    def __init__(
        self,
        channel: Channel[Event],
        unregister: Callable[[Channel[Event]], None],
        *,
        until_stream_end: bool = False,
    ) -> None:
        super().__init__(channel, unregister)
        self._until_end = until_stream_end

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self._channel.get()
        if self._until_end and event.is_stream_end:
            self.close()
        return event


class DiagnosticStream(_Reader[T]):
    """Sink diagnostics: the retained recent ones first, then live ones; ends when the bus closes."""
