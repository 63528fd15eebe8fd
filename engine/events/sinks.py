"""Event sinks: the `Sink` protocol and the built-in stdout, memory, channel and JSON Lines sinks.

A sink's `handle(event)` is called for one event at a time, in publish order; it may be sync or async. An
async `handle` runs on the event loop. A sync `handle` runs in a daemon thread of the sink's own, so a sink
that blocks never freezes the loop, unless the sink declares `non_blocking = True` (it promises to return at
once, or needs the loop's thread: `MemorySink`, `ChannelSink`). `close()` / `aclose()`, when present, are
called once by `EventBus.aclose()`, on the loop.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import io
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from engine.events.event import Event

__all__ = [
    "ChannelSink",
    "FunctionSink",
    "JsonLinesSink",
    "MemorySink",
    "Sink",
    "StdOutSink",
    "as_sink",
    "sink_name",
]


@runtime_checkable
class Sink(Protocol):
    """What the bus needs from a sink. Optional extras: `non_blocking = True` (a sync `handle` that returns
    at once may run on the event loop instead of a thread of its own), `close()` or `aclose()` (called once
    when the bus closes)."""

    name: str

    def handle(self, event: Event) -> Awaitable[None] | None: ...


def sink_name(sink: object) -> str:
    """The sink's `name`, else its class name."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__


class FunctionSink:
    """Adapts a plain callable `fn(event)` (sync or async) to the `Sink` protocol. A sync `fn` runs in a
    thread of its own unless `non_blocking=True`; an async one on the loop."""

    def __init__(
        self, fn: Callable[[Event], Any], *, name: str | None = None, non_blocking: bool = False
    ) -> None:
        self._fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.non_blocking = non_blocking or inspect.iscoroutinefunction(fn)

    def handle(self, event: Event) -> Any:
        return self._fn(event)

    def __repr__(self) -> str:
        return f"FunctionSink({self.name!r})"


def as_sink(obj: Any) -> Any:
    """`obj` itself when it has a `handle` method; a `FunctionSink` for a bare callable; else TypeError."""
    if callable(getattr(obj, "handle", None)):
        return obj
    if callable(obj):
        return FunctionSink(obj)
    raise TypeError(
        f"an event sink needs a handle(event) method or must be callable; got {type(obj).__name__}"
    )


# ---------------------------------------------------------------- stdout

_COLOURS = {"node": "36", "diagnostic": "33", "llm": "35", "lifecycle": "34"}


class StdOutSink:
    """Prints one readable line per event, e.g. ``12:00:01.234 #12 node       A@3 progress: working``.

    The time is the event's timestamp in UTC. Colour is used only when the stream is a terminal.
    `stream` defaults to the current `sys.stdout` (looked up at each event, so redirection works).
    """

    def __init__(self, stream: IO[str] | None = None, *, colour: bool | None = None, name: str = "stdout"):
        self.name = name
        self._stream = stream
        self._colour = colour
        self._tty_of: tuple[object, bool] = (None, False)  # (stream, isatty) of the last stream seen

    def _out(self) -> IO[str] | None:
        """The stream to write to; None when there is no stdout at all (a windowed app)."""
        return self._stream if self._stream is not None else sys.stdout

    def _use_colour(self, out: IO[str]) -> bool:
        if self._colour is not None:
            return self._colour
        seen, tty = self._tty_of
        if seen is not out:
            isatty = getattr(out, "isatty", None)
            try:
                tty = bool(isatty()) if isatty is not None else False
            except ValueError:  # closed stream: the write below reports it
                tty = False
            self._tty_of = (out, tty)
        return tty

    def format(self, event: Event, *, colour: bool = False) -> str:
        """The line printed for `event` (without the newline)."""
        stamp = event.timestamp.astimezone(_dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        where = ""
        if event.node_id is not None:
            where = event.node_id if event.step is None else f"{event.node_id}@{event.step}"
        elif event.step is not None:
            where = f"@{event.step}"
        kind = f"{event.type:<10}"
        if colour:
            code = "31" if "error" in event.scope else _COLOURS.get(event.type, "0")
            kind = f"\x1b[{code}m{kind}\x1b[0m"
        message = event.message.replace("\n", "\\n")
        head = f"{stamp} #{event.seq} {kind} "
        return f"{head}{where + ' ' if where else ''}{event.scope}: {message}"

    def handle(self, event: Event) -> None:
        out = self._out()
        if out is not None:
            out.write(self.format(event, colour=self._use_colour(out)) + "\n")

    def close(self) -> None:
        out = self._out()
        if out is not None and not getattr(out, "closed", False):
            out.flush()

    def __repr__(self) -> str:
        return f"StdOutSink(name={self.name!r})"


# ---------------------------------------------------------------- memory


class MemorySink:
    """Keeps every event it handles, in order (or the last `capacity` when given). For tests and tools."""

    non_blocking = True  # a deque append: handled on the loop

    def __init__(self, *, capacity: int | None = None, name: str = "memory"):
        self.name = name
        self._events: deque[Event] = deque(maxlen=capacity)

    def handle(self, event: Event) -> None:
        self._events.append(event)

    def snapshot(self) -> list[Event]:
        """A copy of the events handled so far."""
        return list(self._events)

    def clear(self) -> None:
        self._events.clear()

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        return f"MemorySink(name={self.name!r}, events={len(self._events)})"


# ---------------------------------------------------------------- channel


class ChannelSink:
    """Puts every event on an `asyncio.Queue`. A full bounded queue makes this sink wait (its own bus queue
    then fills and drops its oldest events); the run is never slowed."""

    non_blocking = True  # asyncio.Queue is not thread-safe: always handled on the loop

    def __init__(self, queue: asyncio.Queue[Event], *, name: str = "channel"):
        self.name = name
        self.queue = queue

    def handle(self, event: Event) -> Awaitable[None] | None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return self.queue.put(event)
        return None

    def __repr__(self) -> str:
        return f"ChannelSink(name={self.name!r})"


# ---------------------------------------------------------------- JSON Lines


class JsonLinesSink:
    """Writes one JSON object per line (`event.to_json_string()`) and flushes after every line.

    `JsonLinesSink(stream)` writes to a text or binary stream the caller owns (flushed, never closed);
    `JsonLinesSink.to_file(path)` opens a UTF-8 file that `close()` closes - an event handled after that
    reopens it for appending, so one sink can serve the buses of several runs (each closes it at its
    end); `to_stdout()` writes to `sys.stdout`.
    """

    def __init__(
        self, stream: IO[str] | IO[bytes] | None, *, name: str = "jsonl", close_stream: bool = False
    ):
        self.name = name
        self._stream = stream
        self._owns = close_stream
        self._binary = stream is not None and _is_binary(stream)
        self._path: Path | None = None

    @classmethod
    def to_file(cls, path: str | os.PathLike[str], *, append: bool = False) -> JsonLinesSink:
        """A sink writing to `path` (truncated, or appended to with `append=True`), closed by `close()`."""
        sink = cls(_open_jsonl(Path(path), append), name=f"jsonl:{os.fspath(path)}", close_stream=True)
        sink._path = Path(path)
        return sink

    @classmethod
    def to_stdout(cls) -> JsonLinesSink:
        """A sink writing to whatever `sys.stdout` is when each event arrives."""
        return cls(None, name="jsonl:stdout")

    @property
    def path(self) -> Path | None:
        """The file of a `to_file` sink, else None."""
        return self._path

    def _out(self) -> IO[Any] | None:
        """The stream to write to; None when there is no stdout at all (a windowed app)."""
        stream = self._stream if self._stream is not None else sys.stdout
        if self._path is not None and stream is not None and stream.closed:
            stream = self._stream = _open_jsonl(self._path, True)
        return stream

    def handle(self, event: Event) -> None:
        out = self._out()
        if out is None:
            return
        line = event.to_json_string() + "\n"
        if self._binary:
            out.write(line.encode("utf-8", "backslashreplace"))
        else:
            out.write(line)
        out.flush()

    def close(self) -> None:
        """Flush; close the file if this sink opened it. Idempotent."""
        out = self._stream if self._stream is not None else sys.stdout
        if out is None or getattr(out, "closed", False):
            return
        if self._owns:
            out.close()
        else:
            out.flush()

    async def aclose(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonLinesSink(name={self.name!r})"


def _open_jsonl(path: Path, append: bool) -> IO[str]:
    # The sink owns this file: close() closes it.
    return open(path, "a" if append else "w", encoding="utf-8", errors="backslashreplace", newline="\n")


def _is_binary(stream: object) -> bool:
    if isinstance(stream, io.TextIOBase):
        return False
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        return True
    return "b" in str(getattr(stream, "mode", ""))
