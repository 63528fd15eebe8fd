"""Builder misuse raises EngineError subclasses that carry fields (and stay ValueError/TypeError)."""

from __future__ import annotations

import pytest

from engine import (
    AppRunner,
    BuilderError,
    DuplicateNode,
    EngineError,
    GraphBuilder,
    InvalidNode,
    InvalidNodeResult,
    InvalidOption,
    InvalidPredicate,
    InvalidReducer,
    NodeError,
    NodeRunError,
    ReservedNodeName,
    UnknownChannel,
    VersionedState,
)


async def ok(s: object, ctx: object) -> None:
    return None


@pytest.mark.parametrize("name", ["Start", "End"])
def test_registering_a_virtual_node_is_a_value_error_and_an_engine_error(name: str) -> None:
    with pytest.raises(ValueError) as info:
        GraphBuilder().add_node(name, ok)
    assert isinstance(info.value, ReservedNodeName) and isinstance(info.value, BuilderError)
    assert isinstance(info.value, EngineError) and info.value.name == name


def test_builder_misuse_errors_carry_fields() -> None:
    b = GraphBuilder().add_node("A", ok)
    with pytest.raises(DuplicateNode) as dup:
        b.add_node("A", ok)
    assert dup.value.name == "A" and isinstance(dup.value, ValueError)
    with pytest.raises(InvalidNode) as bad:
        b.add_node("B", 42)
    assert (bad.value.name, bad.value.type_name) == ("B", "int") and isinstance(bad.value, TypeError)
    assert "node 'B'" in str(bad.value)
    with pytest.raises(InvalidPredicate) as pred:
        b.add_conditional_edge("A", "not callable")  # type: ignore[arg-type]
    assert pred.value.source == "A" and isinstance(pred.value, TypeError)
    with pytest.raises(UnknownChannel) as chan:
        b.with_reducer("nope", object())  # type: ignore[arg-type]
    assert chan.value.channel == "nope" and chan.value.channels == ("messages", "extra", "errors")
    with pytest.raises(InvalidReducer) as red:
        b.with_reducer("extra", object())  # type: ignore[arg-type]
    assert red.value.channel == "extra" and red.value.type_name == "object"


async def test_runner_builder_options_raise_invalid_option() -> None:
    with pytest.raises(InvalidOption) as limit:
        AppRunner.builder().concurrency_limit(0)
    assert (limit.value.option, limit.value.value) == ("concurrency_limit", 0)
    assert str(limit.value) == "concurrency_limit must be at least 1, got 0"
    with pytest.raises(InvalidOption) as steps:
        AppRunner.builder().max_steps(-1)
    assert steps.value.option == "max_steps" and isinstance(steps.value, ValueError)
    with pytest.raises(InvalidOption) as app:
        await AppRunner.builder().build()
    assert app.value.option == "app" and isinstance(app.value, BuilderError)


async def test_a_node_returning_the_wrong_type_fails_with_fields() -> None:
    async def wrong(s: object, ctx: object) -> int:
        return 7

    app = GraphBuilder().add_node("W", wrong).add_edge("Start", "W").add_edge("W", "End").compile()
    with pytest.raises(NodeRunError) as info:
        await app.invoke(VersionedState.new_with_user_message("hi"))
    cause = info.value.__cause__
    assert isinstance(cause, InvalidNodeResult) and isinstance(cause, NodeError)
    assert (cause.node, cause.type_name) == ("W", "int")
    assert str(cause) == "node 'W' returned int; expected NodePartial or None"


def test_other_user_errors_are_engine_errors_with_fields() -> None:
    from engine import Event, InvalidEvent, InvalidNodeName, Message, NodeKind, RecordDecodeError, Replace

    with pytest.raises(InvalidNodeName) as name:
        GraphBuilder().add_edge("Start", 3)  # type: ignore[arg-type]
    assert name.value.value == 3 and isinstance(name.value, TypeError) and isinstance(name.value, EngineError)
    with pytest.raises(InvalidNodeName):
        NodeKind.custom(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent) as reserved:
        Event.create("node", "__weavegraph_stream_end__", "x")
    assert (reserved.value.type, reserved.value.scope) == ("node", "__weavegraph_stream_end__")
    with pytest.raises(InvalidEvent) as llm:
        Event.llm("token", "x")
    assert llm.value.allowed == ("chunk", "final", "error") and isinstance(llm.value, ValueError)
    with pytest.raises(RecordDecodeError) as bad:
        Message.from_json_value({"role": 1, "content": "x"})
    assert bad.value.record == "message" and isinstance(bad.value, ValueError)
    with pytest.raises(RecordDecodeError) as bad_event:
        Event.from_json("[1]")
    assert bad_event.value.record == "event"
    with pytest.raises(InvalidOption) as mode:
        Replace(["A"]).__class__("sideways", ["A"])  # type: ignore[arg-type]
    assert mode.value.value == "sideways"
