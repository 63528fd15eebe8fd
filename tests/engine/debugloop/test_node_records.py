"""Node records (ENGINE.md 8.1) on in-memory and SQLite (full and compact): saved with each step, a failed
step's records with its error checkpoint, prune/delete remove them, records off, an old database migrates."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import FrozenInstanceError, fields, replace
from pathlib import Path
from typing import Any

import pytest

from engine.clock import MockClock
from engine.errors import NodeRunError
from engine.graph.builder import GraphBuilder
from engine.node_records import NodeRecord
from engine.partial import NodePartial
from engine.persistence.base import PrunePolicy
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.types import Message
from tests.aiosqlite_leaks import Closing
from tests.engine.persistence.runner_proc import counting_app

FIXTURES = Path(__file__).resolve().parents[1] / "persistence" / "fixtures"


def _user_code_fails(snapshot: StateSnapshot) -> NodePartial:
    raise ValueError("bad input in user code")


def failing_app() -> Any:
    async def ok(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"ok": True})

    async def bad(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return _user_code_fails(snapshot)

    return (
        GraphBuilder()
        .add_node("ok", ok)
        .add_node("bad", bad)
        .add_edge("Start", "ok")
        .add_edge("ok", "bad")
        .add_edge("bad", "End")
        .compile()
    )


PG = [
    pytest.param("pg_full", marks=pytest.mark.postgres),
    pytest.param("pg_compact", marks=pytest.mark.postgres),
]


async def _open(kind: str, tmp_path: Path, request: pytest.FixtureRequest | None = None) -> Any:
    if kind == "memory":
        return InMemoryCheckpointer()
    mode = "compact" if kind.endswith("compact") else "full"
    if kind.startswith("pg_"):
        from engine.persistence.postgres import PostgresCheckpointer

        assert request is not None
        return await PostgresCheckpointer.connect(request.getfixturevalue("postgres_url"), storage_mode=mode)
    return await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'r.db'}", storage_mode=mode)


async def _run(cp: Any, app: Any, sid: str = "s", **opts: Any) -> AppRunner:
    builder = AppRunner.builder().app(app).checkpointer_custom(cp).clock(MockClock(1_000.0))
    if "record_nodes" in opts:
        builder = builder.record_nodes(opts["record_nodes"])
    runner = await builder.build()
    await runner.create_session(sid, VersionedState.new_with_user_message("go"))
    return runner


@pytest.mark.parametrize("kind", ["memory", "full", "compact", *PG])
async def test_records_of_each_step(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cp = await _open(kind, tmp_path, request)
    runner = await _run(cp, counting_app(3))
    await runner.run_until_complete("s")
    records = await cp.node_records("s")
    if kind == "memory":  # only the latest step's
        assert [(r.step, r.node) for r in records] == [(3, "count")]
    else:
        assert [(r.step, r.node) for r in records] == [(1, "count"), (2, "count"), (3, "count")]
        assert await cp.node_records("s", step=2) == [records[1]]
    last = records[-1]
    assert last.status == "done" and last.attempts == 1 and last.error is None
    assert last.started_at == dt.datetime.fromtimestamp(1_000.0, dt.UTC)
    assert last.duration_ms >= 0
    assert last.output == {"messages": [{"role": "assistant", "content": "count 3"}], "extra": {"count": 3}}
    assert NodePartial.from_json_value(last.output) == NodePartial(
        messages=[Message.assistant("count 3")], extra={"count": 3}
    )
    # a done record is built on a hot path (not through __init__): still a whole, frozen NodeRecord
    assert type(last) is NodeRecord and last == NodeRecord(
        *(getattr(last, f.name) for f in fields(NodeRecord))
    )
    assert hash(last.node) and replace(last, step=9).step == 9
    with pytest.raises(FrozenInstanceError):
        last.status = "failed"  # type: ignore[misc]
    await runner.aclose()
    await cp.aclose()


@pytest.mark.parametrize("kind", ["memory", "full", *PG[:1]])
async def test_failed_step_keeps_the_records_and_the_user_traceback(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cp = await _open(kind, tmp_path, request)
    runner = await _run(cp, failing_app())
    with pytest.raises(NodeRunError):
        await runner.run_until_complete("s")
    (rec,) = await cp.node_records("s", step=2)
    assert isinstance(rec, NodeRecord)
    assert (rec.node, rec.status, rec.output, rec.attempts) == ("bad", "failed", None, 1)
    details = rec.error["error"]["details"]  # type: ignore[index]
    assert details["type"] == "ValueError"
    assert "_user_code_fails" in details["traceback"] and "bad input in user code" in details["traceback"]
    assert "engine/executor.py" not in details["traceback"] and "run_attempts" not in details["traceback"]
    assert details["traceback"].count('File "') == 2  # only the user's two frames
    await runner.aclose()
    await cp.aclose()


async def test_records_off(tmp_path: Path) -> None:
    cp = await _open("full", tmp_path)
    runner = await _run(cp, counting_app(2), record_nodes=False)
    await runner.run_until_complete("s")
    assert await cp.node_records("s") == []
    await runner.aclose()
    await cp.aclose()


@pytest.mark.parametrize("kind", ["full", "compact", *PG])
async def test_prune_and_delete_remove_records(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cp = await _open(kind, tmp_path, request)
    runner = await _run(cp, counting_app(5))
    await runner.run_until_complete("s")
    await cp.prune(PrunePolicy(keep_last=2))
    assert [r.step for r in await cp.node_records("s")] == [4, 5]
    await cp.delete_session("s")
    assert await cp.node_records("s") == []
    await runner.aclose()
    await cp.aclose()


def test_partial_json_round_trip_and_errors() -> None:
    p = NodePartial(messages=[Message.user("x")], extra={"a": 1}).with_frontier_replace(["B", "End"])
    assert NodePartial.from_json_value(p.to_json_value()) == p
    assert NodePartial().to_json_value() == {}
    with pytest.raises(ValueError, match="unknown keys: bogus"):
        NodePartial.from_json_value({"bogus": 1})


@pytest.mark.parametrize("mode", ["full", "compact"])
async def test_old_database_migrates_and_records_new_steps(
    mode: str, tmp_path: Path, closing: Closing[Any]
) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / f"base_aaefb2e_{mode}.db", path)
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}"))
    assert await cp.node_records("alpha") == []  # made before records: none, and no error
    before = await cp.load_latest("alpha")
    assert before is not None and before.step == 5
    await cp.aclose()
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}"))
    runner = await _run(cp, counting_app(3), sid="new")
    await runner.run_until_complete("new")
    assert [r.step for r in await cp.node_records("new")] == [1, 2, 3]
    await runner.aclose()
    await cp.aclose()


async def test_records_are_the_same_on_the_inline_path_and_the_policy_path() -> None:
    """A plain node (awaited inline, recorded as a raw tuple and built when read) and the same node under a
    timeout (through `run_attempts` and `NodeRecorder.run`) leave the same records but for their timing; a
    sync node (the invoker's thread path) too."""
    from engine.policies import RetryPolicy

    async def tick(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": snapshot.extra.get("n", 0) + 1}, messages=[Message.assistant("t")])

    def sync_tick(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": snapshot.extra.get("n", 0) + 1}, messages=[Message.assistant("t")])

    async def records_of(node: Any, **policy: Any) -> list[dict[str, Any]]:
        app = (
            GraphBuilder()
            .add_node("a", node, **policy)
            .add_node("b", node, **policy)
            .add_edge("Start", "a")
            .add_edge("a", "b")
            .add_edge("b", "End")
            .compile()
        )
        cp = InMemoryCheckpointer()
        async with await AppRunner.builder().app(app).checkpointer_custom(cp).build() as runner:
            await runner.create_session("s", VersionedState())
            out = []
            while not (await runner.run_step("s")).completed:
                out += [r.to_json_value() for r in await cp.node_records("s")]
            out += [r.to_json_value() for r in await cp.node_records("s")]
        for r in out:
            assert isinstance(r.pop("started_at"), str) and r.pop("duration_ms") >= 0.0
        return out

    inline = await records_of(tick)
    assert [(r["step"], r["node"], r["status"], r["attempts"]) for r in inline] == [
        (1, "a", "done", 1),
        (2, "b", "done", 1),
    ]
    assert inline[1]["output"]["extra"] == {"n": 2}
    assert await records_of(tick, timeout=5.0) == inline
    assert await records_of(tick, retry=RetryPolicy(max_attempts=2)) == inline
    assert await records_of(sync_tick) == inline
