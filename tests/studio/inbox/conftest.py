"""Fixtures of the interrupt inbox tests: a main window on a real SQLite file, and sessions paused at real
interrupts by real runs of the open document (another runner, as another process would)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.events.bus import EventBus
from engine.hitl_types import SessionInterrupted
from engine.state import VersionedState
from studio.bridge import Bridge
from studio.controllers.run import RunState
from studio.main_window import MainWindow
from studio.services import storage

FINISHED = (RunState.COMPLETED, RunState.FAILED, RunState.STOPPED)
EXAMPLES = Path(__file__).resolve().parents[3] / "resources" / "examples"


@pytest.fixture
def window(qtbot: Any, bridge: Bridge, run_async: Callable[..., Any]) -> Iterator[MainWindow]:
    w = MainWindow(bridge, EventBus(buffer_capacity=4096))
    w.show()
    qtbot.waitExposed(w)
    w.runs.listen()
    w.set_database("memory:")
    assert w.open_example("approval")
    yield w
    w._close_confirmed = True
    run_async(w.shutdown(), timeout=15)
    w.close()
    w.deleteLater()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return storage.sqlite_url_for_path(tmp_path / "inbox.db")


def approval_variant(tmp_path: Path, schema: Any, name: str = "variant") -> Path:
    """The approval example with another answer schema for its `ask` node (None: no schema)."""
    doc = json.loads((EXAMPLES / "approval.wgraph.json").read_text())
    ask = next(n for n in doc["nodes"] if n["id"] == "approve")
    if schema is None:
        ask["config"].pop("schema")
    else:
        ask["config"]["schema"] = schema
    path = tmp_path / f"{name}.wgraph.json"
    path.write_text(json.dumps(doc))
    return path


async def pause_sessions(
    app: Any, url: str, session_ids: list[str], topic: str = "the inbox"
) -> dict[str, list[Any]]:
    """Run each session of `app` into `url` until it stops at its interrupt; returns their interrupts."""
    checkpointer = await storage.open_storage(url)
    try:
        runner = await storage.build_runner(app, checkpointer)
        out: dict[str, list[Any]] = {}
        for sid in session_ids:
            state = VersionedState(extra={"topic": f"{topic} {sid}"})
            await runner.create_session(sid, state)
            try:
                await runner.run_until_complete(sid)
            except SessionInterrupted as exc:
                out[sid] = exc.interrupts
            else:
                raise AssertionError(f"session {sid} did not stop at an interrupt")
        return out
    finally:
        await checkpointer.aclose()


async def stored(url: str, pending: bool = False) -> list[Any]:
    """Every interrupt stored in `url` (or the pending ones), read by a fresh connection."""
    checkpointer = await storage.open_storage(url)
    try:
        lister = checkpointer.list_interrupts  # type: ignore[attr-defined]
        rows: list[Any] = await lister(pending=pending, limit=1000, offset=0)
        return rows
    finally:
        await checkpointer.aclose()


async def extra_of(url: str, session_id: str) -> dict[str, Any]:
    checkpointer = await storage.open_storage(url)
    try:
        cp = await checkpointer.load_latest(session_id)
        assert cp is not None
        return dict(cp.state.extra)
    finally:
        await checkpointer.aclose()
