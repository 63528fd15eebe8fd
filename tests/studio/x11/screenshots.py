"""Screenshots of every panel in the light and the dark theme, taken in a real X window driven by real keys.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tests/studio/x11/screenshots.py resources/screenshots

Runs the examples with F5 (pressed through xdotool), steps a session with Ctrl+Enter, opens the studio's
database in the checkpoint browser, and saves `<panel>.png` (light) and `<panel>_dark.png` for the editor,
run console, sink health, checkpoint browser and session stepper, and `checkpoint_browser_langgraph.png` (the
browser on a LangGraph database a real LangGraph run wrote). `--langgraph` takes only the last one;
`--inbox` takes only `console_interrupt.png` (the approval example waiting in the run console, its node
waiting on the canvas) and `inbox.png` (the interrupt inbox with sessions waiting and one answered).
`--queue` takes only `queue.png`: the Queue panel on a throwaway PostgreSQL server (tests/pgserver.py) with
two real `weavegraph worker` processes, jobs in every state and the live events of a running one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import PySide6  # noqa: F401  (the binding before qasync)
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication


def key(*keys: str) -> None:
    subprocess.run(["xdotool", "key", "--delay", "40", *keys], check=True, timeout=10)


async def until(predicate: Any, seconds: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not predicate():
        if loop.time() > end:
            raise TimeoutError("the studio did not get there in time")
        await asyncio.sleep(0.05)


async def run_with_f5(window: Any) -> None:
    window.activateWindow()
    window.graph_editor.view.setFocus()
    await asyncio.sleep(0.1)
    key("F5")
    await until(lambda: window.runs.state in ("completed", "failed", "stopped"))
    await asyncio.sleep(0.3)


async def both_themes(window: Any, out: Path, shots: dict[str, str]) -> None:
    """`<shot>.png` in the light theme and `<shot>_dark.png` in the dark one, with `dock` raised."""
    for suffix, dark in (("", False), ("_dark", True)):
        window.commands.dark.setChecked(dark)
        await asyncio.sleep(0.4)
        for shot, dock in shots.items():
            window.docks[dock].raise_()
            await asyncio.sleep(0.4)
            window.grab().save(str(out / f"{shot}{suffix}.png"))
    window.commands.dark.setChecked(False)


async def shoot_langgraph(window: Any, out: Path, tmp: Path) -> None:
    """The checkpoint browser on a LangGraph SQLite file (the test suite's graphs: a fork, an interrupt)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from tests.engine.foreign.lg_graphs import populate

    path = tmp / "langgraph.sqlite"
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        populate(SqliteSaver(conn))
    finally:
        conn.close()
    browser = window.browser
    view = browser.langgraph_view
    window.docks["checkpointBrowser"].raise_()
    browser.open_database(str(path))
    await until(lambda: len(view.threads) >= 7)
    view.select_thread("chat-1")
    await until(lambda: view.shown is not None and view.shown.detail.info.key.thread_id == "chat-1")
    await both_themes(window, out, {"checkpoint_browser_langgraph": "checkpointBrowser"})
    view.tabs.setCurrentIndex(2)
    await until(lambda: view.report is not None)
    await both_themes(window, out, {"checkpoint_browser_langgraph_storage": "checkpointBrowser"})


async def shoot_inbox(window: Any, out: Path) -> None:
    """The approval example run with F5 into the studio's database until it asks; answered once inline;
    more sessions wait; the console and the inbox in both themes."""
    window.open_example("approval")
    await asyncio.sleep(0.3)
    console = window.console
    for sid in ("post-1", "post-2", "post-3", "post-4"):
        console.session.setText(sid)
        window.activateWindow()
        window.graph_editor.view.setFocus()
        await asyncio.sleep(0.1)
        if window.runs.state == "paused":  # F5 would continue the waiting run: stop it first
            key("shift+F5")
            await until(lambda: window.runs.state == "stopped")
        key("F5")
        await until(lambda: console.interrupts.isVisible())
        if sid == "post-1":  # answered: it stays visible in the inbox with its answer
            console.interrupts.forms[0].field().setChecked(True)
            console.interrupts.answer_button.click()
            await until(lambda: window.runs.state == "completed")
    window.graph_editor.view.fit()
    await asyncio.sleep(0.3)
    await both_themes(window, out, {"console_interrupt": "runConsole"})
    inbox = window.inbox
    inbox.show_answered.setChecked(True)
    await until(lambda: inbox.table.rowCount() == 4)
    ids = [inbox.table.item(r, 0).data(256) for r in range(inbox.table.rowCount())]
    waiting = [i for i in ids if inbox.entries[i].interrupt.pending]
    inbox.select_ids(waiting[:2])
    await both_themes(window, out, {"inbox": "interruptInbox"})


ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def start_worker(url: str, *graphs: str) -> subprocess.Popen[bytes]:
    cmd = cli("worker", *graphs, "--db", url, "--heartbeat-s", "0.5")
    return subprocess.Popen(cmd, cwd=ROOT, env=CLI_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def queue_database(server: Any) -> str:
    """Start `server` (before the qasync loop: its helpers run asyncio loops of their own), make a database
    with the queue's tables; its URL."""
    reason = server.unavailable_reason()
    if reason:
        raise SystemExit(f"the queue screenshot needs PostgreSQL: {reason}")
    server.start()
    url = str(server.create_database())
    subprocess.run(cli("migrate", "--db", url), cwd=ROOT, env=CLI_ENV, check=True, timeout=120)
    return url


async def shoot_queue(window: Any, out: Path, url: str) -> None:
    """Two workers (the market_ticks example; the test suite's three-node `chain`, slowed down) on a fresh
    queue database: completed, failed, cancelled, queued and running jobs; the running one's live events."""
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers += [start_worker(url, "market_ticks"), start_worker(url, "tests.engine.queue.graphs:chain")]
        window.open_example("market_ticks")
        window.docks["queuePanel"].raise_()
        window.resizeDocks([window.docks["queuePanel"]], [580], Qt.Orientation.Vertical)  # room for the jobs
        panel, controller = window.queue, window.queue_controller
        controller.open(url)  # the URL field stays empty: its placeholder shows the URL without the password
        await until(lambda: panel.workers.rowCount() == 2, 30)
        client = controller.client
        for _ in range(6):  # completed ones, a few a second, for the jobs/s plot
            panel.submit_button.click()
            await asyncio.sleep(0.7)
        await client.submit("chain", input={"extra": {"sleep": "soon"}})  # float("soon"): node a fails
        cancelled = await client.submit("nobody-serves-this", input={"extra": {}})
        await client.cancel(cancelled.id)
        await client.submit("nobody-serves-this", input={"extra": {}})  # queued: no worker serves it
        await client.submit("chain", input={"extra": {"sleep": 4}})
        await until(lambda: "running" in [panel.jobs.item(r, 3).text() for r in range(panel.jobs.rowCount())])
        rows = [panel.jobs.item(r, 3).text() for r in range(panel.jobs.rowCount())]
        panel.jobs.selectRow(rows.index("running"))
        await until(lambda: panel.events.rowCount() >= 6, 20)
        view = window.graph_editor.view
        view.fit()
        view.zoom_by(0.75)  # the canvas is short: keep End clear of the minimap
        view.centerOn(view.graph_scene.items_rect().center())
        await both_themes(window, out, {"queue": "queuePanel"})
        window.resizeDocks([window.docks["queuePanel"]], [380], Qt.Orientation.Vertical)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
        await window.queue_controller.aclose()


async def shoot(
    out: Path,
    queue_url: str | None,
    only_langgraph: bool = False,
    only_inbox: bool = False,
    only_queue: bool = False,
) -> None:
    from engine.events.bus import EventBus
    from engine.events.sinks import FunctionSink, JsonLinesSink
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
    window.sink_health.listen()
    await until(window.isActiveWindow, 5)
    window.set_database(f"sqlite://{(tmp / 'studio.db').as_posix()}")
    if only_langgraph:
        await shoot_langgraph(window, out, tmp)
        await close(window, bridge, out)
        return
    if only_inbox:
        await shoot_inbox(window, out)
        await close(window, bridge, out)
        return
    if only_queue and queue_url:
        await shoot_queue(window, out, queue_url)
        await close(window, bridge, out)
        return

    def broken(_event: Any) -> None:
        raise RuntimeError("disk full: /var/log/events")

    window.sink_health.attach(FunctionSink(broken, name="broken-archive"))
    window.sink_health.attach(JsonLinesSink.to_file(tmp / "events.jsonl"))
    for name in ("streaming_chat", "retry_loop", "market_ticks"):
        window.open_example(name)
        await run_with_f5(window)
    window.open_example("fan_out_in")
    await asyncio.sleep(0.3)
    window.console.session.setText("fan-out-demo")
    await run_with_f5(window)
    window.graph_editor.view.fit()
    window.graph_editor.scene.select_nodes(["join"])
    window.console.select_event_row(min(8, window.run_log.rowCount() - 1))
    await both_themes(window, out, {"console": "runConsole"})

    await until(lambda: window.browser.sessions.rowCount() >= 4)
    window.browser.select_session("fan-out-demo")
    await until(lambda: window.browser.steps.rowCount() > 0)

    window.open_example("market_ticks")
    window.docks["sessionStepper"].raise_()
    stepper = window.stepper
    stepper.session_edit.setText("ticks-stepper")
    stepper.create_session()
    await until(lambda: stepper.current_session() == "ticks-stepper")
    for tick in (3, 5, 8):
        stepper.patch_edit.setPlainText(f'{{"extra": {{"tick": {tick}}}}}')
        stepper.patch_edit.setFocus()
        await asyncio.sleep(0.1)
        key("ctrl+Return")
        await until(lambda n=tick: len(stepper.invocations.invocations()) == (3, 5, 8).index(n) + 1)
        await until(lambda: not stepper.controller.busy)
    window.graph_editor.view.fit()
    window.graph_editor.scene.select_nodes(["accumulate"])
    window.sink_health.refresh()
    shots = {
        "sink_health": "sinkHealth",
        "checkpoint_browser": "checkpointBrowser",
        "stepper": "sessionStepper",
    }
    await both_themes(window, out, shots)
    window.docks["runConsole"].raise_()
    await both_themes(window, out, {"editor": "runConsole"})
    await shoot_langgraph(window, out, tmp)
    await shoot_inbox(window, out)
    if queue_url:
        await shoot_queue(window, out, queue_url)
    await close(window, bridge, out)


async def close(window: Any, bridge: Any, out: Path) -> None:
    window._close_confirmed = True
    window.close()
    await window.shutdown()
    await bridge.shutdown()
    print(f"screenshots in {out}", flush=True)


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in ("--langgraph", "--inbox", "--queue")]
    out = Path(args[0] if args else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    flags = sys.argv[1:]
    only = {f"only_{f[2:]}": True for f in flags if f in ("--langgraph", "--inbox", "--queue")}
    server = None
    if not only or "only_queue" in only:
        from tests.pgserver import PostgresServer

        server = PostgresServer()
    try:
        queue_url = queue_database(server) if server is not None else None
        qasync.run(shoot(out, queue_url, **only))
    finally:
        if server is not None:
            server.cleanup()
    app.processEvents()
    os._exit(0)


if __name__ == "__main__":
    main()
