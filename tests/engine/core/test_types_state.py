"""NodeKind, Message, VersionedState, StateSnapshot, typed slots, NodePartial."""

from __future__ import annotations

import dataclasses

import pytest

from engine.errors import StateSlotDeserialize, StateSlotMissing, StateSlotSerialize
from engine.partial import NodePartial
from engine.state import StateKey, VersionedState
from engine.types import ErrorEvent, ErrorScope, Message, NodeKind, Role, WeaveError


def test_node_kind_values_and_encoding() -> None:
    a = NodeKind.custom("A")
    assert a == NodeKind.custom("A") and hash(a) == hash(NodeKind.custom("A"))
    assert a != NodeKind.custom("B") and a != NodeKind.START
    assert (a.name, a.is_custom, a.is_start, a.is_end) == ("A", True, False, False)
    assert NodeKind.START.is_start and NodeKind.END.is_end
    assert [k.encode() for k in (NodeKind.START, NodeKind.END, a)] == ["Start", "End", "Custom:A"]
    assert [str(k) for k in (NodeKind.START, NodeKind.END, a)] == ["Start", "End", "A"]
    assert NodeKind.decode("Start") == NodeKind.START and NodeKind.decode("End") == NodeKind.END
    assert NodeKind.decode("Custom:A") == a and NodeKind.decode('Custom("A")') == a
    assert NodeKind.decode("whatever") == NodeKind.custom("whatever")
    with pytest.raises(AttributeError):
        a._name = "B"  # type: ignore[misc]


def test_message_roles_and_json() -> None:
    assert Message.user("hi").to_json_value() == {"role": "user", "content": "hi"}
    assert Message.assistant("x").role is Role.ASSISTANT
    custom = Message.from_json_value({"role": "critic", "content": "meh"})
    assert custom.role == "critic" and custom.to_json_value()["role"] == "critic"
    assert Message.from_json_value(Message.tool("t").to_json_value()) == Message.tool("t")
    with pytest.raises(ValueError):
        Message.from_json_value({"role": 3, "content": "x"})


def test_state_builder_and_versions() -> None:
    s = (
        VersionedState.builder()
        .with_system_message("sys")
        .with_user_message("u")
        .with_assistant_message("a")
        .with_message("critic", "c")
        .with_extra("k", {"n": 1})
        .build()
    )
    assert [m.role_name for m in s.messages] == ["system", "user", "assistant", "critic"]
    assert (s.messages_version, s.extra_version, s.errors_version) == (1, 1, 1)
    assert VersionedState.new_with_user_message("hi").messages == [Message.user("hi")]
    assert VersionedState.new_with_messages([Message.user("x")]) == VersionedState([Message.user("x")])
    other = s.copy()
    assert other == s
    other.extra_version = 2
    assert other != s


def test_snapshot_is_an_isolated_copy() -> None:
    s = VersionedState.builder().with_user_message("hi").with_extra("nested", {"list": [1, 2]}).build()
    snap = s.snapshot()
    snap.messages.append(Message.user("more"))
    snap.extra["nested"]["list"].append(3)
    snap.extra["new"] = 1
    assert s.messages == [Message.user("hi")]
    assert s.extra == {"nested": {"list": [1, 2]}}
    assert snap.messages_version == 1


@dataclasses.dataclass
class Profile:
    name: str
    age: int


def test_typed_slots() -> None:
    v1: StateKey[Profile] = StateKey("app", "profile", 1, Profile)
    v2: StateKey[dict] = StateKey("app", "profile", 2, dict)
    assert v1.storage_key == "app:profile:v1"
    state = (
        VersionedState.builder()
        .with_typed_extra(v1, Profile("ada", 36))
        .with_typed_extra(v2, {"full": "Ada"})
        .build()
    )
    snap = state.snapshot()
    assert snap.get_typed(v1) == Profile("ada", 36)
    assert snap.get_typed(v2) == {"full": "Ada"}
    missing: StateKey[int] = StateKey("app", "missing", 1, int)
    assert snap.get_typed(missing) is None
    with pytest.raises(StateSlotMissing, match="app:missing:v1"):
        snap.require_typed(missing)
    snap.extra[v1.storage_key] = "not an object"
    with pytest.raises(StateSlotDeserialize, match="app:profile:v1"):
        snap.require_typed(v1)
    with pytest.raises(StateSlotSerialize, match="app:profile:v2"):
        NodePartial().with_typed_extra(v2, {"bad": object()})
    partial = NodePartial().with_typed_extra(v1, Profile("x", 1)).with_extra({"other": 2})
    assert partial.extra == {"app:profile:v1": {"name": "x", "age": 1}, "other": 2}


def test_node_partial_builders() -> None:
    p = (
        NodePartial()
        .with_messages([Message.assistant("a")])
        .with_messages([Message.assistant("b")])
        .with_extra({"k": 1})
        .clear_extra_keys(["gone"])
        .with_frontier_replace(["X", "End"])
    )
    assert [m.content for m in p.messages or []] == ["a", "b"]
    assert p.extra == {"k": 1, "gone": None}
    assert p.frontier is not None and p.frontier.mode == "replace"
    assert p.frontier.targets == (NodeKind.custom("X"), NodeKind.END)
    assert NodePartial().with_frontier_append(["Y"]).frontier.mode == "append"  # type: ignore[union-attr]


def test_error_event_json_round_trip() -> None:
    import datetime as dt

    ev = ErrorEvent(
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ErrorScope.for_node("X", 3),
        WeaveError("boom", WeaveError("root"), {"a": 1}),
        ["node"],
        {"k": "v"},
    )
    value = ev.to_json_value()
    assert value["scope"] == {"scope": "node", "kind": "Custom:X", "step": 3}
    assert value["when"] == "2024-01-02T03:04:05Z"
    assert value["error"]["cause"] == {"message": "root", "details": None}
    assert ErrorEvent.from_json_value(value) == ev
    runner = ErrorScope.runner("s1", 2).to_json_value()
    assert runner == {"scope": "runner", "session": "s1", "step": 2}
    assert ErrorEvent.from_json_value(ErrorEvent(scope=ErrorScope.app()).to_json_value()).scope.kind == "app"
