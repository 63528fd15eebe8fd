"""Studio measurements: launch-to-interactive time, a 500-node document opened and laid out, the longest
frame gap under a 100,000-event flood and at 20,000 events/s, Stop latency; optional screenshots.

    .venv/bin/python bench/studio_bench.py [--screenshots resources/screenshots]   (or -m bench.studio_bench)
"""

# ruff: noqa: ASYNC110, ASYNC240, E402  (a bench script: polling loops, small file work, sys.path set first)

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HERE = Path(__file__).resolve().parent
# run as a script, bench/ would be first on sys.path and bench/studio.py would shadow the studio package
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import PySide6  # noqa: F401  (before qasync)
import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]


def launch_time(runs: int = 3) -> list[float]:
    """Wall time from spawning `python -m studio` to its window processing events (first idle)."""
    out = []
    env = dict(os.environ, WEAVEGRAPH_STUDIO_TIMING="1", QT_QPA_PLATFORM="offscreen")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "studio", "--db", "memory:"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("window interactive"):
                out.append(time.perf_counter() - start)
                break
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return out


def big_document(n: int = 500, width: int = 10) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": "set", "config": {"values": {f"k{i}": i}}} for i in range(n)]
    edges = [{"from": "Start", "to": f"n{i}"} for i in range(width)]
    for i in range(width, n):
        edges.append({"from": f"n{i - width}", "to": f"n{i}"})
    edges += [{"from": f"n{i}", "to": "End"} for i in range(n - width, n)]
    return {"format": "weavegraph.graph", "version": 1, "name": "big", "nodes": nodes, "edges": edges}


async def in_window(args: argparse.Namespace) -> None:
    from engine.events.bus import EventBus
    from engine.events.event import Event
    from engine.events.sinks import FunctionSink, JsonLinesSink
    from studio.bridge import Bridge
    from studio.document.io import OpenedDocument
    from studio.main_window import MainWindow
    from studio.theme import apply_theme

    apply_theme(False)
    bridge = Bridge()
    window = MainWindow(bridge, EventBus(buffer_capacity=4096))
    window.resize(1600, 1000)
    window.show()
    window.runs.listen()
    window.sink_health.listen()
    window.set_database("memory:")
    gc.freeze()
    await asyncio.sleep(0.2)

    # 500-node document: open (scene built, positions computed) and auto-layout (one undo macro)
    doc = big_document()
    start = time.perf_counter()
    window.documents._apply(OpenedDocument(doc))
    window.graph_editor.view.fit()
    window.graph_editor.view.viewport().repaint()  # paint now (no nested event processing in a coroutine)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    window.graph_editor.auto_layout()
    window.graph_editor.view.viewport().repaint()
    laid_out = time.perf_counter() - start
    start = time.perf_counter()
    problems = window.graph_editor.validate_now()
    validated = time.perf_counter() - start
    print(
        f"500-node document: opened+drawn {opened * 1000:.0f} ms, auto-layout {laid_out * 1000:.0f} ms, "
        f"validation {validated * 1000:.0f} ms ({len(problems)} problems)"
    )

    async def gaps_while(coro: Any, until: Any) -> tuple[float, int]:
        stamps: list[float] = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
        timer.start()
        task = bridge.start(coro, name="bench")
        while not until():
            await asyncio.sleep(0.02)
        await task
        timer.stop()
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        return max(gaps) * 1000, len(stamps)

    async def flood(total: int, per_tick: int, pause: float) -> None:
        sent = 0
        while sent < total:
            for _ in range(min(per_tick, total - sent)):
                window.bus.publish(Event.create("node", "flood", f"event {sent}", node_id="N", step=1))
                sent += 1
            await asyncio.sleep(pause)

    base = window.run_log.total
    gap, ticks = await gaps_while(flood(100_000, 2000, 0), lambda: window.run_log.total >= base + 100_000)
    print(f"100,000-event flood: longest frame gap {gap:.1f} ms ({ticks} timer ticks)")
    base = window.run_log.total
    gap, ticks = await gaps_while(flood(60_000, 1000, 0.05), lambda: window.run_log.total >= base + 60_000)
    print(f"20,000 events/s for 3 s: longest frame gap {gap:.1f} ms ({ticks} timer ticks)")
    window.run_log.clear()

    # Stop latency on a 10 s delay node
    slow = {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "slow",
        "nodes": [{"id": "wait", "type": "delay", "config": {"ms": 10000}, "position": [0, 0]}],
        "edges": [{"from": "Start", "to": "wait"}, {"from": "wait", "to": "End"}],
    }
    latencies = []
    for _ in range(3):
        window.documents._apply(OpenedDocument(slow))
        window.console.run()
        while window.graph_editor.scene.node_statuses().get("wait") != "running":
            await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        window.console.stop()
        while window.runs.state != "stopped":
            await asyncio.sleep(0.001)
        latencies.append((time.perf_counter() - t0) * 1000)
    print("Stop latency: " + ", ".join(f"{x:.1f} ms" for x in latencies))

    window._close_confirmed = True
    window.close()
    await window.shutdown()
    await bridge.shutdown()

    if args.screenshots:
        # a fresh window, so the pictures show one clean session (no bench floods in the log)
        bridge = Bridge()
        window = MainWindow(bridge, EventBus(buffer_capacity=4096))
        window.resize(1600, 1000)
        window.show()
        window.runs.listen()
        window.sink_health.listen()
        await asyncio.sleep(0.3)
        out = Path(args.screenshots)
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp())
        window.open_example("market_ticks")
        window.run_log.clear()
        await asyncio.sleep(0.5)
        window.graph_editor.view.fit()
        window.graph_editor.scene.select_nodes(["accumulate"])
        window.docks["runConsole"].raise_()
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "editor.png"))

        window.open_example("fan_out_in")
        window.set_database(f"sqlite://{(tmp / 'shots.db').as_posix()}")
        window.console.session.setText("screenshot-run")
        window.console.run()
        while window.runs.state not in ("completed", "failed"):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        window.graph_editor.view.fit()
        window.console.select_event_row(min(8, window.run_log.rowCount() - 1))
        await asyncio.sleep(0.2)
        window.grab().save(str(out / "console.png"))

        def broken(_event: Any) -> None:
            raise RuntimeError("disk full: /var/log/events")

        window.sink_health.attach(FunctionSink(broken, name="broken-archive"))
        window.sink_health.attach(JsonLinesSink.to_file(tmp / "events.jsonl"))
        for name in ("streaming_chat", "retry_loop", "market_ticks", "streaming_chat"):
            window.open_example(name)
            window.console.session.clear()
            window.console.run()
            while window.runs.state not in ("completed", "failed"):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.1)
            window.sink_health.refresh()
        window.docks["sinkHealth"].raise_()
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "sink_health.png"))
        print(f"screenshots in {out}")

    window._close_confirmed = True
    window.close()
    await window.shutdown()
    await bridge.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshots", default="")
    parser.add_argument("--no-launch", action="store_true")
    args = parser.parse_args()
    if not args.no_launch:
        times = launch_time()
        print("launch to interactive window: " + ", ".join(f"{t:.2f} s" for t in times))
    tmp = tempfile.mkdtemp()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("WeavegraphBench")
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        runner.run(in_window(args))


if __name__ == "__main__":
    main()
