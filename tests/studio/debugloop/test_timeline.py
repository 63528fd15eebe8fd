"""The timeline tab on real records: one lane per node, a bar per run coloured by status, retries marked,
a barrier per step, the save time of each step; zoom; a click on a bar opens the node inspector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent

from studio.panels.node_inspector import STATUS_COLORS
from tests.studio.browser.conftest import fill_sqlite, open_and_wait
from tests.studio.debugloop.conftest import Debugging, record_runs


def _show_timeline(qtbot: Any, d: Debugging, session: str) -> None:
    with qtbot.waitSignal(d.browser.steps_loaded, timeout=5000):
        assert d.browser.select_session(session)
    with qtbot.waitSignal(d.time_travel.timeline.loaded, timeout=5000):
        d.browser.tabs.setCurrentWidget(d.time_travel.timeline)


def test_lanes_bars_retries_barriers_and_saves(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db, sessions=("job", "bad"), fail="bad"))
    d = debugging
    d.browser.show()
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _show_timeline(qtbot, d, "job")
    t = d.time_travel.timeline
    assert t.objectName() == "sessionTimeline"
    assert t.data is not None and t.data.lanes == ["fetch", "think", "check"]
    view = t.view
    assert len(view.bars) == len(t.data.records) == 9  # 3 rounds of fetch+think, check
    assert {b.record.status for b in view.bars} == {"done"}
    assert all(b.color == QColor(STATUS_COLORS["done"]) for b in view.bars)
    retried = [b for b in view.bars if b.retried]
    assert {b.record.node for b in retried} == {"think"} and len(retried) == 3
    assert all("2 attempts" in b.tooltip() for b in retried)
    assert view.barriers == 6 and view.saves == 6  # steps 1..6
    assert [s for s, _x in view.step_x] == [1, 2, 3, 4, 5, 6]
    # every step is saved after its barrier
    assert all(after >= 0 for _s, _x, after in view.save_x)
    lanes_y = {b.record.node: b.rect.y() for b in view.bars}
    assert lanes_y["fetch"] < lanes_y["think"] < lanes_y["check"]
    assert "6 steps, 9 node runs" in t.title.text()

    # zoom: buttons and the wheel; Fit puts the whole session back in view
    fitted = view.zoom_factor()
    t.zoom_in.click()
    assert view.zoom_factor() > fitted
    wheel = QWheelEvent(
        QPointF(50, 20),
        QPointF(50, 20),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    view.wheelEvent(wheel)
    t.fit_button.click()
    assert abs(view.zoom_factor() - fitted) < 1e-6

    # a click on a bar opens that run in the inspector
    bar = next(b for b in view.bars if b.record.node == "check" and b.record.step == 4)
    t.zoom_in.click()
    view.centerOn(bar.rect.center())
    qtbot.wait(20)
    at = view.mapFromScene(bar.rect.center())
    assert view.bar_at(bar.rect.center()) is bar
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert (d.inspector.run.record.node, d.inspector.run.record.step) == ("check", 4)

    # the failing session: its failed run is red
    _show_timeline(qtbot, d, "bad")
    failed = [b for b in t.view.bars if b.record.status == "failed"]
    assert len(failed) == 1 and failed[0].color == QColor(STATUS_COLORS["failed"])


def test_a_session_without_records(qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    run_async(fill_sqlite(db, {"old": 3}))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _show_timeline(qtbot, d, "old")
    assert "has no node records" in d.time_travel.timeline.title.text()
    assert d.time_travel.timeline.view.bars == []
