"""Debugging-loop fixtures: real SQLite files written by real runs of a small graph (two parallel workers,
one retried once, a checker looping three times; a variant whose node fails in user code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.policies import RetryPolicy
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from studio.controllers.browser import BrowserController
from studio.controllers.debug import DebugController
from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from studio.panels.node_inspector import NodeInspectorPanel
from studio.panels.time_travel import BrowserTimeTravel

CALLS: dict[str, int] = {}
"""Real calls of each node of `debug_app` (the replay tests prove recorded nodes do not run)."""


def user_check(n: int) -> None:
    if n >= 2:
        raise ValueError(f"the checker refuses n={n}")


def debug_app(*, fail: bool = False, rounds: int = 3) -> Any:
    """Start -> (fetch, think) -> check -> (fetch, think until extra.n reaches `rounds`) -> End. `think`
    fails its first attempt of every run and is retried; with `fail`, check raises in user code at n=2."""
    flaky: dict[int, int] = {}

    async def fetch(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        CALLS["fetch"] = CALLS.get("fetch", 0) + 1
        await asyncio.sleep(0.004)
        return NodePartial(extra={"fetched": int(snapshot.extra.get("n", 0))})

    async def think(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        CALLS["think"] = CALLS.get("think", 0) + 1
        n = int(snapshot.extra.get("n", 0))
        flaky[n] = flaky.get(n, 0) + 1
        await asyncio.sleep(0.006)
        if flaky[n] == 1:
            raise ConnectionError("the model timed out")
        return NodePartial(extra={"thought": f"idea {n}"})

    async def check(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        CALLS["check"] = CALLS.get("check", 0) + 1
        n = int(snapshot.extra.get("n", 0)) + 1
        if fail:
            user_check(n)
        await asyncio.sleep(0.002)
        return NodePartial(extra={"n": n})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["fetch", "think"] if int(snapshot.extra.get("n", 0)) < rounds else ["End"]

    return (
        GraphBuilder()
        .add_node("fetch", fetch)
        .add_node("think", think, retry=RetryPolicy(max_attempts=2, initial_delay=0.001))
        .add_node("check", check)
        .add_edge("Start", "fetch")
        .add_edge("Start", "think")
        .add_edge("fetch", "check")
        .add_edge("think", "check")
        .add_conditional_edge("check", again, targets=["fetch", "think", "End"])
        .compile()
    )


async def record_runs(path: Path, *, sessions: tuple[str, ...] = ("job",), fail: str | None = None) -> None:
    """Real runs into the SQLite file `path`, records and events on; session `fail` runs the failing
    variant."""
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        for sid in sessions:
            app = debug_app(fail=sid == fail)
            runner = await AppRunner.builder().app(app).checkpointer_custom(cp).persist_events(True).build()
            await runner.create_session(sid, VersionedState.new_with_user_message("plan a trip"))
            try:
                await runner.run_until_complete(sid)
            except Exception:
                if sid != fail:
                    raise
            await runner.aclose()
    finally:
        await cp.aclose()


class Debugging:
    """A checkpoint browser with the debugging loop attached, as the main window builds it."""

    def __init__(self, bridge: Any, app_source: Callable[[], Any]) -> None:
        self.browser = CheckpointBrowserPanel(BrowserController(bridge))
        self.controller = DebugController(bridge, self.browser.controller, app_source)
        self.inspector = NodeInspectorPanel(self.controller)
        self.time_travel = BrowserTimeTravel(self.browser, self.controller, self.inspector)


@pytest.fixture
def debugging(qtbot: Any, bridge: Any, run_async: Callable[..., Any]) -> Iterator[Debugging]:
    d = Debugging(bridge, lambda: debug_app())
    qtbot.addWidget(d.browser)
    qtbot.addWidget(d.inspector)
    d.browser.resize(1200, 720)
    d.inspector.resize(700, 600)
    yield d
    if d.time_travel.dialog is not None:
        d.time_travel.dialog.close()
    run_async(d.controller.aclose())
    run_async(d.browser.aclose())


def failing_app() -> Any:
    """`debug_app` whose checker fails in user code at n=2 (for the studio's code-first open)."""
    return debug_app(fail=True)
