"""session_info and children (ENGINE.md 8.2) on all three backends; graph_name is not in config_hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.app import App
from engine.clock import MockClock
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.runner import AppRunner
from engine.runtime_config import RuntimeConfig
from engine.state import StateSnapshot, VersionedState
from tests.engine.debugloop.test_node_records import PG, _open


def named_app(name: str | None) -> App:
    async def a(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": int(snapshot.extra.get("n", 0)) + 1})

    return (
        GraphBuilder()
        .add_node("a", a)
        .add_edge("Start", "a")
        .add_edge("a", "End")
        .with_runtime_config(RuntimeConfig(graph_name=name))
        .compile()
    )


def test_graph_name_is_not_part_of_the_config_hash() -> None:
    assert RuntimeConfig(graph_name="x").config_hash() == RuntimeConfig().config_hash()


@pytest.mark.parametrize("kind", ["memory", "full", "compact", *PG])
async def test_info_and_children(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cp: Any = await _open(kind, tmp_path, request)
    app = named_app("demo")
    async with await AppRunner.builder().app(app).checkpointer_custom(cp).clock(MockClock(1.0)).build() as r:
        await r.create_session("src", VersionedState.new_with_user_message("go"))
        await r.run_until_complete("src")
        info = await cp.session_info("src")
        assert info is not None
        assert (info.session_id, info.last_step, info.graph_name) == ("src", 1, "demo")
        assert info.graph_hash == app.graph_metadata()["graph_hash"]
        assert (info.parent_session, info.parent_step) == (None, None)
        assert info.step_count == (1 if kind == "memory" else 2)
        assert info.created_at is not None and info.updated_at is not None
        await r.fork_session("src", 1, "kid")
        kid = await cp.session_info("kid")
        assert (kid.parent_session, kid.parent_step, kid.last_step, kid.step_count) == ("src", 1, 1, 1)
        assert [c.session_id for c in await cp.children("src")] == ["kid"]
        assert await cp.children("kid") == []
        assert await cp.session_info("nobody") is None
        await cp.delete_session("kid")
        assert await cp.children("src") == []
    await cp.aclose()
