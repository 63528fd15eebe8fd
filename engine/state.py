"""Versioned state, its isolated snapshots, and typed state slots."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import dacite

from engine.errors import StateSlotDeserialize, StateSlotMissing, StateSlotSerialize
from engine.types import JSON, ErrorEvent, Message, Role

T = TypeVar("T")

_SCALARS = (str, int, float, bool, type(None))
_new = object.__new__


def json_copy(value: JSON) -> JSON:
    """Deep copy of a JSON value; several times faster than `copy.deepcopy` for JSON trees."""
    cls = type(value)
    if cls is dict:
        return {k: (v if type(v) in _SCALARS else json_copy(v)) for k, v in value.items()}
    if cls is list:
        return [v if type(v) in _SCALARS else json_copy(v) for v in value]
    if cls is tuple:
        return [json_copy(v) for v in value]
    if isinstance(value, _SCALARS):
        return value
    import copy

    return copy.deepcopy(value)


class StateKey(Generic[T]):
    """A typed slot stored as JSON in `extra` under "namespace:name:v<version>"."""

    __slots__ = ("name", "namespace", "schema_version", "storage_key", "type_")

    def __init__(self, namespace: str, name: str, schema_version: int = 1, type_: type[T] | None = None):
        self.namespace = namespace
        self.name = name
        self.schema_version = schema_version
        self.type_ = type_
        self.storage_key = f"{namespace}:{name}:v{schema_version}"

    def __repr__(self) -> str:
        return f"StateKey({self.storage_key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateKey) and other.storage_key == self.storage_key

    def __hash__(self) -> int:
        return hash(self.storage_key)

    def serialize(self, value: T) -> JSON:
        try:
            out: Any
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                out = dataclasses.asdict(value)
            elif hasattr(value, "model_dump"):
                out = value.model_dump(mode="json")
            else:
                out = value
            _check_json(out)
            return out
        except Exception as exc:  # a foreign object's own failure, chained
            raise StateSlotSerialize(self.storage_key, str(exc)) from exc

    def deserialize(self, value: JSON) -> T:
        type_ = self.type_
        if type_ is None:
            return value  # type: ignore[no-any-return]  # untyped slot: the JSON itself
        try:
            if hasattr(type_, "model_validate"):
                return type_.model_validate(value)  # type: ignore[no-any-return,attr-defined]
            if dataclasses.is_dataclass(type_):
                if not isinstance(value, dict):
                    raise TypeError(f"expected an object for {type_.__name__}, got {type(value).__name__}")
                return _read_dataclass(type_, value)
            if type_ is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)  # type: ignore[return-value]
            if not isinstance(value, type_):
                raise TypeError(f"expected {type_.__name__}, got {type(value).__name__}")
            return value
        except Exception as exc:
            raise StateSlotDeserialize(self.storage_key, str(exc)) from exc


def _json_float(value: Any) -> Any:
    """A JSON number read for a float field: ints (2) become floats; anything else is left for the check."""
    return float(value) if type(value) is int else value


def _json_int(value: Any) -> Any:
    """A value read for an int field: a bool is not an int in JSON."""
    if isinstance(value, bool):
        raise TypeError(f"expected an int, got bool {value}")
    return value


_DACITE = dacite.Config(check_types=True, cast=[tuple], type_hooks={float: _json_float, int: _json_int})
"""Stored values are JSON: lists come back as the tuples a field declares, ints as floats; every other value
must already have its field's type ("1" is not an int) and every field without a default must be there."""


def _read_dataclass(type_: type[T], value: dict[str, JSON]) -> T:
    """The dataclass `type_` from its stored JSON object, checking every field (nested dataclasses rebuilt)
    with dacite. A dataclass whose annotations cannot be resolved (a class local to a function that names
    another local class) is built from its fields unchecked, as before."""
    try:
        return dacite.from_dict(type_, value, _DACITE)
    except (dacite.ForwardReferenceError, NameError):
        return type_(**value)
    except dacite.DaciteError as exc:
        raise TypeError(f"does not match {type_.__name__}: {exc}") from None


def _check_json(value: Any, path: str = "$") -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"object key {k!r} at {path} is not a string")
            _check_json(v, f"{path}.{k}")
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")
        return
    raise TypeError(f"{type(value).__name__} at {path} is not JSON")


class VersionedState:
    """The three channels (messages, extra, errors) and their versions. All versions start at 1."""

    __slots__ = ("errors", "errors_version", "extra", "extra_version", "messages", "messages_version")

    def __init__(
        self,
        messages: Iterable[Message] | None = None,
        extra: dict[str, JSON] | None = None,
        errors: Iterable[ErrorEvent] | None = None,
        messages_version: int = 1,
        extra_version: int = 1,
        errors_version: int = 1,
    ) -> None:
        self.messages: list[Message] = list(messages) if messages is not None else []
        self.extra: dict[str, JSON] = dict(extra) if extra is not None else {}
        self.errors: list[ErrorEvent] = list(errors) if errors is not None else []
        self.messages_version = messages_version
        self.extra_version = extra_version
        self.errors_version = errors_version

    @classmethod
    def new_with_user_message(cls, text: str) -> VersionedState:
        return cls([Message.user(text)])

    @classmethod
    def new_with_messages(cls, messages: Iterable[Message]) -> VersionedState:
        return cls(messages)

    @classmethod
    def builder(cls) -> VersionedStateBuilder:
        return VersionedStateBuilder()

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(
            list(self.messages),
            json_copy(self.extra),
            list(self.errors),
            self.messages_version,
            self.extra_version,
            self.errors_version,
        )

    def copy(self) -> VersionedState:
        new = _new(VersionedState)  # not through __init__, which would copy `extra` a second time
        new.messages = list(self.messages)
        new.extra = json_copy(self.extra)
        new.errors = list(self.errors)
        new.messages_version = self.messages_version
        new.extra_version = self.extra_version
        new.errors_version = self.errors_version
        return new

    def get_typed(self, key: StateKey[T]) -> T | None:
        if key.storage_key not in self.extra:
            return None
        return key.deserialize(self.extra[key.storage_key])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionedState | StateSnapshot):
            return NotImplemented
        return (
            self.messages_version == other.messages_version
            and self.extra_version == other.extra_version
            and self.errors_version == other.errors_version
            and list(self.messages) == list(other.messages)
            and self.extra == other.extra
            and list(self.errors) == list(other.errors)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"VersionedState(messages={self.messages!r} v{self.messages_version}, "
            f"extra={self.extra!r} v{self.extra_version}, errors={len(self.errors)} v{self.errors_version})"
        )


class VersionedStateBuilder:
    """Chainable builder for an initial `VersionedState`."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._extra: dict[str, JSON] = {}

    def with_message(self, role: Role | str, text: str) -> VersionedStateBuilder:
        self._messages.append(Message(Role.parse(role) if isinstance(role, str) else role, text))
        return self

    def with_user_message(self, text: str) -> VersionedStateBuilder:
        return self.with_message(Role.USER, text)

    def with_assistant_message(self, text: str) -> VersionedStateBuilder:
        return self.with_message(Role.ASSISTANT, text)

    def with_system_message(self, text: str) -> VersionedStateBuilder:
        return self.with_message(Role.SYSTEM, text)

    def with_extra(self, key: str, value: JSON) -> VersionedStateBuilder:
        self._extra[key] = value
        return self

    def with_typed_extra(self, state_key: StateKey[T], value: T) -> VersionedStateBuilder:
        self._extra[state_key.storage_key] = state_key.serialize(value)
        return self

    def build(self) -> VersionedState:
        return VersionedState(self._messages, json_copy(self._extra))


@dataclasses.dataclass(slots=True, eq=False)
class StateSnapshot:
    """An isolated copy of the state given to nodes and predicates; mutating it never touches the state."""

    messages: list[Message]
    extra: dict[str, JSON]
    errors: list[ErrorEvent]
    messages_version: int
    extra_version: int
    errors_version: int

    def get_typed(self, key: StateKey[T]) -> T | None:
        if key.storage_key not in self.extra:
            return None
        return key.deserialize(self.extra[key.storage_key])

    def require_typed(self, key: StateKey[T]) -> T:
        if key.storage_key not in self.extra:
            raise StateSlotMissing(key.storage_key)
        return key.deserialize(self.extra[key.storage_key])

    def to_state(self) -> VersionedState:
        return VersionedState(
            self.messages,
            json_copy(self.extra),
            self.errors,
            self.messages_version,
            self.extra_version,
            self.errors_version,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VersionedState):
            return other.__eq__(self)
        if not isinstance(other, StateSnapshot):
            return NotImplemented
        return (
            self.messages_version == other.messages_version
            and self.extra_version == other.extra_version
            and self.errors_version == other.errors_version
            and self.messages == other.messages
            and self.extra == other.extra
            and self.errors == other.errors
        )
