"""`timeline_data` reads each step's save time through the store's `step_summaries` (no state decoded), and
through pages of `query_steps` for a custom store without it; both give the same timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.node_records import NodeRecord
from engine.persistence.base import StepQuery, StepQueryResult
from engine.persistence.sqlite import SQLiteCheckpointer
from studio.controllers import debug
from tests.studio.debugloop.conftest import record_runs


class QueryOnlyStore:
    """A custom store with node records and `query_steps` but no `step_summaries` (it counts the pages)."""

    def __init__(self, inner: SQLiteCheckpointer) -> None:
        self.inner = inner
        self.pages = 0

    async def node_records(self, session_id: str, step: int | None = None) -> list[NodeRecord]:
        return await self.inner.node_records(session_id, step)

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        self.pages += 1
        return await self.inner.query_steps(session_id, query)


async def _both(db: Path) -> tuple[debug.TimelineData, debug.TimelineData, int]:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{db}")
    try:
        fast = await debug.timeline_data(cp, "job")
        custom = QueryOnlyStore(cp)
        slow = await debug.timeline_data(custom, "job")
        return fast, slow, custom.pages
    finally:
        await cp.aclose()


def test_summaries_and_fallback_agree(run_async: Any, tmp_path: Path, monkeypatch: Any) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db, sessions=("job",)))
    monkeypatch.setattr(debug, "STEP_PAGE", 2)  # several pages on the fallback path
    fast, slow, pages = run_async(_both(db))
    assert not hasattr(QueryOnlyStore, "step_summaries")
    assert pages >= 3
    assert [s.step for s in fast.steps] == list(range(7))  # steps 0..6, oldest first
    assert fast.steps == slow.steps
    assert [r.step for r in fast.records] == [r.step for r in slow.records]
    assert all(a.saved_at <= b.saved_at for a, b in zip(fast.steps, fast.steps[1:], strict=False))
