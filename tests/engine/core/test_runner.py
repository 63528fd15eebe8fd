"""AppRunner: sessions, interrupts, iterative sessions, metadata, clocks, App helpers."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from engine.app import App
from engine.clock import MockClock, SystemClock
from engine.errors import InvalidIterativeEntry, NoStartNodes, SessionNotFound
from engine.graph.builder import GraphBuilder
from engine.hashing import fnv1a_parts
from engine.partial import NodePartial
from engine.persistence.memory import InMemoryCheckpointer
from engine.runner import AppRunner, PausedReport, StepOptions, StepReport
from engine.runtime_config import RuntimeConfig
from engine.state import StateSnapshot, VersionedState
from engine.types import Message, NodeKind
from tests.engine.nodes import appender

HI = VersionedState.new_with_user_message


def chain_app(*names: str) -> App:
    b = GraphBuilder()
    for n in names:
        b.add_node(n, appender(n))
    path = ["Start", *names, "End"]
    for s, d in itertools.pairwise(path):
        b.add_edge(s, d)
    return b.compile()


async def acc(s: StateSnapshot, ctx: object) -> NodePartial:
    return NodePartial(extra={"sum": s.extra.get("sum", 0) + s.extra.get("tick", 0)})


def acc_app() -> App:
    return GraphBuilder().add_node("acc", acc).add_edge("Start", "acc").add_edge("acc", "End").compile()


async def test_fresh_session_saves_step_zero_and_resumes() -> None:
    store = InMemoryCheckpointer()
    app = chain_app("A", "B")
    async with await AppRunner.builder().app(app).checkpointer_custom(store).build() as runner:
        init = await runner.create_session("s", HI("hi"))
        assert init.fresh and init.checkpoint_step is None
        cp = await store.load_latest("s")
        assert cp is not None and cp.step == 0 and cp.frontier == [NodeKind.custom("A")]
        await runner.run_step("s")
    async with await AppRunner.builder().app(app).checkpointer_custom(store).build() as again:
        init = await again.create_session("s", HI("ignored"))
        assert not init.fresh and init.checkpoint_step == 1
        final = await again.run_until_complete("s")
        assert [m.content for m in final.messages] == ["hi", "A", "B"]
        cp = await store.load_latest("s")
        assert cp is not None and cp.step == 2
        assert cp.ran_nodes == [NodeKind.custom("B")] and cp.updated_channels == ["messages"]


async def test_unknown_sessions_raise() -> None:
    async with await AppRunner.builder().app(chain_app("A")).build() as runner:
        with pytest.raises(SessionNotFound, match="nope"):
            await runner.run_step("nope")
        with pytest.raises(SessionNotFound):
            runner.get_session("nope")


async def test_no_start_nodes_when_start_predicate_returns_nothing() -> None:
    b = GraphBuilder().add_node("A", appender("A")).add_conditional_edge("Start", lambda s: [], ["A"])
    app = b.add_edge("A", "End").compile()
    async with await AppRunner.builder().app(app).build() as runner:
        with pytest.raises(NoStartNodes):
            await runner.create_session("s", HI("hi"))


async def test_interrupts_before_after_and_each_step() -> None:
    store = InMemoryCheckpointer()
    async with await AppRunner.builder().app(chain_app("A", "B")).checkpointer_custom(store).build() as r:
        await r.create_session("s", HI("hi"))
        paused = await r.run_step("s", StepOptions(interrupt_before=["A"]))
        assert isinstance(paused, PausedReport)
        assert (paused.reason, paused.node, paused.step) == ("before_node", NodeKind.custom("A"), 0)
        again = await r.run_step("s", StepOptions(interrupt_before=["A"]))
        assert isinstance(again, PausedReport)  # pauses every time it is asked
        cp = await store.load_latest("s")
        assert cp is not None and cp.step == 0  # nothing saved
        after = await r.run_step("s", StepOptions(interrupt_after=[NodeKind.custom("A")]))
        assert isinstance(after, PausedReport)
        assert (after.reason, after.node, after.step) == ("after_node", NodeKind.custom("A"), 1)
        cp = await store.load_latest("s")
        assert cp is not None and cp.step == 1
        each = await r.run_step("s", StepOptions(interrupt_each_step=True))
        assert isinstance(each, PausedReport) and each.reason == "after_step" and each.node is None
        each.session_state.state.messages.append(Message.user("mutating the copy"))
        assert len(r.get_session("s").state.messages) == 3
        done = await r.run_step("s")
        assert isinstance(done, StepReport) and done.completed


async def test_iterative_session_accumulates_and_step_keeps_rising() -> None:
    async with await AppRunner.builder().app(acc_app()).build() as r:
        init = await r.create_iterative_session("it", VersionedState(), "Start")
        assert init.fresh
        s1 = await r.invoke_next("it", NodePartial(extra={"tick": 1}), "Start")
        assert s1.extra["sum"] == 1
        s2 = await r.invoke_next("it", NodePartial(extra={"tick": 1}), "Start")
        assert s2.extra["sum"] == 2
        assert r.get_session("it").step == 2
        s3 = await r.invoke_next("it", None, "acc")
        assert s3.extra["sum"] == 3 and r.get_session("it").step == 3
        await r.finish_iterative_session("it")


@pytest.mark.parametrize("entry", ["End", "Ghost", NodeKind.END])
async def test_invalid_iterative_entry_applies_nothing(entry: object) -> None:
    async with await AppRunner.builder().app(acc_app()).build() as r:
        with pytest.raises(InvalidIterativeEntry):
            await r.create_iterative_session("it", VersionedState(), entry)  # type: ignore[arg-type]
        await r.create_iterative_session("it", VersionedState(), "Start")
        before = r.get_session("it")
        with pytest.raises(InvalidIterativeEntry):
            await r.invoke_next("it", NodePartial(extra={"tick": 5}), entry)  # type: ignore[arg-type]
        after = r.get_session("it")
        assert after.state == before.state and after.step == before.step


async def test_mock_clock_stamps_checkpoints_and_contexts() -> None:
    clock = MockClock(1_700_000_000)
    stamps: list[int | None] = []

    async def stamp(s: StateSnapshot, ctx) -> None:  # type: ignore[no-untyped-def]
        stamps.append(ctx.now_unix_ms())

    app = GraphBuilder().add_node("A", stamp).add_edge("Start", "A").add_edge("A", "End").compile()
    store = InMemoryCheckpointer()
    async with await AppRunner.builder().app(app).checkpointer_custom(store).clock(clock).build() as r:
        await r.create_session("s", HI("hi"))
        clock.advance(2.5)
        await r.run_until_complete("s")
        assert r.run_metadata()["clock_mode"] == "configured"
    assert stamps == [1_700_000_002_500]
    cp = await store.load_latest("s")
    assert cp is not None and cp.created_at == dt.datetime.fromtimestamp(1_700_000_002.5, tz=dt.UTC)
    assert SystemClock().now_unix_ms() > 1_700_000_000_000
    clock.set_time(5)
    assert clock.now() == 5.0


async def test_run_metadata_and_hashes() -> None:
    cfg = RuntimeConfig(session_id="fixed")
    app = GraphBuilder().add_node("A", appender("A")).add_edge("Start", "A").add_edge("A", "End")
    app = app.with_runtime_config(cfg).compile()
    async with await AppRunner.builder().app(app).build() as r:
        meta = r.run_metadata()
        assert meta["runtime_config_hash"] == cfg.config_hash()
        assert meta["graph_hash"] == app.graph_definition_hash()
        assert meta["checkpointer_backend"] == "in-memory" and meta["clock_mode"] == "unset"
    assert RuntimeConfig().config_hash() != cfg.config_hash()
    assert RuntimeConfig(clock=MockClock()).config_hash() != RuntimeConfig().config_hash()


def test_graph_hash_parts_order_and_sensitivity() -> None:
    def build(order: list[str], extra_edge: bool = False, cond: bool = False) -> App:
        b = GraphBuilder()
        for n in order:
            b.add_node(n, appender(n))
        edges = [("Start", "A"), ("A", "B"), ("B", "End")]
        for s, d in edges if order[0] == "A" else list(reversed(edges)):
            b.add_edge(s, d)
        if extra_edge:
            b.add_edge("A", "End")
        if cond:
            b.add_conditional_edge("A", lambda s: ["B"], ["B"])
        return b.compile()

    a, b = build(["A", "B"]), build(["B", "A"])
    assert a.graph_definition_hash() == b.graph_definition_hash()
    assert len(a.graph_definition_hash()) == 16
    assert build(["A", "B"], extra_edge=True).graph_definition_hash() != a.graph_definition_hash()
    assert build(["A", "B"], cond=True).graph_definition_hash() != a.graph_definition_hash()
    expected = fnv1a_parts(
        [
            "weavegraph-graph-v1",
            "node:Custom:A",
            "node:Custom:B",
            "edge:Custom:A->Custom:B",
            "edge:Custom:B->End",
            "edge:Start->Custom:A",
            "reducer:errors:[0:engine.reducers.AddErrors]",
            "reducer:extra:[0:engine.reducers.MapMerge]",
            "reducer:messages:[0:engine.reducers.AddMessages]",
        ]
    )
    assert a.graph_definition_hash() == expected
    meta = a.graph_metadata()
    assert (meta.node_count, meta["edge_count"], meta["conditional_edge_count"]) == (2, 3, 0)


def test_fnv1a_known_vectors() -> None:
    # FNV-1a 64 of the single byte 0xFF-terminated empty part, computed by hand.
    h = 0xCBF29CE484222325
    h = ((h ^ 0xFF) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    assert fnv1a_parts([""]) == f"{h:016x}"
    assert fnv1a_parts(["a", "b"]) != fnv1a_parts(["ab"])


async def test_app_invoke_helper() -> None:
    final = await chain_app("A").invoke(HI("hi"))
    assert [m.content for m in final.messages] == ["hi", "A"]
