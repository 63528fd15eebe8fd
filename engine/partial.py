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

    def to_json_value(self) -> dict[str, JSON]:
        """This partial as JSON (node records, issue 15); unset fields are left out."""
        out: dict[str, JSON] = {}
        if self.messages is not None:
            out["messages"] = [m.to_json_value() for m in self.messages]
        if self.extra is not None:
            out["extra"] = dict(self.extra)
        if self.errors is not None:
            out["errors"] = [e.to_json_value() for e in self.errors]
        if self.frontier is not None:
            out["frontier"] = {
                "mode": self.frontier.mode,
                "targets": [t.encode() for t in self.frontier.targets],
            }
        return out

    @classmethod
    def from_json_value(cls, value: JSON) -> NodePartial:
        """The inverse of `to_json_value`; raises ValueError naming what is wrong."""
        if not isinstance(value, dict):
            raise ValueError(f"a node partial must be a JSON object, got {type(value).__name__}")
        unknown = set(value) - {"messages", "extra", "errors", "frontier"}
        if unknown:
            raise ValueError(f"a node partial has unknown keys: {', '.join(sorted(unknown))}")
        messages = value.get("messages")
        extra = value.get("extra")
        errors = value.get("errors")
        frontier = value.get("frontier")
        if messages is not None and not isinstance(messages, list):
            raise ValueError("a node partial's messages must be a list")
        if extra is not None and not isinstance(extra, dict):
            raise ValueError("a node partial's extra must be an object")
        if errors is not None and not isinstance(errors, list):
            raise ValueError("a node partial's errors must be a list")
        command = None
        if frontier is not None:
            if not isinstance(frontier, dict) or not isinstance(frontier.get("targets"), list):
                raise ValueError("a node partial's frontier must be {mode, targets}")
            mode = frontier.get("mode")
            if mode not in ("replace", "append"):
                raise ValueError(f"a node partial's frontier mode must be replace or append, got {mode!r}")
            targets = [NodeKind.decode(str(t)) for t in frontier["targets"]]
            command = FrontierCommand(mode, targets)
        return cls(
            [Message.from_json_value(m) for m in messages] if messages is not None else None,
            dict(extra) if extra is not None else None,
            [ErrorEvent.from_json_value(e) for e in errors] if errors is not None else None,
            command,
        )

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
