"""State, frontier and versions_seen to and from the stored JSON shapes (Weavegraph 0.6 compatible)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.persistence.base import Checkpoint, StepQuery, StepSummary
from engine.persistence.errors import CheckpointDataError
from engine.state import VersionedState
from engine.types import JSON, ErrorEvent, Message, NodeKind


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
    out: list[NodeKind] = []
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


# ---------------------------------------------------------------- whole rows


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _one_encoder(ensure_ascii: bool, allow_nan: bool) -> Any:
    """json's C encoder (what `JSONEncoder.encode` builds anew on every call) built once, compact separators,
    no cycle markers (a cycle ends in RecursionError, see `dumps`); None without json's C accelerator."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return None
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    return make(None, _ENCODER.default, quote, None, ":", ",", False, False, allow_nan)


_C_ENCODER = _one_encoder(ensure_ascii=False, allow_nan=False)
_QUOTE = json.encoder.encode_basestring


def dumps(value: JSON) -> str:
    """Compact JSON text; NaN and infinities are refused (JSONB cannot store them). Exactly
    `JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(value)`, at a third of its
    cost on small values (the encoder is built once); a circular value raises ValueError as there."""
    if _C_ENCODER is None:  # pragma: no cover
        return _ENCODER.encode(value)
    if isinstance(value, str):
        return str(_QUOTE(value))
    try:
        return "".join(_C_ENCODER(value, 0))
    except RecursionError:
        raise ValueError("Circular reference detected (or JSON nested too deeply)") from None


def format_timestamp(when: _dt.datetime) -> str:
    """Fixed-width UTC ISO text (microseconds, trailing Z) so that text order is time order."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str | _dt.datetime | None) -> _dt.datetime:
    """Accept our ISO text, RFC 3339 and SQLite's CURRENT_TIMESTAMP ("YYYY-MM-DD HH:MM:SS"), as UTC."""
    if value is None:
        return _dt.datetime.fromtimestamp(0, _dt.UTC)
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = _dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True)
class EncodedCheckpoint:
    """A checkpoint as the JSON texts stored in a `steps` row (and the session's latest columns)."""

    session_id: str
    step: int
    created_at: _dt.datetime
    state_json: str
    frontier_json: str
    versions_seen_json: str
    ran_nodes_json: str
    skipped_nodes_json: str
    updated_channels_json: str
    concurrency_limit: int
    graph_hash: str | None
    state_value: Any = field(default=None, compare=False, repr=False)
    """The state JSON value itself; its extra map is the live state's (copy it before keeping it)."""

    payload_bytes: int = 0
    """UTF-8 size of the six JSON payloads: what `storage_stats` and `prune` count for a step."""


def encode_checkpoint(cp: Checkpoint) -> EncodedCheckpoint:
    """Serialise a checkpoint; raises `CheckpointDataError` naming session and step when it is not JSON."""
    try:
        state_value = state_to_json(cp.state)
        texts = (
            dumps(state_value),
            dumps(nodes_to_json(cp.frontier)),
            dumps(versions_seen_to_json(cp.versions_seen)),
            dumps(nodes_to_json(cp.ran_nodes)),
            dumps(nodes_to_json(cp.skipped_nodes)),
            dumps(list(cp.updated_channels)),
        )
        size = sum(len(t.encode()) for t in texts)  # also refuses text UTF-8 cannot hold (lone surrogates)
        return EncodedCheckpoint(
            cp.session_id,
            int(cp.step),
            cp.created_at,
            *texts,
            int(cp.concurrency_limit),
            cp.graph_hash,
            state_value,
            size,
        )
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise CheckpointDataError(
            f"checkpoint of session '{cp.session_id}' step {cp.step} is not JSON-serialisable: {exc}"
        ) from exc


def _load(value: Any, what: str) -> Any:
    if value is None or isinstance(value, list | dict):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode()
    return json.loads(value)


def decode_checkpoint(
    session_id: str,
    step: int,
    created_at: str | _dt.datetime | None,
    state_json: Any,
    frontier_json: Any,
    versions_seen_json: Any,
    ran_nodes_json: Any = None,
    skipped_nodes_json: Any = None,
    updated_channels_json: Any = None,
    concurrency_limit: int | None = None,
    graph_hash: str | None = None,
) -> Checkpoint:
    """Build a `Checkpoint` from stored columns (JSON text or parsed values, as drivers return them)."""
    try:
        channels = _load(updated_channels_json, "updated_channels")
        return Checkpoint(
            session_id,
            int(step),
            state_from_json(_load(state_json, "state") or {}),
            nodes_from_json(_load(frontier_json, "frontier")),
            versions_seen_from_json(_load(versions_seen_json, "versions_seen")),
            int(concurrency_limit) if concurrency_limit is not None else 1,
            parse_timestamp(created_at),
            nodes_from_json(_load(ran_nodes_json, "ran_nodes")),
            nodes_from_json(_load(skipped_nodes_json, "skipped_nodes")),
            [str(c) for c in channels] if channels else [],
            graph_hash,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointDataError(
            f"stored checkpoint of session '{session_id}' step {step} cannot be read: {exc}"
        ) from exc


def decode_summary(
    session_id: str, step: int, created_at: Any, ran_json: Any, skipped_json: Any
) -> StepSummary:
    """A `StepSummary` from stored columns (JSON text or parsed values, as drivers return them)."""
    try:
        return StepSummary(
            int(step),
            parse_timestamp(created_at),
            nodes_from_json(_load(ran_json, "ran_nodes")),
            nodes_from_json(_load(skipped_json, "skipped_nodes")),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointDataError(
            f"step {step} of session '{session_id}' has an unreadable save time or node list: {exc}"
        ) from exc


def decode_summaries(session_id: str, rows: Iterable[Any]) -> list[StepSummary]:
    """`decode_summary` over rows of (step, created_at, ran, skipped), decoding each distinct node list once
    (a long session repeats a handful of them)."""
    lists: dict[Any, list[NodeKind]] = {}
    out: list[StepSummary] = []
    for step, created_at, ran, skipped in rows:
        ran_nodes = lists.get(ran) if isinstance(ran, str) else None
        skipped_nodes = lists.get(skipped) if isinstance(skipped, str) else None
        if ran_nodes is None or skipped_nodes is None:
            first = decode_summary(session_id, step, created_at, ran, skipped)
            if isinstance(ran, str):
                lists[ran] = first.ran_nodes
            if isinstance(skipped, str):
                lists[skipped] = first.skipped_nodes
            out.append(first)
            continue
        try:
            when = parse_timestamp(created_at)
        except (TypeError, ValueError) as exc:
            raise CheckpointDataError(
                f"step {step} of session '{session_id}' has an unreadable save time: {exc}"
            ) from exc
        out.append(StepSummary(int(step), when, list(ran_nodes), list(skipped_nodes)))
    return out


def summary_bounds(
    min_step: int | None, max_step: int | None, first_arg: int | None
) -> tuple[str, list[int]]:
    """The step-range SQL of `step_summaries` (`?` placeholders, or `$n` from `first_arg` for Postgres)."""
    parts: list[str] = []
    args: list[int] = []
    for op, value in ((">=", min_step), ("<=", max_step)):
        if value is not None:
            args.append(int(value))
            mark = "?" if first_arg is None else f"${first_arg + len(args) - 1}"
            parts.append(f" AND step {op} {mark}")
    return "".join(parts), args


def node_match_forms(kind: NodeKind) -> list[str]:
    """Every stored spelling of a node in a node list: "Custom:A", "A", `Custom("A")` (or "Start"/"End")."""
    if not kind.is_custom:
        return [kind.encode()]
    return [kind.encode(), kind.name, f'Custom("{kind.name}")']


def contiguous_total(steps: int, low: int | None, high: int | None, query: StepQuery) -> int | None:
    """How many of a session's `steps` (min step `low`, max `high`) fall in the query's step range, by
    arithmetic; None when the steps have gaps and the range must be counted."""
    if query.min_step is None and query.max_step is None:
        return int(steps)
    if low is None or high is None or int(high) - int(low) + 1 != int(steps):
        return None
    lo = int(low) if query.min_step is None else max(int(low), query.min_step)
    hi = int(high) if query.max_step is None else min(int(high), query.max_step)
    return max(0, hi - lo + 1)
