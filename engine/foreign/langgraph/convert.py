"""A LangGraph checkpoint as our state JSON, and a LangGraph thread as a Weavegraph session export.

Mapping (the same for the state viewer and `export`):

- the `messages` channel, a list of LangChain messages, becomes our `messages` channel: type "human" -> role
  "user", "ai" -> "assistant", "system" -> "system", "tool" -> "tool", a `ChatMessage` keeps its own role;
  content that is a list of blocks becomes the text of its text blocks joined by newlines;
- every other channel whose value is plain JSON (None, bool, int, float, str, lists and string-keyed dicts
  of those) becomes a key of `extra`;
- LangGraph's internal channels (`__start__`, `__pregel_*`, `branch:*`, `start:*`, `join:*`, `__interrupt__`)
  are left out; our `errors` channel stays empty;
- channel versions become integers (the counter before the first "."), `versions_seen` likewise;
- the frontier is the nodes LangGraph would run next (`branch:to:<node>` channels newer than the node saw).

Anything else (a datetime, a set, a custom object, undecodable bytes) cannot become JSON without changing its
meaning, so the state view shows it under `extra` as its display form while `export` refuses the thread,
naming the channel and the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.foreign.langgraph.decode import parse_version
from engine.foreign.langgraph.errors import ThreadNotExportable
from engine.foreign.langgraph.records import CheckpointDetail, Value
from engine.state import VersionedState

ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
INTERNAL_PREFIXES = ("__", "branch:", "start:", "join:")
EXPORT_FORMAT = "weavegraph.checkpoint"


class NotMappable(ValueError):
    """A value that has no exact place in our channels."""


def is_internal(channel: str) -> bool:
    return channel.startswith(INTERNAL_PREFIXES)


def message_to_json(msg: Any) -> dict[str, str]:
    """A decoded LangChain message (its JSON form from `to_jsonable`) as our {"role", "content"}."""
    if not isinstance(msg, Mapping) or "content" not in msg or "type" not in msg:
        raise NotMappable(f"not a LangChain message: {str(msg)[:80]}")
    kind = str(msg["type"]).removesuffix("Chunk").lower()
    kind = {"humanmessage": "human", "aimessage": "ai", "systemmessage": "system", "toolmessage": "tool"}.get(
        kind, kind
    )
    role = str(msg.get("role")) if kind in ("chat", "chatmessage") and msg.get("role") else ROLES.get(kind)
    if role is None:
        raise NotMappable(f"a message of type '{msg['type']}' has no role in Weavegraph")
    content = msg["content"]
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else b.get("text") for b in content if isinstance(b, str | dict)]
        content = "\n".join(p for p in parts if isinstance(p, str))
    if not isinstance(content, str):
        raise NotMappable("a message's content is neither text nor a list of text blocks")
    return {"role": role, "content": content}


def _channel(name: str, value: Value, strict: bool) -> tuple[str, Any]:
    if not value.decoded:
        raise NotMappable(value.error or "undecodable")
    if name == "messages":
        if not isinstance(value.value, list):
            raise NotMappable("'messages' is not a list")
        return "messages", [message_to_json(m) for m in value.value]
    if strict and not value.plain:
        raise NotMappable(f"holds a {value.python_type or 'non-JSON value'}, which is not JSON")
    return "extra", value.value


def state_json(detail: CheckpointDetail, *, strict: bool = False) -> dict[str, Any]:
    """The checkpoint as our state JSON (`{"messages": {"version", "items"}, "extra": {...}, "errors":
    {...}}`, ENGINE.md section 6), for the state viewer and the per-channel diff. `strict` raises
    `NotMappable` (naming the channel) where a value does not map exactly; otherwise such values appear in
    `extra` as displayed."""
    messages: list[dict[str, str]] = []
    extra: dict[str, Any] = {}
    for name in sorted(detail.channels):
        if is_internal(name):
            continue
        value = detail.channels[name]
        try:
            where, mapped = _channel(name, value, strict)
        except NotMappable as exc:
            if strict:
                raise NotMappable(f"channel '{name}': {exc}") from None
            extra[name] = value.value if value.decoded else {"$undecodable": value.error, "size": value.size}
            continue
        if where == "messages":
            messages = mapped
        else:
            extra[name] = mapped
    versions = detail.channel_versions
    extra_version = max([parse_version(v) or 1 for k, v in versions.items() if not is_internal(k)] or [1])
    return {
        "messages": {"version": parse_version(versions.get("messages")) or 1, "items": messages},
        "extra": {"version": extra_version, "map": extra},
        "errors": {"version": 1, "items": []},
    }  # fmt: skip


def versioned_state(detail: CheckpointDetail) -> VersionedState:
    """`state_json` as a `VersionedState`, so the studio's state viewer and per-channel diff take it as is."""
    from engine.persistence.serde import state_from_json

    return state_from_json(state_json(detail))


def next_nodes(detail: CheckpointDetail) -> list[str]:
    """Nodes LangGraph would run next: `branch:to:<node>` channels whose version the node has not seen."""
    out = []
    for channel, version in detail.channel_versions.items():
        if not channel.startswith("branch:to:"):
            continue
        node = channel.removeprefix("branch:to:")
        seen = detail.versions_seen.get(node, {}).get(channel)
        if seen is None or (parse_version(seen) or 0) < (parse_version(version) or 0):
            out.append(node)
    return sorted(out)


def export_record(detail: CheckpointDetail, session_id: str, step: int) -> dict[str, Any]:
    """One record of `weavegraph export`'s JSON Lines format (engine/persistence/transfer.py) for this
    checkpoint; raises `ThreadNotExportable` naming the channel and checkpoint that does not map."""
    where = f"checkpoint '{detail.info.checkpoint_id}' of thread '{detail.info.key.label}'"
    if detail.error:
        raise ThreadNotExportable(f"{where} cannot be read: {detail.error}")
    try:
        state = state_json(detail, strict=True)
    except NotMappable as exc:
        raise ThreadNotExportable(f"{where} cannot become a Weavegraph session: {exc}") from None
    created = detail.info.created_at
    seen = {
        node: {ch: parse_version(v) or 0 for ch, v in chans.items() if not is_internal(ch)}
        for node, chans in detail.versions_seen.items()
        if not node.startswith("__")
    }
    return {
        "format": EXPORT_FORMAT,
        "session_id": session_id,
        "step": step,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if created else None,
        "state": state,
        "frontier": [f"Custom:{n}" for n in next_nodes(detail)],
        "versions_seen": {k: v for k, v in seen.items() if v},
        "ran_nodes": [f"Custom:{n}" for n in sorted(detail.info.metadata.get("writes") or {})],
        "skipped_nodes": [],
        "updated_channels": [],
        "concurrency_limit": 1,
        "graph_hash": None,
    }
