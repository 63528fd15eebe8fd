"""State, frontier and versions_seen to and from the stored JSON shapes (Weavegraph 0.6 compatible)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.types import JSON, ErrorEvent, Message, NodeKind
from engine.state import VersionedState


def state_to_json(state: VersionedState) -> dict[str, JSON]:
    """`{"messages": {"version", "items"}, "extra": {"version", "map"}, "errors": {"version", "items"}}`."""
    return {
        "messages": {
            "version": state.messages_version,
            "items": [m.to_json_value() for m in state.messages],
        },
        "extra": {"version": state.extra_version, "map": state.extra},
        "errors": {
            "version": state.errors_version,
            "items": [e.to_json_value() for e in state.errors],
        },
    }


def state_from_json(value: Mapping[str, Any]) -> VersionedState:
    """Inverse of `state_to_json`; raises ValueError naming the channel that is malformed."""
    if not isinstance(value, Mapping):
        raise ValueError(f"state JSON must be an object, got {type(value).__name__}")
    try:
        messages = value.get("messages") or {"version": 1, "items": []}
        extra = value.get("extra") or {"version": 1, "map": {}}
        errors = value.get("errors") or {"version": 1, "items": []}
    except AttributeError as exc:
        raise ValueError(f"state JSON is malformed: {exc}") from exc
    try:
        msg_items = [Message.from_json_value(m) for m in messages.get("items", [])]
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"state JSON channel 'messages' is malformed: {exc}") from exc
    extra_map = extra.get("map", {})
    if not isinstance(extra_map, dict):
        raise ValueError("state JSON channel 'extra' must hold an object under 'map'")
    try:
        err_items = [ErrorEvent.from_json_value(e) for e in errors.get("items", [])]
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"state JSON channel 'errors' is malformed: {exc}") from exc
    return VersionedState(
        msg_items,
        extra_map,
        err_items,
        int(messages.get("version", 1)),
        int(extra.get("version", 1)),
        int(errors.get("version", 1)),
    )


def nodes_to_json(nodes: Iterable[NodeKind]) -> list[str]:
    return [n.encode() for n in nodes]


def nodes_from_json(value: Iterable[Any] | None) -> list[NodeKind]:
    if value is None:
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(NodeKind.decode(item))
        elif isinstance(item, dict) and "Custom" in item:  # serde's externally tagged enum
            out.append(NodeKind.custom(str(item["Custom"])))
        else:
            raise ValueError(f"not a node: {item!r}")
    return out


def plain_node_name(key: str) -> str:
    """versions_seen keys are plain names; accept "Custom:A" and `Custom("A")` from older writers."""
    kind = NodeKind.decode(key)
    return kind.name


def versions_seen_to_json(versions_seen: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {node: dict(channels) for node, channels in versions_seen.items()}


def versions_seen_from_json(value: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    if not value:
        return {}
    return {plain_node_name(k): {str(c): int(v) for c, v in dict(ch).items()} for k, ch in value.items()}
