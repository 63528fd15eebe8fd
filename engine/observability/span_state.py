"""The tracing sink's bookkeeping: the spans a session has open, the nodes it is timing, and the time helpers
(epoch nanoseconds) its spans are built with (needs the `otel` extra)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from engine.events.records import CheckpointSaved, NodeRetry, NodeSkip

__all__ = ["DB_SYSTEMS", "PendingNode", "SessionSpans", "ns_of", "save_attributes", "save_ns"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_US = _dt.timedelta(microseconds=1)
DB_SYSTEMS = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql"}


def ns_of(stamp: _dt.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly (microsecond resolution)."""
    return ((stamp - _EPOCH) // _US) * 1000


PendingNode = tuple[int, int | None]
"""A node that started and has not ended (its span is made when it ends): its start (epoch ns) and step. A
plain tuple: one is made per node run."""


@dataclass(slots=True)
class SessionSpans:
    """Open spans of one session."""

    run: Span | None = None
    run_ctx: otel_context.Context | None = None
    failed_run: tuple[Span, int] | None = None  # ended at the end event, which carries the error text
    step: Span | None = None
    step_ctx: otel_context.Context | None = None
    nodes: dict[str, PendingNode] = field(default_factory=dict)  # running nodes by name
    retries: dict[str, list[tuple[NodeRetry, int]]] = field(default_factory=dict)  # of running nodes
    muted: bool = False  # the run span was not sampled: no child spans either
    early_saves: list[tuple[CheckpointSaved, int]] = field(default_factory=list)  # saves before the run
    parent: otel_context.Context | None = None  # continue_trace
    # A step's span is started when its first child (or its end) needs it, with its ran/skipped known:
    # one attribute pass instead of two. Until then: (start, step, frontier) and the skips seen.
    next_step: tuple[int, int, tuple[str, ...]] | None = None
    skips: list[tuple[NodeSkip, int]] = field(default_factory=list)
    step_ran: tuple[str, ...] = ()


def save_ns(record: CheckpointSaved) -> int:
    """How long the save took, in nanoseconds (its span ends at the record's time)."""
    return int(record.duration_ms * 1e6)


def save_attributes(record: CheckpointSaved) -> dict[str, Any]:
    """A checkpoint save span's attributes (backend, `db.*` semantic attributes, step, bytes when told)."""
    backend = record.backend or "unknown"
    attrs: dict[str, Any] = {
        "weavegraph.checkpoint.backend": backend,
        "db.operation.name": "save",
        "weavegraph.checkpoint.step": record.step,
    }
    system = DB_SYSTEMS.get(backend)
    if system is not None:
        attrs["db.system"] = system
        attrs["db.system.name"] = system
    if record.bytes is not None:
        attrs["weavegraph.checkpoint.bytes"] = record.bytes
    return attrs
