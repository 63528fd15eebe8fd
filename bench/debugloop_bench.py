"""Cost of node records and stored events (issue 15), and the time of a fork.

    off       `record_nodes(False)`: the baseline
    records   node records on (the default)
    events0   node records on, lifecycle events on, nothing stored: the baseline for `events`
    events    node records on, lifecycle events on and `persist_events(True)` (they get stored)

Workload 1 is the 100-node chain (in-memory, autosave off, fresh runner per invocation), workload 4 the
durable SQLite turns (Start -> a -> b -> c -> End, a checkpoint per step). Modes run interleaved in one
process; figures are medians of CPU seconds (`time.process_time()`). Then a 1,000-step compact SQLite
session is forked at step 500 (median wall time of `fork_session`). Targets: records <= 15% on workload 4,
events <= another 15%; fork < 50 ms.

`--processes N` measures workload 4 the way the issue 15 figures were taken on the shared machine instead:
N rounds of alternating child processes (events0, events), each running the 1,000 turns on a fresh database
and printing its CPU seconds; min and median per mode. `--postgres` does the same on a durable PostgreSQL
server (bench/pg.py) instead of SQLite.

    .venv/bin/python -m bench.debugloop_bench [--repeat 5] [--quick]
    .venv/bin/python -m bench.debugloop_bench --processes 9 [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pg
from bench.ours import chain_app, loop_app, turns_app
from engine.partial import NodePartial
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from engine.types import Message

MODES = ("off", "records", "events0", "events")


def _builder(app: Any, mode: str) -> Any:
    b = AppRunner.builder().app(app).record_nodes(mode != "off")
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


async def turns(mode: str, count: int, folder: Path, k: int, url: str | None = None) -> float:
    if url is None:
        cp: Any = await SQLiteCheckpointer.connect(f"sqlite://{folder / f'{mode}-{k}.db'}")
    else:
        from engine.persistence.postgres import PostgresCheckpointer

        cp = await PostgresCheckpointer.connect(url)
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


async def one_async(mode: str, count: int) -> None:
    """A child of `--processes`: one workload 4 run on a fresh database, its CPU seconds on stdout."""
    url = None
    if os.environ.get(pg.ENV):
        url = pg.fresh_database()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            print(f"{await turns(mode, count, Path(tmp), 0, url):.4f}")
        finally:
            if url is not None:
                pg.drop_database(url)


def processes(rounds: int, count: int, postgres: bool) -> None:
    server = None
    if postgres:
        server, why = pg.start_server()
        if server is None:
            raise SystemExit(f"no PostgreSQL server: {why}")
    modes = ("events0", "events")
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    try:
        for _ in range(rounds):
            for mode in modes:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.debugloop_bench", "--one", mode, "--count", str(count)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                cpu[mode].append(float(out.stdout.split()[-1]))
    finally:
        if server is not None:
            server.cleanup()
    where = "durable PostgreSQL" if postgres else "durable SQLite"
    print(f"workload 4 ({count} turns, {where}): CPU s of {rounds} alternating processes per mode")
    for mode in modes:
        v = cpu[mode]
        print(f"  {mode:8s} min {min(v):.3f}  median {statistics.median(v):.3f}")
    lo = 100 * (min(cpu["events"]) / min(cpu["events0"]) - 1)
    mid = 100 * (statistics.median(cpu["events"]) / statistics.median(cpu["events0"]) - 1)
    print(f"  stored events: {lo:+.1f}% (min), {mid:+.1f}% (median) over events0; target <= +15%")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--processes", type=int, default=0, help="workload 4 only, alternating processes")
    parser.add_argument("--postgres", action="store_true", help="with --processes: on PostgreSQL")
    parser.add_argument("--count", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        asyncio.run(one_async(args.one, args.count))
    elif args.processes:
        processes(args.processes, args.count, args.postgres)
    else:
        asyncio.run(main_async(args.repeat, args.quick))


if __name__ == "__main__":
    main()
