"""fork_session and replay_session (ENGINE.md 8.2) on in-memory and SQLite: counted node calls prove
recorded nodes do not run; divergence; the error cases write nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.clock import MockClock
from engine.errors import CheckpointerError, StorageErrorKind
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.base import PrunePolicy
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.timetravel import CheckpointNotFound, RecordUndecodable, SessionExists
from tests.aiosqlite_leaks import Closing


def counting(calls: dict[str, int], target: int = 4) -> Any:
    """Start -> a -> b -> (a until extra.n reaches target) -> End; `calls` counts each node's real calls."""

    async def a(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        calls["a"] = calls.get("a", 0) + 1
        return NodePartial(extra={"n": int(snapshot.extra.get("n", 0)) + 1})

    async def b(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        calls["b"] = calls.get("b", 0) + 1
        return NodePartial(extra={"seen_b": int(snapshot.extra.get("n", 0))})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["a"] if int(snapshot.extra.get("n", 0)) < target else ["End"]

    return (
        GraphBuilder()
        .add_node("a", a)
        .add_node("b", b)
        .add_edge("Start", "a")
        .add_edge("a", "b")
        .add_conditional_edge("b", again, targets=["a", "End"])
        .compile()
    )


async def _runner(cp: Any, app: Any, records: bool = True) -> AppRunner:
    return (
        await AppRunner.builder()
        .app(app)
        .checkpointer_custom(cp)
        .clock(MockClock(1_000.0))
        .record_nodes(records)
        .build()
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The durable store's URL: a SQLite file or a fresh database on the suite's Postgres server."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'f.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def _open(url: str) -> Any:
    if url.startswith("sqlite"):
        return await SQLiteCheckpointer.connect(url)
    from engine.persistence.postgres import PostgresCheckpointer

    return await PostgresCheckpointer.connect(url)


async def _source(url: str, records: bool = True) -> tuple[Any, dict[str, int], VersionedState]:
    cp = await _open(url)
    calls: dict[str, int] = {}
    runner = await _runner(cp, counting(calls), records)
    await runner.create_session("src", VersionedState.new_with_user_message("go"))
    final = await runner.run_until_complete("src")
    await runner.aclose()
    return cp, calls, final


async def test_fork_applies_the_update_through_the_barrier(backend: str) -> None:
    cp, _calls, _ = await _source(backend)
    calls: dict[str, int] = {}
    runner = await _runner(cp, counting(calls))
    src2 = await cp.load_step("src", 2)
    init = await runner.fork_session("src", 2, "forked", update=NodePartial(extra={"n": 3}))
    assert (init.fresh, init.checkpoint_step) == (True, 2)
    first = await cp.load_latest("forked")
    assert first.step == 2 and first.state.extra["n"] == 3
    assert first.state.extra_version == src2.state.extra_version + 1
    assert first.versions_seen == src2.versions_seen and first.frontier == src2.frontier
    final = await runner.run_until_complete("forked")
    assert final.extra["n"] == 4 and calls == {"a": 1, "b": 1}
    assert (await cp.load_step("src", 2)).state.extra == src2.state.extra  # the source never changes
    await runner.aclose()
    await cp.aclose()


async def test_fork_with_frontier(backend: str) -> None:
    cp, _calls, _ = await _source(backend)
    calls: dict[str, int] = {}
    runner = await _runner(cp, counting(calls))
    await runner.fork_session("src", 1, "f2", frontier=["End"])
    final = await runner.run_until_complete("f2")
    assert calls == {} and final.extra["n"] == 1
    await runner.aclose()
    await cp.aclose()


async def test_fork_errors_write_nothing(backend: str) -> None:
    cp, _calls, _ = await _source(backend)
    runner = await _runner(cp, counting({}))
    with pytest.raises(SessionExists, match="'src' already exists") as exists:
        await runner.fork_session("src", 1, "src")
    assert exists.value.kind is StorageErrorKind.EXISTS
    await cp.prune(PrunePolicy(keep_last=1))
    with pytest.raises(CheckpointNotFound, match="session 'src' has no stored checkpoint at step 1") as gone:
        await runner.fork_session("src", 1, "new")
    assert (
        isinstance(gone.value, CheckpointerError) and gone.value.kind is StorageErrorKind.CHECKPOINT_MISSING
    )
    assert (gone.value.session_id, gone.value.step) == ("src", 1)
    assert await cp.load_latest("new") is None
    await runner.aclose()
    await cp.aclose()


async def test_fork_in_memory_only_the_latest_step() -> None:
    cp = InMemoryCheckpointer()
    runner = await _runner(cp, counting({}))
    await runner.create_session("src", VersionedState.new_with_user_message("go"))
    await runner.run_until_complete("src")
    last = (await cp.load_latest("src")).step
    with pytest.raises(CheckpointNotFound):
        await runner.fork_session("src", 1, "x")
    await runner.fork_session("src", last, "x")
    assert (await cp.load_latest("x")).step == last
    await runner.aclose()


@pytest.mark.parametrize("kind", ["durable", "memory"])
async def test_replay_with_recorded_outputs_runs_no_node(kind: str, backend: str) -> None:
    if kind == "durable":
        cp, calls, source_final = await _source(backend)
    else:
        cp = InMemoryCheckpointer()
        calls = {}
        r = await _runner(cp, counting(calls))
        await r.create_session("src", VersionedState.new_with_user_message("go"))
        source_final = await r.run_until_complete("src")
    assert calls == {"a": 4, "b": 4}
    replay_calls: dict[str, int] = {}
    runner = await _runner(cp, counting(replay_calls))
    if kind == "memory":  # only the latest step is kept: replay from it (nothing left to run)
        with pytest.raises(CheckpointNotFound):
            await runner.replay_session("src", "re", from_step=0)
        await runner.aclose()
        return
    result = await runner.replay_session("src", "re")
    assert replay_calls == {}
    assert result.diverged_at is None and result.ran_live == []
    assert result.recorded == [(s, "a" if s % 2 else "b") for s in range(1, 9)]
    assert result.final_state.extra == source_final.extra
    assert result.final_state.messages == source_final.messages
    await runner.aclose()
    await cp.aclose()


async def test_replay_live_nodes_and_until_step(backend: str) -> None:
    cp, _calls, _ = await _source(backend)
    replay_calls: dict[str, int] = {}
    runner = await _runner(cp, counting(replay_calls))
    result = await runner.replay_session("src", "re", from_step=2, live=["b"], until_step=5)
    assert replay_calls == {"b": 1}
    assert result.ran_live == [(4, "b")]
    assert result.recorded == [(3, "a"), (5, "a")]
    assert result.diverged_at is None
    assert (await cp.load_latest("re")).step == 5
    await runner.aclose()
    await cp.aclose()


async def test_replay_diverges_where_records_are_missing(backend: str) -> None:
    cp, _calls, _ = await _source(backend, records=False)
    replay_calls: dict[str, int] = {}
    runner = await _runner(cp, counting(replay_calls))
    result = await runner.replay_session("src", "re")
    assert result.diverged_at == 1 and result.recorded == []
    assert replay_calls == {"a": 4, "b": 4}
    await runner.aclose()
    await cp.aclose()


async def test_replay_of_an_undecodable_record_writes_nothing(tmp_path: Path, closing: Closing[Any]) -> None:
    cp, _calls, _ = await _source(f"sqlite://{tmp_path / 'f.db'}")
    await cp.aclose()
    with sqlite3.connect(tmp_path / "f.db") as db:
        db.execute(
            "UPDATE wg_node_records SET output_json = ? WHERE session_id = 'src' AND step = 3",
            (json.dumps({"bogus": 1}),),
        )
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'f.db'}"))
    runner = await _runner(cp, counting({}))
    with pytest.raises(RecordUndecodable, match="session 'src' step 3: the recorded output of node 'a'"):
        await runner.replay_session("src", "re")
    assert await cp.load_latest("re") is None
    await runner.aclose()
    await cp.aclose()
