"""persist_events (ENGINE.md 8.1) on all three backends: every published event stored once, in seq order,
by the end of the run; step filters and limit; prune and delete remove them; off by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.clock import MockClock
from engine.events.bus import EventBus
from engine.events.sinks import MemorySink
from engine.persistence.base import PrunePolicy
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.debugloop.test_node_records import PG, _open
from tests.engine.persistence.runner_proc import counting_app


async def _run(cp: Any, persist: bool, sink: MemorySink) -> None:
    builder = (
        AppRunner.builder()
        .app(counting_app(3))
        .checkpointer_custom(cp)
        .clock(MockClock(1_000.0))
        .lifecycle_events(True)
        .event_bus(EventBus.with_sinks([sink]))
    )
    if persist:
        builder = builder.persist_events(True)
    async with await builder.build() as runner:
        await runner.create_session("s", VersionedState.new_with_user_message("go"))
        await runner.run_until_complete("s")
        # stored by the end of the run, before the runner closes
        if persist:
            stored = await cp.events("s")
            assert stored and stored[-1].is_stream_end


@pytest.mark.parametrize("kind", ["memory", "full", "compact", *PG])
async def test_every_event_stored_once_in_order(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cp = await _open(kind, tmp_path, request)
    sink = MemorySink()
    await _run(cp, True, sink)
    stored = await cp.events("s")
    published = [e for e in sink.snapshot() if e.metadata.get("invocation_id") == "s"]
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    assert [e.to_json_value() for e in stored] == [e.to_json_value() for e in published]
    assert {e.scope for e in stored} >= {"step.start", "node.start", "node.finish", "checkpoint.saved"}
    between = await cp.events("s", min_step=2, max_step=2)
    assert between and {e.step for e in between} == {2}
    assert len(await cp.events("s", limit=3)) == 3
    if kind != "memory":
        await cp.prune(PrunePolicy(keep_last=1))
        assert {e.step for e in await cp.events("s")} <= {3}
    await cp.delete_session("s")
    assert await cp.events("s") == []
    await cp.aclose()


async def test_off_by_default(tmp_path: Path) -> None:
    cp = await _open("full", tmp_path)
    await _run(cp, False, MemorySink())
    assert await cp.events("s") == []
    await cp.aclose()
