"""A benchmark child process: one workload, one side (ours or LangGraph), one variant.

    python -m bench.worker WORKLOAD SIDE VARIANT SIZES_JSON

It builds the graph once, then answers commands read from stdin, one JSON line each on stdout:
`warmup` (a first, untimed-for-the-table repetition that also measures memory growth), `run` (one
measured repetition) and `quit`. The parent interleaves `run`s of both sides, so machine load drifting
during the suite hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

from bench.common import Sizes, rss_bytes

WORKLOADS = ("chain", "loop", "fanout", "sqlite", "postgres", "events", "sqlite_concurrent", "pg_concurrent")
Rep = Callable[[bool], dict[str, Any]]


def _ours(workload: str, sizes: Sizes) -> Rep:
    from bench import ours

    if workload == "chain":
        app = ours.chain_app(sizes.chain_nodes)
        return lambda warm: asyncio.run(ours.run_chain(app, sizes.chain_nodes, sizes.chain_invocations))
    if workload == "loop":
        app = ours.loop_app(sizes.loop_steps)
        return lambda warm: _with_memory(warm, lambda: asyncio.run(ours.run_loop(app, sizes.loop_steps)))
    if workload == "fanout":
        app = ours.fanout_app(sizes.fanout_width)

        def fanout(warm: bool) -> dict[str, Any]:
            width, count = sizes.fanout_width, sizes.fanout_invocations
            return {
                "ms_per_invocation": asyncio.run(ours.run_fanout(app, width, count, concurrency=width)),
                "ms_default_limit": asyncio.run(ours.run_fanout(app, width, count, concurrency=None)),
            }

        return fanout
    if workload == "sqlite":
        app = ours.turns_app()
        return lambda warm: asyncio.run(_ours_sqlite(app, sizes.turns, warm))
    if workload == "postgres":
        app = ours.turns_app()

        def postgres(warm: bool) -> dict[str, Any]:
            from bench.pg import drop_database, fresh_database

            url = fresh_database()
            try:
                return asyncio.run(_ours_postgres(app, url, sizes.turns, warm))
            finally:
                drop_database(url)

        return postgres
    if workload == "sqlite_concurrent":
        from bench.sqlite_concurrent import ours_with_ceiling

        app = ours.turns_app()
        return lambda warm: asyncio.run(ours_with_ceiling(app, sizes))
    if workload == "pg_concurrent":
        return lambda warm: _in_fresh_database(
            lambda url: _ours_pg_concurrent(url, sizes.concurrent_sessions, sizes.concurrent_invocations)
        )
    if workload == "events":
        from bench.events_bench import run_events

        return lambda warm: asyncio.run(run_events(sizes.events, sizes.jsonl_events))
    raise ValueError(f"unknown workload {workload!r}")


async def _ours_sqlite(app: Any, turns: int, breakdown: bool = False) -> dict[str, Any]:
    from bench import ours
    from bench.ceiling import read_sqlite_steps, sqlite_ceiling
    from engine.persistence.sqlite import SQLiteCheckpointer

    tmp = tempfile.mkdtemp(prefix="wg-bench-")
    try:
        path = os.path.join(tmp, "ours.db")
        checkpointer = await SQLiteCheckpointer.connect(f"sqlite://{path}")
        try:
            out = await ours.run_turns(app, checkpointer, turns)
        finally:
            await checkpointer.aclose()
        out["storage_mode"] = getattr(checkpointer, "storage_mode", "full")
        out["db_bytes"] = ours.file_size(path)
        columns, rows = read_sqlite_steps(path)
        out["rows"] = len(rows)
        out["ceiling_seconds"] = await sqlite_ceiling(os.path.join(tmp, "raw.db"), columns, rows)
        out["ceiling_db_bytes"] = ours.file_size(os.path.join(tmp, "raw.db"))
        if breakdown:  # once, on the warm-up run: where the time goes
            out.update(await ours.turns_breakdown(app, turns))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _ours_postgres(app: Any, url: str, turns: int, breakdown: bool = False) -> dict[str, Any]:
    from bench import ours
    from bench.ceiling import postgres_ceiling
    from engine.persistence.postgres import PostgresCheckpointer

    checkpointer = await PostgresCheckpointer.connect(url)
    try:
        out = await ours.run_turns(app, checkpointer, turns)
    finally:
        await checkpointer.aclose()
    out["storage_mode"] = getattr(checkpointer, "storage_mode", "full")
    seconds, rows, size = await postgres_ceiling(url, ours.SESSION)
    out.update(ceiling_seconds=seconds, rows=rows, payload_bytes=size)
    if breakdown:
        out.update(await ours.turns_breakdown(app, turns))
    return out


def _in_fresh_database(run: Callable[[str], Any]) -> dict[str, Any]:
    """`asyncio.run(run(url))` (or `run(url)` when it is no coroutine) on a new database of the bench server,
    dropped afterwards."""
    from bench.pg import drop_database, fresh_database

    url = fresh_database()
    try:
        result = run(url)
        return dict(asyncio.run(result) if asyncio.iscoroutine(result) else result)
    finally:
        drop_database(url)


async def _ours_pg_concurrent(url: str, sessions: int, invocations: int) -> dict[str, Any]:
    """Workload 10, ours: one PostgresCheckpointer (group commit on, its default), then the raw ceiling of
    the same rows, as many rows per transaction as there are sessions."""
    from bench.concurrent import postgres_batched_ceiling, run_concurrent
    from engine.persistence.postgres import PostgresCheckpointer

    checkpointer = await PostgresCheckpointer.connect(url)
    try:
        out = await run_concurrent(checkpointer, sessions, invocations)
    finally:
        await checkpointer.aclose()
    out["storage_mode"] = checkpointer.storage_mode
    seconds, rows = await postgres_batched_ceiling(url, sessions)
    out.update(ceiling_seconds=seconds, rows=rows, ceiling_batch=sessions)
    return out


async def _lg_pg_concurrent(url: str, sessions: int, invocations: int) -> dict[str, Any]:
    from bench.concurrent import lg_concurrent
    from bench.lg import PgPoolSaver

    async with PgPoolSaver(url) as saver:
        return await lg_concurrent(saver, sessions, invocations)


def _lg(workload: str, variant: str, sizes: Sizes) -> Rep:
    from bench import lg

    if workload == "chain":
        graph = lg.chain_graph(sizes.chain_nodes, variant)
        return lambda warm: lg.run_chain(graph, variant, sizes.chain_nodes, sizes.chain_invocations)
    if workload == "loop":
        return lambda warm: _with_memory(warm, lambda: lg.run_loop(sizes.loop_steps, variant))
    if workload == "fanout":
        graph = lg.fanout_graph(sizes.fanout_width, variant)
        return lambda warm: lg.run_fanout(graph, variant, sizes.fanout_width, sizes.fanout_invocations)
    if workload == "sqlite":

        def turns(warm: bool) -> dict[str, Any]:
            from bench.ours import file_size

            tmp = tempfile.mkdtemp(prefix="lg-bench-")
            try:
                path = os.path.join(tmp, "lg.db")
                out = lg.run_turns(path, variant, sizes.turns)
                out["db_bytes"] = file_size(path)
                return out
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

        return turns
    if workload == "sqlite_concurrent":
        from bench.sqlite_concurrent import run_langgraph

        return lambda warm: asyncio.run(run_langgraph(sizes))
    if workload == "postgres":
        return lambda warm: _in_fresh_database(lambda url: lg.run_pg_turns(url, variant, sizes.turns))
    if workload == "pg_concurrent":
        return lambda warm: _in_fresh_database(
            lambda url: _lg_pg_concurrent(url, sizes.concurrent_sessions, sizes.concurrent_invocations)
        )
    raise ValueError(f"LangGraph has no workload {workload!r} in this suite")


def _with_memory(warm: bool, run: Callable[[], Any]) -> dict[str, Any]:
    """Run once; on the warm-up run also record RSS growth while the run's storage is still alive."""
    before = rss_bytes()
    result = run()
    figures, keep = result if isinstance(result, tuple) else (result, None)
    if warm:
        figures["rss_growth_bytes"] = rss_bytes() - before
    del keep
    return dict(figures)


def build(workload: str, side: str, variant: str, sizes: Sizes) -> Rep:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}")
    return _ours(workload, sizes) if side == "ours" else _lg(workload, variant, sizes)


def main(argv: list[str]) -> int:
    workload, side, variant, sizes_json = argv
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol
    try:
        rep = build(workload, side, variant, Sizes.from_json(json.loads(sizes_json)))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), file=out, flush=True)
        return 1
    print(json.dumps({"ok": True, "ready": True}), file=out, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        try:
            result = rep(command == "warmup")
            reply = {"ok": True, "result": result}
        except Exception as exc:
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
