"""`preview_fork` (the studio's fork preview) is pure, writes nothing, and says what `fork_session` then
writes: the state, the version bumps, the frontier and who runs first."""

from __future__ import annotations

from pathlib import Path

from engine.partial import NodePartial
from engine.plan import SKIP_GATED, SKIP_VIRTUAL
from engine.timetravel import preview_fork
from engine.types import NodeKind
from tests.engine.debugloop.test_fork_replay import _runner, _source, counting


async def test_preview_matches_the_fork_and_writes_nothing(tmp_path: Path) -> None:
    cp, _calls, _ = await _source(f"sqlite://{tmp_path / 'p.db'}")
    runner = await _runner(cp, counting({}))
    try:
        source = await cp.load_step("src", 2)
        extra_before = dict(source.state.extra)
        sessions = sorted(await cp.list_sessions())
        update = NodePartial(extra={"n": 3, "note": "x"})
        preview = preview_fork(source, runner.graph, update)
        assert source.state.extra == extra_before  # the checkpoint it was given is untouched
        assert sorted(await cp.list_sessions()) == sessions  # nothing written
        assert preview.updated_channels == ["extra"]
        v = source.state.extra_version
        assert preview.versions == {
            "messages": (source.state.messages_version,) * 2,
            "extra": (v, v + 1),
        }
        assert preview.frontier == source.frontier and preview.unknown == []
        assert [k.name for k in preview.will_run] == [k.name for k in source.frontier]

        await runner.fork_session("src", 2, "forked", update=update)
        written = await cp.load_latest("forked")
        assert written.state == preview.state and written.frontier == preview.frontier
        assert (written.state.messages_version, written.state.extra_version) == (
            preview.versions["messages"][1],
            preview.versions["extra"][1],
        )
    finally:
        await runner.aclose()
        await cp.aclose()


async def test_preview_of_a_frontier_gates_and_names_unknown_nodes(tmp_path: Path) -> None:
    cp, _calls, _ = await _source(f"sqlite://{tmp_path / 'p.db'}")
    runner = await _runner(cp, counting({}))
    try:
        source = await cp.load_step("src", 2)
        # as if b had already seen the current versions (a node whose own write changed nothing)
        source.versions_seen["b"] = {
            "messages": source.state.messages_version,
            "extra": source.state.extra_version,
        }
        preview = preview_fork(source, runner.graph, None, ["b", "End", "nope"])
        assert preview.updated_channels == [] and preview.versions["extra"][0] == preview.versions["extra"][1]
        assert preview.will_run == []
        assert (NodeKind.custom("b"), SKIP_GATED) in preview.skipped
        assert (NodeKind.coerce("End"), SKIP_VIRTUAL) in preview.skipped
        assert preview.unknown == ["nope"]
        # with an update, b sees a newer version and runs
        moved = preview_fork(source, runner.graph, NodePartial(extra={"n": 9}), ["b"])
        assert [k.name for k in moved.will_run] == ["b"]
    finally:
        await runner.aclose()
        await cp.aclose()
