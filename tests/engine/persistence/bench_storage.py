"""Storage measurements (not a test): save throughput, and paging on generated 1,000,000-step databases.

Run: `PYTHONPATH=. .venv/bin/python tests/engine/persistence/bench_storage.py [--postgres] [--out DIR]`.
Databases are filled by bulk inserts of rows shaped like the checkpointer's own; timings are medians.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from engine.persistence.base import SessionQuery, StepQuery  # noqa: E402
from engine.persistence.serde import encode_checkpoint, format_timestamp  # noqa: E402
from engine.persistence.sqlite import SQLiteCheckpointer  # noqa: E402
from engine.state import VersionedState  # noqa: E402
from tests.engine.persistence.helpers import make_cp  # noqa: E402


async def median_ms(fn: Callable[[], Awaitable[Any]], repeat: int = 15) -> float:
    await fn()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


async def bench_saves(path: Path, n: int = 5000, mode: str = "compact") -> float:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240  # setup, before timing
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode=mode)
    small = make_cp("one", 1)  # two messages and a small extra map: a "small" checkpoint
    cps = [dataclasses.replace(small, step=i) for i in range(n)]
    start = time.perf_counter()
    for i, c in enumerate(cps):
        await cp.save(c, expected_last_step=i - 1 if i else None)
    elapsed = time.perf_counter() - start
    await cp.aclose()
    return round(n / elapsed)


async def bench_compact_reads(path: Path, steps: int = 10_000) -> dict[str, float]:
    """Paging a compact session whose states are mostly deltas (a snapshot every 50 steps)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240  # setup, before timing
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    base = make_cp("c", 1)
    for i in range(steps):
        extra = {"count": i, "note": "x" * 20}
        await cp.save(dataclasses.replace(base, step=i, state=VersionedState(base.state.messages, extra)))
    result = {
        "page_first_100": await median_ms(lambda: cp.query_steps("c", StepQuery(limit=100))),
        "page_offset_half": await median_ms(
            lambda: cp.query_steps("c", StepQuery(limit=100, offset=steps // 2))
        ),
        "load_step_mid_chain": await median_ms(lambda: cp.load_step("c", steps // 2 + 25)),
    }
    await cp.aclose()
    return result


def _rows(session: str, steps: range, when: dt.datetime) -> list[tuple[Any, ...]]:
    out = []
    for step in steps:
        enc = encode_checkpoint(make_cp(session, step % 7, ran=["A"] if step % 2 else ["AB"], when=when))
        out.append(
            (
                session,
                step,
                format_timestamp(when),
                enc.state_json,
                enc.frontier_json,
                enc.versions_seen_json,
                enc.ran_nodes_json,
                enc.skipped_nodes_json,
                enc.updated_channels_json,
                enc.payload_bytes,
            )
        )
    return out


async def fill_sqlite(path: Path, sessions: int, steps: int) -> None:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    await cp.aclose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    template = _rows("x", range(7), when)
    conn.execute("BEGIN")
    for s in range(sessions):
        sid = f"session-{s:05d}"
        last = template[(steps - 1) % 7]
        stamp = format_timestamp(when + dt.timedelta(seconds=s))
        conn.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, 3, ?, ?, ?, ?, NULL, NULL)",
            (sid, stamp, stamp, steps - 1, last[3], last[4], last[5]),
        )
        conn.executemany(
            "INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,"
            " ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((sid, i, *template[i % 7][2:]) for i in range(steps)),
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def measure(cp: Any, session: str, total_steps: int) -> dict[str, float]:
    deep = total_steps // 2
    return {
        "page_first_100": await median_ms(lambda: cp.query_steps(session, StepQuery(limit=100))),
        "page_offset_half": await median_ms(
            lambda: cp.query_steps(session, StepQuery(limit=100, offset=deep))
        ),
        "page_keyset_half": await median_ms(
            lambda: cp.query_steps(session, StepQuery(limit=100, max_step=deep))
        ),
        "page_ran_node_A_first_100": await median_ms(
            lambda: cp.query_steps(session, StepQuery(limit=100, ran_node="A"))
        ),
        "load_latest": await median_ms(lambda: cp.load_latest(session)),
        "load_step_half": await median_ms(lambda: cp.load_step(session, deep)),
        "session_page_50": await median_ms(lambda: cp.session_page(SessionQuery(limit=50))),
        "session_page_search": await median_ms(
            lambda: cp.session_page(SessionQuery(limit=50, search="0042"))
        ),
        "list_sessions": await median_ms(lambda: cp.list_sessions()),
    }


async def sqlite_suite(out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    results["saves_per_second_one_session"] = await bench_saves(out / "saves.db")
    results["saves_per_second_one_session_full_mode"] = await bench_saves(out / "saves-full.db", mode="full")
    results["compact_10000_steps"] = await bench_compact_reads(out / "compact-reads.db")
    for label, sessions, steps in (("1000x1000", 1000, 1000), ("1x1000000", 1, 1_000_000)):
        path = out / f"bench-{label}.db"
        if not path.exists():
            start = time.perf_counter()
            await fill_sqlite(path, sessions, steps)
            print(f"filled {label} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
        try:
            session = "session-00000"
            results[label] = await measure(cp, session, steps)
            start = time.perf_counter()
            stats = await cp.storage_stats()
            results[label]["storage_stats_ms"] = round((time.perf_counter() - start) * 1000, 1)
            results[label]["file_mb"] = round((stats.file_bytes or 0) / 1e6, 1)
        finally:
            await cp.aclose()
    return results


async def postgres_suite(url: str) -> dict[str, Any]:
    import asyncpg

    from engine.persistence.postgres import PostgresCheckpointer

    cp = await PostgresCheckpointer.connect(url)
    results: dict[str, Any] = {}
    small = make_cp("one", 1)
    cps = [dataclasses.replace(small, step=i) for i in range(2000)]
    start = time.perf_counter()
    for i, c in enumerate(cps):
        await cp.save(c, expected_last_step=i - 1 if i else None)
    results["saves_per_second_one_session"] = round(len(cps) / (time.perf_counter() - start))
    await cp.delete_session("one")
    enc = encode_checkpoint(make_cp("x", 1))
    conn = await asyncpg.connect(url)
    start = time.perf_counter()
    await conn.execute(
        "INSERT INTO sessions (id, concurrency_limit, last_step, last_state_json, last_frontier_json,"
        " last_versions_seen_json, updated_at)"
        " SELECT 'session-' || lpad(s::text, 5, '0'), 3, 999, $1::jsonb, $2::jsonb, $3::jsonb,"
        " now() - s * interval '1 second' FROM generate_series(0, 999) s",
        enc.state_json,
        enc.frontier_json,
        enc.versions_seen_json,
    )
    await conn.execute("ALTER TABLE steps DISABLE TRIGGER weavegraph_steps_notify")
    await conn.execute(
        "INSERT INTO steps (session_id, step, state_json, frontier_json, versions_seen_json, ran_nodes_json,"
        " skipped_nodes_json, updated_channels_json, payload_bytes)"
        " SELECT 'session-' || lpad(s::text, 5, '0'), i, $1::jsonb, $2::jsonb, $3::jsonb,"
        " CASE WHEN i % 2 = 1 THEN '[\"Custom:A\"]'::jsonb ELSE '[\"Custom:AB\"]'::jsonb END, '[]', '[]', $4"
        " FROM generate_series(0, 999) s, generate_series(0, 999) i",
        enc.state_json,
        enc.frontier_json,
        enc.versions_seen_json,
        enc.payload_bytes,
    )
    await conn.execute("ALTER TABLE steps ENABLE TRIGGER weavegraph_steps_notify")
    await conn.execute("VACUUM ANALYZE steps")
    await conn.execute("VACUUM ANALYZE sessions")
    await conn.close()
    print(f"filled postgres 1000x1000 in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    results["1000x1000"] = await measure(cp, "session-00000", 1000)
    await cp.aclose()
    return results


async def workload_growing_thread(out: Path, invocations: int = 1000) -> dict[str, Any]:
    """The LangGraph baseline's workload 3/4 shape through the real runner: a 3-node chain, each node appends
    one message, and each invocation adds a user message: 3 checkpoints per invocation, 4,000 messages."""
    from engine.graph.builder import GraphBuilder
    from engine.partial import NodePartial
    from engine.runner import AppRunner
    from engine.state import VersionedState
    from engine.types import Message

    def node(name: str) -> Any:
        async def run(snapshot: Any, ctx: Any) -> NodePartial:
            return NodePartial(messages=[Message.assistant(f"{name} reply {len(snapshot.messages)}")])

        return run

    builder = GraphBuilder()
    for name in ("a", "b", "c"):
        builder.add_node(name, node(name))
    for src, dst in (("Start", "a"), ("a", "b"), ("b", "c"), ("c", "End")):
        builder.add_edge(src, dst)
    app = builder.compile()
    results: dict[str, Any] = {}
    for mode in ("full", "compact"):
        path = out / f"workload-{mode}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240  # setup, before timing
        cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode=mode)
        runner = await AppRunner.builder().app(app).checkpointer_custom(cp).build()
        start = time.perf_counter()
        await runner.create_iterative_session("thread", VersionedState())
        for i in range(invocations):
            await runner.invoke_next("thread", NodePartial(messages=[Message.user(f"question {i}")]))
        elapsed = time.perf_counter() - start
        await runner.aclose()
        stats = await cp.storage_stats()
        await cp.vacuum()
        await cp.aclose()
        results[mode] = {
            "seconds": round(elapsed, 2),
            "checkpoints": stats.total_steps,
            "checkpoints_per_second": round(stats.total_steps / elapsed),
            "payload_mb": round(stats.total_bytes / 1e6, 2),
            "file_mb_after_vacuum": round(path.stat().st_size / 1e6, 2),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "weavegraph-bench"))
    parser.add_argument("--postgres", action="store_true", help="also measure a throwaway PostgreSQL server")
    parser.add_argument(
        "--workload", action="store_true", help="only the growing-thread workload, both modes"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parser_results: dict[str, Any] = {}
    if args.workload:
        parser_results["growing_thread_1000_invocations"] = asyncio.run(workload_growing_thread(out))
        print(json.dumps(parser_results, indent=2))
        return
    results = {"sqlite": asyncio.run(sqlite_suite(out))}
    if args.postgres:
        from tests.pgserver import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            results["postgres"] = asyncio.run(postgres_suite(server.create_database()))
        finally:
            server.cleanup()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
