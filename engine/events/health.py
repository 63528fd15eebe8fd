"""Records the event bus reports: sink diagnostics (one per failure), sink health rows, bus metrics."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from engine.types import JSON, format_rfc3339

SINK_ERROR_SCOPE = "sink_error"
"""Scope of the diagnostic events a bus built with `diagnostics_as_events=True` publishes on sink errors."""


@dataclass(frozen=True, slots=True)
class SinkDiagnostic:
    """One failure of one sink: which sink, what went wrong, when, and how many failures it has had
    (`occurrence` counts from 1 per sink). `event_seq` is the event being handled, when there was one."""

    sink: str
    error: str
    when: _dt.datetime
    occurrence: int
    event_seq: int | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    def to_json_value(self) -> dict[str, JSON]:
        return {
            "sink": self.sink,
            "error": self.error,
            "when": format_rfc3339(self.when),
            "occurrence": self.occurrence,
            "event_seq": self.event_seq,
        }


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """A sink's counters at one moment. `handled` counts events handled without error; `queue_depth`
    is what waits (including the events in hand); `dropped` counts events evicted from a full queue
    plus any abandoned when the bus closed before the sink drained."""

    sink: str
    handled: int
    error_count: int
    last_error: str | None
    last_error_at: _dt.datetime | None
    queue_depth: int
    dropped: int
    busy_for: float | None = None
    """Seconds the sink has spent on the events in hand (async or threaded work); None when idle."""
    in_thread: bool = False
    """True when the sink's sync `handle` runs in a worker thread."""

    @property
    def healthy(self) -> bool:
        return self.error_count == 0 and self.dropped == 0

    def to_json_value(self) -> dict[str, JSON]:
        return {
            "sink": self.sink,
            "handled": self.handled,
            "error_count": self.error_count,
            "last_error": self.last_error,
            "last_error_at": format_rfc3339(self.last_error_at) if self.last_error_at else None,
            "queue_depth": self.queue_depth,
            "dropped": self.dropped,
            "busy_for": self.busy_for,
            "in_thread": self.in_thread,
        }


class BusMetrics(dict[str, Any]):
    """`EventBus.metrics()`: a plain dict of counters that also reads as attributes (`m.published`)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"event bus metrics have no {name!r}; keys: {', '.join(self)}") from None
