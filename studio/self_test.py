"""`weavegraph-studio --self-test`: open the window, load an example, run it through the run console into a
SQLite file in a temporary folder, open that checkpoint in the browser; one line per check, exit 0 or 1."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from studio.bridge import wait_signal

__all__ = ["self_test"]

RUN_TIMEOUT_S = 30.0
OPEN_TIMEOUT_S = 20.0


async def self_test(window: Any, started: float) -> bool:
    """Run the checks against `window` (already shown); True when every check passed."""
    results: list[bool] = []

    def check(name: str, ok: bool, detail: str = "") -> bool:
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    check("main window shown", window.isVisible(), f"{time.perf_counter() - started:.2f} s after launch")
    loaded = window.open_example("market_ticks")
    check("example loaded", loaded and bool(window.model.node_ids()), ", ".join(window.model.node_ids()))
    problems = window.graph_editor.validate_now()
    check("example validates", not problems, "; ".join(str(p) for p in problems[:3]))

    folder = Path(tempfile.mkdtemp(prefix="weavegraph-selftest-"))
    url = f"sqlite://{(folder / 'selftest.db').as_posix()}"
    window.set_database(url)
    window.console.session.setText("self-test")
    finished = {RunStateNames.COMPLETED, RunStateNames.FAILED, RunStateNames.STOPPED}
    if not check("run started", window.console.run(), window.console.error_label.text()):
        return False
    try:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            while window.runs.state not in finished:
                await wait_signal(window.runs.state_changed)
    except TimeoutError:
        pass
    state = window.runs.state
    check(
        "run completed", state == RunStateNames.COMPLETED, f"state={state} {window.runs.last_error}".strip()
    )
    await asyncio.sleep(0.2)  # one more event batch
    window.run_log.flush_all()
    check("events in the console", window.run_log.total > 0, f"{window.run_log.total} events")
    statuses = window.graph_editor.scene.node_statuses()
    done = sorted(n for n, s in statuses.items() if s == "done")
    check("nodes highlighted", bool(done), f"done: {', '.join(done)}")

    window.docks["checkpointBrowser"].raise_()
    opened = False
    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            waiter = asyncio.ensure_future(wait_signal(window.browser.sessions_loaded))
            window.browser.open_database(url)
            await waiter
            opened = True
    except TimeoutError:
        pass
    check("checkpoint opened in the browser", opened, window.browser.error_text() or url)
    listed = opened and window.browser.select_session("self-test")
    check("session listed", bool(listed), "self-test")
    ok = all(results)
    print(f"self-test {'passed' if ok else 'FAILED'} ({sum(results)}/{len(results)} checks)", flush=True)
    return ok


class RunStateNames:
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
