"""Queue-mode bench: jobs/s with 1, 2 and 4 `weavegraph worker` processes for a 3-node graph with a checkpoint
per step, on a throwaway PostgreSQL server, and the Postgres write rate on the same server as the ceiling.

Each round gets a fresh database (`weavegraph migrate`), starts the workers (`--concurrency 4`), waits until
they are registered, then submits JOBS jobs and times from the first submit until the last job is completed.
The ceiling: single-row INSERT transactions per second with bare asyncpg from 4 connections, divided by the
write transactions one job costs (WRITES_PER_JOB: 4 checkpoint saves, each with its step's stored events, the
run's last events, the PgQueuer enqueue and our job row in one, the dequeue, running, finish, and PgQueuer's
completion log). Each round also reports the database's committed transactions per job (pg_stat_database's
xact_commit, reads and the workers' heartbeats and sweeps included).

    .venv/bin/python bench/queue_bench.py [--jobs 200] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import GraphBuilder, NodePartial  # noqa: E402

WRITES_PER_JOB = 10


def _node(snapshot: Any, ctx: Any) -> NodePartial:
    return NodePartial(extra={"n": int(snapshot.extra.get("n", 0)) + 1})


app = (
    GraphBuilder()
    .add_node("a", _node)
    .add_node("b", _node)
    .add_node("c", _node)
    .add_edge("Start", "a")
    .add_edge("a", "b")
    .add_edge("b", "c")
    .add_edge("c", "End")
    .compile()
)
"""The benchmarked graph: three nodes, steps 0..3, each step saved."""


def start_workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "engine.cli", "worker", "bench.queue_bench:app", "--db", url]
    cmd += ["--concurrency", "4", "--heartbeat-s", "0.5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


async def commits(url: str) -> int:
    """The database's committed transactions so far, as far as its backends reported them (a backend reports
    at most once a second while it runs, and at its exit: read this after the workers have exited)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        value: int = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return value


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def jobs_per_second(url: str, workers: int, jobs: int) -> tuple[float, float, float]:
    """Jobs/s of `workers` worker processes on the migrated database at `url`, committed transactions per
    job, and the worker processes' CPU milliseconds per job (steadier than jobs/s on a shared machine)."""
    from engine import QueueClient

    procs = start_workers(url, workers)
    try:
        async with await QueueClient.connect(url) as client:
            async with asyncio.timeout(60):  # registered: a row each (polled: nothing to wait on)
                while True:
                    if len(await client.workers()) >= workers:
                        break
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.1)  # the workers' start-up commits reported
            before = await commits(url)
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            t0 = time.perf_counter()
            submitted = [await client.submit("app") for _ in range(jobs)]
            for job in submitted:
                done = await client.wait(job.id, timeout=300)
                if done.status != "completed":
                    raise RuntimeError(f"job {job.id} {done.status}: {done.error}")
            rate = jobs / (time.perf_counter() - t0)
            cpu_ms = (sum(cpu_seconds(p.pid) for p in procs) - cpu0) * 1000 / jobs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    await asyncio.sleep(0.5)  # the exited backends' last reports (their exits included)
    return rate, (await commits(url) - before) / jobs, cpu_ms


async def write_ceiling(url: str, seconds: float = 2.0, connections: int = 4) -> float:
    """Single-row INSERT transactions/s with bare asyncpg from `connections` connections."""
    import asyncpg

    setup = await asyncpg.connect(url)
    await setup.execute("CREATE TABLE IF NOT EXISTS bench_ceiling (id BIGSERIAL PRIMARY KEY, body TEXT)")
    await setup.close()
    count = 0
    body = '{"messages": [], "extra": {"n": 1}}'

    async def writer() -> None:
        nonlocal count
        conn = await asyncpg.connect(url)
        try:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                await conn.execute("INSERT INTO bench_ceiling (body) VALUES ($1)", body)
                count += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    return count / (time.perf_counter() - t0)


def migrate(url: str) -> None:
    from engine.cli import main

    if main(["migrate", "--db", url]) != 0:
        raise RuntimeError("weavegraph migrate failed")


def main(argv: list[str] | None = None) -> int:
    from bench.pg import start_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    server, why = start_server()
    if server is None:
        print(f"queue bench: no PostgreSQL server: {why}", file=sys.stderr)
        return 1
    try:
        for count in args.workers:
            url = server.create_database()
            migrate(url)
            rate, per_job, cpu_ms = asyncio.run(jobs_per_second(url, count, args.jobs))
            print(
                f"{count} worker process(es): {rate:.1f} jobs/s ({args.jobs} jobs,"
                f" {per_job:.1f} committed transactions and {cpu_ms:.1f} worker CPU ms per job)",
                flush=True,
            )
        url = server.create_database()
        tx = asyncio.run(write_ceiling(url))
        print(f"ceiling: {tx:.0f} INSERT transactions/s (4 connections) = {tx / WRITES_PER_JOB:.0f} jobs/s")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
