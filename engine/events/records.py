"""Typed lifecycle records: one frozen record per lifecycle kind (`run.start` ... `run.end`, `edge.routed`,
`node.retry`).

The runner and the executor build these; `record.to_event(session_id, now_unix_ms)` gives the `Event` with the
JSON shape sinks and files have always seen (scope, message, the record's own metadata keys, then node_id,
step, invocation_id, now_unix_ms). `lifecycle_record(event)` reads one back, so consumers (the studio)
switch on types and fields instead of parsing messages. The base, `LifecycleRecord` (and the `to_event` every
record shares), lives in `record_base.py` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.events.event import Event
from engine.events.record_base import LIFECYCLE, LifecycleRecord
from engine.types import JSON


@dataclass(frozen=True, slots=True)
class RunStart(LifecycleRecord):
    """`run.start`: a run (`what`="run") or an iterative invocation (`what`="invocation") begins."""

    scope: ClassVar[str] = "run.start"
    step: int
    what: str
    session_id: str

    def message(self) -> str:
        return f"{self.what} of {self.session_id} started"


@dataclass(frozen=True, slots=True)
class RunEnd(LifecycleRecord):
    """`run.end`: status "completed", "error" or "interrupted" (nodes wait for answers)."""

    scope: ClassVar[str] = "run.end"
    step: int
    what: str
    session_id: str
    status: str

    def message(self) -> str:
        verb = {"completed": "completed", "interrupted": "was interrupted"}.get(self.status, "failed")
        return f"{self.what} of {self.session_id} {verb}"

    def own_metadata(self) -> dict[str, JSON]:
        return {"status": self.status}


@dataclass(frozen=True, slots=True)
class StepStart(LifecycleRecord):
    """`step.start` with the frontier (plain names) the step begins from."""

    scope: ClassVar[str] = "step.start"
    step: int
    frontier: tuple[str, ...]

    def message(self) -> str:
        return f"step {self.step}: {', '.join(self.frontier)}"

    def own_metadata(self) -> dict[str, JSON]:
        return {"frontier": list(self.frontier)}


@dataclass(frozen=True, slots=True)
class NodeStart(LifecycleRecord):
    scope: ClassVar[str] = "node.start"
    step: int
    node: str

    @property
    def node_id(self) -> str | None:
        return self.node

    def message(self) -> str:
        return f"{self.node} started"


@dataclass(frozen=True, slots=True)
class NodeRetry(LifecycleRecord):
    """`node.retry`: attempt `attempt` (counting from 1) of `max_attempts` failed with `error`; the next one
    starts after `delay_s` seconds (at `retry_at_unix_ms` when the runner has a clock)."""

    scope: ClassVar[str] = "node.retry"
    step: int
    node: str
    attempt: int
    max_attempts: int
    delay_s: float
    error: str
    retry_at_unix_ms: int | None = None

    @property
    def node_id(self) -> str | None:
        return self.node

    def message(self) -> str:
        return (
            f"{self.node} attempt {self.attempt} of {self.max_attempts} failed ({self.error}); "
            f"retrying in {self.delay_s:g} s"
        )

    def own_metadata(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "delay_s": self.delay_s,
            "error": self.error,
        }
        if self.retry_at_unix_ms is not None:
            out["retry_at_unix_ms"] = self.retry_at_unix_ms
        return out


@dataclass(frozen=True, slots=True)
class NodeFinish(LifecycleRecord):
    """`node.finish`: how long the node took; `attempts` (how many it made) only for a node with a retry
    policy or a timeout."""

    scope: ClassVar[str] = "node.finish"
    step: int
    node: str
    duration_ms: float
    attempts: int | None = None

    @property
    def node_id(self) -> str | None:
        return self.node

    def message(self) -> str:
        return f"{self.node} finished in {self.duration_ms} ms"

    def own_metadata(self) -> dict[str, JSON]:
        if self.attempts is None:
            return {"duration_ms": self.duration_ms}
        return {"duration_ms": self.duration_ms, "attempts": self.attempts}


@dataclass(frozen=True, slots=True)
class NodeSkip(LifecycleRecord):
    """`node.skip` with the reason ("virtual" for Start/End, "gated" for a node with nothing new, "waiting"
    for a join whose sources have not all run)."""

    scope: ClassVar[str] = "node.skip"
    step: int
    node: str
    reason: str

    @property
    def node_id(self) -> str | None:
        return self.node

    def message(self) -> str:
        return f"{self.node} skipped ({self.reason})"

    def own_metadata(self) -> dict[str, JSON]:
        return {"reason": self.reason}


@dataclass(frozen=True, slots=True)
class NodeFailed(LifecycleRecord):
    """`node.error`: the node's error message; `attempts` (how many it made) only for a node with a retry
    policy or a timeout."""

    scope: ClassVar[str] = "node.error"
    step: int
    node: str
    error: str
    attempts: int | None = None
    error_type: str | None = None  # the exception class of the node's own error (spans' exception.type)

    @property
    def node_id(self) -> str | None:
        return self.node

    def message(self) -> str:
        return f"{self.node} failed: {self.error}"

    def own_metadata(self) -> dict[str, JSON]:
        meta: dict[str, JSON] = {"error": self.error}
        if self.attempts is not None:
            meta["attempts"] = self.attempts
        if self.error_type is not None:
            meta["error_type"] = self.error_type
        return meta


@dataclass(frozen=True, slots=True)
class StepEnd(LifecycleRecord):
    scope: ClassVar[str] = "step.end"
    step: int
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    updated_channels: tuple[str, ...]
    next_frontier: tuple[str, ...]

    def message(self) -> str:
        return f"step {self.step} ran {len(self.ran)}, skipped {len(self.skipped)}"

    def own_metadata(self) -> dict[str, JSON]:
        return {
            "ran": list(self.ran),
            "skipped": list(self.skipped),
            "updated_channels": list(self.updated_channels),
            "next_frontier": list(self.next_frontier),
        }


@dataclass(frozen=True, slots=True)
class CheckpointSaved(LifecycleRecord):
    """`checkpoint.saved`: the step saved, the storage backend's name and how long the save took; `bytes`, the
    encoded size of what was written, when the checkpointer tells it (`last_save_bytes`)."""

    scope: ClassVar[str] = "checkpoint.saved"
    step: int
    backend: str
    duration_ms: float
    bytes: int | None = None

    def message(self) -> str:
        return f"checkpoint step {self.step} saved ({self.backend}, {self.duration_ms} ms)"

    def own_metadata(self) -> dict[str, JSON]:
        if self.bytes is None:
            return {"backend": self.backend, "duration_ms": self.duration_ms}
        return {"backend": self.backend, "duration_ms": self.duration_ms, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class RouteDropped(LifecycleRecord):
    """`route.dropped`: `source` routed to `target`, which is not a registered node."""

    scope: ClassVar[str] = "route.dropped"
    step: int
    source: str
    target: str

    @property
    def node_id(self) -> str | None:
        return self.source

    def message(self) -> str:
        return f"unknown target '{self.target}' from '{self.source}' dropped"

    def own_metadata(self) -> dict[str, JSON]:
        return {"target": self.target}


@dataclass(frozen=True, slots=True)
class EdgeRouted(LifecycleRecord):
    """`edge.routed`: routing took the edge `source -> target` ("Start"/"End" for the virtual nodes);
    `conditional` when a predicate or a frontier command chose it. `step` is the step that just ran (0 for
    Start's routing when a session starts)."""

    scope: ClassVar[str] = "edge.routed"
    step: int
    source: str
    target: str
    conditional: bool

    @property
    def node_id(self) -> str | None:
        return self.source

    def message(self) -> str:
        return f"{self.source} -> {self.target}"

    def own_metadata(self) -> dict[str, JSON]:
        return {"source": self.source, "target": self.target, "conditional": self.conditional}


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _session(event: Event) -> str:
    return event.invocation_id or ""


def _what(event: Event) -> str:
    return event.message.split(" of ", 1)[0] if " of " in event.message else "run"


_READERS: dict[str, Callable[[Event, int, dict[str, Any]], LifecycleRecord]] = {
    "run.start": lambda e, s, m: RunStart(s, _what(e), _session(e)),
    "run.end": lambda e, s, m: RunEnd(s, _what(e), _session(e), _str(m.get("status"))),
    "step.start": lambda e, s, m: StepStart(s, _names(m.get("frontier"))),
    "node.start": lambda e, s, m: NodeStart(s, e.node_id or ""),
    "node.retry": lambda e, s, m: NodeRetry(
        s,
        e.node_id or "",
        _int(m.get("attempt")) or 0,
        _int(m.get("max_attempts")) or 0,
        _num(m.get("delay_s")),
        _str(m.get("error")),
        _int(m.get("retry_at_unix_ms")),
    ),
    "node.finish": lambda e, s, m: NodeFinish(
        s, e.node_id or "", _num(m.get("duration_ms")), _int(m.get("attempts"))
    ),
    "node.skip": lambda e, s, m: NodeSkip(s, e.node_id or "", _str(m.get("reason"))),
    "node.error": lambda e, s, m: NodeFailed(
        s,
        e.node_id or "",
        _str(m.get("error")),
        _int(m.get("attempts")),
        m["error_type"] if isinstance(m.get("error_type"), str) else None,
    ),
    "step.end": lambda e, s, m: StepEnd(
        s,
        _names(m.get("ran")),
        _names(m.get("skipped")),
        _names(m.get("updated_channels")),
        _names(m.get("next_frontier")),
    ),
    "checkpoint.saved": lambda e, s, m: CheckpointSaved(
        s, _str(m.get("backend")), _num(m.get("duration_ms")), _int(m.get("bytes"))
    ),
    "route.dropped": lambda e, s, m: RouteDropped(s, e.node_id or "", _str(m.get("target"))),
    "edge.routed": lambda e, s, m: EdgeRouted(
        s, _str(m.get("source")), _str(m.get("target")), m.get("conditional") is True
    ),
}

LIFECYCLE_SCOPES: tuple[str, ...] = tuple(_READERS)
"""Every lifecycle scope, in the order a step emits them."""


def lifecycle_record(event: Event) -> LifecycleRecord | None:
    """The typed record of a lifecycle event (from a bus or read back from JSON); None for any other event."""
    if event.type != LIFECYCLE:
        return None
    reader = _READERS.get(event.scope)
    if reader is None:
        return None
    return reader(event, event.step if event.step is not None else 0, event.metadata)


__all__ = [
    "LIFECYCLE_SCOPES",
    "CheckpointSaved",
    "EdgeRouted",
    "LifecycleRecord",
    "NodeFailed",
    "NodeFinish",
    "NodeRetry",
    "NodeSkip",
    "NodeStart",
    "RouteDropped",
    "RunEnd",
    "RunStart",
    "StepEnd",
    "StepStart",
    "lifecycle_record",
]
