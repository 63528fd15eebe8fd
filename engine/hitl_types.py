"""Interrupts from inside a node (ENGINE.md 8.3): the `PendingInterrupt` record and the feature's errors.
`NodeInterrupted` is control flow, never a failure: the executor never wraps it, no policy retries it."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError, NodeError, RunnerError

JsonValue = Any


class NodeInterrupted(NodeError):
    """Raised by `ctx.interrupt(...)` when the call has no answer yet; user code must let it through."""

    def __init__(self, node: str, index: int, payload: JsonValue, schema: dict[str, Any] | None) -> None:
        self.node = node
        self.index = index
        self.payload = payload
        self.schema = schema
        super().__init__(f"node '{node}' interrupted (call {index}) waiting for an answer")


class InvalidInterruptSchema(NodeError):
    """`ctx.interrupt(..., schema=...)` got something that is not a valid JSON Schema."""

    def __init__(self, node: str, detail: str) -> None:
        self.node = node
        self.detail = detail
        super().__init__(f"node '{node}': interrupt schema is not valid JSON Schema: {detail}")


@dataclass(frozen=True, slots=True)
class PendingInterrupt:
    """One `ctx.interrupt` call waiting for (or given) an answer: the `index`-th call of `node` at `step`."""

    id: str
    session_id: str
    step: int
    node: str
    index: int
    payload: JsonValue
    schema: dict[str, Any] | None
    created_at: _dt.datetime
    answer: JsonValue = None
    answered_at: _dt.datetime | None = None

    @property
    def pending(self) -> bool:
        return self.answered_at is None


class SessionInterrupted(RunnerError):
    """`run_until_complete` / `invoke_next` stopped: nodes of the session wait for answers."""

    def __init__(self, session_id: str, interrupts: Sequence[PendingInterrupt]) -> None:
        self.session_id = session_id
        self.interrupts = list(interrupts)
        names = ", ".join(f"{i.id} ({i.node})" for i in self.interrupts)
        super().__init__(f"session '{session_id}' is waiting for answers: {names}")


class InterruptError(EngineError):
    """A resume that cannot be done: nothing was changed."""


class InvalidAnswer(InterruptError):
    """An answer that fails its interrupt's JSON Schema (`path` is the JSON path of the failing value)."""

    def __init__(self, interrupt_id: str, path: str, detail: str) -> None:
        self.interrupt_id = interrupt_id
        self.path = path
        self.detail = detail
        super().__init__(f"answer to interrupt '{interrupt_id}' is invalid at {path}: {detail}")


class UnknownInterrupt(InterruptError):
    """An answer for an interrupt that is not pending in this session (answered already, another session's,
    or no such id)."""

    def __init__(self, session_id: str, interrupt_id: str, reason: str) -> None:
        self.session_id = session_id
        self.interrupt_id = interrupt_id
        self.reason = reason
        super().__init__(f"cannot answer interrupt '{interrupt_id}' of session '{session_id}': {reason}")


class NothingToResume(InterruptError):
    def __init__(self, session_id: str, detail: str) -> None:
        self.session_id = session_id
        super().__init__(f"cannot resume session '{session_id}': {detail}")


class StepInterrupted(Exception):
    """Internal: one or more nodes of a step interrupted. `results` holds, in run order, each node's partial
    (or None), its `NodeInterrupted`, or `STILL_WAITING` for a node whose earlier interrupt is unanswered."""

    def __init__(self, results: list[Any]) -> None:
        super().__init__("step interrupted")
        self.results = results


STILL_WAITING = object()
"""A node of a resumed step that was not re-run because an earlier interrupt of it is still unanswered."""
