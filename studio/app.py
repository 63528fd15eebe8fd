"""`weavegraph-studio [FILE_OR_MODULE] [--db URL] [--self-test]`: the only place that creates the
QApplication and the qasync loop. The main coroutine waits until the window closed, then shuts down in
order: runs cancelled, panels' databases closed, event bus drained, bridge tasks awaited."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import PySide6  # noqa: F401  (import the binding before qasync)
import qasync
from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio import __version__
from studio.settings import APPLICATION, ORGANISATION

__all__ = ["build_window", "main", "parse_args", "terminate"]

SELF_TEST_TIMEOUT_S = 90.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="weavegraph-studio", description="Weavegraph Studio")
    parser.add_argument("target", nargs="?", help="a *.wgraph.json file or package.module:attribute")
    parser.add_argument("--db", help="checkpoint database URL for runs (sqlite://file.db, postgresql://...)")
    parser.add_argument("--self-test", action="store_true", help="run a smoke test and exit 0 or 1")
    parser.add_argument("--version", action="version", version=f"weavegraph-studio {__version__}")
    return parser.parse_args(argv)


def build_window(bridge: Any, args: argparse.Namespace) -> Any:
    """The main window with the shared event bus, theme, layout, document and database applied."""
    from engine.events.bus import EventBus
    from studio.main_window import MainWindow
    from studio.settings import default_database_url

    bus = EventBus(buffer_capacity=4096)
    window = MainWindow(bridge, bus)
    window.apply_saved_theme()
    geometry, state = window.settings.window_geometry(), window.settings.window_state()
    if geometry is not None:
        window.restoreGeometry(geometry)
    if state is not None:
        window.restoreState(state)
    target = args.target or window.settings.last_document()
    failures: list[str] = []
    window.documents.failed.connect(failures.append)
    if not (target and window.open_path(target)):
        window.open_example("market_ticks")
        if failures:  # say why the requested document is not the one shown
            window.graph_editor.show_notice(failures[0] + " — showing the market-ticks example instead")
    window.documents.failed.disconnect(failures.append)
    console = window.settings.console()
    if args.db:
        window.set_database(args.db)
    elif console["kind"] == "memory":
        window.set_database("memory:")
    elif console["kind"] == "sqlite" and console["location"]:
        window.set_database(console["location"])
    else:
        window.set_database(default_database_url())
    return window


async def _amain(app: QApplication, args: argparse.Namespace, started: float) -> int:
    from studio.bridge import Bridge

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    bridge = Bridge()
    window = build_window(bridge, args)
    # Move everything alive after start-up (Qt wrappers, modules, registry) out of the cyclic GC's reach:
    # full collections then scan only what runs create, which keeps event floods free of 100 ms pauses.
    gc.freeze()
    window.closed.connect(closed.set)
    result = {"code": 0}
    window.show()
    _close_on_signals(window, result)
    window.runs.listen()
    window.sink_health.listen()
    if args.self_test:
        from studio.self_test import self_test

        async def _run_self_test() -> None:
            try:
                async with asyncio.timeout(SELF_TEST_TIMEOUT_S):
                    ok = await self_test(window, started)
            except TimeoutError:
                print(f"FAIL self-test timed out after {SELF_TEST_TIMEOUT_S:.0f} s", flush=True)
                ok = False
            result["code"] = 0 if ok else 1
            window._close_confirmed = True
            window.close()

        bridge.start(_run_self_test(), name="self-test")
    elif os.environ.get("WEAVEGRAPH_STUDIO_TIMING"):
        # bench mode: report when the window first processes events after being shown, then close
        def _report() -> None:
            print(f"window interactive after {time.perf_counter() - started:.3f} s", flush=True)
            window._close_confirmed = True
            window.close()

        QTimer.singleShot(0, _report)
    await closed.wait()
    window.hide()
    try:
        await window.shutdown()
    finally:
        await bridge.shutdown()
    window.deleteLater()
    return result["code"]


def _close_on_signals(window: Any, result: dict[str, int]) -> None:
    """Ctrl+C in the terminal closes the window (and so shuts down cleanly). SIGTERM (a session logout,
    `kill`, a service manager) closes it without the unsaved-changes question, after the running step has
    finished and saved (`GracefulShutdown`), and the process exits 143. Qt's loop runs in C++, so a slow
    no-op timer gives Python a chance to run its signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, lambda *_args: window.close())
    signal.signal(signal.SIGTERM, lambda *_args: QTimer.singleShot(0, lambda: terminate(window, result)))
    timer = QTimer(window)
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()


def terminate(window: Any, result: dict[str, int]) -> None:
    """What SIGTERM does: exit status 143; a running step finishes and saves, then the window closes
    without asking about unsaved changes. A second SIGTERM while waiting cancels that step."""
    from engine.observability.shutdown import EXIT_CODES

    result["code"] = EXIT_CODES[signal.SIGTERM]
    window._close_confirmed = True
    runs = window.runs

    def close_when_idle(_state: str = "") -> None:
        if not runs.busy:
            window.close()

    if runs.stop_gracefully():
        runs.state_changed.connect(close_when_idle)
    else:
        close_when_idle()


def _configure_logging() -> None:
    """WEAVEGRAPH_LOG directives apply to the studio too; a bad value is reported, never fatal."""
    from engine.logsetup import configure_logging

    try:
        configure_logging()
    except Exception as exc:
        print(f"weavegraph-studio: WEAVEGRAPH_LOG ignored: {exc}", file=sys.stderr)


def _app_icon() -> QIcon:
    """The installed theme icon (the .deb puts it in hicolor), else the SVG shipped in resources/."""
    icon = QIcon.fromTheme("weavegraph-studio")
    if icon.isNull():
        base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
        for candidate in (base / "resources" / "icons" / "weavegraph.svg", base / "icons" / "weavegraph.svg"):
            if candidate.is_file():
                return QIcon(str(candidate))
    return icon


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    _configure_logging()
    app.setDesktopFileName("weavegraph-studio")  # matches the .desktop entry (icon and grouping on Wayland)
    app.setWindowIcon(_app_icon())
    app.setQuitOnLastWindowClosed(False)  # the main coroutine decides when to stop (after shutdown)
    if args.self_test:
        # keep the user's settings and trust file untouched
        tmp = tempfile.mkdtemp(prefix="weavegraph-selftest-")
        from PySide6.QtCore import QSettings

        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        os.environ.setdefault("WEAVEGRAPH_TRUST_FILE", os.path.join(tmp, "trust.json"))
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(_amain(app, args, started))


if __name__ == "__main__":
    raise SystemExit(main())
