"""Event records and their single JSON shape."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.types import JSON, format_rfc3339, parse_rfc3339

EventType = Literal["node", "diagnostic", "llm", "lifecycle"]
EVENT_TYPES: tuple[str, ...] = ("node", "diagnostic", "llm", "lifecycle")

STREAM_END_SCOPE = "__weavegraph_stream_end__"
"""Diagnostic scope emitted once at the end of a run (success or failure)."""
INVOCATION_END_SCOPE = "__weavegraph_invocation_end__"
"""Diagnostic scope emitted after each iterative `invoke_next`; the stream stays open."""

LLM_SCOPES = ("chunk", "final", "error")
_STRUCTURED = ("node_id", "step", "invocation_id", "now_unix_ms")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `metadata` holds the structured keys (node_id, step, invocation_id, now_unix_ms) and the
    emitter's own keys; `seq` is set by the bus when the event is published (-1 before)."""

    type: str
    scope: str
    message: str
    metadata: dict[str, JSON] = field(default_factory=dict)
    node_id: str | None = None
    step: int | None = None
    timestamp: _dt.datetime = field(default_factory=_utcnow)
    seq: int = -1

    @classmethod
    def create(
        cls,
        type: str,
        scope: str,
        message: str,
        *,
        node_id: str | None = None,
        step: int | None = None,
        invocation_id: str | None = None,
        now_unix_ms: int | None = None,
        metadata: dict[str, JSON] | None = None,
        timestamp: _dt.datetime | None = None,
    ) -> Event:
        """Build an event, merging the structured keys into metadata (structured keys win on clashes)."""
        meta: dict[str, JSON] = dict(metadata) if metadata else {}
        if node_id is not None:
            meta["node_id"] = node_id
        if step is not None:
            meta["step"] = step
        if invocation_id is not None:
            meta["invocation_id"] = invocation_id
        if now_unix_ms is not None:
            meta["now_unix_ms"] = now_unix_ms
        if timestamp is None:
            timestamp = (
                _dt.datetime.fromtimestamp(now_unix_ms / 1000.0, tz=_dt.UTC)
                if now_unix_ms is not None
                else _utcnow()
            )
        return cls(type, scope, message, meta, node_id, step, timestamp)

    @property
    def invocation_id(self) -> str | None:
        value = self.metadata.get("invocation_id")
        return value if isinstance(value, str) else None

    @property
    def is_stream_end(self) -> bool:
        return self.scope == STREAM_END_SCOPE

    @property
    def is_invocation_end(self) -> bool:
        return self.scope == INVOCATION_END_SCOPE

    def to_json_value(self) -> dict[str, JSON]:
        return {
            "type": self.type,
            "scope": self.scope,
            "message": self.message,
            "timestamp": format_rfc3339(self.timestamp),
            "seq": self.seq,
            "metadata": self.metadata,
        }

    def to_json_string(self) -> str:
        return json.dumps(self.to_json_value(), ensure_ascii=False, separators=(",", ":"), default=str)

    def to_json_pretty(self) -> str:
        return json.dumps(self.to_json_value(), ensure_ascii=False, indent=2, default=str)

    @classmethod
    def from_json(cls, value: str | bytes | dict[str, Any]) -> Event:
        """Parse the JSON shape produced by `to_json_value` / `to_json_string`."""
        if isinstance(value, str | bytes):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f"an event is a JSON object, got {type(value).__name__}")
        meta = value.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ValueError("event metadata must be a JSON object")
        stamp = value.get("timestamp")
        node_id = meta.get("node_id")
        step = meta.get("step")
        return cls(
            str(value.get("type", "node")),
            str(value.get("scope", "")),
            str(value.get("message", "")),
            dict(meta),
            node_id if isinstance(node_id, str) else None,
            step if isinstance(step, int) and not isinstance(step, bool) else None,
            parse_rfc3339(stamp) if isinstance(stamp, str) else _utcnow(),
            int(value.get("seq", -1)),
        )


def end_message(session_id: str, status: str, step: int, error: str | None = None) -> str:
    """The stream-end / invocation-end message: "session=<id> status=<s> step=<n>[ error=<text>]"."""
    text = f"session={session_id} status={status} step={step}"
    if error is not None:
        text += f" error={error}"
    return text
