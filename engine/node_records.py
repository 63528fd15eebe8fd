"""Node records (ENGINE.md 8.1): what each node did in a step, kept with the step's checkpoint.

`NodeRecorder` is what the executor calls around each node when records are on; the runner takes a step's
records (`take`) when it saves that step, so they go into the same transaction as the checkpoint."""

from __future__ import annotations

import datetime as _dt
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.clock import Clock
from engine.errors import NodeTimeout
from engine.hitl_types import NodeInterrupted
from engine.partial import NodePartial
from engine.policies import attempts_of
from engine.types import JSON, ErrorEvent, ErrorScope, NodeKind, WeaveError

_UTC = _dt.UTC
_time = time.time
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
STATUSES = ("done", "failed", "interrupted", "timeout")


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node's run in one step. `output` is its own `NodePartial` JSON before the barrier (None unless
    done); `error` is an `ErrorEvent` JSON (None unless it failed)."""

    session_id: str
    step: int
    node: str
    status: str
    attempts: int
    started_at: _dt.datetime
    duration_ms: float
    output: JSON = None
    error: JSON = None

    def output_partial(self) -> NodePartial | None:
        """The recorded output as a `NodePartial` (None unless done); ValueError when it no longer decodes."""
        return None if self.output is None else NodePartial.from_json_value(self.output)

    def to_json_value(self) -> dict[str, JSON]:
        return {
            "session_id": self.session_id,
            "step": self.step,
            "node": self.node,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "output": self.output,
            "error": self.error,
        }

    @classmethod
    def from_json_value(cls, v: dict[str, Any]) -> NodeRecord:
        return cls(
            str(v["session_id"]),
            int(v["step"]),
            str(v["node"]),
            str(v["status"]),
            int(v["attempts"]),
            _dt.datetime.fromisoformat(str(v["started_at"])),
            float(v["duration_ms"]),
            v.get("output"),
            v.get("error"),
        )


class _Building:
    """A "done" `NodeRecord` under construction (`_build`, on the hot path of node records): the same slots
    with plain attribute stores, then it becomes the `NodeRecord` (a `__class__` change between identical
    layouts). The frozen dataclass's `__init__` costs an `object.__setattr__` call per field, 5x as much."""

    __slots__ = NodeRecord.__slots__


def duration_ms(started: float, ended: float) -> float:
    """A node's duration in ms, to the µs, from two `perf_counter` readings (cheaper than `round(x, 3)`,
    which formats through a string). Records and `node.finish` take it from the same two readings."""
    return round((ended - started) * 1e6) / 1000.0


# A "done" record as the executor keeps it until it is read (`StepRecords`): a plain tuple
# (session_id, step, node, attempts, started_unix_s, perf_start, perf_end, partial); the datetime, the
# duration and the output JSON are made when it is built.
_Raw = tuple[str, int, str, int, float, float, float, NodePartial | None]


def _build(raw: _Raw) -> NodeRecord:
    session_id, step, node, attempts, started, perf_start, perf_end, result = raw
    rec: Any = _Building()
    rec.session_id = session_id
    rec.step = step
    rec.node = node
    rec.status = "done"
    rec.attempts = attempts
    rec.started_at = _dt.datetime.fromtimestamp(started, _UTC)
    rec.duration_ms = duration_ms(perf_start, perf_end)
    rec.output = result.to_json_value() if result is not None else {}
    rec.error = None
    rec.__class__ = NodeRecord
    return rec  # type: ignore[no-any-return]


def _node_of(rec: NodeRecord | _Raw) -> str:
    return rec[2] if type(rec) is tuple else rec.node  # type: ignore[union-attr]


class StepRecords(list):  # type: ignore[type-arg]
    """One step's node records as the executor collects them: "done" records raw (a plain tuple, see
    `_Raw`), others as `NodeRecord`s; built into `NodeRecord`s, in place, when first read (`records()`).
    The in-memory checkpointer keeps these: it keeps only the latest step's records, so most are never
    read, and a step of a trivial node then costs no JSON and no datetime."""

    built = False

    def records(self) -> list[NodeRecord]:
        if not self.built:
            self[:] = [_build(r) if type(r) is tuple else r for r in self]
            self.built = True
        return self


def _user_traceback(exc: BaseException) -> str:
    """The traceback of the user's own code: the frames below the engine's."""
    root = exc.__cause__ if exc.__cause__ is not None else exc
    frames = [f for f in traceback.extract_tb(root.__traceback__) if not f.filename.startswith(_ENGINE_DIR)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(root), root)
    return "".join(lines)


class NodeRecorder:
    """Collects node records per (session, step) until the runner saves that step.

    The executor records a plain node itself (`now`, then `done` or `failed`: no coroutine of ours around
    the node); `run` wraps the call instead when a subclass overrides `call` (`wraps`, replay)."""

    __slots__ = ("_clock", "attempts", "pending", "wall", "wraps")

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self.wall: Callable[[], float] = _time if clock is None else self.now
        """A node's start in Unix seconds: `time.time` itself without a clock (no call of ours)."""
        self.pending: dict[tuple[str, int], StepRecords] = {}
        self.attempts: dict[tuple[str, int, str], int] = {}
        """Attempts of guarded nodes, set by the executor from `run_attempts`."""
        self.wraps = type(self).call is not NodeRecorder.call

    def now(self) -> float:
        """A node's start in Unix seconds (its `started_at`): the injected clock's, else the wall clock's."""
        if self._clock is not None:
            return self._clock.now_unix_ms() / 1000.0
        return _time()

    def done(
        self,
        session_id: str,
        step: int,
        node: str,
        attempts: int,
        started: float,
        perf_start: float,
        perf_end: float,
        result: NodePartial | None,
    ) -> None:
        """Record a node that started at `started` (`now()`), ran from `perf_start` to `perf_end`
        (`perf_counter()`) and returned `result` (its own partial). The executor does this inline."""
        raw = (session_id, step, node, attempts, started, perf_start, perf_end, result)
        self._step(session_id, step).append(raw)

    def _step(self, session_id: str, step: int) -> StepRecords:
        recs = self.pending.get((session_id, step))
        if recs is None:
            recs = self.pending[(session_id, step)] = StepRecords()
        return recs

    def failed(
        self,
        session_id: str,
        step: int,
        kind: NodeKind,
        start: float,
        started: float,
        exc: Exception,
    ) -> None:
        """Record a node that started at `start` (`now()`; `perf_counter()` `started`) and raised `exc`:
        "interrupted" when it asked a person (ENGINE.md 8.3, no error), else "timeout" or "failed" with the
        error and the user's traceback. The caller re-raises."""
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        started_at = _dt.datetime.fromtimestamp(start, _UTC)
        key = (session_id, step, kind.name)
        if isinstance(exc, NodeInterrupted):
            attempts = self.attempts.pop(key, 1)
            rec = NodeRecord(session_id, step, kind.name, "interrupted", attempts, started_at, ms, None, None)
        else:
            self.attempts.pop(key, None)
            status = "timeout" if isinstance(exc, NodeTimeout) else "failed"
            detail = str(exc) or type(exc).__name__
            err = ErrorEvent(
                started_at,
                ErrorScope.for_node(kind, step),
                WeaveError(
                    detail,
                    None,
                    {"type": type(exc.__cause__ or exc).__name__, "traceback": _user_traceback(exc)},
                ),
                ["node"],
                {},
            )
            attempts = int(attempts_of(exc))
            rec = NodeRecord(
                session_id, step, kind.name, status, attempts, started_at, ms, None, err.to_json_value()
            )
        self._step(session_id, step).append(rec)

    async def run(
        self, session_id: str, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        """Await one node's call through `call` (which replay overrides) and record it."""
        started_at = self.now()
        started = time.perf_counter()
        try:
            result = await self.call(session_id, step, kind, call)
        except Exception as exc:
            self.failed(session_id, step, kind, started_at, started, exc)
            raise
        ended = time.perf_counter()
        attempts = self.attempts.pop((session_id, step, kind.name), 1) if self.attempts else 1
        self.done(session_id, step, kind.name, attempts, started_at, started, ended, result)
        return result

    async def call(
        self, session_id: str, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        """Run the node (replay overrides this to return a recorded output instead)."""
        return await call()

    def take(self, session_id: str, step: int, order: Sequence[NodeKind]) -> list[NodeRecord]:
        """The step's records in frontier order (`order`; others after, in completion order)."""
        return self.take_unbuilt(session_id, step, order).records()

    def take_unbuilt(self, session_id: str, step: int, order: Sequence[NodeKind]) -> StepRecords:
        """`take`, with the records built only when read."""
        recs = self.pending.pop((session_id, step), None)
        if recs is None:
            return StepRecords()
        if len(recs) > 1:
            rank = {k.name: i for i, k in enumerate(order)}
            recs.sort(key=lambda r: rank.get(_node_of(r), len(rank)))
        return recs

    def drop(self, session_id: str) -> None:
        for key in [k for k in self.pending if k[0] == session_id]:
            del self.pending[key]
