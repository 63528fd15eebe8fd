"""Screenshots of the debugging loop (issue 15) in the light and the dark theme, in a real X window:

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tests/studio/x11/debug_screenshots.py resources/screenshots

Runs a code-first graph (two parallel workers, one retried, a checker looping) with F5 into a SQLite
database, then its failing variant; selects the failed node on the canvas (the node inspector with the
traceback opened), forks a step, and saves `node_inspector`, `timeline`, `lineage` (window grabs) and
`fork_dialog`, `replay_dialog` (the dialogs), each also as `<name>_dark.png`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import PySide6  # noqa: F401  (the binding before qasync)
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.studio.x11.screenshots import close, run_with_f5, until

GRAPH = "tests.studio.debugloop.conftest:debug_app"
FAILING = "tests.studio.debugloop.conftest:failing_app"


async def themed(window: Any, grab: Any, out: Path, name: str) -> None:
    for suffix, dark in (("", False), ("_dark", True)):
        window.commands.dark.setChecked(dark)
        await asyncio.sleep(0.5)
        grab().save(str(out / f"{name}{suffix}.png"))
    window.commands.dark.setChecked(False)
    await asyncio.sleep(0.2)


async def shoot(out: Path) -> None:
    from engine.events.bus import EventBus
    from studio.bridge import Bridge
    from studio.main_window import MainWindow
    from studio.theme import apply_theme

    tmp = Path(tempfile.mkdtemp())
    bridge = Bridge()
    window = MainWindow(bridge, EventBus(buffer_capacity=4096))
    apply_theme(False)
    window.resize(1600, 1000)
    window.show()
    window.activateWindow()
    window.runs.listen()
    await until(window.isActiveWindow, 5)
    window.set_database(f"sqlite://{(tmp / 'studio.db').as_posix()}")
    assert window.open_path(GRAPH), "the code-first graph did not open"
    window.console.session.setText("trip")
    await run_with_f5(window)
    assert window.open_path(FAILING)
    window.console.session.setText("trip-checked")
    await run_with_f5(window)
    window.graph_editor.view.fit()

    # the node inspector: the failed node selected on the canvas, its traceback opened
    scene = window.graph_editor.scene
    scene.clearSelection()
    scene.select_nodes(["check"])
    inspector = window.inspector
    await until(lambda: inspector.run is not None and inspector.run.record.node == "check")
    inspector.traceback_toggle.setChecked(True)
    window.docks["nodeInspector"].raise_()
    window.resizeDocks([window.docks["nodeInspector"]], [760], Qt.Orientation.Horizontal)
    await themed(window, window.grab, out, "node_inspector")

    # the checkpoint browser: fork a step of "trip", then the timeline and the lineage
    browser = window.browser
    await until(lambda: browser.controller.is_open and browser.sessions.rowCount() >= 2)
    browser.select_session("trip")
    await until(lambda: browser.steps.rowCount() > 0)
    browser.steps_view.selectRow(browser.steps.row_of_step(2))
    window.docks["checkpointBrowser"].raise_()
    window.resizeDocks([window.docks["checkpointBrowser"]], [560], Qt.Orientation.Vertical)
    fork = window.time_travel.open_fork_dialog()
    assert fork is not None
    await until(lambda: fork.preview.toPlainText() != "")
    fork.editor.set_value({"extra": {"fetched": 0, "thought": "a cheaper idea", "n": 1}})
    fork.request_preview()
    await until(lambda: "changed" in fork.preview.toPlainText())
    await themed(window, fork.grab, out, "fork_dialog")
    fork.fork_button.click()
    await until(lambda: fork.result_id is not None)
    fork.close()
    await asyncio.sleep(0.3)

    assert window.open_path(GRAPH)  # the replay runs the graph that wrote "trip"
    await asyncio.sleep(0.3)
    replay = window.time_travel.open_replay_dialog()
    assert replay is not None
    await until(lambda: len(replay.node_names()) == 3)
    replay.set_live(["check"])
    replay.start()
    await until(lambda: replay.summary is not None)
    await themed(window, replay.grab, out, "replay_dialog")
    replay.close()
    await asyncio.sleep(0.3)

    browser.select_session("trip")
    await until(lambda: browser.steps.rowCount() > 0)
    browser.tabs.setCurrentWidget(window.time_travel.timeline)
    timeline = window.time_travel.timeline
    await until(lambda: timeline.data is not None and timeline.data.session_id == "trip")
    timeline.view.fit()
    await themed(window, window.grab, out, "timeline")
    browser.tabs.setCurrentWidget(window.time_travel.lineage)
    await until(lambda: window.time_travel.lineage.tree.topLevelItemCount() > 0)
    await themed(window, window.grab, out, "lineage")
    await close(window, bridge, out)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    qasync.run(shoot(out))
    app.processEvents()
    os._exit(0)


if __name__ == "__main__":
    main()
