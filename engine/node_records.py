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


_new = object.__new__
_SET = {name: NodeRecord.__dict__[name].__set__ for name in NodeRecord.__slots__}


def _done(
    session_id: str, step: int, node: str, attempts: int, started_at: _dt.datetime, ms: float, output: JSON
) -> NodeRecord:
    """A "done" record without the frozen dataclass's `__init__` (one `object.__setattr__` per field): the
    hot path of node records, once per node run."""
    rec = _new(NodeRecord)
    _SET["session_id"](rec, session_id)
    _SET["step"](rec, step)
    _SET["node"](rec, node)
    _SET["status"](rec, "done")
    _SET["attempts"](rec, attempts)
    _SET["started_at"](rec, started_at)
    _SET["duration_ms"](rec, ms)
    _SET["output"](rec, output)
    _SET["error"](rec, None)
    return rec


def _user_traceback(exc: BaseException) -> str:
    """The traceback of the user's own code: the frames below the engine's."""
    root = exc.__cause__ if exc.__cause__ is not None else exc
    frames = [f for f in traceback.extract_tb(root.__traceback__) if not f.filename.startswith(_ENGINE_DIR)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(root), root)
    return "".join(lines)


class NodeRecorder:
    """Collects node records per (session, step) until the runner saves that step."""

    __slots__ = ("_clock", "attempts", "pending")

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self.pending: dict[tuple[str, int], list[NodeRecord]] = {}
        self.attempts: dict[tuple[str, int, str], int] = {}
        """Attempts of guarded nodes, set by the executor from `run_attempts`."""

    def _now(self) -> _dt.datetime:
        if self._clock is not None:
            return _dt.datetime.fromtimestamp(self._clock.now_unix_ms() / 1000.0, _dt.UTC)
        return _dt.datetime.now(_dt.UTC)

    async def run(
        self, session_id: str, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        """Await one node's call and record it (done, or failed/timeout with the error and traceback)."""
        started_at = self._now()
        started = time.perf_counter()
        key = (session_id, step, kind.name)
        try:
            result = await self.call(session_id, step, kind, call)
        except NodeInterrupted:  # asked a person: kept as "interrupted" (ENGINE.md 8.3), no error
            ms = round((time.perf_counter() - started) * 1000.0, 3)
            attempts = self.attempts.pop(key, 1)
            rec = NodeRecord(session_id, step, kind.name, "interrupted", attempts, started_at, ms, None, None)
            self.pending.setdefault((session_id, step), []).append(rec)
            raise
        except Exception as exc:
            ms = round((time.perf_counter() - started) * 1000.0, 3)
            self.attempts.pop(key, None)
            attempts = attempts_of(exc)
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
            rec = NodeRecord(
                session_id, step, kind.name, status, int(attempts), started_at, ms, None, err.to_json_value()
            )
            self.pending.setdefault((session_id, step), []).append(rec)
            raise
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        attempts = self.attempts.pop(key, 1) if self.attempts else 1
        output = result.to_json_value() if result is not None else {}
        rec = _done(session_id, step, kind.name, attempts, started_at, ms, output)
        found = self.pending.get(key[:2])
        if found is None:
            self.pending[key[:2]] = [rec]
        else:
            found.append(rec)
        return result

    async def call(
        self, session_id: str, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        """Run the node (replay overrides this to return a recorded output instead)."""
        return await call()

    def take(self, session_id: str, step: int, order: Sequence[NodeKind]) -> list[NodeRecord]:
        """The step's records in frontier order (`order`; others after, in completion order)."""
        recs = self.pending.pop((session_id, step), [])
        if len(recs) < 2:
            return recs
        rank = {k.name: i for i, k in enumerate(order)}
        return sorted(recs, key=lambda r: rank.get(r.node, len(rank)))

    def drop(self, session_id: str) -> None:
        for key in [k for k in self.pending if k[0] == session_id]:
            del self.pending[key]
