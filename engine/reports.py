"""The records the runner hands out: step options and reports, session copies, run metadata, and the event
stream that ends after the stream-end event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.events.event import STREAM_END_SCOPE, Event
from engine.graph.compiled import GraphMetadata
from engine.hitl_types import PendingInterrupt
from engine.state import VersionedState
from engine.types import NodeKind, NodeLike


def _names(nodes: Iterable[NodeLike]) -> frozenset[str]:
    return frozenset(NodeKind.coerce(n).name for n in nodes)


@dataclass(frozen=True, slots=True)
class StepOptions:
    """Interrupts for one `run_step`: before/after the named nodes, or after every step."""

    interrupt_before: Iterable[NodeLike] = ()
    interrupt_after: Iterable[NodeLike] = ()
    interrupt_each_step: bool = False

    def before_names(self) -> frozenset[str]:
        return _names(self.interrupt_before)

    def after_names(self) -> frozenset[str]:
        return _names(self.interrupt_after)


@dataclass(frozen=True, slots=True)
class SessionState:
    """A copy of a session: state, step, frontier and versions_seen."""

    state: VersionedState
    step: int
    frontier: list[NodeKind]
    versions_seen: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class StepReport:
    step: int
    ran_nodes: list[NodeKind]
    skipped_nodes: list[NodeKind]
    updated_channels: list[str]
    next_frontier: list[NodeKind]
    completed: bool


@dataclass(frozen=True, slots=True)
class PausedReport:
    reason: Literal["before_node", "after_node", "after_step", "interrupt"]
    node: NodeKind | None
    step: int
    session_state: SessionState
    interrupts: list[PendingInterrupt] = field(default_factory=list)  # hitl: reason "interrupt" only


@dataclass(frozen=True, slots=True)
class SessionInit:
    fresh: bool
    checkpoint_step: int | None = None


class RunMetadata(GraphMetadata):
    """engine_version, graph_hash, runtime_config_hash, checkpointer_backend, clock_mode."""


class UntilStreamEnd:
    """An event subscription that ends after the next stream-end event (or when the bus closes)."""

    def __init__(self, subscription: Any) -> None:
        self._sub = subscription
        self._done = False

    def __aiter__(self) -> UntilStreamEnd:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        try:
            event: Event = await self._sub.__anext__()
        except StopAsyncIteration:
            self._done = True
            raise
        if event.scope == STREAM_END_SCOPE:
            self.close()
        return event

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._sub.close()

    async def aclose(self) -> None:
        self.close()
