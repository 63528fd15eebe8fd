"""In the main window: after a run in the console, selecting a node on the canvas opens the node inspector
on that node's last run (the run's own storage); a fork's "Fork and run" runs it in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.controllers.run import RunState

FINISHED = (RunState.COMPLETED, RunState.FAILED, RunState.STOPPED)


def _run(qtbot: Any, w: Any, example: str, db: Path, session: str) -> str:
    assert w.open_example(example)
    w.set_database(f"sqlite://{db.as_posix()}")
    w.console.session.setText(session)
    assert w.console.run()
    qtbot.waitUntil(lambda: w.runs.state in FINISHED, timeout=15000)
    return str(w.runs.state)


def test_canvas_selection_inspects_the_last_run(qtbot: Any, main_window: Any, tmp_path: Path) -> None:
    w = main_window
    assert _run(qtbot, w, "fails_on_purpose", tmp_path / "runs.db", "boom") == RunState.FAILED
    scene = w.graph_editor.scene
    scene.clearSelection()
    with qtbot.waitSignal(w.inspector.shown, timeout=5000):
        scene.node_item("prepare").setSelected(True)
    run = w.inspector.run
    assert run.session_id == "boom" and run.record.node == "prepare" and run.record.status == "done"
    scene.clearSelection()
    with qtbot.waitSignal(w.inspector.shown, timeout=5000):
        scene.node_item("explode").setSelected(True)
    assert w.inspector.run.record.status == "failed"
    assert "fails on purpose" in w.inspector.error_bar.text()
    assert "Traceback" not in w.inspector.error_bar.text() and w.inspector.traceback_text()
    assert w.docks["nodeInspector"].widget() is w.inspector


def test_fork_and_run_runs_in_the_console(qtbot: Any, main_window: Any, tmp_path: Path) -> None:
    w = main_window
    db = tmp_path / "runs.db"
    assert _run(qtbot, w, "retry_loop", db, "loop") == RunState.COMPLETED
    qtbot.waitUntil(lambda: w.browser_controller.is_open, timeout=5000)
    with qtbot.waitSignal(w.browser.steps_loaded, timeout=5000):
        if not w.browser.select_session("loop"):
            with qtbot.waitSignal(w.browser.sessions_loaded, timeout=5000):
                w.browser.reload()
            assert w.browser.select_session("loop")
    w.browser.steps_view.selectRow(w.browser.steps.row_of_step(1))
    with qtbot.waitSignal(w.debug_controller.fork_previewed, timeout=5000):
        dialog = w.time_travel.open_fork_dialog()
    assert dialog is not None
    with qtbot.waitSignal(w.runs.run_started, timeout=10000):
        dialog.fork_run_button.click()
    qtbot.waitUntil(lambda: w.runs.state in FINISHED, timeout=15000)
    assert w.runs.state == RunState.COMPLETED and w.runs.session.session_id == "loop-fork-1"
    dialog.close()
