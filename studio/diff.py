"""Pure, per-channel difference between two checkpoint states (messages, extra, errors), with no Qt.

The checkpoint browser shows it; the CLI or tests may use it as is. `diff_states(old, new)` never mutates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.state import StateSnapshot, VersionedState
from engine.types import JSON, ErrorEvent, Message, NodeKind
from studio.services.storage import Checkpoint, state_from_stored_json

StateLike = VersionedState | StateSnapshot | Mapping[str, Any]
"""A state object, or its stored JSON form (`{"messages": {...}, "extra": {...}, "errors": {...}}`)."""

CHANNELS = ("messages", "extra", "errors")


@dataclass(frozen=True, slots=True)
class ExtraChange:
    """One top-level extra key whose value differs; `old`/`new` are the JSON values."""

    key: str
    old: JSON
    new: JSON


@dataclass(frozen=True, slots=True)
class StateDiff:
    """What changed from `old` to `new`, channel by channel.

    Lists grow by appending, so `*_added` is the tail of `new` after the longest common prefix and
    `*_removed` the tail of `old` after it (non-empty only when history was rewritten or the steps were
    compared newest first).
    """

    messages_added: tuple[Message, ...] = ()
    messages_removed: tuple[Message, ...] = ()
    extra_added: dict[str, JSON] = field(default_factory=dict)
    extra_removed: dict[str, JSON] = field(default_factory=dict)
    extra_changed: tuple[ExtraChange, ...] = ()
    errors_added: tuple[ErrorEvent, ...] = ()
    errors_removed: tuple[ErrorEvent, ...] = ()
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def changed_channels(self) -> list[str]:
        """Channels whose content differs, in the order messages, extra, errors."""
        out = []
        if self.messages_added or self.messages_removed:
            out.append("messages")
        if self.extra_added or self.extra_removed or self.extra_changed:
            out.append("extra")
        if self.errors_added or self.errors_removed:
            out.append("errors")
        return out

    @property
    def is_empty(self) -> bool:
        return not self.changed_channels

    def to_json_value(self) -> dict[str, JSON]:
        """A JSON form for export and for the raw view."""
        return {
            "messages": {
                "added": [m.to_json_value() for m in self.messages_added],
                "removed": [m.to_json_value() for m in self.messages_removed],
            },
            "extra": {
                "added": dict(self.extra_added),
                "removed": dict(self.extra_removed),
                "changed": {c.key: {"old": c.old, "new": c.new} for c in self.extra_changed},
            },
            "errors": {
                "added": [e.to_json_value() for e in self.errors_added],
                "removed": [e.to_json_value() for e in self.errors_removed],
            },
            "versions": {ch: list(v) for ch, v in self.versions.items()},
        }


@dataclass(frozen=True, slots=True)
class CheckpointDiff:
    """A `StateDiff` plus what moved around it: the two steps and their frontiers."""

    old_step: int
    new_step: int
    state: StateDiff
    old_frontier: tuple[str, ...] = ()
    new_frontier: tuple[str, ...] = ()


def json_equal(a: JSON, b: JSON) -> bool:
    """Equality of JSON values that tells `True` from `1` (Python's == does not); `1 == 1.0` still holds."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list | tuple) or isinstance(b, dict | list | tuple):
        return False
    return bool(a == b) and (type(a) is type(b) or (_is_number(a) and _is_number(b)))


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def as_state(value: StateLike) -> VersionedState | StateSnapshot:
    """Accept a state, a snapshot, or the stored JSON form."""
    if isinstance(value, VersionedState | StateSnapshot):
        return value
    return state_from_stored_json(value)


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def diff_states(old: StateLike, new: StateLike) -> StateDiff:
    """Per-channel difference from `old` to `new`."""
    o, n = as_state(old), as_state(new)
    mp = _common_prefix(o.messages, n.messages)
    ep = _common_prefix(o.errors, n.errors)
    added: dict[str, JSON] = {}
    removed: dict[str, JSON] = {}
    changed: list[ExtraChange] = []
    for key, value in n.extra.items():
        if key not in o.extra:
            added[key] = value
        elif not json_equal(o.extra[key], value):
            changed.append(ExtraChange(key, o.extra[key], value))
    for key, value in o.extra.items():
        if key not in n.extra:
            removed[key] = value
    return StateDiff(
        messages_added=tuple(n.messages[mp:]),
        messages_removed=tuple(o.messages[mp:]),
        extra_added=added,
        extra_removed=removed,
        extra_changed=tuple(sorted(changed, key=lambda c: c.key)),
        errors_added=tuple(n.errors[ep:]),
        errors_removed=tuple(o.errors[ep:]),
        versions={
            "messages": (o.messages_version, n.messages_version),
            "extra": (o.extra_version, n.extra_version),
            "errors": (o.errors_version, n.errors_version),
        },
    )


def _frontier(nodes: Sequence[NodeKind]) -> tuple[str, ...]:
    return tuple(str(n) for n in nodes)


def diff_checkpoints(old: Checkpoint, new: Checkpoint) -> CheckpointDiff:
    """Difference between two checkpoints, as given (pass the earlier step first for "added")."""
    return CheckpointDiff(
        old.step,
        new.step,
        diff_states(old.state, new.state),
        _frontier(old.frontier),
        _frontier(new.frontier),
    )


def short_json(value: JSON, limit: int = 80) -> str:
    """Compact one-line JSON, cut at `limit` characters with an ellipsis."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_line(err: ErrorEvent) -> str:
    """One line for an error record: `[node A step 3] boom`."""
    scope = err.scope
    where = scope.kind
    if scope.node is not None:
        where += f" {scope.node}"
    if scope.step is not None:
        where += f" step {scope.step}"
    return f"[{where}] {err.error.message}"


def diff_lines(diff: StateDiff) -> list[str]:
    """Readable lines, one per change: `+ messages: user: hi`, `~ extra.sum: 1 -> 2`, ..."""
    lines: list[str] = []
    for m in diff.messages_added:
        lines.append(f"+ messages: {m.role_name}: {m.content}")
    for m in diff.messages_removed:
        lines.append(f"- messages: {m.role_name}: {m.content}")
    for key, value in diff.extra_added.items():
        lines.append(f"+ extra.{key}: {short_json(value)}")
    for key, value in diff.extra_removed.items():
        lines.append(f"- extra.{key}: {short_json(value)}")
    for c in diff.extra_changed:
        lines.append(f"~ extra.{c.key}: {short_json(c.old)} -> {short_json(c.new)}")
    for e in diff.errors_added:
        lines.append(f"+ errors: {error_line(e)}")
    for e in diff.errors_removed:
        lines.append(f"- errors: {error_line(e)}")
    return lines
