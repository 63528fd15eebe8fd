"""Events a run produces: the stream-end / invocation-end sentinel rules and lifecycle events."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from engine.app import App
from engine.clock import MockClock
from engine.errors import NodeError, NodeRunError
from engine.events.bus import EventBus
from engine.events.event import INVOCATION_END_SCOPE, LLM_SCOPES, RESERVED_SCOPES, STREAM_END_SCOPE, Event
from engine.events.sinks import JsonLinesSink, MemorySink
from engine.graph.builder import GraphBuilder
from engine.node import NodeContext
from engine.partial import NodePartial
from engine.runner import AppRunner
from engine.runtime_config import EventBusConfig, RuntimeConfig
from engine.state import StateSnapshot, VersionedState
from engine.types import Message

pytestmark = pytest.mark.usefixtures("debug_loop")


async def talker(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
    ctx.emit("progress", "thinking", detail=1)
    for token in ("a", "b"):
        ctx.emit_llm_chunk(token, stream_id="answer")
    ctx.emit_llm_final("ab", stream_id="answer")
    return NodePartial().with_messages([Message.assistant(f"from {ctx.node_id}")])


async def boom(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
    raise NodeError("kaput")


def linear(*names: str, node: Any = talker) -> App:
    builder = GraphBuilder()
    for name in names:
        builder.add_node(name, node)
    chain = ["Start", *names, "End"]
    for src, dst in itertools.pairwise(chain):
        builder.add_edge(src, dst)
    return builder.compile()


async def run(
    app: App, *, lifecycle: bool = False, session: str = "s1"
) -> tuple[list[Event], BaseException | None]:
    memory = MemorySink()
    runner = await (
        AppRunner.builder()
        .app(app)
        .event_bus(EventBus.with_sink(memory))
        .lifecycle_events(lifecycle)
        .clock(MockClock(1_000))
        .build()
    )
    error: BaseException | None = None
    async with runner:
        await runner.create_session(session, VersionedState.new_with_user_message("hi"))
        try:
            await runner.run_until_complete(session)
        except NodeRunError as exc:
            error = exc
    return memory.snapshot(), error


def ends(events: list[Event], scope: str) -> list[Event]:
    return [e for e in events if e.scope == scope]


async def test_normal_run_ends_with_one_stream_end() -> None:
    events, error = await run(linear("A", "B"))
    assert error is None
    (end,) = ends(events, STREAM_END_SCOPE)
    assert events[-1] is end and end.type == "diagnostic"
    assert end.message == "session=s1 status=completed step=2"
    assert end.invocation_id == "s1" and end.step == 2
    assert ends(events, INVOCATION_END_SCOPE) == []
    assert [e.seq for e in events] == list(range(len(events)))
    assert not [e for e in events if e.type == "lifecycle"]  # off by default
    # Every event is stamped from the injected clock.
    assert {e.timestamp for e in events} == {dt.datetime.fromtimestamp(1_000, dt.UTC)}
    assert {e.now_unix_ms for e in events} == {1_000_000}


async def test_node_events_carry_node_and_llm_scopes_are_never_sentinels() -> None:
    events, _ = await run(linear("A"))
    progress = [e for e in events if e.type == "node"]
    assert [(e.scope, e.node_id, e.step, e.metadata["detail"]) for e in progress] == [("progress", "A", 1, 1)]
    llm = [e for e in events if e.type == "llm"]
    assert [(e.scope, e.message) for e in llm] == [("chunk", "a"), ("chunk", "b"), ("final", "ab")]
    assert all(e.scope in LLM_SCOPES and e.scope not in RESERVED_SCOPES for e in llm)
    assert all(e.metadata["stream_id"] == "answer" and e.node_id == "A" for e in llm)


async def test_failed_run_still_ends_the_stream_once_with_the_error() -> None:
    events, error = await run(linear("A", "B", node=boom))
    assert isinstance(error, NodeRunError)
    (end,) = ends(events, STREAM_END_SCOPE)
    assert events[-1] is end
    assert end.message.startswith("session=s1 status=error step=1 error=")
    assert "kaput" in end.message


async def test_event_stream_ends_after_the_stream_end_event() -> None:
    runner = await AppRunner.builder().app(linear("A")).build()
    async with runner:
        stream = runner.event_stream()
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        await runner.run_until_complete("s")
        async with asyncio.timeout(5):
            got = [e async for e in stream]
    assert got[-1].scope == STREAM_END_SCOPE and len(ends(got, STREAM_END_SCOPE)) == 1


async def test_iterative_session_emits_invocation_ends_then_one_stream_end() -> None:
    async def acc(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        total = int(snapshot.extra.get("sum", 0)) + int(snapshot.extra.get("tick", 0))
        return NodePartial().with_extra({"sum": total})

    app = GraphBuilder().add_node("acc", acc).add_edge("Start", "acc").add_edge("acc", "End").compile()
    memory = MemorySink()
    runner = await AppRunner.builder().app(app).event_bus(EventBus.with_sink(memory)).build()
    async with runner:
        stream = runner.event_stream()
        await runner.create_iterative_session("it", VersionedState.new_with_user_message("hi"))
        for _ in range(2):
            await runner.invoke_next("it", NodePartial().with_extra({"tick": 1}), "Start")
        await runner.bus.flush()
        mids = ends(memory.snapshot(), INVOCATION_END_SCOPE)
        assert [e.message for e in mids] == [
            "session=it status=completed step=1",
            "session=it status=completed step=2",
        ]
        assert ends(memory.snapshot(), STREAM_END_SCOPE) == []  # the stream stays open between calls
        await runner.finish_iterative_session("it")
        async with asyncio.timeout(5):
            streamed = [e async for e in stream]
    assert [e.scope for e in streamed] == [INVOCATION_END_SCOPE, INVOCATION_END_SCOPE, STREAM_END_SCOPE]
    assert memory.snapshot()[-1].scope == STREAM_END_SCOPE


async def test_failing_invoke_next_emits_an_error_invocation_end_then_raises() -> None:
    memory = MemorySink()
    runner = (
        await AppRunner.builder().app(linear("X", node=boom)).event_bus(EventBus.with_sink(memory)).build()
    )
    async with runner:
        await runner.create_iterative_session("it", VersionedState.new_with_user_message("hi"))
        with pytest.raises(NodeRunError):
            await runner.invoke_next("it", None, "Start")
    (end,) = ends(memory.snapshot(), INVOCATION_END_SCOPE)
    assert end.message.startswith("session=it status=error step=1 error=") and "kaput" in end.message
    assert ends(memory.snapshot(), STREAM_END_SCOPE) == []


async def test_lifecycle_events_of_a_run() -> None:
    events, _ = await run(linear("A", "B"), lifecycle=True)
    life = [e for e in events if e.type == "lifecycle"]
    scopes = [e.scope for e in life]
    assert scopes.index("run.start") < scopes.index("step.start") < scopes.index("node.start")
    assert scopes[-1] == "run.end" and life[-1].metadata["status"] == "completed"
    assert [e.metadata["frontier"] for e in life if e.scope == "step.start"] == [["A"], ["B"]]
    assert [e.node_id for e in life if e.scope == "node.start"] == ["A", "B"]
    finished = [e for e in life if e.scope == "node.finish"]
    assert [e.node_id for e in finished] == ["A", "B"]
    assert all(isinstance(e.metadata["duration_ms"], int | float) for e in finished)
    step_end = next(e for e in life if e.scope == "step.end")
    assert step_end.metadata["ran"] == ["A"] and step_end.metadata["skipped"] == []
    assert step_end.metadata["updated_channels"] == ["messages"]
    assert step_end.metadata["next_frontier"] == ["B"]
    saved = [e for e in life if e.scope == "checkpoint.saved"]
    assert [e.metadata["step"] for e in saved] == [0, 1, 2]
    assert all(e.metadata["backend"] == "in-memory" and "duration_ms" in e.metadata for e in saved)
    # The stream-end event comes after run.end, and is the very last.
    assert events[-1].scope == STREAM_END_SCOPE and events[-2].scope == "run.end"


async def test_lifecycle_node_error_and_run_end_status() -> None:
    events, _ = await run(linear("A", node=boom), lifecycle=True)
    scopes = [e.scope for e in events]
    assert "node.error" in scopes and "node.finish" not in scopes
    run_end = next(e for e in events if e.scope == "run.end")
    assert run_end.metadata["status"] == "error"


async def test_lifecycle_node_skip_and_route_dropped() -> None:
    async def quiet(snapshot: StateSnapshot, ctx: NodeContext) -> None:
        return None

    skip_app = (
        GraphBuilder()
        .add_node("A", quiet)
        .add_node("B", quiet)
        .add_node("C", quiet)
        .add_node("D", quiet)
        .add_edge("Start", "A")
        .add_edge("Start", "B")
        .add_edge("A", "C")
        .add_edge("B", "D")
        .add_edge("D", "C")
        .add_edge("C", "End")
        .compile()
    )
    events, _ = await run(skip_app, lifecycle=True)
    skips = [e for e in events if e.scope == "node.skip" and e.node_id != "End"]
    assert [(e.node_id, e.step) for e in skips] == [("C", 3)]  # C saw nothing new: gated
    assert skips[0].metadata.get("reason")

    route_app = (
        GraphBuilder()
        .add_node("A", quiet)
        .add_edge("Start", "A")
        .add_conditional_edge("A", lambda snapshot: ["Nowhere", "End"])
        .compile()
    )
    events, _ = await run(route_app, lifecycle=True)
    dropped = [e for e in events if e.scope == "route.dropped"]
    assert len(dropped) == 1 and "Nowhere" in dropped[0].message + str(dropped[0].metadata)


async def test_app_helpers_deliver_every_event_before_returning() -> None:
    class Slow:
        name = "slow"

        def __init__(self) -> None:
            self.events: list[Event] = []

        async def handle(self, event: Event) -> None:
            await asyncio.sleep(0.001)
            self.events.append(event)

    slow = Slow()
    app = linear("A", "B")
    final = await app.invoke_with_sinks(VersionedState.new_with_user_message("hi"), [slow])
    assert len(final.messages) == 3
    assert slow.events and slow.events[-1].scope == STREAM_END_SCOPE

    final, queue = await app.invoke_with_channel(VersionedState.new_with_user_message("hi"))
    queued = [queue.get_nowait() for _ in range(queue.qsize())]
    assert queued[-1].scope == STREAM_END_SCOPE and len(ends(queued, STREAM_END_SCOPE)) == 1

    handle, stream = app.invoke_streaming(VersionedState.new_with_user_message("hi"))
    async with asyncio.timeout(5):
        streamed = [e async for e in stream]
    await handle.join()
    assert streamed[-1].scope == STREAM_END_SCOPE


async def test_a_failing_sink_never_stops_a_run() -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("sink down")

    memory = MemorySink()
    bus = EventBus.with_sinks([broken, memory])
    runner = await AppRunner.builder().app(linear("A")).event_bus(bus).build()
    async with runner:
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        final = await runner.run_until_complete("s")
    assert len(final.messages) == 2
    health = {h.sink: h for h in bus.sink_health()}
    assert health["broken"].error_count == len(memory.snapshot()) > 0
    assert memory.snapshot()[-1].scope == STREAM_END_SCOPE


async def test_runtime_config_sinks_serve_every_invocation(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    memory, jsonl = MemorySink(), JsonLinesSink.to_file(path)
    config = RuntimeConfig(event_bus=EventBusConfig(buffer_capacity=64, sinks=[memory, jsonl]))
    app = GraphBuilder().add_node("A", talker).add_edge("Start", "A").add_edge("A", "End")
    compiled = app.with_runtime_config(config).compile()
    for _ in range(2):
        await compiled.invoke(VersionedState.new_with_user_message("hi"))
    assert len(ends(memory.snapshot(), STREAM_END_SCOPE)) == 2
    lines = [Event.from_json(line) for line in path.read_text().splitlines()]
    assert [e.scope for e in lines] == [e.scope for e in memory.snapshot()]
