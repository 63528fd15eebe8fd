"""Decoding stored LangGraph values: LangGraph's own `JsonPlusSerializer` when the `langgraph` extra is
installed; without it, the type tags that need no library ("null", "json", "bytes", and msgpack made of plain
data); values holding Python objects then stay raw (type tag and size).

Opening a database never runs code from it: the serializer is built in LangGraph's strict mode, which
revives only LangGraph's list of safe types (LangChain messages, datetimes, `Send`, `Interrupt`, ...);
other objects come back as plain data. `trust_types=True` lets the serializer import the classes named in
the data (LangGraph's
default; only for databases you wrote yourself).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import uuid
from typing import Any

from engine.foreign.langgraph.msgpack_spans import MsgpackError, decode_plain
from engine.foreign.langgraph.records import Value

_UUID_EPOCH = 0x01B21DD213814000  # 100 ns ticks from 1582-10-15 to 1970-01-01


def checkpoint_time(checkpoint_id: str) -> _dt.datetime | None:
    """The creation time LangGraph encodes in its checkpoint ids (UUID version 6), None for other ids."""
    try:
        value = uuid.UUID(checkpoint_id)
    except (ValueError, AttributeError, TypeError):
        return None
    if value.version != 6:
        return None
    h = value.hex
    ticks = (int(h[0:12], 16) << 12) | int(h[13:16], 16)
    try:
        return _dt.datetime.fromtimestamp((ticks - _UUID_EPOCH) / 1e7, _dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def serializer_available() -> bool:
    """Whether LangGraph's serializer can be imported (the `langgraph` extra)."""
    try:
        import langgraph.checkpoint.serde.jsonplus  # noqa: F401
    except ImportError:
        return False
    return True


class Decoder:
    """Turns (type tag, bytes) into a `Value`; never raises for bad data."""

    def __init__(self, *, trust_types: bool = False, use_serializer: bool = True) -> None:
        self._serde: Any = None
        if use_serializer and serializer_available():
            from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

            self._serde = (
                JsonPlusSerializer(allowed_msgpack_modules=True)
                if trust_types
                else JsonPlusSerializer(allowed_msgpack_modules=None)
            )

    @property
    def uses_langgraph(self) -> bool:
        return self._serde is not None

    def raw(self, type_: str | None, data: bytes | None) -> Any:
        """The decoded Python object; raises on bad data (ValueError or the library's errors)."""
        if data is None or type_ in (None, "null", "empty"):
            return None
        if self._serde is not None:
            return self._serde.loads_typed((type_, bytes(data)))
        if type_ == "json":
            return json.loads(bytes(data))
        if type_ == "bytes":
            return bytes(data)
        if type_ == "msgpack":
            try:
                return decode_plain(bytes(data))
            except MsgpackError as exc:
                if "extension" in str(exc):
                    raise LookupError(
                        "this value holds Python objects; decoding it needs LangGraph's serializer "
                        "(install the 'langgraph' extra)"
                    ) from None
                raise
        raise LookupError(
            f"values of type '{type_}' need LangGraph's serializer (install the 'langgraph' extra)"
        )

    def value(self, type_: str | None, data: bytes | None) -> Value:
        size = len(data) if data is not None else 0
        try:
            obj = self.raw(type_, data)
        except LookupError as exc:
            return Value(type_, size, False, None, str(exc))
        except Exception as exc:  # a corrupt blob is shown as undecodable, whatever the library raised
            return Value(type_, size, False, None, f"cannot decode ({type(exc).__name__}: {exc})"[:300])
        odd = non_plain_type(obj)
        return Value(type_, size, True, to_jsonable(obj), None, odd is None, odd)


def non_plain_type(obj: Any, _depth: int = 0) -> str | None:
    """None when `obj` is plain JSON data (None, bool, int, finite float, str, lists, str-keyed dicts), else
    the name of the first type in it that is not."""
    if obj is None or isinstance(obj, bool | int | str):
        return None
    if isinstance(obj, float):
        return None if obj == obj and obj not in (float("inf"), float("-inf")) else "non-finite float"
    if _depth > 64:
        return "deeply nested value"
    if isinstance(obj, list):
        for item in obj:
            if (odd := non_plain_type(item, _depth + 1)) is not None:
                return odd
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                return f"{type(k).__name__} key"
            if (odd := non_plain_type(v, _depth + 1)) is not None:
                return odd
        return None
    return type(obj).__name__


def to_jsonable(obj: Any, _depth: int = 0) -> Any:
    """A JSON value for display and diffing: LangChain messages and pydantic models as their fields (plus
    "type"), dataclasses as dicts, bytes as base64, sets as sorted lists, anything else as its repr."""
    if _depth > 64:
        return repr(obj)
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else repr(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, _depth + 1) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [to_jsonable(v, _depth + 1) for v in obj]
        return sorted(items, key=repr)
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(obj)).decode()}
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _depth + 1)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            fields = dump()
        except Exception:
            return repr(obj)
        if isinstance(fields, dict):
            out = to_jsonable(fields, _depth + 1)
            out.setdefault("type", type(obj).__name__)
            return out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name), _depth + 1) for f in dataclasses.fields(obj)}
        out["$class"] = type(obj).__name__
        return out
    return repr(obj)


def parse_version(version: Any) -> int | None:
    """LangGraph channel versions as integers: ints stay, "000...0012.0.345" (the savers' form) gives 12."""
    if isinstance(version, bool):
        return None
    if isinstance(version, int):
        return version
    if isinstance(version, float):
        return int(version)
    if isinstance(version, str):
        head = version.split(".", 1)[0]
        try:
            return int(head)
        except ValueError:
            return None
    return None
