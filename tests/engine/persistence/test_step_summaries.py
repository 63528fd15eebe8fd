"""`step_summaries` (the studio timeline's read): every stored step's number, save time, ran and skipped
nodes, oldest first, without decoding state; on in-memory (latest only), SQLite and a real PostgreSQL
server."""

from __future__ import annotations

from typing import Any

import pytest

from engine.persistence.base import CheckpointStore, PrunePolicy, StepQuery, StepSummary
from engine.persistence.errors import CheckpointDataError
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.types import NodeKind
from tests.engine.persistence.helpers import make_cp


async def test_summaries_match_query_steps(checkpointer: Any) -> None:
    assert isinstance(checkpointer, CheckpointStore)
    for step in range(6):
        await checkpointer.save(make_cp("s1", step, ran=["A", "B"] if step % 2 else ["A"]))
    await checkpointer.save(make_cp("other", 0))
    got = await checkpointer.step_summaries("s1")
    full = (await checkpointer.query_steps("s1", StepQuery(limit=100))).checkpoints[::-1]
    assert [s.step for s in got] == [c.step for c in full]
    expected_steps = [5] if isinstance(checkpointer, InMemoryCheckpointer) else list(range(6))
    assert [s.step for s in got] == expected_steps
    for summary, cp in zip(got, full, strict=True):
        assert isinstance(summary, StepSummary)
        assert summary.created_at == cp.created_at
        assert summary.ran_nodes == cp.ran_nodes
        assert summary.skipped_nodes == [NodeKind.custom("C")]
    assert got[-1].ran_nodes == [NodeKind.custom("A"), NodeKind.custom("B")]
    assert await checkpointer.step_summaries("nope") == []


async def test_summaries_take_a_step_range(durable: Any) -> None:
    for step in range(10):
        await durable.save(make_cp("s1", step))
    assert [s.step for s in await durable.step_summaries("s1", min_step=3, max_step=6)] == [3, 4, 5, 6]
    assert [s.step for s in await durable.step_summaries("s1", min_step=8)] == [8, 9]
    assert [s.step for s in await durable.step_summaries("s1", max_step=1)] == [0, 1]
    assert await durable.step_summaries("s1", min_step=20) == []


async def test_summaries_skip_pruned_steps(durable: Any) -> None:
    for step in range(8):
        await durable.save(make_cp("s1", step))
    await durable.prune(PrunePolicy(keep_last=3))
    assert [s.step for s in await durable.step_summaries("s1")] == [5, 6, 7]


async def test_memory_range_excludes_the_latest_step() -> None:
    cp = InMemoryCheckpointer()
    await cp.save(make_cp("s1", 4))
    assert [s.step for s in await cp.step_summaries("s1", min_step=4, max_step=4)] == [4]
    assert await cp.step_summaries("s1", max_step=3) == []
    assert await cp.step_summaries("s1", min_step=5) == []


async def test_summaries_read_no_state(tmp_path: Any) -> None:
    """A step whose state no longer decodes still has a readable save time (the timeline opens); a
    broken node list is one error naming the session and step."""
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'cp.db'}", storage_mode="full")
    try:
        for step in range(3):
            await cp.save(make_cp("s1", step))
        await cp._db.execute("UPDATE steps SET state_json = '[1, 2]' WHERE session_id = 's1' AND step = 1")
        await cp._db.commit()
        with pytest.raises(CheckpointDataError):
            await cp.query_steps("s1")
        assert [s.step for s in await cp.step_summaries("s1")] == [0, 1, 2]
        await cp._db.execute("UPDATE steps SET ran_nodes_json = '[1]' WHERE session_id = 's1' AND step = 2")
        await cp._db.commit()
        with pytest.raises(CheckpointDataError, match=r"step 2 of session 's1'"):
            await cp.step_summaries("s1")
    finally:
        await cp.aclose()
