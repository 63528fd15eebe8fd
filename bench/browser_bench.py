"""Checkpoint-browser bench on a big SQLite database (see bench/gen_big_db.py; 1,000 sessions x 1,000 steps).

Measures what the browser waits for: opening the database, one page of sessions (several orders, offsets, a
search), one page of steps and the prune dry run; then the same through the real panel (offscreen Qt, qasync):
open until the first page is shown, and selecting a session until its steps are shown.
Targets: open 1 s, session page 200 ms, step page 100 ms, prune dry run 2 s.

    .venv/bin/python bench/gen_big_db.py && .venv/bin/python bench/browser_bench.py [--db PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.persistence.base import PrunePolicy, SessionQuery, StepQuery
from studio.services.storage import open_browsable

TARGETS = {"open": 1.0, "session page": 0.2, "step page": 0.1, "prune dry run": 2.0}
Row = tuple[str, str, list[float]]


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t0)
    print(f"  measured: {statistics.median(times) * 1000:.1f} ms median", flush=True)
    return times, result


async def engine_level(url: str, repeat: int) -> list[Row]:
    rows: list[Row] = []
    opened: list[Any] = []

    async def do_open() -> Any:
        cp = await open_browsable(url)
        opened.append(cp)
        return cp

    times, cp = await timed(do_open, repeat)
    for extra in opened[:-1]:
        await extra.aclose()
    rows.append(("open", "connect + schema check + probe page", times))
    try:
        page = await cp.session_page(SessionQuery())
        print(f"database: {page.total_count} sessions")
        for label, q in (
            ("updated_at desc, offset 0", SessionQuery()),
            ("updated_at desc, offset 950", SessionQuery(offset=950)),
            ("id asc, offset 500", SessionQuery(order_by="id", descending=False, offset=500)),
            ("last_step desc, offset 200", SessionQuery(order_by="last_step", offset=200)),
            ("created_at asc, offset 0", SessionQuery(order_by="created_at", descending=False)),
            ("search 'session-007'", SessionQuery(search="session-007")),
        ):
            times, _ = await timed(lambda q=q: cp.session_page(q), repeat)
            rows.append(("session page", label, times))
        sid = page.items[0].session_id
        for label, q in (
            ("100 newest steps", StepQuery(limit=100)),
            ("offset 500", StepQuery(limit=100, offset=500)),
            ("offset 900", StepQuery(limit=100, offset=900)),
            ("ran_node filter", StepQuery(limit=100, ran_node="accumulate")),
        ):
            times, res = await timed(lambda q=q: cp.query_steps(sid, q), repeat)
            rows.append(("step page", f"{label} ({res.total_count} steps)", times))
        times, _ = await timed(lambda: cp.load_step(sid, 500), repeat)
        rows.append(("step page", "load_step (for a diff)", times))
        for label, policy in (
            ("keep last 10, 1 selected session", PrunePolicy(keep_last=10, session_ids=[sid])),
            (
                "keep last 10, 50 selected sessions",
                PrunePolicy(
                    keep_last=10,
                    session_ids=[i.session_id for i in (await cp.session_page(SessionQuery(limit=50))).items],
                ),
            ),
        ):
            times, rep = await timed(lambda p=policy: cp.prune(p, dry_run=True), 1)
            rows.append(("prune dry run", f"{label}: {rep.steps:,} steps, {rep.bytes / 1e6:.0f} MB", times))
    finally:
        await cp.aclose()
    return rows


def gui_level(url: str, repeat: int) -> list[Row]:
    import PySide6  # noqa: F401  (binding before qasync)
    import qasync
    from PySide6.QtWidgets import QApplication

    from studio.bridge import Bridge, wait_signal
    from studio.controllers.browser import BrowserController
    from studio.panels.checkpoint_browser import CheckpointBrowserPanel

    app = QApplication.instance() or QApplication([])
    rows: list[Row] = []

    async def wait(signal: Any) -> None:
        async with asyncio.timeout(60):
            await wait_signal(signal)

    async def scenario() -> None:
        bridge = Bridge()
        panel = CheckpointBrowserPanel(BrowserController(bridge))
        panel.resize(1200, 800)
        panel.show()
        panel.live_check.setChecked(False)
        opens, selects, pages = [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            panel.open_database(url)
            await wait(panel.sessions_loaded)
            opens.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            panel.sessions_pager.next.click()
            await wait(panel.sessions_loaded)
            pages.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            panel.sessions_view.selectRow(3)
            await wait(panel.steps_loaded)
            selects.append(time.perf_counter() - t0)
        rows.append(("open", "panel: open_database -> first page shown", opens))
        rows.append(("session page", "panel: next page shown", pages))
        rows.append(("step page", "panel: select session -> steps + state shown", selects))
        await panel.aclose()
        panel.deleteLater()
        await bridge.shutdown()

    qasync.run(scenario())
    del app
    return rows


async def prune_all(url: str, give_up_after: float, rows: list[Row]) -> bool:
    """Whole-database dry runs, last: one that times out keeps running on aiosqlite's thread (it cannot be
    interrupted), so the caller exits without closing. Returns False when one was given up."""
    cp = await open_browsable(url)
    for label, policy in (
        ("keep last 10, all sessions", PrunePolicy(keep_last=10)),
        ("older than 30 days, all sessions", PrunePolicy(older_than=dt.timedelta(days=30))),
    ):
        try:
            async with asyncio.timeout(give_up_after):
                times, rep = await timed(lambda p=policy: cp.prune(p, dry_run=True), 1)
        except TimeoutError:
            rows.append(("prune dry run", f"{label}: gave up after {give_up_after:.0f} s", [give_up_after]))
            return False
        rows.append(("prune dry run", f"{label}: {rep.steps:,} steps, {rep.bytes / 1e6:.0f} MB", times))
    await cp.aclose()
    return True


def report(rows: list[Row]) -> None:
    print(f"\n{'what':<14} {'case':<58} {'median':>9} {'max':>9}  target")
    for kind, label, times in rows:
        med, worst = statistics.median(times), max(times)
        target = TARGETS[kind]
        ok = "ok" if worst <= target else "OVER"
        print(
            f"{kind:<14} {label:<58} {med * 1000:>7.1f}ms {worst * 1000:>7.1f}ms  {target * 1000:.0f}ms {ok}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/weavegraph-bench/big.db"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--prune-timeout", type=float, default=120.0, help="seconds before a dry run is given up"
    )
    parser.add_argument("--no-gui", action="store_true", help="skip the measurements through the Qt panel")
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"{args.db} does not exist; run bench/gen_big_db.py first", file=sys.stderr)
        return 2
    url = f"sqlite://{args.db.resolve()}"
    rows = asyncio.run(engine_level(url, args.repeat))
    if not args.no_gui:
        rows += gui_level(url, args.repeat)
    finished = asyncio.run(prune_all(url, args.prune_timeout, rows)) if args.prune_timeout > 0 else True
    report(rows)
    if not finished:
        sys.stdout.flush()
        os._exit(0)  # a dry run still holds aiosqlite's (non-daemon) thread
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
