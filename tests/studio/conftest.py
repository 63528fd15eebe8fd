"""Studio test fixtures: offscreen Qt, a qasync loop that advances while qtbot waits, a bridge, leak check."""

from __future__ import annotations

import os

# Before anything creates a QGuiApplication; setdefault lets a developer use a real display (xcb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import PySide6  # noqa: F401  (the binding first, so qasync picks PySide6)
import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QApplication

from studio.bridge import Bridge

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point QSettings (and the engine's trust file) at a temporary directory for every studio test."""
    root = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root))
    QCoreApplication.setOrganizationName("WeavegraphTest")
    QCoreApplication.setApplicationName("Weavegraph Studio Test")
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(root / "trust.json"))


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop flagged as already running: asyncio tasks advance whenever pytest-qt spins Qt
    (qtbot.wait / waitUntil / waitSignal)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        deadline = 200
        while pending and deadline > 0 and not all(t.done() for t in pending):
            qapp.processEvents()
            deadline -= 1
        _stop_already_running(loop, qapp)
        loop.close()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


def _stop_already_running(loop: asyncio.AbstractEventLoop, qapp: QApplication) -> None:
    # qasync's stop() calls QCoreApplication.exit(), which in Qt 6 sets the thread's quitNow flag: every
    # later QEventLoop.exec() (qtbot.waitSignal) would then return at once. Undo the already_running
    # bookkeeping by hand instead.
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # name-mangled qasync flag
    try:
        qapp.aboutToQuit.disconnect(loop._after_run_forever)  # type: ignore[attr-defined]
    except (RuntimeError, TypeError):
        pass
    loop._after_run_forever()  # type: ignore[attr-defined]


@pytest.fixture
def bridge(qloop: asyncio.AbstractEventLoop, qapp: QApplication) -> Iterator[Bridge]:
    """A Bridge on the test loop; every task it still owns is cancelled and awaited afterwards."""
    b = Bridge(loop=qloop)
    yield b
    task = qloop.create_task(b.shutdown())
    for _ in range(500):
        if task.done():
            break
        qapp.processEvents()
    b.deleteLater()
    qapp.processEvents()


@pytest.fixture
def run_async(qtbot: Any, qloop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """Run a coroutine on the test loop while Qt spins, and return its result (or raise its exception)."""

    def _run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        task = qloop.create_task(coro)
        try:
            qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        except BaseException:
            task.cancel()
            raise
        return task.result()

    return _run


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp: QApplication, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves new top-level widgets alive (napari's strict-qtbot idea)."""
    before = {id(w) for w in qapp.topLevelWidgets()}
    yield
    if request.node.get_closest_marker("allow_leaked_widgets"):
        return
    # Collect Python garbage here, between tests, so Qt wrappers of this test are not finalised in the
    # middle of a later test's event processing.
    gc.collect()
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # runs deleteLater
        qapp.processEvents()
    leaked = [
        w
        for w in qapp.topLevelWidgets()
        if id(w) not in before and w.objectName() != "qtbot-widget" and not _is_qt_internal(w)
    ]
    if leaked:
        names = ", ".join(f"{type(w).__name__}({w.objectName()!r})" for w in leaked)
        for w in leaked:
            w.hide()  # not deleted here: their owners may still be alive
        pytest.fail(f"test leaked top-level widgets: {names}")


def _is_qt_internal(widget: Any) -> bool:
    # Qt keeps a few hidden helper top-levels (e.g. QComboBox popups) owned by live parents; ignore
    # widgets that have a parent, they are not leaks of the test.
    return widget.parent() is not None


@pytest.fixture
def examples_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "examples"


@pytest.fixture
def main_window(qtbot: Any, bridge: Bridge, run_async: Callable[..., Any]) -> Iterator[Any]:
    """A shown main window on an in-memory database with the market-ticks example open; shut down after."""
    from engine.events.bus import EventBus
    from studio.main_window import MainWindow

    w = MainWindow(bridge, EventBus(buffer_capacity=4096))
    w.show()
    qtbot.waitExposed(w)
    w.runs.listen()
    w.set_database("memory:")
    assert w.open_example("market_ticks")
    yield w
    w._close_confirmed = True
    run_async(w.shutdown(), timeout=15)
    w.close()
    w.deleteLater()
