"""Checkpoint builders shared by the persistence tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.persistence.base import Checkpoint
from engine.state import VersionedState
from engine.types import ErrorEvent, ErrorScope, Message, NodeKind, WeaveError

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def make_state(step: int, *, extra: dict[str, Any] | None = None) -> VersionedState:
    err = ErrorEvent(
        T0, ErrorScope.for_node("A", step), WeaveError("boom", details={"n": step}), ["node"], {}
    )
    return VersionedState(
        [Message.user("hi"), *(Message.assistant(f"m{i}") for i in range(step))],
        extra if extra is not None else {"count": step, "nested": {"k": [1, 2, {"z": None}]}, "ü": "é"},
        [err] if step % 3 == 2 else [],
        step + 1,
        step + 2,
        1,
    )


def make_cp(
    session_id: str,
    step: int,
    *,
    ran: list[str] | None = None,
    when: dt.datetime | None = None,
    graph_hash: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Checkpoint:
    ran_nodes = [NodeKind.coerce(n) for n in (ran if ran is not None else ["A"])]
    return Checkpoint(
        session_id,
        step,
        make_state(step, extra=extra),
        [NodeKind.custom("B"), NodeKind.END],
        {"A": {"messages": step, "extra": step + 1}, "B": {"messages": 1}},
        3,
        when or (T0 + dt.timedelta(seconds=step)),
        ran_nodes,
        [NodeKind.custom("C")],
        ["messages", "extra"],
        graph_hash,
    )
