"""Browsing a real SQLite file: sessions page, search, sort, steps, state view, diff, delete, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt

from studio.panels.browser_widgets import RECENT_KEY
from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from tests.studio.browser.conftest import fill_sqlite, open_and_wait


def test_open_page_search_sort_and_steps(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {f"s{i:03d}": i % 7 + 1 for i in range(120)}))
    opened: list[str] = []
    panel.database_opened.connect(opened.append)
    open_and_wait(qtbot, panel, str(db))
    assert opened == [f"sqlite://{db}"]
    assert panel.current_url() == f"sqlite://{db}"
    assert panel.sessions.rowCount() == 50 and panel.sessions.total_count == 120
    assert panel.sessions_pager.label.text().startswith("1-50 of 120")
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.sessions_pager.next.click()
    assert panel.sessions.page == 1 and panel.sessions.rowCount() == 50
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.search_edit.setText("s11")
    ids = [s.session_id for s in panel.sessions.sessions()]
    assert sorted(ids) == [f"s{i}" for i in range(110, 120)] and panel.sessions.page == 0
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.sessions_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [s.session_id for s in panel.sessions.sessions()] == [f"s{i}" for i in range(110, 120)]
    # steps of one session, newest first; the first row is selected and shown
    with qtbot.waitSignal(panel.steps_loaded):
        assert panel.select_session("s113")  # 113 % 7 + 1 = 2 -> steps 0..2
    assert [panel.steps.checkpoint_at(r).step for r in range(panel.steps.rowCount())] == [2, 1, 0]
    assert panel.steps.data(panel.steps.index(0, 2)) == "A"
    assert panel.steps.data(panel.steps.index(0, 4)) == "messages, extra"
    assert "Step 2 of s113" in panel.state_view.title.text()
    assert panel.state_view.messages.count() == 3
    assert panel.state_view.extra_model.find_key("sum") is not None
    assert QSettings().value(RECENT_KEY) == [f"sqlite://{db}"]


def test_diff_two_selected_rows_and_compare_any_steps(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"only": 5}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    with qtbot.waitSignal(panel.steps_loaded):
        panel.select_session("only")
    with qtbot.waitSignal(panel.diff_shown):
        panel.steps_view.selectionModel().clearSelection()
        panel.steps_view.selectRow(0)  # step 5
        from PySide6.QtCore import QItemSelectionModel

        panel.steps_view.selectionModel().select(
            panel.steps.index(2, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )  # step 3
    rows = panel.diff_view.rows()
    assert ("messages", "added", "assistant", "", "tick 4") in rows
    assert ("extra", "changed", "sum", "6", "15") in rows
    assert panel.diff_view.title.text().startswith("step 3 → step 5: changed messages, extra")
    with qtbot.waitSignal(panel.diff_shown):
        panel.compare_steps("only", 0, 5)
    assert ("extra", "added", "started", "", "true") in panel.diff_view.rows()


def test_delete_with_inline_confirmation_and_export(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"keep": 2, "drop": 3}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    with qtbot.waitSignal(panel.steps_loaded):
        panel.select_session("keep")
    out = tmp_path / "keep.json"
    with qtbot.waitSignal(panel.export_finished) as sig:
        panel.export_session("keep", str(out))
    assert sig.args == [str(out), 3]
    doc = json.loads(out.read_text())
    assert [s["step"] for s in doc["steps"]] == [0, 1, 2] and doc["graph_hash"] == "aaaa"
    assert doc["steps"][2]["state"]["extra"]["map"]["sum"] == 3
    panel.select_session("drop")
    panel.delete_button.click()
    assert not panel.confirm_bar.isHidden() and "drop" in panel.confirm_bar.text()
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.confirm_yes.click()
    assert [s.session_id for s in panel.sessions.sessions()] == ["keep"]


def test_graph_hash_warning_and_signals(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"s": 1}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    panel.set_graph_hash("bbbb")
    panel.select_session("s")
    qtbot.waitUntil(lambda: not panel.warning_bar.isHidden(), timeout=3000)
    assert "aaaa" in panel.warning_bar.text() and "bbbb" in panel.warning_bar.text()
    with qtbot.waitSignal(panel.resume_requested) as sig:
        panel.resume_button.click()
    assert sig.args == [f"sqlite://{db}", "s"]
    with qtbot.waitSignal(panel.open_in_stepper_requested):
        panel.stepper_button.click()
    panel.set_graph_hash("aaaa")
    qtbot.waitUntil(lambda: panel.warning_bar.isHidden(), timeout=3000)


def test_steps_paging_recent_menu_file_dialog_and_drop(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QFileDialog

    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"long": 149}))
    open_and_wait(qtbot, panel, str(db))
    with qtbot.waitSignal(panel.steps_loaded):
        panel.select_session("long")
    assert panel.steps.rowCount() == 100 and panel.steps.total_count == 150
    with qtbot.waitSignal(panel.steps_loaded):
        panel.steps_pager.next.click()
    assert [panel.steps.checkpoint_at(r).step for r in (0, 49)] == [49, 0]  # type: ignore[union-attr]
    assert not panel.steps_pager.next.isEnabled() and panel.steps_pager.prev.isEnabled()
    # the file dialog is non-modal (.open(), not .exec())
    panel.file_button.click()
    dialogs = panel.findChildren(QFileDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()  # we got here: the click did not block in exec()
    assert dialogs[0].windowModality() == Qt.WindowModality.WindowModal  # what open() sets
    dialogs[0].reject()
    # dropping a file opens it; the recent menu remembers both
    other = tmp_path / "other.db"
    run_async(fill_sqlite(other, {"dropped": 1}))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.dropEvent(event)
    assert [s.session_id for s in panel.sessions.sessions()] == ["dropped"]
    actions = panel.recent_menu.actions()
    assert [a.text() for a in actions] == [f"sqlite://{other}", f"sqlite://{db}"]
    with qtbot.waitSignal(panel.sessions_loaded):
        actions[1].trigger()
    assert panel.current_url() == f"sqlite://{db}"


def test_storage_tab_charts_bytes_per_session_and_growth(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"big": 9, "small": 1}))
    open_and_wait(qtbot, panel, str(db))
    with qtbot.waitSignal(panel.steps_loaded):
        panel.select_session("big")
    with qtbot.waitSignal(panel.stats_loaded):
        panel.tabs.setCurrentIndex(2)
    view = panel.storage_view
    assert [sid for sid, _ in view.top_sessions] == ["big", "small"]
    assert view.top_sessions[0][1] > view.top_sessions[1][1] > 0
    assert "2 sessions, 12 steps" in view.summary.text()
    qtbot.waitUntil(lambda: len(view.growth) == 10, timeout=3000)
    assert [s for s, _ in view.growth] == list(range(10))
    assert view.growth[-1][1] > view.growth[0][1]  # the state grows step by step


def test_steps_and_bytes_columns_sort_in_the_database(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"a": 1, "b": 2, "c": 0}))
    open_and_wait(qtbot, panel, str(db))
    header = panel.sessions_view.horizontalHeader()
    for column, key in ((4, "steps"), (5, "bytes")):
        with qtbot.waitSignal(panel.sessions_loaded):
            panel.sessions_view.sortByColumn(column, Qt.SortOrder.DescendingOrder)
        assert panel.sessions.order_by == key and header.sortIndicatorSection() == column
        assert [s.session_id for s in panel.sessions.sessions()] == ["b", "a", "c"]
    with qtbot.waitSignal(panel.sessions_loaded):
        panel.sessions_view.sortByColumn(3, Qt.SortOrder.AscendingOrder)  # Last step
    assert [s.session_id for s in panel.sessions.sessions()] == ["c", "a", "b"]
    assert header.sortIndicatorSection() == 3
