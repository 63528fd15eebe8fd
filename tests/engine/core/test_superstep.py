"""Superstep semantics: the worked traces of ENGINE.md section 3, gating, barrier, routing, failures."""

from __future__ import annotations

import asyncio
import threading

import pytest

from engine.app import App
from engine.errors import NodeError, NodeRunError, RoutingError, StepLimitExceeded, ValidationFailed
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.reducers import Reducer
from engine.runner import AppRunner, StepReport
from engine.state import StateSnapshot, VersionedState
from engine.types import Message, NodeKind
from tests.engine.nodes import appender, nothing

HI = VersionedState.new_with_user_message


async def run_session(app: App, state: VersionedState, **builder: object) -> tuple[AppRunner, VersionedState]:
    b = AppRunner.builder().app(app)
    for key, value in builder.items():
        getattr(b, key)(value)
    runner = await b.build()
    await runner.create_session("s", state)
    final = await runner.run_until_complete("s")
    return runner, final


async def test_trace_single_node() -> None:
    app = GraphBuilder().add_node("A", appender("A")).add_edge("Start", "A").add_edge("A", "End").compile()
    runner, final = await run_session(app, HI("hi"))
    assert runner.get_session("s").step == 1
    assert (final.messages_version, final.extra_version) == (2, 1)
    assert [m.content for m in final.messages] == ["hi", "A"]
    await runner.aclose()


async def test_trace_barrier_merges_in_frontier_order_not_finishing_order() -> None:
    b = GraphBuilder().add_node("A", appender("A", delay=0.05)).add_node("B", appender("B"))
    app = b.add_edge("Start", "A").add_edge("Start", "B").add_edge("A", "End").add_edge("B", "End").compile()
    runner, final = await run_session(app, HI("hi"))
    assert [m.content for m in final.messages] == ["hi", "A", "B"]
    assert final.messages_version == 2
    await runner.aclose()


async def test_trace_diamond_with_rerun() -> None:
    b = GraphBuilder()
    for n in ("I", "PA", "PB"):
        b.add_node(n, appender(n))
    for s, d in [("Start", "I"), ("Start", "PB"), ("I", "PA"), ("PA", "PB"), ("PB", "End")]:
        b.add_edge(s, d)
    runner, final = await run_session(b.compile(), HI("hi"))
    assert runner.get_session("s").step == 3
    assert [m.content for m in final.messages] == ["hi", "I", "PB", "PA", "PB"]
    assert final.messages_version == 4
    await runner.aclose()


async def test_trace_gated_join_runs_once() -> None:
    calls: list[str] = []

    def counted(name: str):  # type: ignore[no-untyped-def]
        async def node(s: StateSnapshot, ctx: object) -> None:
            calls.append(name)

        return node

    b = GraphBuilder()
    for n in "ABCD":
        b.add_node(n, counted(n))
    for s, d in [("Start", "A"), ("Start", "B"), ("A", "C"), ("B", "D"), ("D", "C"), ("C", "End")]:
        b.add_edge(s, d)
    runner, _ = await run_session(b.compile(), HI("hi"))
    assert runner.get_session("s").step == 3
    assert calls.count("C") == 1
    await runner.aclose()


async def test_trace_loop_through_predicate() -> None:
    async def inc(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"count": s.extra.get("count", 0) + 1})

    app = (
        GraphBuilder()
        .add_node("A", inc)
        .add_edge("Start", "A")
        .add_conditional_edge("A", lambda s: ["End"] if s.extra["count"] == 3 else ["A"], ["A", "End"])
        .compile()
    )
    runner, final = await run_session(app, HI("hi"))
    assert runner.get_session("s").step == 3
    assert final.extra == {"count": 3} and final.extra_version == 4
    await runner.aclose()


async def test_extra_merge_later_node_wins_and_none_deletes() -> None:
    async def a(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"k": "a", "gone": None, "only_a": 1})

    async def b(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"k": "b"})

    app = (
        GraphBuilder()
        .add_node("A", a)
        .add_node("B", b)
        .add_edge("Start", "A")
        .add_edge("Start", "B")
        .add_edge("A", "End")
        .add_edge("B", "End")
        .compile()
    )
    state = VersionedState.builder().with_extra("gone", True).build()
    runner, final = await run_session(app, state)
    assert final.extra == {"k": "b", "only_a": 1}
    assert final.extra_version == 2
    await runner.aclose()


async def test_writing_the_same_value_bumps_nothing_and_errors_only_bump_nothing() -> None:
    from engine.types import ErrorEvent

    async def same(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"k": 1, "absent": None}, errors=[ErrorEvent()])

    app = GraphBuilder().add_node("A", same).add_edge("Start", "A").add_edge("A", "End").compile()
    runner = await AppRunner.builder().app(app).build()
    await runner.create_session("s", VersionedState.builder().with_extra("k", 1).build())
    report = await runner.run_step("s")
    assert isinstance(report, StepReport)
    assert report.updated_channels == []
    state = runner.get_session("s").state
    assert (state.messages_version, state.extra_version, state.errors_version) == (1, 1, 1)
    assert len(state.errors) == 1
    await runner.aclose()


async def test_updated_channels_order_and_step_report() -> None:
    async def both(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(messages=[Message.assistant("x")], extra={"k": 1})

    app = GraphBuilder().add_node("A", both).add_edge("Start", "A").add_edge("A", "End").compile()
    runner = await AppRunner.builder().app(app).build()
    await runner.create_session("s", HI("hi"))
    report = await runner.run_step("s")
    assert isinstance(report, StepReport)
    assert report.updated_channels == ["messages", "extra"]
    assert report.ran_nodes == [NodeKind.custom("A")]
    assert report.next_frontier == [NodeKind.END] and report.completed
    again = await runner.run_step("s")
    assert isinstance(again, StepReport) and again.completed and again.step == 1
    await runner.aclose()


async def test_frontier_commands_replace_and_append_dedupe_and_drop_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    called: list[str] = []

    async def router(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial().with_frontier_replace(["C", "C", "Ghost"])

    async def appending(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial().with_frontier_append(["C"])

    def pred(s: StateSnapshot) -> list[str]:
        called.append("pred")
        return ["B"]

    b = GraphBuilder().add_node("A", router).add_node("B", appending).add_node("C", nothing)
    b.add_edge("Start", "A").add_edge("A", "B").add_conditional_edge("A", pred).add_edge("B", "End")
    b.add_edge("C", "End")
    runner = await AppRunner.builder().app(b.compile()).build()
    await runner.create_session("s", HI("hi"))
    r1 = await runner.run_step("s")
    assert isinstance(r1, StepReport)
    assert r1.next_frontier == [NodeKind.custom("C")]  # Replace: edges and predicates ignored
    assert called == []
    assert "Ghost" in caplog.text
    await runner.aclose()

    b2 = GraphBuilder().add_node("B", appending).add_node("C", nothing).add_edge("Start", "B")
    b2.add_edge("B", "End").add_edge("C", "End").add_conditional_edge("B", lambda s: [])  # C via Append
    runner2 = await AppRunner.builder().app(b2.compile()).build()
    await runner2.create_session("s", HI("hi"))
    r2 = await runner2.run_step("s")
    assert isinstance(r2, StepReport)
    assert r2.next_frontier == [NodeKind.END, NodeKind.custom("C")]
    await runner2.aclose()


async def test_empty_replace_ends_the_branch() -> None:
    async def stop(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial().with_frontier_replace([])

    app = GraphBuilder().add_node("A", stop).add_edge("Start", "A").add_edge("A", "End").compile()
    runner, _ = await run_session(app, HI("hi"))
    assert runner.get_session("s").frontier == []
    await runner.aclose()


async def test_async_predicates_and_start_conditional_edges() -> None:
    async def pick(s: StateSnapshot) -> list[str]:
        return ["B"] if s.extra.get("mode") == "b" else ["A"]

    b = GraphBuilder().add_node("A", appender("A")).add_node("B", appender("B"))
    b.add_conditional_edge("Start", pick, ["A", "B"]).add_edge("A", "End").add_edge("B", "End")
    app = b.compile()
    runner, final = await run_session(app, VersionedState.builder().with_extra("mode", "b").build())
    assert [m.content for m in final.messages] == ["B"]
    await runner.aclose()


@pytest.mark.parametrize("garbage", [3, None, [1], {"A": 1}])
async def test_predicates_returning_garbage_raise_routing_error(garbage: object) -> None:
    b = GraphBuilder().add_node("A", nothing).add_edge("Start", "A").add_edge("A", "End")
    b.add_conditional_edge("A", lambda s: garbage)
    runner = await AppRunner.builder().app(b.compile()).build()
    await runner.create_session("s", HI("hi"))
    with pytest.raises(RoutingError, match="from 'A'"):
        await runner.run_until_complete("s")
    await runner.aclose()


async def test_node_failure_keeps_frontier_records_error_and_raises() -> None:
    async def boom(s: StateSnapshot, ctx: object) -> None:
        raise KeyError("missing")

    async def slow(s: StateSnapshot, ctx: object) -> NodePartial:
        await asyncio.sleep(5)
        return NodePartial(messages=[Message.assistant("never")])

    b = GraphBuilder().add_node("Slow", slow).add_node("Boom", boom)
    app = (
        b.add_edge("Start", "Slow")
        .add_edge("Start", "Boom")
        .add_edge("Slow", "End")
        .add_edge("Boom", "End")
        .compile()
    )
    runner = await AppRunner.builder().app(app).build()
    await runner.create_session("s", HI("hi"))
    with pytest.raises(NodeRunError) as info:
        await asyncio.wait_for(runner.run_until_complete("s"), 2)
    err = info.value
    assert err.kind == "Boom" and err.step == 1
    assert isinstance(err.__cause__, NodeError) and isinstance(err.__cause__.__cause__, KeyError)
    session = runner.get_session("s")
    assert session.step == 1
    assert session.frontier == [NodeKind.custom("Slow"), NodeKind.custom("Boom")]
    assert [m.content for m in session.state.messages] == ["hi"]
    (event,) = session.state.errors
    assert event.to_json_value()["scope"] == {"scope": "node", "kind": "Custom:Boom", "step": 1}
    assert event.tags == ["node"] and event.context == {} and "Boom" in event.error.message
    await runner.aclose()


async def test_node_errors_keep_their_class_and_wrong_return_types_name_the_node() -> None:
    async def invalid(s: StateSnapshot, ctx: object) -> None:
        raise ValidationFailed("bad input")

    async def wrong(s: StateSnapshot, ctx: object) -> int:
        return 42

    for node, expected in [(invalid, "validation failed: bad input"), (wrong, "node 'A' returned int")]:
        app = GraphBuilder().add_node("A", node).add_edge("Start", "A").add_edge("A", "End").compile()
        runner = await AppRunner.builder().app(app).build()
        await runner.create_session("s", HI("hi"))
        with pytest.raises(NodeRunError, match=expected):
            await runner.run_until_complete("s")
        await runner.aclose()


async def test_sync_nodes_run_in_a_worker_thread() -> None:
    threads: list[int] = []

    def sync_node(s: StateSnapshot, ctx: object) -> NodePartial:
        threads.append(threading.get_ident())
        return NodePartial(messages=[Message.assistant("sync")])

    class RunObject:
        def run(self, s: StateSnapshot, ctx: object) -> None:
            threads.append(threading.get_ident())

    app = (
        GraphBuilder()
        .add_node("A", sync_node)
        .add_node("B", RunObject())
        .add_edge("Start", "A")
        .add_edge("A", "B")
        .add_edge("B", "End")
        .compile()
    )
    runner, final = await run_session(app, HI("hi"))
    assert len(threads) == 2 and threading.get_ident() not in threads
    assert final.messages[-1].content == "sync"
    await runner.aclose()


async def test_concurrency_limit_is_respected() -> None:
    running = 0
    peak = 0

    async def busy(s: StateSnapshot, ctx: object) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    b = GraphBuilder()
    for i in range(8):
        b.add_node(f"N{i}", busy).add_edge("Start", f"N{i}").add_edge(f"N{i}", "End")
    runner, _ = await run_session(b.compile(), HI("hi"), concurrency_limit=3)
    assert peak == 3
    await runner.aclose()


async def test_max_steps_exact_passes_one_more_raises() -> None:
    async def inc(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": s.extra.get("n", 0) + 1})

    def build() -> App:
        return (
            GraphBuilder()
            .add_node("A", inc)
            .add_edge("Start", "A")
            .add_conditional_edge("A", lambda s: ["End"] if s.extra["n"] >= 5 else ["A"], ["A", "End"])
            .compile()
        )

    runner, final = await run_session(build(), HI("hi"), max_steps=5)
    assert final.extra["n"] == 5
    await runner.aclose()
    runner = await AppRunner.builder().app(build()).max_steps(4).build()
    await runner.create_session("s", HI("hi"))
    with pytest.raises(StepLimitExceeded):
        await runner.run_until_complete("s")
    errors = runner.get_session("s").state.errors
    assert errors[-1].scope.kind == "runner" and errors[-1].scope.session == "s"
    await runner.aclose()


async def test_custom_reducer_runs_after_default_and_only_when_channel_has_data() -> None:
    seen: list[str] = []

    class Upper(Reducer):
        def apply(self, state: VersionedState, merged: NodePartial) -> None:
            seen.append("extra")
            state.extra = {k: v.upper() if isinstance(v, str) else v for k, v in state.extra.items()}

    async def write(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"name": "ada"})

    app = (
        GraphBuilder()
        .add_node("A", write)
        .add_node("B", nothing)
        .add_edge("Start", "A")
        .add_edge("A", "B")
        .add_edge("B", "End")
        .with_reducer("extra", Upper())
        .compile()
    )
    runner, final = await run_session(app, HI("hi"))
    assert final.extra == {"name": "ADA"} and seen == ["extra"]
    sig = app.graph_metadata()["reducer_signature"]
    assert any(s.startswith("extra:[0:engine.reducers.MapMerge,1:") for s in sig)
    await runner.aclose()
