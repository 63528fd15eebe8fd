"""Run inside a real X server (xvfb-run) with QT_QPA_PLATFORM=xcb: shows the main window, drives it with real
key presses and mouse clicks through xdotool (XTEST), and prints one JSON object {check: what happened}.
Used by test_x11.py.

    xvfb-run -a env QT_QPA_PLATFORM=xcb python tests/studio/x11/probe.py shortcuts palette run_stop
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import PySide6  # noqa: F401  (the binding before qasync)
import qasync
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

MESSAGES: list[str] = []


def _on_qt_message(_kind: QtMsgType, _context: Any, message: str) -> None:
    MESSAGES.append(message)


def xdo(*args: str) -> None:
    """Run one xdotool command: input through XTEST, as a keyboard or mouse would send it."""
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def key(*keys: str) -> None:
    """Press keys, to whichever window has the focus."""
    xdo("key", "--delay", "40", *keys)


def bound_twice(window: Any) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = defaultdict(list)
    for action in window.findChildren(QAction):
        for seq in action.shortcuts():
            if seq.toString():
                seen[seq.toString()].append(action.objectName() or action.text())
    return {k: v for k, v in seen.items() if len(v) > 1}


async def wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def shortcuts() -> dict[str, Any]:
    from engine.events.bus import EventBus
    from studio.bridge import Bridge
    from studio.main_window import MainWindow

    bridge = Bridge()
    window = MainWindow(bridge, EventBus(buffer_capacity=256))
    window.show()
    window.activateWindow()
    result: dict[str, Any] = {"platform": QApplication.platformName()}
    try:
        result["active"] = await wait_for(window.isActiveWindow)
        window.open_example("fan_out_in")
        view = window.graph_editor.view
        view.setFocus()
        await wait_for(view.hasFocus)
        count = lambda: len(window.model.node_ids())  # noqa: E731
        before = count()
        window.add_node_at("delay", 0, 300)
        result["added"] = count() == before + 1
        key("ctrl+z")
        result["undo_ctrl_z"] = await wait_for(lambda: count() == before, 3)
        key("ctrl+shift+z")
        result["redo_ctrl_shift_z"] = await wait_for(lambda: count() == before + 1, 3)
        key("ctrl+z")
        await wait_for(lambda: count() == before, 3)
        key("ctrl+y")
        result["redo_ctrl_y"] = await wait_for(lambda: count() == before + 1, 3)
        result["bound_twice"] = bound_twice(window)
        result["ambiguous"] = [m for m in MESSAGES if "mbiguous" in m]
    finally:
        window._close_confirmed = True
        window.close()
        await window.shutdown()
        await bridge.shutdown()
    return result


async def open_window() -> tuple[Any, Any]:
    from engine.events.bus import EventBus
    from studio.bridge import Bridge
    from studio.main_window import MainWindow

    bridge = Bridge()
    window = MainWindow(bridge, EventBus(buffer_capacity=1024))
    window.resize(1280, 800)
    window.show()
    window.activateWindow()
    window.runs.listen()
    await wait_for(window.isActiveWindow)
    return bridge, window


async def close_window(bridge: Any, window: Any) -> None:
    window._close_confirmed = True
    window.close()
    await window.shutdown()
    await bridge.shutdown()


async def palette() -> dict[str, Any]:
    """Double-click a palette entry with the mouse (XTEST): exactly one node is added."""
    bridge, window = await open_window()
    result: dict[str, Any] = {"platform": QApplication.platformName()}
    try:
        window.new_document()
        await asyncio.sleep(0.2)
        view = window.node_palette.list
        rect = view.visualRect(window.node_palette.proxy.index(0, 0))
        where = view.viewport().mapToGlobal(rect.center())
        xdo("mousemove", str(where.x()), str(where.y()))
        await asyncio.sleep(0.2)
        xdo("click", "--repeat", "2", "--delay", "80", "1")  # a double-click of the left button
        await wait_for(lambda: bool(window.model.node_ids()), 3)
        await asyncio.sleep(0.3)
        result["nodes"] = len(window.model.node_ids())
    finally:
        await close_window(bridge, window)
    return result


async def run_stop() -> dict[str, Any]:
    """F5 starts the run, Shift+F5 stops it: the node reads cancelled, the run stopped."""
    from studio.document.io import OpenedDocument

    bridge, window = await open_window()
    result: dict[str, Any] = {"platform": QApplication.platformName()}
    try:
        slow = {
            "format": "weavegraph.graph",
            "version": 1,
            "nodes": [{"id": "wait", "type": "delay", "config": {"ms": 10000}, "position": [0, 0]}],
            "edges": [{"from": "Start", "to": "wait"}, {"from": "wait", "to": "End"}],
        }
        window.set_database("memory:")
        window.documents._apply(OpenedDocument(slow))
        window.graph_editor.view.setFocus()
        await asyncio.sleep(0.2)
        key("F5")
        statuses = window.graph_editor.scene.node_statuses
        result["running"] = await wait_for(lambda: statuses().get("wait") == "running", 5)
        key("shift+F5")
        result["stopped"] = await wait_for(lambda: window.runs.state == "stopped", 5)
        result["node"] = await wait_for(lambda: statuses().get("wait") == "cancelled", 3) and "cancelled"
    finally:
        await close_window(bridge, window)
    return result


CHECKS = {"shortcuts": shortcuts, "palette": palette, "run_stop": run_stop}


def main() -> None:
    qInstallMessageHandler(_on_qt_message)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the probe closes the window itself, then shuts down
    out: dict[str, Any] = {}

    async def _main() -> None:
        for name in sys.argv[1:]:  # one X server and one process for every check asked
            out[name] = await CHECKS[name]()

    qasync.run(_main())
    print(json.dumps(out), flush=True)
    app.processEvents()
    os._exit(0)


if __name__ == "__main__":
    main()
