"""Wait-for-all joins (ENGINE.md 8.4): a join runs once per round of its sources, "waiting" skips keep it in
the frontier, its progress survives a resume in every storage mode, and impossible joins fail compile."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    AppRunner,
    EventBus,
    GraphBuilder,
    InvalidJoin,
    MemorySink,
    NodePartial,
    StepReport,
    UnknownNode,
    VersionedState,
)
from engine.joins import PROGRESS_PREFIX, JoinProgress, Joins, progress_key, ready
from engine.persistence.factory import open_checkpointer
from engine.state import StateSnapshot
from engine.types import Message, NodeKind
from tests.engine.nodes import appender


def recorder(name: str, log: list[tuple[str, list[str]]]):  # type: ignore[no-untyped-def]
    """A node that appends its name and logs (name, the message texts it was given)."""

    async def node(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        log.append((name, [m.content for m in snapshot.messages]))
        return NodePartial(messages=[Message.assistant(name)])

    return node


def unequal(log: list[tuple[str, list[str]]], *, join: bool = True) -> GraphBuilder:
    """Start -> A1 -> A2 -> A3 -> J, Start -> B1 -> J, J -> End; J waits for A3 and B1 when `join`."""
    b = GraphBuilder()
    for name in ("A1", "A2", "A3", "B1"):
        b.add_node(name, recorder(name, log))
    b.add_node("J", recorder("J", log), wait_for=["A3", "B1"] if join else None)
    for src, dst in [("Start", "A1"), ("A1", "A2"), ("A2", "A3"), ("A3", "J"), ("Start", "B1"), ("B1", "J")]:
        b.add_edge(src, dst)
    return b.add_edge("J", "End")


async def test_a_join_with_unequal_branches_runs_once_after_all_of_them() -> None:
    log: list[tuple[str, list[str]]] = []
    sink = MemorySink()
    app = unequal(log).compile()
    async with (
        await AppRunner.builder()
        .app(app)
        .event_bus(EventBus.with_sink(sink))
        .lifecycle_events(True)
        .build() as runner
    ):
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        reports = []
        while True:
            report = await runner.run_step("s")
            assert isinstance(report, StepReport)
            reports.append(report)
            if report.completed:
                break
    joins = [seen for name, seen in log if name == "J"]
    assert joins == [["hi", "A1", "B1", "A2", "A3"]], "once, after A3 and B1"
    # Step 2: J (routed by B1) waits and stays in the frontier beside A2's routing.
    assert reports[1].ran_nodes == [NodeKind.custom("A2")]
    assert reports[1].skipped_nodes == [NodeKind.custom("J")]
    assert [k.name for k in reports[1].next_frontier] == ["A3", "J"]
    assert [k.name for k in reports[2].skipped_nodes] == ["J"]
    assert [k.name for k in reports[3].ran_nodes] == ["J"]
    waiting = [e for e in sink.snapshot() if e.scope == "node.skip"]
    assert [(e.node_id, e.step, e.metadata["reason"]) for e in waiting] == [
        ("J", 2, "waiting"),
        ("J", 3, "waiting"),
    ]


async def test_without_wait_for_the_same_graph_runs_its_join_per_branch() -> None:
    """The behaviour wait_for exists to fix (and a check that the test above can fail)."""
    log: list[tuple[str, list[str]]] = []
    await unequal(log, join=False).compile().invoke(VersionedState.new_with_user_message("hi"))
    assert [name for name, _ in log].count("J") == 2


async def test_a_join_inside_a_loop_runs_once_per_round() -> None:
    """Start -> S -> (P, Q1 -> Q2) -> J -> S again until three rounds are done."""
    log: list[tuple[str, list[str]]] = []

    async def start_round(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"round": int(snapshot.extra.get("round", 0)) + 1})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["S"] if snapshot.extra["round"] < 3 else ["End"]

    b = GraphBuilder().add_node("S", start_round)
    for name in ("P", "Q1", "Q2"):
        b.add_node(name, recorder(name, log))
    b.add_node("J", recorder("J", log), wait_for=["P", "Q2"])
    for src, dst in [("Start", "S"), ("S", "P"), ("S", "Q1"), ("Q1", "Q2"), ("P", "J"), ("Q2", "J")]:
        b.add_edge(src, dst)
    b.add_conditional_edge("J", again, targets=["S", "End"])
    final = await b.compile().invoke(VersionedState.new_with_user_message("go"))
    assert final.extra["round"] == 3
    runs = [seen for name, seen in log if name == "J"]
    assert len(runs) == 3
    for i, seen in enumerate(runs, start=1):
        assert seen.count("Q2") == i and seen.count("P") == i, "each run saw its round complete"


async def test_a_join_whose_source_never_comes_ends_the_run_quietly() -> None:
    """A routes to End instead of B: J waits while anything still runs, then the run completes."""
    log: list[tuple[str, list[str]]] = []
    b = GraphBuilder()
    for name in ("A", "B", "C1", "C2"):
        b.add_node(name, recorder(name, log))
    b.add_node("J", recorder("J", log), wait_for=["B", "C2"])
    for src, dst in [("Start", "A"), ("Start", "C1"), ("C1", "C2"), ("C2", "J"), ("B", "J"), ("J", "End")]:
        b.add_edge(src, dst)
    b.add_conditional_edge("A", lambda s: ["End"], targets=["B", "End"])
    async with await AppRunner.builder().app(b.compile()).build() as runner:
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        await runner.run_until_complete("s")
        assert runner.get_session("s").step == 3
    assert "J" not in [name for name, _ in log]


async def test_a_source_running_beside_its_join_counts_for_the_next_round() -> None:
    joins = Joins.build({"J": ["A", "B"]})
    assert joins is not None
    seen: dict[str, dict[str, int]] = {}
    progress = JoinProgress(seen)
    progress.after_barrier([NodeKind.custom("A"), NodeKind.custom("B")], 1, joins)
    assert ready("J", ["A", "B"], progress) and ready("J", ["A", "B"], seen)
    progress.after_barrier([NodeKind.custom("J"), NodeKind.custom("A")], 2, joins)
    assert progress.arrived("J") == {"A": 2}
    assert not ready("J", ["A", "B"], seen)
    assert progress.to_json() == {progress_key("J"): {"A": 2}}
    assert JoinProgress.from_json(progress.to_json()) == {"__weavegraph_join__:J": {"A": 2}}
    with pytest.raises(ValueError, match="step of 'A' must be a positive integer"):
        JoinProgress.from_json({progress_key("J"): {"A": "x"}})
    with pytest.raises(ValueError, match="does not name a join"):
        JoinProgress.from_json({"J": {"A": 1}})


async def test_invoke_next_starts_joins_afresh() -> None:
    log: list[tuple[str, list[str]]] = []
    app = unequal(log).compile()
    async with await AppRunner.builder().app(app).build() as runner:
        await runner.create_iterative_session("it", VersionedState.new_with_user_message("hi"), "Start")
        await runner.invoke_next("it", NodePartial(messages=[Message.user("one")]), "Start")
        await runner.invoke_next("it", NodePartial(messages=[Message.user("two")]), "Start")
        assert not any(k.startswith(PROGRESS_PREFIX) for k in runner.get_session("it").versions_seen)
    assert [name for name, _ in log].count("J") == 2


STORES = [
    "sqlite-compact",
    "sqlite-full",
    pytest.param("postgres-compact", marks=pytest.mark.postgres),
    pytest.param("postgres-full", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("store", STORES)
async def test_join_progress_survives_a_resume(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend, mode = store.split("-")
    if backend == "sqlite":
        url = f"sqlite://{tmp_path / 'joins.db'}?storage={mode}"
    else:
        url = request.getfixturevalue("postgres_url") + f"?storage={mode}"
    log: list[tuple[str, list[str]]] = []
    app = unequal(log).compile()

    async def runner() -> AppRunner:
        return await AppRunner.builder().app(app).checkpointer_custom(await open_checkpointer(url)).build()

    first = await runner()
    async with first:
        await first.create_session("s", VersionedState.new_with_user_message("hi"))
        for _ in range(2):  # step 1: A1, B1; step 2: A2 runs, J waits (B1 has arrived)
            await first.run_step("s")
        stored = await first.checkpointer.load_latest("s")  # type: ignore[union-attr]
        assert stored is not None and stored.step == 2
        assert stored.versions_seen[progress_key("J")] == {"B1": 1}
        assert [k.name for k in stored.frontier] == ["A3", "J"]
    await first.checkpointer.aclose()  # type: ignore[union-attr]

    second = await runner()
    async with second:
        init = await second.create_session("s", VersionedState.new_with_user_message("ignored"))
        assert not init.fresh and init.checkpoint_step == 2
        final = await second.run_until_complete("s")
        history = await second.checkpointer.query_steps("s")  # type: ignore[union-attr]
    await second.checkpointer.aclose()  # type: ignore[union-attr]
    assert [name for name, _ in log].count("J") == 1
    assert [m.content for m in final.messages] == ["hi", "A1", "B1", "A2", "A3", "J"]
    by_step = {cp.step: cp for cp in history.checkpoints}
    assert by_step[3].versions_seen[progress_key("J")] == {"B1": 1, "A3": 3}
    assert progress_key("J") not in by_step[4].versions_seen, "J ran: a new round begins"
    if backend == "sqlite":  # the stored column keeps Weavegraph 0.6's shape: node -> name -> integer
        with sqlite3.connect(tmp_path / "joins.db") as db:
            rows = db.execute("SELECT versions_seen_json FROM steps WHERE session_id = 's'").fetchall()
        for (text,) in rows:
            for entry in json.loads(text).values():
                assert all(isinstance(k, str) and type(v) is int for k, v in entry.items())


def test_waiting_for_an_unknown_node_fails_compile() -> None:
    b = GraphBuilder().add_node("A3", appender("A3")).add_node("J", appender("J"), wait_for=["A3", "Nope"])
    b.add_edge("Start", "A3").add_edge("A3", "J").add_edge("J", "End")
    with pytest.raises(UnknownNode, match="unknown node 'Nope' \\(wait_for of join 'J'\\)"):
        b.compile()


@pytest.mark.parametrize(
    ("wait_for", "names", "fragment"),
    [
        (["A3", "J"], ["J"], "a join cannot wait for itself"),
        (["End"], ["End"], "Start and End are not nodes a join can wait for"),
        (["A3", "Late", "Side"], ["Late", "Side"], "they can never run before it"),
    ],
)
def test_impossible_joins_fail_compile_with_the_node_names(
    wait_for: list[str], names: list[str], fragment: str
) -> None:
    b = GraphBuilder()
    for name in ("A3", "Late", "Side"):
        b.add_node(name, appender(name))
    b.add_node("J", appender("J"), wait_for=wait_for)
    for src, dst in [("Start", "A3"), ("A3", "J"), ("J", "Late"), ("Late", "End"), ("Start", "Side")]:
        b.add_edge(src, dst)
    b.add_edge("Side", "End")
    with pytest.raises(InvalidJoin) as info:
        b.compile()
    assert (info.value.node, info.value.waits_on) == ("J", names)
    assert str(info.value).startswith(f"join 'J' waits for {', '.join(names)}: {fragment}")


def test_a_source_reached_only_through_declared_conditional_targets_is_fine() -> None:
    b = GraphBuilder().add_node("R", appender("R")).add_node("X", appender("X"))
    b.add_node("J", appender("J"), wait_for=["X"])
    b.add_edge("Start", "R").add_conditional_edge("R", lambda s: ["X"], targets=["X"])
    b.add_edge("X", "J").add_edge("J", "End")
    b.compile()
    undeclared = GraphBuilder().add_node("R", appender("R")).add_node("X", appender("X"))
    undeclared.add_node("J", appender("J"), wait_for=["X"])
    undeclared.add_edge("Start", "R").add_conditional_edge("R", lambda s: ["X", "J"])
    undeclared.add_edge("J", "End").add_edge("X", "End")
    undeclared.compile()  # undeclared routing: whether X can come first cannot be judged


def test_join_progress_names_are_reserved() -> None:
    with pytest.raises(ValueError, match="are reserved"):
        GraphBuilder().add_node(PROGRESS_PREFIX + "x", appender("x"))


def test_wait_for_takes_one_name_or_many_and_drops_repeats() -> None:
    b = unequal([])
    b.add_node("K", appender("K"), wait_for="A3").add_edge("A3", "K").add_edge("K", "End")
    app = b.compile()
    policies = {k.name: p.wait_for for k, p in app.node_policies().items()}
    assert policies == {"J": ("A3", "B1"), "K": ("A3",)}
    assert GraphBuilder().add_node("Z", appender("Z"), wait_for=["A", "B", "A"])._policies[
        NodeKind.custom("Z")
    ].wait_for == ("A", "B")


# ---------------------------------------------------------------- property


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
    st.integers(1, 3),
    st.lists(st.floats(0, 0.002), min_size=4, max_size=4),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_join_runs_exactly_once_per_round_of_its_sources(
    lengths: list[int], rounds: int, delays: list[float]
) -> None:
    """Branches of any lengths, looped `rounds` times: the join runs once per round, after every branch's
    last node of that round and before any node of the next round."""
    log: list[tuple[str, list[str]]] = []

    def node(name: str, delay: float) -> Any:
        async def run(snapshot: StateSnapshot, ctx: object) -> NodePartial:
            await asyncio.sleep(delay)
            log.append((name, [m.content for m in snapshot.messages]))
            extra = {"round": int(snapshot.extra.get("round", 0)) + 1} if name == "S" else None
            return NodePartial(messages=[Message.assistant(name)], extra=extra)

        return run

    b = GraphBuilder().add_node("S", node("S", 0.0)).add_edge("Start", "S")
    tails = []
    for i, length in enumerate(lengths):
        names = [f"b{i}_{j}" for j in range(length)]
        for j, name in enumerate(names):
            b.add_node(name, node(name, delays[i]))
            b.add_edge("S" if j == 0 else names[j - 1], name)
        tails.append(names[-1])
        b.add_edge(names[-1], "J")
    b.add_node("J", node("J", 0.0), wait_for=tails)
    b.add_conditional_edge(
        "J", lambda s: ["S"] if s.extra["round"] < rounds else ["End"], targets=["S", "End"]
    )

    async def run() -> VersionedState:
        async with await AppRunner.builder().app(b.compile()).build() as runner:
            await runner.create_session("p", VersionedState.new_with_user_message("go"))
            return await runner.run_until_complete("p")

    final = asyncio.run(run())
    order = [name for name, _ in log]
    assert order.count("J") == rounds
    assert final.extra["round"] == rounds
    for r, (_, seen) in enumerate((e for e in log if e[0] == "J"), start=1):
        assert all(seen.count(tail) == r for tail in tails), (lengths, rounds, seen)
        assert seen.count("J") == r - 1
