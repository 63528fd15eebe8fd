"""The compact stored form of a run of events (stored events, ENGINE.md 8.1; SQLite migration 0009).

A `wg_events` row holds a run of consecutive events of one session and one step (its `session_id` and `step`
columns) as a JSON array. Rows written before migration 0009 hold each event in its `to_json_string` object
form; rows written since hold the usual event as an array instead:

    [type, scope, message, time, seq, metadata]          (6 items)
    [type, scope, message, time, seq, metadata, 1]       (7 items: metadata complete)

`type` is the index in `EVENT_TYPES` (or the text of another type), `time` the timestamp in microseconds: the
first event of the row since the Unix epoch, every later one since the event before it. With 6 items the
metadata ends with `"step"` and `"invocation_id"` in that order, holding the row's step and session id; they
are left out and put back last. Reading gives back exactly the events the object form gives
(`Event.from_json`), metadata order included. An event without this form (a timestamp not in UTC, a field
not of its usual type, metadata with a non-finite float) keeps the object form inside the same array, and a
run whose encoding fails as a whole is stored in the object form alone.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

from engine.events.event import EVENT_TYPES, Event, event_json_texts, one_line

_UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_US = _dt.timedelta(microseconds=1)
_TYPE_CODES = {name: i for i, name in enumerate(EVENT_TYPES)}
_string = json.encoder.encode_basestring
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)


def _encoder() -> Any:
    """A C encoder for one run (`_COMPACT.encode` builds one at every call); `_COMPACT.encode` without it."""
    if _make_encoder is None:
        return None
    encoder = _make_encoder({}, str, _string, None, ":", ",", False, False, False)
    return lambda value: "".join(encoder(value, 0))


def encode_run(events: Sequence[Event], session_id: str) -> str:
    """The events (one run: consecutive, of one step, of the session `session_id`) as a row's JSON array, in
    one encoder call."""
    step = events[0].step
    codes = _TYPE_CODES
    items: list[Any] = []
    last = None
    for e in events:
        stamp = e.timestamp
        kind = e.type
        if (
            stamp.tzinfo is not _UTC
            or type(kind) is not str
            or type(e.scope) is not str
            or type(e.message) is not str
            or type(e.seq) is not int
        ):
            items.append(e.to_json_value())
            continue
        us = (stamp - _EPOCH) // _US
        time = us if last is None else us - last
        last = us
        meta = e.metadata
        keys = reversed(meta)
        if (
            next(keys, None) == "invocation_id"
            and next(keys, None) == "step"
            and meta["invocation_id"] == session_id
            and type(meta["step"]) is int
            and meta["step"] == step
        ):
            meta = meta.copy()
            del meta["step"], meta["invocation_id"]
            items.append([codes.get(kind, kind), e.scope, e.message, time, e.seq, meta])
        else:
            items.append([codes.get(kind, kind), e.scope, e.message, time, e.seq, meta, 1])
    try:
        text = (_encoder() or _COMPACT.encode)(items)
    except ValueError:  # a non-finite float (or a cycle): the object form says what happens
        return "[" + ",".join(event_json_texts(events)) + "]"
    return one_line(text)


def decode_run(value: str | list[Any], step: int | None, session_id: str) -> list[Event]:
    """The events of a row (`value`: its JSON text or the parsed array), in either form."""
    items = json.loads(value) if isinstance(value, str) else value
    out: list[Event] = []
    us = 0
    for item in items:
        if type(item) is not list:
            out.append(Event.from_json(item))
            continue
        kind, scope, message, time, seq, meta = item[:6]
        us += time
        if len(item) == 6:
            meta["step"] = step
            meta["invocation_id"] = session_id
        node_id = meta.get("node_id")
        found = meta.get("step")
        out.append(
            Event(
                EVENT_TYPES[kind] if type(kind) is int else kind,
                scope,
                message,
                meta,
                node_id if isinstance(node_id, str) else None,
                found if isinstance(found, int) and not isinstance(found, bool) else None,
                _EPOCH + _dt.timedelta(microseconds=us),
                seq,
            )
        )
    return out
