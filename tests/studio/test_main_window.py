"""The main window: panel objectNames and docks, standard shortcuts, status bar, About (non-blocking),
unsaved-changes prompt, trust banner, settings in a temporary QSettings, the self-test command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox, QWidget

from engine.events.bus import EventBus
from studio.bridge import Bridge
from studio.main_window import MainWindow
from studio.theme import canvas_colors

PANELS = [
    "graphEditor",
    "nodePalette",
    "propertiesPanel",
    "runConsole",
    "sinkHealth",
    "checkpointBrowser",
    "sessionStepper",
]


@pytest.fixture
def window(qtbot: Any, bridge: Bridge, run_async: Callable[..., Any]) -> Iterator[MainWindow]:
    w = MainWindow(bridge, EventBus())
    # not qtbot.addWidget: pytest-qt closes and deletes those before fixture teardown, and the window
    # must stay alive until its async shutdown has finished
    w.show()
    qtbot.waitExposed(w)
    yield w
    w._close_confirmed = True
    run_async(w.shutdown(), timeout=15)
    w.close()
    w.deleteLater()


def test_panels_have_stable_object_names_and_docks(window: MainWindow) -> None:
    for name in PANELS:
        assert window.findChild(QWidget, name) is not None, name
    assert window.centralWidget().objectName() == "graphEditor"
    for name in PANELS[1:]:
        dock = window.findChild(QDockWidget, f"{name}Dock")
        assert dock is not None and dock.widget().objectName() == name


def test_standard_shortcuts(window: MainWindow) -> None:
    a = window.commands
    expected = {
        a.new: "Ctrl+N",
        a.open: "Ctrl+O",
        a.save: "Ctrl+S",
        a.save_as: "Ctrl+Shift+S",
        a.undo: "Ctrl+Z",
        a.delete: "Del",
        a.copy: "Ctrl+C",
        a.paste: "Ctrl+V",
        a.find: "Ctrl+F",
        a.run: "F5",
        a.step: "F10",
        a.stop: "Shift+F5",
        a.fit: "Ctrl+0",
    }
    for action, keys in expected.items():
        assert QKeySequence(keys) in action.shortcuts(), (action.text(), keys)
    assert QKeySequence("Ctrl+Shift+Z") in a.redo.shortcuts()


def test_undo_action_follows_the_document(window: MainWindow) -> None:
    assert window.open_example("market_ticks")
    assert not window.commands.undo.isEnabled()
    window.add_node_at("delay", 0, 300)
    assert window.commands.undo.isEnabled() and window.windowTitle().startswith("*")
    window.commands.undo.trigger()
    assert not window.model.dirty and not window.windowTitle().startswith("*")


def test_about_is_non_blocking_and_lists_versions(window: MainWindow, qtbot: Any) -> None:
    box = window.show_about()
    assert box.isVisible()
    text = box.text()
    for part in ("Weavegraph Studio", "Python", "Qt", "PySide6", "qasync", "pyqtgraph"):
        assert part in text
    box.close()


def test_closing_with_unsaved_changes_asks_without_blocking(window: MainWindow, qtbot: Any) -> None:
    window.add_node_at("delay", 0, 0)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.close()
    assert window.isVisible() and not closed
    box = window.findChild(QMessageBox, "unsavedChangesDialog")
    assert box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.isVisible() and not closed
    window.close()
    box = window.findChild(QMessageBox, "unsavedChangesDialog")
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "unsavedChangesDialog") is not None, timeout=1000)
    box = window.findChild(QMessageBox, "unsavedChangesDialog")
    box.button(QMessageBox.StandardButton.Discard).click()
    qtbot.waitUntil(lambda: bool(closed), timeout=1000)
    assert not window.isVisible()


def test_new_document_asks_before_dropping_unsaved_changes(window: MainWindow, qtbot: Any) -> None:
    assert window.open_example("market_ticks")
    window.add_node_at("delay", 0, 300)
    window.commands.new.trigger()
    box = window.findChild(QMessageBox, "unsavedChangesDialog")
    assert box is not None and box.isVisible()
    assert "delay" in window.model.node_ids()  # nothing dropped while the question is open
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert "delay" in window.model.node_ids()
    window.commands.new.trigger()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "unsavedChangesDialog") is not None, timeout=1000)
    window.findChild(QMessageBox, "unsavedChangesDialog").button(QMessageBox.StandardButton.Discard).click()
    assert window.model.node_ids() == [] and not window.model.dirty


def test_save_as_and_reopen_keeps_unknown_fields(window: MainWindow, tmp_path: Path) -> None:
    assert window.open_example("market_ticks")
    window.model.data["x-extension"] = {"kept": 1}  # an unknown field as if loaded from disk
    window.add_node_at("delay", 0, 400)
    target = tmp_path / "copy.wgraph.json"
    assert window.documents.save(str(target))
    assert not window.model.dirty
    assert window.settings.recent_files()[0] == str(target)
    assert window.open_path(str(target))
    assert window.model.data["x-extension"] == {"kept": 1}
    assert "delay" in window.model.node_ids()


def test_untrusted_document_opens_read_only_with_trust_button(window: MainWindow, tmp_path: Path) -> None:
    doc = tmp_path / "code.wgraph.json"
    doc.write_text(
        '{"format": "weavegraph.graph", "version": 1, "nodes": [{"id": "P", "type": "python", '
        '"config": {"callable": "tests.studio.code_first_graph:hello"}}], '
        '"edges": [{"from": "Start", "to": "P"}, {"from": "P", "to": "End"}]}'
    )
    assert window.open_path(str(doc))
    assert window.model.read_only
    assert window.graph_editor.banner.isVisible() and window.graph_editor.trust_button.isVisible()
    assert not window.console.run()
    assert "Trust" in window.console.error_label.text()
    window.graph_editor.trust_button.click()
    assert not window.model.read_only and not window.graph_editor.banner.isVisible()
    assert window.console.run()


def test_dark_theme_toggle_is_remembered(window: MainWindow) -> None:
    window.commands.dark.setChecked(True)
    assert window.settings.theme() == "dark"
    assert QApplication.palette().window().color().lightness() < 100
    assert canvas_colors().background.lightness() < 100
    window.commands.dark.setChecked(False)
    assert window.settings.theme() == "light"
    assert QApplication.palette().window().color().lightness() > 150


def test_status_bar_shows_the_redacted_database(window: MainWindow) -> None:
    window.set_database("postgresql://ann:pw123@db.example:5432/wg")
    assert "pw123" not in window.db_label.text() and "db.example" in window.db_label.text()
    assert window.console.password.text() == "pw123"
    window.console.database_used.emit("postgresql://ann:***@db.example:5432/wg")
    assert window.settings.console() == {
        "kind": "postgres",
        "location": "postgresql://ann@db.example:5432/wg",
    }
    assert window.settings.recent_databases() == ["postgresql://ann@db.example:5432/wg"]
    window.settings.sync()
    from PySide6.QtCore import QSettings

    ini = Path(QSettings().fileName()).read_text()
    assert "pw123" not in ini and "***" not in ini


def test_background_task_failure_goes_to_the_status_bar(
    window: MainWindow, bridge: Bridge, qtbot: Any
) -> None:
    async def boom() -> None:
        raise OSError("disk on fire")

    bridge.start(boom(), name="probe")
    qtbot.waitUntil(lambda: "disk on fire" in window.statusBar().currentMessage(), timeout=2000)


@pytest.mark.slow
def test_self_test_command_passes(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    assert "Task was destroyed" not in proc.stderr and "Event loop stopped" not in proc.stderr


def test_command_line_document_that_cannot_open_is_explained(
    bridge: Bridge, run_async: Callable[..., Any], tmp_path: Path
) -> None:
    from studio.app import build_window, parse_args

    bad = tmp_path / "broken.wgraph.json"
    bad.write_text('{"format": "weavegraph.graph", "nodes": [')
    w = build_window(bridge, parse_args([str(bad), "--db", "sqlite://" + (tmp_path / "x.db").as_posix()]))
    try:
        assert w.model.name == "Market ticks"
        assert "broken.wgraph.json" in w.graph_editor.notice.text()
        assert w.console.checkpointer_url().endswith("x.db")
        assert "x.db" in w.db_label.text()
    finally:
        w._close_confirmed = True
        run_async(w.shutdown(), timeout=15)
        w.deleteLater()


def test_checkpoint_browser_learns_the_graph_hash(
    window: MainWindow, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []
    monkeypatch.setattr(window.browser, "set_graph_hash", lambda h, *_names: seen.append(h))
    assert window.open_example("market_ticks")
    window.graph_editor.validate_now()
    assert seen[-1] == window.documents.build_app().graph_definition_hash()
    window.add_node_at("delay", 0, 300)  # unconnected: the graph has problems, no hash to compare
    window.graph_editor.validate_now()
    assert seen[-1] is None
