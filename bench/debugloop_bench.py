"""Cost of node records and stored events (issue 15), and the time of a fork.

    off       `record_nodes(False)`: the baseline
    records   node records on (the default)
    events    node records on and `persist_events(True)` with lifecycle events on (what gets stored)
    events0   lifecycle events on, records off, nothing stored: the baseline for `events`

Workload 1 is the 100-node chain (in-memory, autosave off, fresh runner per invocation), workload 4 the
durable SQLite turns (Start -> a -> b -> c -> End, a checkpoint per step). Modes run interleaved in one
process; figures are medians of CPU seconds (`time.process_time()`). Then a 1,000-step compact SQLite
session is forked at step 500 (median wall time of `fork_session`). Targets: records <= 15% on workload 4,
events <= another 15%; fork < 50 ms.

    .venv/bin/python -m bench.debugloop_bench [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ours import chain_app, loop_app, turns_app
from engine.partial import NodePartial
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from engine.types import Message

MODES = ("off", "records", "events0", "events")


def _builder(app: Any, mode: str) -> Any:
    b = AppRunner.builder().app(app).record_nodes(mode in ("records", "events"))
    if mode in ("events", "events0"):
        b = b.lifecycle_events(True)
    if mode == "events":
        b = b.persist_events(True)
    return b


async def chain(mode: str, n: int, invocations: int) -> float:
    app = chain_app(n)
    started = time.process_time()
    for _ in range(invocations):
        async with await _builder(app, mode).autosave(False).build() as runner:
            await runner.create_session("s", VersionedState(extra={"i": 0}))
            await runner.run_until_complete("s")
    return time.process_time() - started


async def turns(mode: str, count: int, folder: Path, k: int) -> float:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{folder / f'{mode}-{k}.db'}")
    runner = await _builder(turns_app(), mode).checkpointer_custom(cp).build()
    try:
        await runner.create_iterative_session("s", VersionedState(), "Start")
        started = time.process_time()
        for i in range(count):
            await runner.invoke_next("s", NodePartial(messages=[Message.user(f"turn {i}")]), "Start")
        await runner.finish_iterative_session("s")
        return time.process_time() - started
    finally:
        await runner.aclose()
        await cp.aclose()


async def fork_time(folder: Path, steps: int, repeat: int) -> float:
    url = f"sqlite://{folder / 'fork.db'}?storage=compact"
    cp = await SQLiteCheckpointer.connect(url)
    app = loop_app(steps)
    async with await AppRunner.builder().app(app).checkpointer_custom(cp).build() as runner:
        await runner.create_session("src", VersionedState(extra={"count": 0}))
        await runner.run_until_complete("src")
        times = []
        for i in range(repeat):
            started = time.perf_counter()
            await runner.fork_session("src", steps // 2, f"fork-{i}")
            times.append(time.perf_counter() - started)
    await cp.aclose()
    return statistics.median(times)


async def main_async(repeat: int, quick: bool) -> None:
    n, inv, count, steps = (100, 5, 50, 200) if quick else (100, 20, 200, 1000)
    results: dict[str, dict[str, list[float]]] = {
        "chain": {m: [] for m in MODES},
        "turns": {m: [] for m in MODES},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for mode in MODES:  # warm-up
            await chain(mode, n, 1)
        for k in range(repeat):
            for mode in MODES:
                results["chain"][mode].append(await chain(mode, n, inv))
                results["turns"][mode].append(await turns(mode, count, folder, k))
        fork = await fork_time(folder, steps, 7)
    for name, by_mode in results.items():
        med = {m: statistics.median(v) for m, v in by_mode.items()}
        print(f"workload {'1 (chain)' if name == 'chain' else '4 (SQLite turns)'}: median CPU s")
        for m in MODES:
            base = med["events0"] if m == "events" else med["off"]
            against = "events0" if m == "events" else "off"
            print(f"  {m:8s} {med[m]:.4f}  {100 * (med[m] / base - 1):+.1f}% vs {against}")
    print(
        f"fork of step {steps // 2} of a {steps}-step compact SQLite session:"
        f" {fork * 1000:.2f} ms (median of 7)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    asyncio.run(main_async(args.repeat, args.quick))


if __name__ == "__main__":
    main()
