"""Checkpoint-browser fixtures: real SQLite files filled through the engine's SQLite checkpointer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.persistence.base import Checkpoint
from engine.state import VersionedState
from engine.types import Message, NodeKind
from studio.controllers.browser import BrowserController
from studio.panels.checkpoint_browser import CheckpointBrowserPanel

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_checkpoint(
    session_id: str, step: int, *, graph_hash: str | None = "aaaa", when: dt.datetime = T0
) -> Checkpoint:
    """Step `step`: `step` assistant messages, extra {"tick": step, "sum": 1+..+step}, ran A."""
    state = VersionedState(
        [Message.user("hi"), *(Message.assistant(f"tick {i}") for i in range(1, step + 1))],
        {"tick": step, "sum": step * (step + 1) // 2, **({"started": True} if step else {})},
        [],
        step + 1,
        step + 1,
    )
    return Checkpoint(
        session_id,
        step,
        state,
        [NodeKind.custom("A")] if step else [NodeKind.START],
        {"A": {"messages": step, "extra": step}} if step else {},
        4,
        when + dt.timedelta(minutes=step),
        [NodeKind.custom("A")] if step else [],
        [],
        ["messages", "extra"] if step else [],
        graph_hash,
    )


async def fill_sqlite(path: Path, sessions: dict[str, int], *, graph_hash: str | None = "aaaa") -> None:
    """Create `path` with each session holding steps 0..n."""
    from engine.persistence.sqlite import SQLiteCheckpointer

    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        for sid, last in sessions.items():
            for step in range(last + 1):
                await cp.save(make_checkpoint(sid, step, graph_hash=graph_hash))
    finally:
        await cp.aclose()


@pytest.fixture
def panel(qtbot: Any, bridge: Any, run_async: Callable[..., Any]) -> Iterator[CheckpointBrowserPanel]:
    p = CheckpointBrowserPanel(BrowserController(bridge))
    qtbot.addWidget(p)
    p.resize(1100, 700)
    yield p
    run_async(p.aclose())


def open_and_wait(qtbot: Any, panel: CheckpointBrowserPanel, url: str) -> None:
    with qtbot.waitSignal(panel.sessions_loaded, timeout=5000):
        panel.open_database(url)


def dispose(widget: Any) -> None:
    """Close and delete a panel now (its tasks are already closed), so the leak check sees it gone."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    widget.close()
    widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
