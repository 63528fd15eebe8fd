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
from typing import Any, NamedTuple

from engine.clock import Clock
from engine.errors import NodeTimeout
from engine.hitl_types import NodeInterrupted
from engine.partial import NodePartial
from engine.policies import attempts_of
from engine.types import JSON, ErrorEvent, ErrorScope, NodeKind, WeaveError

_UTC = _dt.UTC
_time = time.time
_tuple_new = tuple.__new__
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


class _Done(NamedTuple):
    """A node that returned, not yet built into its `NodeRecord`: its start in Unix seconds and its partial
    itself (the datetime and the JSON are made when the record is first read; see `StepRecords`)."""

    session_id: str
    step: int
    node: str
    attempts: int
    started: float
    ms: float
    result: NodePartial | None


def _build(done: _Done) -> NodeRecord:
    rec: Any = _Building()
    rec.session_id = done.session_id
    rec.step = done.step
    rec.node = done.node
    rec.status = "done"
    rec.attempts = done.attempts
    rec.started_at = _dt.datetime.fromtimestamp(done.started, _UTC)
    rec.duration_ms = done.ms
    rec.output = done.result.to_json_value() if done.result is not None else {}
    rec.error = None
    rec.__class__ = NodeRecord
    return rec  # type: ignore[no-any-return]


class StepRecords:
    """One step's node records as the recorder hands them over, built into `NodeRecord`s when first read
    (`records()`). The in-memory checkpointer keeps these: it keeps only the latest step's records, so most
    are never read, and a step of a trivial node then costs no JSON and no datetime."""

    __slots__ = ("_built", "_items")

    def __init__(self, items: list[NodeRecord | _Done]) -> None:
        self._items = items
        self._built: list[NodeRecord] | None = None

    def records(self) -> list[NodeRecord]:
        if self._built is None:
            self._built = [_build(r) if type(r) is _Done else r for r in self._items]  # type: ignore[misc]
            self._items = []
        return self._built


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

    __slots__ = ("_clock", "attempts", "pending", "wraps")

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self.pending: dict[tuple[str, int], list[NodeRecord | _Done]] = {}
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
        ms: float,
        result: NodePartial | None,
    ) -> None:
        """Record a node that started at `started` (`now()`) and returned `result` (its own partial)."""
        rec = _tuple_new(_Done, (session_id, step, node, attempts, started, ms, result))
        key = (session_id, step)
        found = self.pending.get(key)
        if found is None:
            self.pending[key] = [rec]
        else:
            found.append(rec)

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
        self.pending.setdefault((session_id, step), []).append(rec)

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
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        attempts = self.attempts.pop((session_id, step, kind.name), 1) if self.attempts else 1
        self.done(session_id, step, kind.name, attempts, started_at, ms, result)
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
            return StepRecords([])
        if len(recs) > 1:
            rank = {k.name: i for i, k in enumerate(order)}
            recs.sort(key=lambda r: rank.get(r.node, len(rank)))
        return StepRecords(recs)

    def drop(self, session_id: str) -> None:
        for key in [k for k in self.pending if k[0] == session_id]:
            del self.pending[key]
