"""Events from the runner and the App helpers: sentinels, lifecycle events, streaming, cancellation."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.app import App
from engine.clock import MockClock
from engine.errors import NodeRunError
from engine.events.bus import EventBus
from engine.events.event import INVOCATION_END_SCOPE, STREAM_END_SCOPE, Event
from engine.events.sinks import JsonLinesSink, MemorySink
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.runner import AppRunner
from engine.runtime_config import RuntimeConfig
from engine.state import StateSnapshot, VersionedState
from tests.engine.nodes import appender

HI = VersionedState.new_with_user_message


async def talker(s: StateSnapshot, ctx) -> NodePartial:  # type: ignore[no-untyped-def]
    ctx.emit("progress", "half way", pct=50)
    ctx.emit_llm_chunk("he", stream_id="s1")
    ctx.emit_llm_final("hello", stream_id="s1")
    return NodePartial(extra={"said": "hello"})


async def boom(s: StateSnapshot, ctx: object) -> None:
    raise RuntimeError("kaput")


def app_of(node: object, name: str = "A") -> App:
    return GraphBuilder().add_node(name, node).add_edge("Start", name).add_edge(name, "End").compile()


async def collect(stream: object, limit: float = 3.0) -> list[Event]:
    async def go() -> list[Event]:
        return [e async for e in stream]  # type: ignore[attr-defined]

    return await asyncio.wait_for(go(), limit)


async def test_stream_end_once_after_a_normal_run_with_node_events() -> None:
    clock = MockClock(1000)
    async with await AppRunner.builder().app(app_of(talker)).clock(clock).build() as r:
        stream = r.event_stream()
        await r.create_session("s", HI("hi"))
        await r.run_until_complete("s")
        events = await collect(stream)
    scopes = [e.scope for e in events]
    assert scopes == ["progress", "chunk", "final", STREAM_END_SCOPE]
    progress = events[0]
    assert progress.type == "node" and progress.node_id == "A" and progress.step == 1
    assert progress.metadata["pct"] == 50 and progress.metadata["invocation_id"] == "s"
    assert progress.metadata["now_unix_ms"] == 1_000_000
    assert progress.timestamp.timestamp() == 1000.0
    assert events[1].type == "llm" and events[1].metadata["stream_id"] == "s1"
    end = events[-1]
    assert end.type == "diagnostic" and end.message == "session=s status=completed step=1"
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_stream_end_reports_a_failed_run() -> None:
    async with await AppRunner.builder().app(app_of(boom)).build() as r:
        stream = r.event_stream()
        await r.create_session("s", HI("hi"))
        with pytest.raises(NodeRunError):
            await r.run_until_complete("s")
        events = await collect(stream)
    end = events[-1]
    assert end.scope == STREAM_END_SCOPE
    assert end.message.startswith("session=s status=error step=1 error=")
    assert "kaput" in end.message
    assert [e.scope for e in events].count(STREAM_END_SCOPE) == 1


async def test_iterative_runs_emit_invocation_end_and_stream_end_on_finish() -> None:
    async def acc(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"sum": s.extra.get("sum", 0) + s.extra.get("tick", 0)})

    async with await AppRunner.builder().app(app_of(acc, "acc")).build() as r:
        stream = r.event_stream()
        await r.create_iterative_session("it", VersionedState(), "Start")
        await r.invoke_next("it", NodePartial(extra={"tick": 2}), "Start")
        await r.invoke_next("it", NodePartial(extra={"tick": 3}), "Start")
        await r.finish_iterative_session("it")
        events = await collect(stream)
    assert [e.scope for e in events] == [INVOCATION_END_SCOPE, INVOCATION_END_SCOPE, STREAM_END_SCOPE]
    assert events[0].message == "session=it status=completed step=1"
    assert events[1].message == "session=it status=completed step=2"


async def test_failing_invoke_next_emits_error_invocation_end_then_raises() -> None:
    async with await AppRunner.builder().app(app_of(boom)).build() as r:
        sink = MemorySink()
        r.bus.add_sink(sink)
        await r.create_iterative_session("it", VersionedState(), "Start")
        with pytest.raises(NodeRunError):
            await r.invoke_next("it", NodePartial(extra={"x": 1}), "Start")
        await r.bus.flush()
        ends = [e for e in sink.snapshot() if e.scope == INVOCATION_END_SCOPE]
        assert len(ends) == 1 and ends[0].message.startswith("session=it status=error step=1 error=")


async def test_lifecycle_events_only_when_enabled() -> None:
    async def inc(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": s.extra.get("n", 0) + 1})

    b = GraphBuilder().add_node("A", inc).add_node("B", inc).add_edge("Start", "A").add_edge("Start", "B")
    b.add_edge("A", "End").add_edge("B", "End").add_conditional_edge("A", lambda s: ["Ghost"])
    app = b.add_edge("Start", "End").compile()  # End in the first frontier is skipped
    async with await AppRunner.builder().app(app).build() as quiet:
        stream = quiet.event_stream()
        await quiet.create_session("s", HI("hi"))
        await quiet.run_until_complete("s")
        assert [e.scope for e in await collect(stream)] == [STREAM_END_SCOPE]
    async with await AppRunner.builder().app(app).lifecycle_events(True).build() as loud:
        stream = loud.event_stream()
        await loud.create_session("s", HI("hi"))
        await loud.run_until_complete("s")
        events = await collect(stream)
    scopes = [e.scope for e in events]
    # create_session publishes Start's routing (step 0), then saves step 0; then the run starts.
    assert scopes[:5] == ["edge.routed", "edge.routed", "edge.routed", "checkpoint.saved", "run.start"]
    assert scopes[-2:] == ["run.end", STREAM_END_SCOPE]
    for needed in (
        "step.start",
        "node.start",
        "node.finish",
        "node.skip",
        "step.end",
        "checkpoint.saved",
        "route.dropped",
    ):
        assert needed in scopes, needed
    finish = next(e for e in events if e.scope == "node.finish")
    assert isinstance(finish.metadata["duration_ms"], float)
    step_end = next(e for e in events if e.scope == "step.end")
    assert step_end.metadata["ran"] == ["A", "B"] and step_end.metadata["updated_channels"] == ["extra"]
    skip = next(e for e in events if e.scope == "node.skip")
    assert skip.node_id == "End" and skip.metadata["reason"] == "virtual"
    saved = next(e for e in events if e.scope == "checkpoint.saved")
    assert saved.metadata["backend"] == "in-memory"
    dropped = next(e for e in events if e.scope == "route.dropped")
    assert dropped.metadata["target"] == "Ghost"
    assert next(e for e in events if e.scope == "run.end").metadata["status"] == "completed"


async def test_node_error_lifecycle_event() -> None:
    async with await AppRunner.builder().app(app_of(boom)).lifecycle_events(True).build() as r:
        stream = r.event_stream()
        await r.create_session("s", HI("hi"))
        with pytest.raises(NodeRunError):
            await r.run_until_complete("s")
        events = await collect(stream)
    err = next(e for e in events if e.scope == "node.error")
    assert err.node_id == "A" and "kaput" in err.metadata["error"]
    assert next(e for e in events if e.scope == "run.end").metadata["status"] == "error"


async def test_app_helpers_channel_sinks_streaming_and_session_id() -> None:
    app = GraphBuilder().add_node("A", talker).add_edge("Start", "A").add_edge("A", "End")
    app = app.with_runtime_config(RuntimeConfig(session_id="fixed")).compile()
    final, queue = await app.invoke_with_channel(HI("hi"))
    assert final.extra == {"said": "hello"}
    queued = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [e.scope for e in queued][-1] == STREAM_END_SCOPE
    assert queued[-1].message.startswith("session=fixed ")
    mem = MemorySink()
    await app.invoke_with_sinks(HI("hi"), [mem])
    assert [e.scope for e in mem.snapshot()] == ["progress", "chunk", "final", STREAM_END_SCOPE]
    handle, stream = app.invoke_streaming(HI("hi"))
    events = await collect(stream)
    assert events[-1].scope == STREAM_END_SCOPE
    assert (await handle.join()).extra == {"said": "hello"}


async def test_default_session_ids_are_run_uuid() -> None:
    _final, queue = await app_of(appender("A")).invoke_with_channel(HI("hi"))
    end = [queue.get_nowait() for _ in range(queue.qsize())][-1]
    assert end.metadata["invocation_id"].startswith("run-") and len(end.metadata["invocation_id"]) == 40


async def test_cancelling_a_streaming_run_really_cancels_it() -> None:
    started = asyncio.Event()
    finished = False

    async def slow(s: StateSnapshot, ctx: object) -> None:
        nonlocal finished
        started.set()
        await asyncio.sleep(10)
        finished = True

    handle, stream = app_of(slow).invoke_streaming(HI("hi"))
    await asyncio.wait_for(started.wait(), 2)
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle.join()
    events = await collect(stream)
    assert events[-1].scope == STREAM_END_SCOPE and "status=error" in events[-1].message
    assert not finished


async def test_json_lines_sink_gets_every_event_of_a_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "events.jsonl"
    await app_of(talker).invoke_with_sinks(HI("hi"), [JsonLinesSink.to_file(path)])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["scope"] for line in lines][-1] == STREAM_END_SCOPE
    assert Event.from_json(lines[0]).metadata["pct"] == 50


async def test_start_listener_false_holds_sinks_until_started() -> None:
    sink = MemorySink()
    runner = (
        await AppRunner.builder()
        .app(app_of(talker))
        .event_bus(EventBus.with_sink(sink))
        .start_listener(False)
        .build()
    )
    stream = runner.event_stream()
    await runner.create_session("s", HI("hi"))
    await runner.run_until_complete("s")
    assert [e.scope for e in await collect(stream)][-1] == STREAM_END_SCOPE  # subscribers are fed anyway
    await asyncio.sleep(0.05)
    assert sink.snapshot() == [] and not runner.bus.listening
    runner.bus.start_listening()
    assert await runner.bus.flush(2.0)
    assert [e.scope for e in sink.snapshot()] == ["progress", "chunk", "final", STREAM_END_SCOPE]
    await runner.aclose()


async def test_aclose_delivers_what_a_held_bus_queued() -> None:
    sink = MemorySink()
    runner = (
        await AppRunner.builder()
        .app(app_of(talker))
        .event_bus(EventBus.with_sink(sink))
        .start_listener(False)
        .build()
    )
    await runner.create_session("s", HI("hi"))
    await runner.run_until_complete("s")
    await runner.aclose()
    assert [e.scope for e in sink.snapshot()][-1] == STREAM_END_SCOPE
