"""The one checkpoint codec: checkpoints and states to and from JSON values (exports, the CLI, the studio).

Three shapes, all made of the stored JSON forms of ENGINE.md section 6:

- a checkpoint record, one line of a JSON Lines export: `{"format": "weavegraph.checkpoint", "session_id",
  "step", "created_at", "state", "frontier", "versions_seen", "ran_nodes", "skipped_nodes",
  "updated_channels", "concurrency_limit", "graph_hash"}` (`checkpoint_to_json` / `checkpoint_from_json`);
- a step of a session document (`step_to_json`), the same without format, session and hash;
- a session document, what `weavegraph export` writes: `{"format": "weavegraph.session", "version": 1,
  "session_id", "graph_hash", "steps": [...]}` (`session_to_json` / `session_from_json`).

Decoding bad input raises `CheckpointDataError` whose message names the place and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import engine.persistence.serde as serde
from engine.persistence.base import Checkpoint
from engine.persistence.errors import CheckpointDataError
from engine.state import VersionedState
from engine.types import JSON

CHECKPOINT_FORMAT = "weavegraph.checkpoint"
SESSION_FORMAT = "weavegraph.session"
SESSION_VERSION = 1

__all__ = [
    "CHECKPOINT_FORMAT",
    "SESSION_FORMAT",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "session_from_json",
    "session_to_json",
    "state_from_json",
    "state_to_json",
    "step_from_json",
    "step_to_json",
]


def state_to_json(state: VersionedState) -> dict[str, JSON]:
    """`{"messages": {"version", "items"}, "extra": {"version", "map"}, "errors": {"version", "items"}}`."""
    return serde.state_to_json(state)


def state_from_json(value: Any, where: str = "state") -> VersionedState:
    """Inverse of `state_to_json`; `CheckpointDataError` naming `where` and the channel when malformed."""
    try:
        return serde.state_from_json(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointDataError(f"{where}: {exc}") from exc


def step_to_json(cp: Checkpoint, *, with_state: bool = True) -> dict[str, JSON]:
    """One step of a session document (without `state` when `with_state` is False)."""
    out: dict[str, JSON] = {
        "step": cp.step,
        "created_at": cp.created_at.isoformat() if cp.created_at else None,
    }
    if with_state:
        out["state"] = serde.state_to_json(cp.state)
    out["frontier"] = serde.nodes_to_json(cp.frontier)
    out["versions_seen"] = serde.versions_seen_to_json(cp.versions_seen)
    out["concurrency_limit"] = cp.concurrency_limit
    out["ran_nodes"] = serde.nodes_to_json(cp.ran_nodes)
    out["skipped_nodes"] = serde.nodes_to_json(cp.skipped_nodes)
    out["updated_channels"] = list(cp.updated_channels)
    return out


def _field(value: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in value:
        raise CheckpointDataError(f"{where}: missing field '{key}'")
    return value[key]


def step_from_json(
    value: Any, session_id: str, graph_hash: str | None = None, where: str = "$"
) -> Checkpoint:
    """A checkpoint from one step of a session document (or a checkpoint record's fields)."""
    if not isinstance(value, Mapping):
        raise CheckpointDataError(f"{where}: a step must be an object, got {type(value).__name__}")
    step = _field(value, "step", where)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointDataError(f"{where}.step: must be a non-negative integer, got {step!r}")
    state = state_from_json(_field(value, "state", where), f"{where}.state")
    limit = value.get("concurrency_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise CheckpointDataError(f"{where}.concurrency_limit: must be an integer, got {limit!r}")
    parts: dict[str, Any] = {}
    for key, decode in (
        ("frontier", serde.nodes_from_json),
        ("ran_nodes", serde.nodes_from_json),
        ("skipped_nodes", serde.nodes_from_json),
        ("versions_seen", serde.versions_seen_from_json),
    ):
        try:
            parts[key] = decode(value.get(key))
        except (ValueError, TypeError, AttributeError) as exc:
            raise CheckpointDataError(f"{where}.{key}: {exc}") from exc
    try:
        created = serde.parse_timestamp(value.get("created_at"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointDataError(f"{where}.created_at: not a timestamp ({exc})") from exc
    channels = value.get("updated_channels") or []
    if not isinstance(channels, list):
        raise CheckpointDataError(f"{where}.updated_channels: must be a list")
    return Checkpoint(
        session_id,
        step,
        state,
        parts["frontier"],
        parts["versions_seen"],
        int(limit) if limit is not None else 1,
        created,
        parts["ran_nodes"],
        parts["skipped_nodes"],
        [str(c) for c in channels],
        graph_hash,
    )


def checkpoint_to_json(cp: Checkpoint) -> dict[str, JSON]:
    """One JSON Lines export record: the stored JSON shapes plus the session id and step."""
    return {
        "format": CHECKPOINT_FORMAT,
        "session_id": cp.session_id,
        "step": cp.step,
        "created_at": serde.format_timestamp(cp.created_at),
        "state": serde.state_to_json(cp.state),
        "frontier": serde.nodes_to_json(cp.frontier),
        "versions_seen": serde.versions_seen_to_json(cp.versions_seen),
        "ran_nodes": serde.nodes_to_json(cp.ran_nodes),
        "skipped_nodes": serde.nodes_to_json(cp.skipped_nodes),
        "updated_channels": list(cp.updated_channels),
        "concurrency_limit": cp.concurrency_limit,
        "graph_hash": cp.graph_hash,
    }


def checkpoint_from_json(value: Any, where: str = "<record>") -> Checkpoint:
    """Inverse of `checkpoint_to_json`."""
    if not isinstance(value, Mapping) or value.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointDataError(f"{where}: not a {CHECKPOINT_FORMAT} record")
    session_id = _field(value, "session_id", where)
    if not isinstance(session_id, str) or not session_id:
        raise CheckpointDataError(f"{where}.session_id: must be a non-empty string")
    graph_hash = value.get("graph_hash")
    return step_from_json(value, session_id, graph_hash if isinstance(graph_hash, str) else None, where)


def session_to_json(
    session_id: str, graph_hash: str | None, checkpoints: Iterable[Checkpoint]
) -> dict[str, JSON]:
    """A session document (`weavegraph export`); `checkpoints` in the order they should appear."""
    return {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "session_id": session_id,
        "graph_hash": graph_hash,
        "steps": [step_to_json(c) for c in checkpoints],
    }


def session_from_json(value: Any, where: str = "$", *, rename: str | None = None) -> list[Checkpoint]:
    """The checkpoints of a session document, step ascending; `rename` files them under another id."""
    if not isinstance(value, Mapping) or value.get("format") != SESSION_FORMAT:
        raise CheckpointDataError(f"{where}: not a {SESSION_FORMAT} document")
    session_id = rename or _field(value, "session_id", where)
    if not isinstance(session_id, str) or not session_id:
        raise CheckpointDataError(f"{where}.session_id: must be a non-empty string")
    graph_hash = value.get("graph_hash")
    steps = _field(value, "steps", where)
    if not isinstance(steps, list):
        raise CheckpointDataError(f"{where}.steps: must be a list")
    out = [
        step_from_json(
            step, session_id, graph_hash if isinstance(graph_hash, str) else None, f"{where}.steps[{i}]"
        )
        for i, step in enumerate(steps)
    ]
    return sorted(out, key=lambda c: c.step)
