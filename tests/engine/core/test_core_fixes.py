"""Behaviours fixed in the core redesign (issue 13): each of these failed before."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from engine import (
    AppRunner,
    ErrorEvent,
    ErrorScope,
    GraphBuilder,
    InMemoryCheckpointer,
    NodeKind,
    NodePartial,
    SQLiteCheckpointer,
    StateKey,
    StateSlotDeserialize,
    VersionedState,
)
from engine.state import StateSnapshot


async def _one(s: StateSnapshot, ctx: object) -> NodePartial:
    return NodePartial(extra={"n": 1})


def _app():  # type: ignore[no-untyped-def]
    return GraphBuilder().add_node("A", _one).add_edge("Start", "A").add_edge("A", "End").compile()


# ---------------------------------------------------------------- autosave off still saves step 0


async def test_autosave_off_still_saves_a_fresh_sessions_step_0(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'a.db'}")
    try:
        runner = await AppRunner.builder().app(_app()).checkpointer_custom(cp).autosave(False).build()
        async with runner:
            init = await runner.create_session("s", VersionedState.new_with_user_message("hi"))
            assert init.fresh
            saved = await cp.load_latest("s")
            assert saved is not None and saved.step == 0 and saved.frontier == [NodeKind.custom("A")]
            await runner.run_until_complete("s")
            # autosave stays off for the steps themselves
            latest = await cp.load_latest("s")
            assert latest is not None and latest.step == 0
        # the saved step 0 resumes
        async with await AppRunner.builder().app(_app()).checkpointer_custom(cp).build() as again:
            resumed = await again.create_session("s", VersionedState.new_with_user_message("ignored"))
            assert not resumed.fresh and resumed.checkpoint_step == 0
    finally:
        await cp.aclose()


async def test_autosave_off_iterative_session_saves_step_0() -> None:
    cp = InMemoryCheckpointer()
    async with await AppRunner.builder().app(_app()).checkpointer_custom(cp).autosave(False).build() as r:
        await r.create_iterative_session("it", VersionedState.new_with_user_message("hi"))
        saved = await cp.load_latest("it")
        assert saved is not None and saved.step == 0


# ---------------------------------------------------------------- typed dataclass slots check their fields


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass
class Shape:
    name: str
    origin: Point
    corners: list[Point] = dataclasses.field(default_factory=list)
    scale: float = 1.0


SHAPE = StateKey("geo", "shape", 1, Shape)


def _stored(value: object) -> StateSnapshot:
    return VersionedState.builder().with_extra(SHAPE.storage_key, value).build().snapshot()


def test_dataclass_slot_round_trips_with_nested_dataclasses() -> None:
    shape = Shape("sq", Point(1, 2), [Point(3), Point(4, 5)], 2.5)
    snap = VersionedState.builder().with_typed_extra(SHAPE, shape).build().snapshot()
    back = snap.require_typed(SHAPE)
    assert back == shape
    assert isinstance(back.origin, Point) and all(isinstance(p, Point) for p in back.corners)


def test_dataclass_slot_wrong_field_type_raises_naming_the_key() -> None:
    snap = _stored({"name": "sq", "origin": {"x": "1"}})  # a string where an int is declared
    with pytest.raises(StateSlotDeserialize) as info:
        snap.require_typed(SHAPE)
    assert info.value.key == "geo:shape:v1"
    assert "geo:shape:v1" in str(info.value) and "origin.x" in str(info.value)


def test_dataclass_slot_missing_field_raises_naming_the_key() -> None:
    with pytest.raises(StateSlotDeserialize, match="geo:shape:v1") as info:
        _stored({"name": "sq"}).require_typed(SHAPE)
    assert "origin" in str(info.value)
    with pytest.raises(StateSlotDeserialize, match="geo:shape:v1"):  # a nested dataclass misses a field
        _stored({"name": "sq", "origin": {"y": 1}}).require_typed(SHAPE)


def test_dataclass_slot_rejects_a_bool_for_an_int() -> None:
    with pytest.raises(StateSlotDeserialize, match="geo:shape:v1"):
        _stored({"name": "sq", "origin": {"x": True}}).require_typed(SHAPE)


def test_dataclass_slot_accepts_an_int_for_a_float_and_json_lists_for_lists() -> None:
    back = _stored({"name": "sq", "origin": {"x": 1}, "scale": 3, "corners": [{"x": 2}]}).require_typed(SHAPE)
    assert back == Shape("sq", Point(1), [Point(2)], 3.0)


# ---------------------------------------------------------------- ErrorEvent / ErrorScope


def test_error_event_without_context_reads_as_none() -> None:
    value = {"when": "2024-05-01T00:00:00Z", "scope": {"scope": "app"}, "error": {"message": "m"}, "tags": []}
    assert ErrorEvent.from_json_value(value).context is None
    assert ErrorEvent.from_json_value({**value, "context": {"a": 1}}).context == {"a": 1}


def test_error_scope_node_is_a_constructor_and_an_attribute() -> None:
    scope = ErrorScope.node("X", 3)
    assert scope == ErrorScope.for_node("X", 3) == ErrorScope("node", NodeKind.custom("X"), 3)
    assert scope.kind == "node" and scope.node == NodeKind.custom("X") and scope.step == 3
    assert ErrorScope.scheduler(2).node is None
    assert ErrorScope.node(NodeKind.custom("Y"), 1).to_json_value() == {
        "scope": "node",
        "kind": "Custom:Y",
        "step": 1,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.node = None  # type: ignore[misc]
    event = ErrorEvent(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), scope)
    assert ErrorEvent.from_json_value(event.to_json_value()).scope.node == NodeKind.custom("X")
