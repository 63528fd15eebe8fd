"""What nodes return: `NodePartial`, and the frontier commands that reroute a node's successors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from engine.errors import InvalidNodeResult, InvalidOption
from engine.state import StateKey
from engine.types import JSON, ErrorEvent, Message, NodeKind, NodeLike

T = TypeVar("T")


@dataclass(frozen=True, slots=True, init=False)
class FrontierCommand:
    """Reroute the successors of the node that returns it: `Replace(targets)` or `Append(targets)`."""

    mode: Literal["replace", "append"]
    targets: tuple[NodeKind, ...]

    def __init__(self, mode: Literal["replace", "append"], targets: Iterable[NodeLike]) -> None:
        if mode not in ("replace", "append"):
            raise InvalidOption("frontier command mode", mode, "must be 'replace' or 'append'")
        if isinstance(targets, str | NodeKind):
            targets = [targets]
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "targets", tuple(NodeKind.coerce(t) for t in targets))

    @property
    def is_replace(self) -> bool:
        return self.mode == "replace"


def Replace(targets: Iterable[NodeLike]) -> FrontierCommand:
    """Replace the node's successors with `targets` (an empty list ends this branch)."""
    return FrontierCommand("replace", targets)


def Append(targets: Iterable[NodeLike]) -> FrontierCommand:
    """Add `targets` after the node's unconditional successors."""
    return FrontierCommand("append", targets)


@dataclass(slots=True)
class NodePartial:
    """A partial update; None in a field means "not set". Builders return a new partial."""

    messages: list[Message] | None = None
    extra: dict[str, JSON] | None = None
    errors: list[ErrorEvent] | None = None
    frontier: FrontierCommand | None = None

    def with_messages(self, messages: Iterable[Message]) -> NodePartial:
        return replace(self, messages=[*(self.messages or ()), *messages])

    def with_extra(self, extra: dict[str, JSON]) -> NodePartial:
        merged = dict(self.extra or {})
        merged.update(extra)
        return replace(self, extra=merged)

    def with_typed_extra(self, state_key: StateKey[T], value: T) -> NodePartial:
        return self.with_extra({state_key.storage_key: state_key.serialize(value)})

    def clear_extra_keys(self, keys: Iterable[str]) -> NodePartial:
        return self.with_extra(dict.fromkeys(keys))

    def with_errors(self, errors: Iterable[ErrorEvent]) -> NodePartial:
        return replace(self, errors=[*(self.errors or ()), *errors])

    def with_frontier_replace(self, targets: Iterable[NodeLike]) -> NodePartial:
        return replace(self, frontier=Replace(targets))

    def with_frontier_append(self, targets: Iterable[NodeLike]) -> NodePartial:
        return replace(self, frontier=Append(targets))

    def is_empty(self) -> bool:
        return not self.messages and self.extra is None and not self.errors and self.frontier is None

    @staticmethod
    def validate(value: Any, node: str) -> NodePartial | None:
        """Check what a node returned; raise `InvalidNodeResult` (a TypeError) naming the node otherwise."""
        if value is None or type(value) is NodePartial:
            return value
        if isinstance(value, NodePartial):
            return value
        raise InvalidNodeResult(node, type(value).__name__)
