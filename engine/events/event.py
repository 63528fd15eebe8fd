"""Event records and their single JSON shape, plus the reserved stream-end / invocation-end sentinels."""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import InvalidEvent, RecordDecodeError
from engine.types import JSON, format_rfc3339, parse_rfc3339

EventType = Literal["node", "diagnostic", "llm", "lifecycle"]
EVENT_TYPES: tuple[str, ...] = ("node", "diagnostic", "llm", "lifecycle")

STREAM_END_SCOPE = "__weavegraph_stream_end__"
"""Diagnostic scope emitted once at the end of a run (success or failure)."""
INVOCATION_END_SCOPE = "__weavegraph_invocation_end__"
"""Diagnostic scope emitted after each iterative `invoke_next`; the stream stays open."""
RESERVED_SCOPES: frozenset[str] = frozenset({STREAM_END_SCOPE, INVOCATION_END_SCOPE})
"""Scopes only the runner may emit (as diagnostics); `Event.create` refuses them for any other type."""

LLM_SCOPES: tuple[str, ...] = ("chunk", "final", "error")
STRUCTURED_KEYS: tuple[str, ...] = ("node_id", "step", "invocation_id", "now_unix_ms")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
# Characters str.splitlines() breaks on that json.dumps(ensure_ascii=False) leaves raw inside strings.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


_UTC = _dt.UTC
_string = json.encoder.encode_basestring
"""A str as a JSON string literal, non-ASCII kept (what `_COMPACT` does for a str)."""
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
"""`json.dumps(..., ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)`, built once."""
_utcnow = functools.partial(_dt.datetime.now, _dt.UTC)
"""The current UTC time (a C-level partial: several times cheaper than a Python function here)."""
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
"""The C encoder `_COMPACT` builds on every call (None without the C accelerator): stored events build one per
batch and call it directly (`event_json_texts`)."""


def utc_from_unix_ms(ms: int) -> _dt.datetime:
    """The UTC datetime of `ms` milliseconds since the epoch, exactly (no float rounding)."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `metadata` holds the structured keys (node_id, step, invocation_id, now_unix_ms) and the
    emitter's own keys; `node_id` and `step` mirror the structured keys (set either, the other follows).
    Frozen: no field can be assigned. The one exception is `seq`, -1 until the event is first published: the
    bus stamps it then, once (`stamp_seq`); publishing an already stamped event publishes a stamped copy
    (`with_seq`), so a `seq` never changes once set. `timestamp` (always timezone-aware) is taken when the
    event is created.
    """

    type: str
    scope: str
    message: str
    metadata: dict[str, JSON] = field(default_factory=dict)
    node_id: str | None = None
    step: int | None = None
    timestamp: _dt.datetime = field(default_factory=_utcnow)
    seq: int = -1

    def __post_init__(self) -> None:
        # Keep the fields and the structured metadata keys in agreement, so the JSON shape (which only
        # carries metadata) round-trips to an equal event.
        meta = self.metadata
        if self.node_id is not None and meta.get("node_id") != self.node_id:
            meta = {**meta, "node_id": self.node_id}
        if self.step is not None and meta.get("step") != self.step:
            meta = {**meta, "step": self.step}
        if meta is not self.metadata:
            object.__setattr__(self, "metadata", meta)
        if self.node_id is None:
            node_id = meta.get("node_id")
            if isinstance(node_id, str):
                object.__setattr__(self, "node_id", node_id)
        if self.step is None:
            step = meta.get("step")
            if isinstance(step, int) and not isinstance(step, bool):
                object.__setattr__(self, "step", step)
        if self.timestamp.tzinfo is None:
            object.__setattr__(self, "timestamp", self.timestamp.replace(tzinfo=_dt.UTC))

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
        """Build an event, merging the structured keys into metadata (structured keys win on clashes).

        The timestamp is `timestamp`, else the instant `now_unix_ms` (the injected clock), else now.
        Raises `InvalidEvent` (a ValueError) for a reserved sentinel scope on anything but a diagnostic event.
        """
        if scope in RESERVED_SCOPES and type != "diagnostic":
            raise InvalidEvent(type, scope)
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
            timestamp = utc_from_unix_ms(now_unix_ms) if now_unix_ms is not None else _utcnow()
        elif timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=_dt.UTC)
        if node_id is None:
            found = meta.get("node_id")
            node_id = found if isinstance(found, str) else None
        if step is None:
            found = meta.get("step")
            step = found if isinstance(found, int) and not isinstance(found, bool) else None
        # Fields and metadata already agree, so skip the frozen __init__/__post_init__ (half the cost).
        event = object.__new__(cls)
        _set_type(event, type)
        _set_scope(event, scope)
        _set_message(event, message)
        _set_metadata(event, meta)
        _set_node_id(event, node_id)
        _set_step(event, step)
        _set_timestamp(event, timestamp)
        _set_seq(event, -1)
        return event

    def with_seq(self, seq: int) -> Event:
        """A copy of this event with `seq` (how the bus stamps what it publishes)."""
        event = _new(Event)
        _set_type(event, self.type)
        _set_scope(event, self.scope)
        _set_message(event, self.message)
        _set_metadata(event, self.metadata)
        _set_node_id(event, self.node_id)
        _set_step(event, self.step)
        _set_timestamp(event, self.timestamp)
        _set_seq(event, seq)
        return event

    @classmethod
    def llm(
        cls,
        scope: str,
        text: str,
        *,
        stream_id: str | None = None,
        metadata: dict[str, JSON] | None = None,
        **structured: Any,
    ) -> Event:
        """An LLM streaming event; `scope` is "chunk", "final" or "error" (never a sentinel)."""
        if scope not in LLM_SCOPES:
            raise InvalidEvent("llm", scope, LLM_SCOPES)
        meta: dict[str, JSON] = dict(metadata) if metadata else {}
        if stream_id is not None:
            meta["stream_id"] = stream_id
        return cls.create("llm", scope, text, metadata=meta, **structured)

    @property
    def invocation_id(self) -> str | None:
        value = self.metadata.get("invocation_id")
        return value if isinstance(value, str) else None

    @property
    def now_unix_ms(self) -> int | None:
        value = self.metadata.get("now_unix_ms")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def is_stream_end(self) -> bool:
        return self.scope == STREAM_END_SCOPE

    @property
    def is_invocation_end(self) -> bool:
        return self.scope == INVOCATION_END_SCOPE

    def to_json_value(self) -> dict[str, JSON]:
        """`{"type", "scope", "message", "timestamp" (RFC 3339, UTC), "seq", "metadata"}`."""
        stamp = self.timestamp
        if stamp.tzinfo is _UTC:  # every event the engine makes: what format_rfc3339 gives, sooner
            text = stamp.isoformat()
            text = text[:-6] + "Z"
        else:
            text = format_rfc3339(stamp)
        return {
            "type": self.type,
            "scope": self.scope,
            "message": self.message,
            "timestamp": text,
            "seq": self.seq,
            "metadata": self.metadata,
        }

    def to_json_string(self) -> str:
        """Compact, strict JSON on one line for every line splitter (non-finite floats become null,
        unknown objects strings; U+0085, U+2028 and U+2029 are escaped)."""
        text = self._fast_json()
        if text is None:
            value = self.to_json_value()
            try:
                text = _COMPACT.encode(value)
            except ValueError:
                text = json.dumps(
                    _finite(value), ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
                )
        return one_line(text)

    def _fast_json(self, encode_metadata: Callable[[Any], str] = _COMPACT.encode) -> str | None:
        """`_COMPACT.encode(self.to_json_value())` for the usual event (str fields, a UTC timestamp, finite
        metadata), built around one encode of the metadata alone (stored events encode every event: this is
        about a third cheaper); None for anything else (the caller takes the general path)."""
        stamp = self.timestamp
        if (
            stamp.tzinfo is not _UTC
            or type(self.type) is not str
            or type(self.scope) is not str
            or type(self.message) is not str
            or type(self.seq) is not int
        ):
            return None
        try:
            meta = encode_metadata(self.metadata)
        except ValueError:
            return None
        return (
            f'{{"type":{_string(self.type)},"scope":{_string(self.scope)},"message":{_string(self.message)},'
            f'"timestamp":"{stamp.isoformat()[:-6]}Z","seq":{self.seq},"metadata":{meta}}}'
        )

    def to_json_pretty(self) -> str:
        return json.dumps(_finite(self.to_json_value()), ensure_ascii=False, indent=2, default=str)

    @classmethod
    def from_json(cls, value: str | bytes | dict[str, Any]) -> Event:
        """Parse the JSON shape produced by `to_json_value` / `to_json_string` (a dict or JSON text)."""
        if isinstance(value, str | bytes):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise RecordDecodeError("event", f"a JSON object, got {type(value).__name__}")
        meta = value.get("metadata") or {}
        if not isinstance(meta, dict):
            raise RecordDecodeError("event", "metadata must be a JSON object")
        stamp = value.get("timestamp")
        node_id = meta.get("node_id")
        step = meta.get("step")
        seq = value.get("seq", -1)
        return cls(
            str(value.get("type", "node")),
            str(value.get("scope", "")),
            str(value.get("message", "")),
            dict(meta),
            node_id if isinstance(node_id, str) else None,
            step if isinstance(step, int) and not isinstance(step, bool) else None,
            parse_rfc3339(stamp) if isinstance(stamp, str) else _utcnow(),
            seq if isinstance(seq, int) and not isinstance(seq, bool) else -1,
        )


_new = object.__new__
_SLOTS = Event.__dict__
_set_type = _SLOTS["type"].__set__
_set_scope = _SLOTS["scope"].__set__
_set_message = _SLOTS["message"].__set__
_set_metadata = _SLOTS["metadata"].__set__
_set_node_id = _SLOTS["node_id"].__set__
_set_step = _SLOTS["step"].__set__
_set_timestamp = _SLOTS["timestamp"].__set__
_set_seq = _SLOTS["seq"].__set__


def lifecycle_event(
    scope: str,
    message: str,
    meta: dict[str, JSON],
    node_id: str | None,
    step: int,
    invocation_id: str,
    now_unix_ms: int | None,
) -> Event:
    """What `Event.create("lifecycle", ...)` builds from a lifecycle record, without its checks and copies
    (the runner's hot path): `meta` is a fresh dict of the record's own keys, taken over and completed with
    the structured keys in `create`'s order (node_id, step, invocation_id, now_unix_ms)."""
    if node_id is not None:
        meta["node_id"] = node_id
    meta["step"] = step
    meta["invocation_id"] = invocation_id
    if now_unix_ms is not None:
        meta["now_unix_ms"] = now_unix_ms
        timestamp = utc_from_unix_ms(now_unix_ms)
    else:
        timestamp = _utcnow()
    event = _new(Event)
    _set_type(event, "lifecycle")
    _set_scope(event, scope)
    _set_message(event, message)
    _set_metadata(event, meta)
    _set_node_id(event, node_id)
    _set_step(event, step)
    _set_timestamp(event, timestamp)
    _set_seq(event, -1)
    return event


def stamp_seq(event: Event, seq: int) -> Event:
    """`event` with `seq` for publishing: a fresh event (seq -1) is stamped in place, its one and only write
    (no copy: the hot path of every publish); an event stamped before is copied (`with_seq`)."""
    if event.seq < 0:
        _set_seq(event, seq)
        return event
    return event.with_seq(seq)


def event_json_texts(events: Sequence[Event]) -> list[str]:
    """`[e.to_json_string() for e in events]`, the same texts, cheaper (stored events encode every event): the
    usual event's metadata goes through one C encoder made for the whole batch instead of one per event."""
    make = _make_encoder
    if make is None:
        return [e.to_json_string() for e in events]

    def new_encoder() -> Any:
        return make({}, str, _string, None, ":", ",", False, False, False)

    encoder = [new_encoder()]

    def metadata(value: Any) -> str:
        try:
            return "".join(encoder[0](value, 0))
        except ValueError:  # a non-finite float (or a cycle): the general path says what happens
            encoder[0] = new_encoder()  # a failed encode leaves its cycle markers behind
            raise

    texts = []
    for e in events:
        text = e._fast_json(metadata)
        texts.append(e.to_json_string() if text is None else one_line(text))
    return texts


def one_line(text: str) -> str:
    """`text` with the line breaks some line splitters see inside JSON strings escaped."""
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        return text.translate(_LINE_BREAKS)
    return text


def _finite(value: JSON) -> JSON:
    """A copy of `value` with NaN and infinities replaced by None (they have no strict JSON form)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def end_message(session_id: str, status: str, step: int, error: str | None = None) -> str:
    """The stream-end / invocation-end message: "session=<id> status=<s> step=<n>[ error=<text>]"."""
    text = f"session={session_id} status={status} step={step}"
    if error is not None:
        text += f" error={error}"
    return text
