"""The studio's session timeline (issue 15): how long a 1,000-step session's timeline takes to open, from the
checkpoint browser's database to the drawn chart. Target: under 300 ms.

A real run writes the session (two nodes a step, ~2,000 node records) into a compact SQLite file; then, in
one process, each repeat reads it the way the Timeline tab does (`studio.controllers.debug.timeline_data`:
the node records and every step's save time) and draws it (`SessionTimeline.show_data` plus the first
paint, offscreen). Figures are wall-clock medians of `--repeat` opens and the first (cold) open, each with
its CPU time (`time.process_time`, steadier on a loaded machine); the target applies to both. The step
save times come from the store's `step_summaries` (no state decoded).

    .venv/bin/python -m bench.timeline_bench [--steps 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState

TARGET_MS = 300.0


def two_lane_app(steps: int) -> Any:
    """Start -> a; a routes to (a, b) until count reaches `steps`; b -> End (its route adds End to the
    frontier, which ends the run only once a no longer routes): two node runs in most steps."""

    async def a(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"count": int(snapshot.extra.get("count", 0)) + 1})

    async def b(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"seen": int(snapshot.extra.get("count", 0))})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["a", "b"] if int(snapshot.extra.get("count", 0)) < steps else ["End"]

    b_ = GraphBuilder().add_node("a", a).add_node("b", b).add_edge("Start", "a").add_edge("b", "End")
    return b_.add_conditional_edge("a", again, targets=["a", "b", "End"]).compile()


async def write_session(path: Path, steps: int) -> None:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode="compact")
    builder = AppRunner.builder().app(two_lane_app(steps)).checkpointer_custom(cp).max_steps(steps + 10)
    async with await builder.build() as runner:
        await runner.create_session("long", VersionedState(extra={"count": 0}))
        await runner.run_until_complete("long")
    await cp.aclose()


async def measure(path: Path, repeat: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from studio.controllers.debug import timeline_data
    from studio.panels.timeline import SessionTimeline

    app = QApplication.instance() or QApplication(sys.argv[:1])
    widget = SessionTimeline()
    widget.resize(1200, 400)
    widget.show()
    app.processEvents()
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    loads, draws, totals, cpu, load_cpu = [], [], [], [], []
    steps = records = 0
    try:
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            data = await timeline_data(cp, "long")
            loaded, loaded_cpu = time.perf_counter(), time.process_time()
            widget.show_data(data)
            widget.view.viewport().repaint()
            app.processEvents()
            done = time.perf_counter()
            loads.append((loaded - started) * 1000.0)
            draws.append((done - loaded) * 1000.0)
            totals.append((done - started) * 1000.0)
            cpu.append((time.process_time() - started_cpu) * 1000.0)
            load_cpu.append((loaded_cpu - started_cpu) * 1000.0)
            steps, records = len(data.steps), len(data.records)
    finally:
        await cp.aclose()
        widget.close()
        widget.deleteLater()
        app.processEvents()
    return {
        "steps": steps,
        "records": records,
        "bars": len(widget.view.bars),
        "load_ms": statistics.median(loads),
        "draw_ms": statistics.median(draws),
        "total_ms": statistics.median(totals),
        "total_max_ms": max(totals),
        "cold_ms": totals[0],
        "cold_load_ms": loads[0],
        "cold_draw_ms": draws[0],
        "cold_cpu_ms": cpu[0],
        "cold_load_cpu_ms": load_cpu[0],
        "cpu_ms": statistics.median(cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timeline.db"
        asyncio.run(write_session(path, args.steps))
        r = asyncio.run(measure(path, args.repeat))
    worst = max(r["total_ms"], r["cold_ms"])
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(
        f"timeline of a {r['steps'] - 1}-step session ({r['records']} node records, {r['bars']} bars):"
        f" load {r['load_ms']:.0f} ms + draw {r['draw_ms']:.0f} ms = {r['total_ms']:.0f} ms median"
        f" (CPU {r['cpu_ms']:.0f} ms); cold (first open) {r['cold_ms']:.0f} ms = load"
        f" {r['cold_load_ms']:.0f} + draw {r['cold_draw_ms']:.0f} (CPU {r['cold_cpu_ms']:.0f} ms);"
        f" {verdict} the {TARGET_MS:.0f} ms target (cold and median)"
    )


if __name__ == "__main__":
    main()
