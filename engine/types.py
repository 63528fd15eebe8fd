"""Value types shared by every layer: node kinds, messages, and the error records kept in state."""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.errors import InvalidNodeName, RecordDecodeError

JSON = Any
"""A JSON-compatible Python value (dict, list, str, int, float, bool or None)."""

_START, _END, _CUSTOM = 0, 1, 2


class NodeKind:
    """A node of a graph: the virtual ``Start`` and ``End``, or a custom node by name.

    Immutable and hashable, equal by value. Custom kinds are interned, so building one is cheap.
    """

    __slots__ = ("_hash", "_name", "_tag")
    _hash: int
    _name: str
    _tag: int
    _interned: ClassVar[dict[str, NodeKind]] = {}
    START: ClassVar[NodeKind]
    END: ClassVar[NodeKind]

    def __init__(self, tag: int, name: str) -> None:
        object.__setattr__(self, "_tag", tag)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_hash", hash((tag, name)))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("NodeKind is immutable")

    @classmethod
    def custom(cls, name: str) -> NodeKind:
        """A custom node called `name` (any name, even "Start"; use `coerce` to parse user text)."""
        kind = cls._interned.get(name)
        if kind is None:
            if not isinstance(name, str):
                raise InvalidNodeName(name)
            kind = cls(_CUSTOM, name)
            cls._interned[name] = kind
        return kind

    @classmethod
    def coerce(cls, value: NodeKind | str) -> NodeKind:
        """Accept a NodeKind or a name: "Start"/"End" are the virtual nodes, anything else a custom node."""
        if isinstance(value, NodeKind):
            return value
        if value == "Start":
            return cls.START
        if value == "End":
            return cls.END
        if not isinstance(value, str):
            raise InvalidNodeName(value)
        return cls.custom(value)

    @classmethod
    def decode(cls, text: str) -> NodeKind:
        """Parse "Start", "End", "Custom:<name>" or Weavegraph's `Custom("<name>")`; other text is custom."""
        if text == "Start":
            return cls.START
        if text == "End":
            return cls.END
        if text.startswith("Custom:"):
            return cls.custom(text[7:])
        if text.startswith('Custom("') and text.endswith('")'):
            return cls.custom(text[8:-2])
        return cls.custom(text)

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_start(self) -> bool:
        return self._tag == _START

    @property
    def is_end(self) -> bool:
        return self._tag == _END

    @property
    def is_custom(self) -> bool:
        return self._tag == _CUSTOM

    def encode(self) -> str:
        """ "Start", "End" or "Custom:<name>" (the stored form)."""
        if self._tag == _CUSTOM:
            return "Custom:" + self._name
        return self._name

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, NodeKind):
            return self._tag == other._tag and self._name == other._name
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: NodeKind) -> bool:
        return (self._tag, self._name) < (other._tag, other._name)

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        if self._tag == _START:
            return "NodeKind.START"
        if self._tag == _END:
            return "NodeKind.END"
        return f"NodeKind.custom({self._name!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (NodeKind.decode, (self.encode(),))


NodeKind.START = NodeKind(_START, "Start")
NodeKind.END = NodeKind(_END, "End")

NodeLike = NodeKind | str


class Role(enum.StrEnum):
    """The well-known message roles. Any other string is a custom role and is kept as a plain str."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str) -> Role | str:
        try:
            return cls(value)
        except ValueError:
            return value


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. Frozen, so snapshots can share it."""

    role: Role | str
    content: str

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(Role.USER, text)

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls(Role.ASSISTANT, text)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, text)

    @classmethod
    def tool(cls, text: str) -> Message:
        return cls(Role.TOOL, text)

    @property
    def role_name(self) -> str:
        role = self.role
        return role.value if isinstance(role, Role) else role

    def to_json_value(self) -> dict[str, str]:
        return {"role": self.role_name, "content": self.content}

    @classmethod
    def from_json_value(cls, value: JSON) -> Message:
        if not isinstance(value, dict) or not isinstance(value.get("content"), str):
            raise RecordDecodeError("message", f"an object with 'role' and 'content' strings, got {value!r}")
        role = value.get("role")
        if not isinstance(role, str):
            raise RecordDecodeError("message", f"role must be a string, got {role!r}")
        return cls(Role.parse(role), value["content"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.role_name == other.role_name and self.content == other.content

    def __hash__(self) -> int:
        return hash((self.role_name, self.content))


# ---------------------------------------------------------------- error records


def utc_from_ms(ms: int | float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ms / 1000.0, tz=_dt.UTC)


def format_rfc3339(when: _dt.datetime) -> str:
    """RFC 3339 / ISO-8601 in UTC with a trailing Z."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    text = when.astimezone(_dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_rfc3339(text: str) -> _dt.datetime:
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value


@dataclass(frozen=True, slots=True)
class WeaveError:
    """An error as recorded in state: a message, an optional cause chain and JSON details."""

    message: str
    cause: WeaveError | None = None
    details: JSON = None

    def to_json_value(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"message": self.message}
        if self.cause is not None:
            out["cause"] = self.cause.to_json_value()
        out["details"] = self.details
        return out

    @classmethod
    def from_json_value(cls, value: JSON) -> WeaveError:
        if isinstance(value, str):
            return cls(value)
        cause = value.get("cause")
        return cls(
            str(value.get("message", "")),
            cls.from_json_value(cause) if cause is not None else None,
            value.get("details"),
        )


_SCOPE_RANK = {"node": 0, "scheduler": 1, "runner": 2, "app": 3}


class _NodeField:
    """`ErrorScope.node`: on an instance, the node the error is about (the slot's value); on the class, the
    constructor `ErrorScope.node(kind, step)` that ENGINE.md names (the same as `ErrorScope.for_node`).

    Installed over the dataclass's slot descriptor after the class is built; reads and writes go to the slot.
    """

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, obj: Any, cls: type[Any] | None = None) -> Any:
        if obj is None:
            return (cls or ErrorScope).for_node
        return self.slot.__get__(obj, cls)

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)


@dataclass(frozen=True, slots=True)
class ErrorScope:
    """Where an error happened: `node(kind, step)`, `scheduler(step)`, `runner(session, step)` or `app()`."""

    kind: str
    node: NodeKind | None = None
    step: int | None = None
    session: str | None = None

    @classmethod
    def for_node(cls, kind: NodeLike, step: int) -> ErrorScope:
        """A node scope; `ErrorScope.node(kind, step)` is the same constructor."""
        return cls("node", NodeKind.coerce(kind), step)

    @classmethod
    def scheduler(cls, step: int) -> ErrorScope:
        return cls("scheduler", None, step)

    @classmethod
    def runner(cls, session: str, step: int) -> ErrorScope:
        return cls("runner", None, step, session)

    @classmethod
    def app(cls) -> ErrorScope:
        return cls("app")

    @property
    def rank(self) -> int:
        return _SCOPE_RANK.get(self.kind, 4)

    def to_json_value(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"scope": self.kind}
        if self.kind == "node":
            out["kind"] = self.node.encode() if self.node is not None else None
            out["step"] = self.step
        elif self.kind == "scheduler":
            out["step"] = self.step
        elif self.kind == "runner":
            out["session"] = self.session
            out["step"] = self.step
        return out

    @classmethod
    def from_json_value(cls, value: JSON) -> ErrorScope:
        kind = value.get("scope", "app")
        node = value.get("kind")
        return cls(
            kind,
            NodeKind.decode(node) if isinstance(node, str) else None,
            value.get("step"),
            value.get("session"),
        )


ErrorScope.node = _NodeField(ErrorScope.__dict__["node"])  # type: ignore[assignment,misc]  # see _NodeField


def _now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error kept in the state's errors channel."""

    when: _dt.datetime = field(default_factory=_now_utc)
    scope: ErrorScope = field(default_factory=ErrorScope.app)
    error: WeaveError = field(default_factory=lambda: WeaveError(""))
    tags: list[str] = field(default_factory=list)
    context: JSON = field(default_factory=dict)

    def sort_key(self) -> tuple[Any, ...]:
        scope = self.scope
        who = scope.node.encode() if scope.node is not None else (scope.session or "")
        return (scope.rank, who, scope.step if scope.step is not None else -1, self.when, self.error.message)

    def to_json_value(self) -> dict[str, JSON]:
        return {
            "when": format_rfc3339(self.when),
            "scope": self.scope.to_json_value(),
            "error": self.error.to_json_value(),
            "tags": list(self.tags),
            "context": self.context,
        }

    @classmethod
    def from_json_value(cls, value: JSON) -> ErrorEvent:
        if not isinstance(value, dict):
            raise RecordDecodeError("error event", f"a JSON object, got {value!r}")
        when = value.get("when")
        return cls(
            parse_rfc3339(when) if isinstance(when, str) else _now_utc(),
            ErrorScope.from_json_value(value.get("scope") or {"scope": "app"}),
            WeaveError.from_json_value(value.get("error") or {"message": ""}),
            list(value.get("tags") or []),
            value.get("context"),  # absent -> None, as Weavegraph's serde default
        )
