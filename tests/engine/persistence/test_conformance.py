"""One contract, three backends: in-memory (latest only), SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from engine.errors import CheckpointConflict
from engine.persistence.base import (
    Checkpointer,
    PrunePolicy,
    SessionQuery,
    StepQuery,
)
from engine.persistence.errors import CheckpointDataError
from engine.persistence.memory import InMemoryCheckpointer
from engine.types import NodeKind
from tests.engine.persistence.helpers import make_cp


def keeps_history(cp: Any) -> bool:
    return not isinstance(cp, InMemoryCheckpointer)


async def test_satisfies_the_protocol(checkpointer: Any) -> None:
    assert isinstance(checkpointer, Checkpointer)
    assert checkpointer.backend_name in ("in-memory", "sqlite", "postgres")


async def test_round_trip_keeps_every_field(checkpointer: Any) -> None:
    original = make_cp("s1", 2, ran=["A", "B"], graph_hash="0123456789abcdef")
    await checkpointer.save(original)
    loaded = await checkpointer.load_latest("s1")
    assert loaded is not None
    assert loaded.state == original.state
    assert loaded.state.errors and loaded.state.errors[0].error.details == {"n": 2}
    assert loaded.frontier == [NodeKind.custom("B"), NodeKind.END]
    assert loaded.versions_seen == original.versions_seen
    assert loaded.concurrency_limit == 3
    assert loaded.created_at == original.created_at
    assert loaded.ran_nodes == [NodeKind.custom("A"), NodeKind.custom("B")]
    assert loaded.skipped_nodes == [NodeKind.custom("C")]
    assert loaded.updated_channels == ["messages", "extra"]
    assert loaded.graph_hash == "0123456789abcdef"
    assert await checkpointer.graph_hash("s1") == "0123456789abcdef"
    assert await checkpointer.load_latest("nope") is None


async def test_loaded_checkpoint_is_a_copy(checkpointer: Any) -> None:
    await checkpointer.save(make_cp("s1", 1))
    first = await checkpointer.load_latest("s1")
    first.state.extra["count"] = 999
    first.state.messages.clear()
    again = await checkpointer.load_latest("s1")
    assert again.state.extra["count"] == 1 and len(again.state.messages) == 2


async def test_latest_pointer_only_moves_forward(checkpointer: Any) -> None:
    await checkpointer.save(make_cp("s1", 5))
    await checkpointer.save(make_cp("s1", 3))
    latest = await checkpointer.load_latest("s1")
    assert latest.step == 5
    if keeps_history(checkpointer):
        old = await checkpointer.load_step("s1", 3)
        assert old is not None and old.step == 3


async def test_same_step_overwrites(checkpointer: Any) -> None:
    await checkpointer.save(make_cp("s1", 1, extra={"v": "first"}))
    await checkpointer.save(make_cp("s1", 1, extra={"v": "second"}))
    latest = await checkpointer.load_latest("s1")
    assert latest.state.extra == {"v": "second"}
    result = await checkpointer.query_steps("s1")
    assert result.total_count == 1
    assert result.checkpoints[0].state.extra == {"v": "second"}


async def test_expected_last_step(checkpointer: Any) -> None:
    with pytest.raises(CheckpointConflict) as info:
        await checkpointer.save(make_cp("s1", 1), expected_last_step=0)
    assert info.value.actual is None and "s1" in str(info.value)
    assert await checkpointer.load_latest("s1") is None
    await checkpointer.save(make_cp("s1", 0), expected_last_step=None)
    await checkpointer.save(make_cp("s1", 1), expected_last_step=0)
    with pytest.raises(CheckpointConflict) as info:
        await checkpointer.save(make_cp("s1", 2, extra={"loser": True}), expected_last_step=0)
    assert (info.value.expected, info.value.actual) == (0, 1)
    latest = await checkpointer.load_latest("s1")
    assert latest.step == 1 and "loser" not in latest.state.extra
    if keeps_history(checkpointer):
        assert await checkpointer.load_step("s1", 2) is None


async def test_list_sessions_most_recent_first(checkpointer: Any) -> None:
    for sid in ("a", "b", "c"):
        await checkpointer.save(make_cp(sid, 0))
        await asyncio.sleep(0.002)
    await checkpointer.save(make_cp("a", 1))
    assert await checkpointer.list_sessions() == ["a", "c", "b"]


async def test_delete_session_cascades(checkpointer: Any) -> None:
    for step in range(3):
        await checkpointer.save(make_cp("gone", step))
    await checkpointer.save(make_cp("kept", 0))
    await checkpointer.delete_session("gone")
    await checkpointer.delete_session("never-existed")
    assert await checkpointer.load_latest("gone") is None
    assert (await checkpointer.query_steps("gone")).total_count == 0
    assert await checkpointer.list_sessions() == ["kept"]
    stats = await checkpointer.storage_stats()
    assert [s.session_id for s in stats.sessions] == ["kept"]


async def test_query_steps_paging(checkpointer: Any) -> None:
    for step in range(25):
        await checkpointer.save(make_cp("s1", step))
    await checkpointer.save(make_cp("other", 0))
    first = await checkpointer.query_steps("s1", StepQuery(limit=10))
    if not keeps_history(checkpointer):
        assert [c.step for c in first.checkpoints] == [24]
        assert (first.total_count, first.has_next_page) == (1, False)
        return
    assert [c.step for c in first.checkpoints] == list(range(24, 14, -1))
    assert (first.total_count, first.has_next_page) == (25, True)
    last = await checkpointer.query_steps("s1", StepQuery(limit=10, offset=20))
    assert [c.step for c in last.checkpoints] == [4, 3, 2, 1, 0]
    assert last.has_next_page is False
    ranged = await checkpointer.query_steps("s1", StepQuery(limit=3, min_step=5, max_step=12))
    assert [c.step for c in ranged.checkpoints] == [12, 11, 10]
    assert (ranged.total_count, ranged.has_next_page) == (8, True)
    assert ranged.checkpoints[0].concurrency_limit == 3
    beyond = await checkpointer.query_steps("s1", StepQuery(offset=100))
    assert beyond.checkpoints == [] and beyond.total_count == 25


async def test_ranges_over_gaps(checkpointer: Any) -> None:
    for step in (0, 2, 4, 6, 8):
        await checkpointer.save(make_cp("g", step, ran=["A"] if step % 4 == 0 else ["B"]))
    ranged = await checkpointer.query_steps("g", StepQuery(min_step=1, max_step=6))
    if not keeps_history(checkpointer):
        assert ranged.total_count == 0
        return
    assert [c.step for c in ranged.checkpoints] == [6, 4, 2] and ranged.total_count == 3
    assert (await checkpointer.query_steps("g", StepQuery(max_step=3, limit=1))).total_count == 2
    nodes = await checkpointer.query_steps("g", StepQuery(ran_node="A", min_step=1))
    assert [c.step for c in nodes.checkpoints] == [8, 4]
    await checkpointer.save(make_cp("g", 4, ran=["C"]))  # an overwrite moves the step out of "A"
    nodes = await checkpointer.query_steps("g", StepQuery(ran_node="A"))
    assert [c.step for c in nodes.checkpoints] == [8, 0] and nodes.total_count == 2
    assert [c.step for c in (await checkpointer.query_steps("g", StepQuery(ran_node="C"))).checkpoints] == [4]


async def test_ran_node_is_an_exact_match(checkpointer: Any) -> None:
    names = [["A"], ["AB"], ["XA", "B"], ["B", "A"], [], ["Start"], ["End"]]
    for step, ran in enumerate(names):
        await checkpointer.save(make_cp("s1", step, ran=ran))

    async def steps(node: Any) -> list[int]:
        return [c.step for c in (await checkpointer.query_steps("s1", StepQuery(ran_node=node))).checkpoints]

    if not keeps_history(checkpointer):
        assert await steps("End") == [6]
        assert await steps("A") == []
        return
    assert await steps("A") == [3, 0]
    assert await steps("Custom:A") == [3, 0]
    assert await steps(NodeKind.custom("A")) == [3, 0]
    assert await steps("AB") == [1]
    assert await steps("B") == [3, 2]
    assert await steps("Start") == [5]
    assert await steps("Missing") == []
    counted = await checkpointer.query_steps("s1", StepQuery(ran_node="A", limit=1))
    assert (counted.total_count, counted.has_next_page) == (2, True)


async def test_prune_never_deletes_latest_and_dry_run_matches(checkpointer: Any) -> None:
    for sid, n in (("s1", 10), ("s2", 3), ("s3", 1)):
        for step in range(n):
            await checkpointer.save(make_cp(sid, step))
    policy = PrunePolicy(keep_last=2)
    dry = await checkpointer.prune(policy, dry_run=True)
    assert dry.dry_run is True
    real = await checkpointer.prune(policy)
    assert (real.steps, real.bytes, real.sessions) == (dry.steps, dry.bytes, dry.sessions)
    if not keeps_history(checkpointer):
        assert real.steps == 0
        return
    assert (real.steps, real.sessions) == (8 + 1, 2)
    assert real.bytes > 0
    assert [c.step for c in (await checkpointer.query_steps("s1")).checkpoints] == [9, 8]
    by_node = await checkpointer.query_steps("s1", StepQuery(ran_node="A", limit=1))
    assert (by_node.total_count, [c.step for c in by_node.checkpoints]) == (2, [9])
    assert (await checkpointer.query_steps("s3")).total_count == 1
    assert (await checkpointer.prune(policy)).steps == 0
    everything = await checkpointer.prune(PrunePolicy(), dry_run=True)
    assert everything.steps == 2  # s1 step 8 and s2 step 1; latest steps stay
    for sid in ("s1", "s2", "s3"):
        assert (await checkpointer.load_latest(sid)) is not None


async def test_prune_bytes_equal_the_size_drop(checkpointer: Any) -> None:
    for step in range(6):
        await checkpointer.save(make_cp("s1", step))
    before = await checkpointer.storage_stats()
    report = await checkpointer.prune(PrunePolicy(keep_last=1))
    after = await checkpointer.storage_stats()
    assert before.total_bytes - after.total_bytes == report.bytes
    assert before.total_steps - after.total_steps == report.steps


async def test_prune_filters(checkpointer: Any) -> None:
    if not keeps_history(checkpointer):
        pytest.skip("in-memory keeps only the latest step")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    for step in range(4):
        await checkpointer.save(make_cp("old", step, when=old))
        await checkpointer.save(make_cp("new", step, when=dt.datetime.now(dt.UTC)))
    only_old = await checkpointer.prune(PrunePolicy(older_than=dt.timedelta(days=1)), dry_run=True)
    assert (only_old.steps, only_old.sessions) == (3, 1)
    scoped = await checkpointer.prune(PrunePolicy(keep_last=1, session_ids=["new"]))
    assert (scoped.steps, scoped.sessions) == (3, 1)
    assert (await checkpointer.query_steps("old")).total_count == 4
    both = await checkpointer.prune(PrunePolicy(keep_last=2, older_than=dt.timedelta(days=1)))
    assert both.steps == 2
    assert [c.step for c in (await checkpointer.query_steps("old")).checkpoints] == [3, 2]
    with pytest.raises(ValueError, match="keep_last"):
        PrunePolicy(keep_last=0)


async def test_storage_stats(checkpointer: Any) -> None:
    for step in range(4):
        await checkpointer.save(make_cp("s1", step))
    await checkpointer.save(make_cp("s2", 0))
    stats = await checkpointer.storage_stats()
    by_id = {s.session_id: s for s in stats.sessions}
    assert set(by_id) == {"s1", "s2"}
    assert by_id["s1"].last_step == 3 and by_id["s1"].bytes > by_id["s2"].bytes > 0
    expected_steps = 4 if keeps_history(checkpointer) else 1
    assert by_id["s1"].steps == expected_steps
    assert stats.total_steps == sum(s.steps for s in stats.sessions)
    assert stats.total_bytes == sum(s.bytes for s in stats.sessions)
    if checkpointer.backend_name == "sqlite":
        assert stats.file_bytes and stats.wal_bytes is not None and stats.free_bytes is not None
        assert "steps" in stats.tables
    if checkpointer.backend_name == "postgres":
        assert stats.tables["steps"] > 0 and stats.tables["sessions"] > 0
    await checkpointer.vacuum()


async def test_session_page(checkpointer: Any) -> None:
    for i in range(12):
        await checkpointer.save(make_cp(f"run-{i:02d}", i % 4, graph_hash="feed"))
    await checkpointer.save(make_cp("other_x", 0))
    page = await checkpointer.session_page(SessionQuery(limit=5))
    assert page.total_count == 13 and len(page.items) == 5
    assert page.items[0].session_id == "other_x"
    searched = await checkpointer.session_page(SessionQuery(search="RUN-1", order_by="id", descending=False))
    assert [s.session_id for s in searched.items] == ["run-10", "run-11"]
    assert searched.items[0].graph_hash == "feed" and searched.items[0].last_step == 2
    assert (
        await checkpointer.session_page(SessionQuery(search="n_0"))
    ).total_count == 0  # "_" is no wildcard
    by_step = await checkpointer.session_page(SessionQuery(order_by="last_step", limit=3))
    assert [s.last_step for s in by_step.items] == [3, 3, 3]
    for step in (5, 6):
        await checkpointer.save(make_cp("run-03", step))
    for key in ("steps", "bytes"):
        page = await checkpointer.session_page(SessionQuery(order_by=key, limit=13))
        values = [getattr(s, key) for s in page.items]
        assert values == sorted(values, reverse=True), key
        if checkpointer.backend_name != "in-memory":  # it keeps one step per session
            assert page.items[0].session_id == "run-03", key
        ascending = await checkpointer.session_page(SessionQuery(order_by=key, descending=False, limit=13))
        assert [getattr(s, key) for s in ascending.items] == sorted(values), key
    with pytest.raises(ValueError, match="order_by"):
        SessionQuery(order_by="bytes; DROP TABLE steps")


async def test_watch_sees_saves_in_this_process(checkpointer: Any) -> None:
    stream = checkpointer.watch()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)  # the watcher is listening
    await checkpointer.save(make_cp("w", 0))
    await checkpointer.save(make_cp("w", 1))
    got = [await asyncio.wait_for(first, 5)]
    got.append(await asyncio.wait_for(anext(stream), 5))
    assert got == [("w", 0), ("w", 1)]
    await stream.aclose()


async def test_load_step(checkpointer: Any) -> None:
    for step in range(3):
        await checkpointer.save(make_cp("s1", step))
    latest = await checkpointer.load_step("s1", 2)
    assert latest is not None and latest.ran_nodes == [NodeKind.custom("A")]
    middle = await checkpointer.load_step("s1", 1)
    if keeps_history(checkpointer):
        assert middle is not None and middle.state.extra["count"] == 1
    else:
        assert middle is None
    assert await checkpointer.load_step("s1", 99) is None


async def test_unstorable_text_is_a_clear_error(checkpointer: Any) -> None:
    if not keeps_history(checkpointer):
        pytest.skip("in-memory stores Python objects, not text")
    with pytest.raises(CheckpointDataError, match="'s1' step 0"):
        await checkpointer.save(make_cp("s1", 0, extra={"bad": "\ud800"}))
    with pytest.raises(CheckpointDataError, match="not JSON"):
        await checkpointer.save(make_cp("s1", 0, extra={"bad": float("nan")}))
    assert await checkpointer.load_latest("s1") is None
