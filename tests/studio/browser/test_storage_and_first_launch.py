"""Issue 14, the checkpoint browser: the Storage tab never shows another moment's or another database's
numbers (defect 7), the studio's own database opens on first launch, Recent works from the start, and a
graph mismatch names the graphs and what differs (defect 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.panels.checkpoint_browser import STORAGE_TAB, CheckpointBrowserPanel
from tests.studio.browser.conftest import fill_sqlite, open_and_wait


def show_storage(qtbot: Any, panel: CheckpointBrowserPanel) -> None:
    with qtbot.waitSignal(panel.stats_loaded, timeout=5000):
        panel.tabs.setCurrentIndex(STORAGE_TAB)


def test_storage_tab_refreshes_after_prune_and_vacuum(
    qtbot: Any, panel: CheckpointBrowserPanel, tmp_path: Path, run_async: Any
) -> None:
    db = tmp_path / "p.db"
    run_async(fill_sqlite(db, {"a": 6, "b": 6}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    show_storage(qtbot, panel)
    assert "14 steps" in panel.storage_view.summary.text()
    dialog = panel.open_prune_dialog()
    dialog.keep_spin.setValue(2)
    dialog.vacuum_check.setChecked(True)
    dialog.preview_button.click()
    qtbot.waitUntil(dialog.delete_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(panel.stats_loaded, timeout=10000):  # no Refresh click needed
        dialog.delete_button.click()
    assert "4 steps" in panel.storage_view.summary.text(), panel.storage_view.summary.text()
    dialog.close()


def test_switching_database_never_mixes_charts(
    qtbot: Any, panel: CheckpointBrowserPanel, tmp_path: Path, run_async: Any
) -> None:
    first, second = tmp_path / "one.db", tmp_path / "two.db"
    run_async(fill_sqlite(first, {f"s{i}": 3 for i in range(5)}))
    run_async(fill_sqlite(second, {"only": 2}))
    open_and_wait(qtbot, panel, f"sqlite://{first}")
    show_storage(qtbot, panel)
    assert len(panel.storage_view.top_sessions) == 5
    assert panel.select_session("s0")
    qtbot.waitUntil(lambda: bool(panel.storage_view.growth), timeout=5000)
    panel.open_database(f"sqlite://{second}")
    # at once, before the new database answers: nothing of the old one is left on screen
    assert panel.storage_view.top_sessions == [] and panel.storage_view.growth == []
    assert panel.storage_view.summary.text() == ""
    qtbot.waitUntil(lambda: [s for s, _ in panel.storage_view.top_sessions] == ["only"], timeout=5000)


def test_failed_open_clears_charts_and_pager(
    qtbot: Any, panel: CheckpointBrowserPanel, tmp_path: Path, run_async: Any
) -> None:
    db = tmp_path / "six.db"
    run_async(fill_sqlite(db, {f"s{i}": 1 for i in range(6)}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    show_storage(qtbot, panel)
    assert panel.sessions_pager.label.text().startswith("1")
    with qtbot.waitSignal(panel.database_failed, timeout=5000):
        panel.open_database(f"sqlite://{tmp_path / 'missing.db'}")
    assert panel.sessions.rowCount() == 0
    assert "6" not in panel.sessions_pager.label.text()
    assert panel.storage_view.top_sessions == [] and panel.storage_view.summary.text() == ""


def test_graph_mismatch_names_the_graphs_and_the_nodes_that_differ(
    qtbot: Any, panel: CheckpointBrowserPanel, tmp_path: Path, run_async: Any
) -> None:
    db = tmp_path / "g.db"
    run_async(fill_sqlite(db, {"old": 3}, graph_hash="aaaa"))
    panel.controller.known_graphs["aaaa"] = "Market ticks"
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    panel.set_graph_hash("bbbb", "Fan out, fan in", ["split", "join"])
    panel.select_session("old")
    qtbot.waitUntil(lambda: not panel.warning_bar.isHidden(), timeout=5000)
    text = panel.warning_bar.text()
    assert "'Market ticks'" in text and "'Fan out, fan in'" in text
    assert "lacks: A" in text and "only in this document: join, split" in text


def test_recent_is_usable_before_anything_was_opened(panel: CheckpointBrowserPanel, tmp_path: Path) -> None:
    button = panel.connection.recent_button
    assert button.isEnabled()
    panel.connection.set_defaults([f"sqlite://{tmp_path / 'studio.db'}", "memory:"])
    offered = [a.text() for a in panel.recent_menu.actions()]
    assert offered == [f"sqlite://{tmp_path / 'studio.db'}"]


def test_the_studios_database_opens_in_the_browser_on_first_launch(
    main_window: Any, qtbot: Any, tmp_path: Path, run_async: Any
) -> None:
    w = main_window
    db = tmp_path / "studio.db"
    w.set_database(f"sqlite://{db.as_posix()}")  # no file yet: a hint, not an error
    assert not w.browser.error_text() and "No runs saved yet" in w.browser.status.text()
    w.console.session.setText("first-run")
    with qtbot.waitSignal(w.browser.sessions_loaded, timeout=15000):
        assert w.console.run()  # the first run creates the file: the browser shows it by itself
    assert w.browser.current_url() == f"sqlite://{db.as_posix()}"
    qtbot.waitUntil(lambda: w.browser.sessions.row_of("first-run") >= 0, timeout=5000)


def test_an_existing_studio_database_opens_at_start(
    main_window: Any, qtbot: Any, tmp_path: Path, run_async: Any
) -> None:
    db = tmp_path / "existing.db"
    run_async(fill_sqlite(db, {"earlier": 2}))
    with qtbot.waitSignal(main_window.browser.sessions_loaded, timeout=5000):
        main_window.set_database(f"sqlite://{db.as_posix()}")
    assert main_window.browser.sessions.row_of("earlier") >= 0


def test_a_long_message_wraps_instead_of_widening_the_window(panel: CheckpointBrowserPanel) -> None:
    before = panel.minimumSizeHint().width()
    panel.warning_bar.show_text("Session 'x' was written by another graph. " * 20)
    panel.status.setText("sqlite:///" + "very/long/path/" * 30 + "studio.db")
    assert panel.minimumSizeHint().width() <= max(before, 700)
