"""The checkpoint browser on a LangGraph SQLite database written by real LangGraph runs (issue 19): threads,
the fork tree, state, diff, pending writes, analytics, prune preview then delete, and no write by browsing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from PySide6.QtWidgets import QApplication

from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from studio.panels.langgraph_view import NOT_FOR_LANGGRAPH, LangGraphView
from tests.engine.foreign.conftest import snapshot
from tests.engine.foreign.lg_graphs import populate


@pytest.fixture(scope="module")
def lg_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("lgstudio") / "master.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        facts = populate(SqliteSaver(conn))
    finally:
        conn.close()
    return path, facts


@pytest.fixture
def lg_copy(lg_file: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    folder = tmp_path / "db"
    folder.mkdir()
    target = folder / "lg.sqlite"
    shutil.copyfile(lg_file[0], target)
    return target


def _count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)  # leaves no -wal/-shm behind
    try:
        return int(conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def _open(qtbot: Any, panel: CheckpointBrowserPanel, path: Path) -> LangGraphView:
    view = panel.langgraph_view
    with qtbot.waitSignal(view.threads_loaded, timeout=10000):
        panel.open_database(str(path))
    return view


def _select(qtbot: Any, view: LangGraphView, thread: str, ns: str = "") -> None:
    with qtbot.waitSignal(view.checkpoint_shown, timeout=10000):
        assert view.select_thread(thread, ns)


def test_browse_threads_tree_state_diff_writes_and_analytics_without_writing(
    qtbot: Any, panel: CheckpointBrowserPanel, lg_copy: Path, lg_file: tuple[Path, dict[str, Any]]
) -> None:
    before = snapshot(lg_copy)
    view = _open(qtbot, panel, lg_copy)
    assert panel.stack.currentWidget() is view and panel.controller.is_langgraph
    assert "LangGraph database" in view.banner.text() and "only Prune changes it" in view.banner.text()
    assert "LangGraph" in panel.status.text()
    # threads as sessions, with the subgraph call's namespace
    assert view.total == 7 and view.threads_table.rowCount() == 7
    namespaces = [view.threads_table.item(r, 1).text() for r in range(7)]
    assert sum(1 for ns in namespaces if ns.startswith("child:")) == 1
    with qtbot.waitSignal(view.threads_loaded):
        view.search_edit.setText("approve")
    assert sorted(t.key.thread_id for t in view.threads) == ["approve-done", "approve-waiting"]
    assert view.page_label.text() == "page 1 of 1 · 2 threads"
    with qtbot.waitSignal(view.threads_loaded):
        view.search_edit.setText("")
    # the fork tree: 13 checkpoints, two lanes, the fork (newest) selected and shown with its diff
    _select(qtbot, view, "chat-1")
    tree = view.tree_widget
    assert tree.topLevelItemCount() == 13
    rows = [tree.topLevelItem(i) for i in range(13)]
    fork = lg_file[1]["fork"]
    assert rows[0].text(1) == fork and rows[0].text(3) == "update"
    rails = [r.text(0) for r in rows]  # lane 0 leads to the fork; lane 1 is the branch it left behind
    assert rails == ["●"] + ["│ ●"] * 6 + ["● ┘"] + ["●"] * 5, rails
    parent = lg_file[1]["fork_parent"]["configurable"]["checkpoint_id"]
    assert rows[7].text(1) == parent  # both branches leave from the fork's parent
    assert view.selected_checkpoint_id() == fork
    assert view.shown is not None
    assert [m.content for m in view.shown.state.messages][-1] == "forked"
    assert view.state_view.messages.count() == len(view.shown.state.messages)
    changes = view.diff_view.rows()
    assert changes == [("messages", "added", "user", "", "forked")]  # the fork added one message
    # pending writes: the interrupt of the waiting approval
    _select(qtbot, view, "approve-waiting")
    writes = view.writes_tree
    channels = [writes.topLevelItem(i).text(1) for i in range(writes.topLevelItemCount())]
    assert "__interrupt__" in channels
    assert view.detail_tabs.tabText(2) == f"Pending writes ({len(channels)})"
    # storage analytics
    with qtbot.waitSignal(view.analytics_shown, timeout=15000):
        view.tabs.setCurrentIndex(2)
    assert view.report is not None and view.thread_bytes.rowCount() == 7
    channel_names = [view.channel_bytes.item(r, 0).text() for r in range(view.channel_bytes.rowCount())]
    assert "messages" in channel_names and view.repeated.rowCount() > 0
    assert "free pages" in view.storage_summary.text() and "keep last 10" in view.keep_last.text()
    # actions that make no sense here are disabled, and say why
    assert all(not b.isEnabled() and b.toolTip() == NOT_FOR_LANGGRAPH for b in view.disabled_actions)
    assert snapshot(lg_copy) == before  # sha256 and directory listing: browsing wrote nothing


def test_undecodable_values_are_shown_as_such(
    qtbot: Any, panel: CheckpointBrowserPanel, lg_copy: Path
) -> None:
    conn = sqlite3.connect(lg_copy)
    try:
        conn.execute("UPDATE writes SET value = X'c1c1c1' WHERE thread_id = 'approve-waiting'")
        conn.commit()
    finally:
        conn.close()
    view = _open(qtbot, panel, lg_copy)
    _select(qtbot, view, "approve-waiting")
    values = [view.writes_tree.topLevelItem(i).text(2) for i in range(view.writes_tree.topLevelItemCount())]
    assert values and all(v.startswith("<undecodable") for v in values), values


def test_prune_preview_then_delete_removes_what_was_shown(
    qtbot: Any, panel: CheckpointBrowserPanel, lg_copy: Path
) -> None:
    total = _count(lg_copy)
    before = snapshot(lg_copy)
    view = _open(qtbot, panel, lg_copy)
    dialog = view.open_prune_dialog()
    assert not dialog.delete_button.isEnabled()  # nothing is deleted before a preview
    dialog.keep_spin.setValue(2)
    with qtbot.waitSignal(panel.langgraph.prune_previewed, timeout=10000):
        dialog.preview_button.click()
    plan = dialog.preview_plan
    assert plan is not None and plan.summary.checkpoints > 0
    assert dialog.delete_button.isEnabled() and "Would remove" in dialog.preview_label.text()
    assert snapshot(lg_copy) == before  # the preview wrote nothing
    dialog.keep_spin.setValue(3)  # other options: the preview no longer holds
    assert not dialog.delete_button.isEnabled()
    dialog.keep_spin.setValue(2)
    with qtbot.waitSignal(panel.langgraph.prune_previewed, timeout=10000):
        dialog.preview_button.click()
    dialog.vacuum_check.setChecked(True)
    with qtbot.waitSignal(view.threads_loaded, timeout=15000):  # the list is reloaded after the prune
        dialog.delete_button.click()
    assert dialog.result_plan is not None and dialog.result_plan.summary == plan.summary
    assert _count(lg_copy) == total - plan.summary.checkpoints
    assert "VACUUM done" in dialog.preview_label.text()
    assert sum(t.checkpoints for t in view.threads) == _count(lg_copy)  # the view sees the pruned file
    dialog.close()
    QApplication.processEvents()


def test_only_the_langgraph_service_imports_engine_foreign() -> None:
    import ast

    root = Path(__file__).resolve().parents[3]
    importers = set()
    for path in (root / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "engine.foreign" or n.startswith("engine.foreign.") for n in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"studio/services/langgraph.py"}


def test_drop_a_file_and_page_through_many_threads(
    qtbot: Any, panel: CheckpointBrowserPanel, lg_copy: Path
) -> None:
    conn = sqlite3.connect(lg_copy)
    try:  # 60 more threads: copies of chat-2's rows under new thread ids
        for i in range(60):
            conn.execute(
                "INSERT INTO checkpoints SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, "
                "checkpoint, metadata FROM checkpoints WHERE thread_id = 'chat-2'",
                (f"copy-{i:02d}",),
            )
        conn.commit()
    finally:
        conn.close()
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(lg_copy))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view = panel.langgraph_view
    with qtbot.waitSignal(view.threads_loaded, timeout=10000):
        panel.dropEvent(drop)
    assert panel.controller.is_langgraph and view.total == 67
    assert view.threads_table.rowCount() == 50 and view.page_label.text() == "page 1 of 2 · 67 threads"
    assert not view.prev_button.isEnabled() and view.next_button.isEnabled()
    with qtbot.waitSignal(view.threads_loaded):
        view.next_button.click()
    assert view.threads_table.rowCount() == 17 and not view.next_button.isEnabled()
    with qtbot.waitSignal(view.threads_loaded):
        view.search_edit.setText("copy-5")
    assert sorted(t.key.thread_id for t in view.threads) == [f"copy-5{i}" for i in range(10)]
    assert view.page == 0
