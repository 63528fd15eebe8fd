"""Workload 9: 50 sessions x 40 invocations at once on SQLite, in one process (issue 20).

Each session is an iterative session of the workload-4 graph (Start -> a -> b -> c -> End, a checkpoint per
step); all sessions run concurrently on one checkpointer: ours (`SQLiteCheckpointer`, group commit on as by
default) and LangGraph's `AsyncSqliteSaver` (one thread per session, all `ainvoke` at once). The raw ceiling
is the very `steps` rows our checkpointer wrote, re-inserted 50 rows per transaction (BEGIN, one
executemany, COMMIT) with bare aiosqlite, WAL and synchronous=NORMAL as ours.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from typing import Any

import aiosqlite

from bench.common import Sizes, Timer

BATCH = 50
"""Rows per transaction of the ceiling (one per session of a round)."""


def shape(sizes: Sizes) -> tuple[int, int]:
    """(sessions, invocations per session): 50 x 40, fewer invocations for the quick and tiny sizes."""
    if sizes.turns >= 1_000:
        return 50, 40
    if sizes.turns >= 100:
        return 50, 8
    return 3, 2


async def run_ours(app: Any, url: str, sessions: int, invocations: int) -> dict[str, Any]:
    """Our side on a fresh `SQLiteCheckpointer` at `url`."""
    from engine.persistence.sqlite import SQLiteCheckpointer

    checkpointer = await SQLiteCheckpointer.connect(url)
    try:
        return await run_sessions(app, checkpointer, sessions, invocations)
    finally:
        await checkpointer.aclose()


async def run_sessions(app: Any, checkpointer: Any, sessions: int, invocations: int) -> dict[str, Any]:
    """`sessions` iterative sessions on one runner, `invocations` turns each, all at once (the driver shared
    with workload 10)."""
    from bench.concurrent import run_concurrent

    return await run_concurrent(checkpointer, sessions, invocations, app)


def _rows(path: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every `steps` row in the order it was written."""
    conn = sqlite3.connect(path)
    try:
        cursor = conn.execute("SELECT * FROM steps ORDER BY rowid")
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        conn.close()


async def batched_ceiling(path: str, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """Seconds to insert `rows` into a fresh WAL database (synchronous=NORMAL), `BATCH` rows per
    transaction with bare aiosqlite."""
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        cols = ", ".join(columns)
        await db.execute(f"CREATE TABLE steps ({cols}, PRIMARY KEY (session_id, step))")
        insert = f"INSERT INTO steps ({cols}) VALUES ({', '.join('?' for _ in columns)})"
        with Timer() as t:
            for start in range(0, len(rows), BATCH):
                await db.execute("BEGIN")
                await db.executemany(insert, rows[start : start + BATCH])
                await db.execute("COMMIT")
    finally:
        await db.close()
    return t.seconds


async def ours_with_ceiling(app: Any, sizes: Sizes) -> dict[str, Any]:
    sessions, invocations = shape(sizes)
    tmp = tempfile.mkdtemp(prefix="wg-bench9-")
    try:
        path = os.path.join(tmp, "ours.db")
        out = await run_ours(app, f"sqlite://{path}", sessions, invocations)
        from bench.ours import BreakdownCheckpointer

        bare = await run_sessions(app, BreakdownCheckpointer(encode=False), sessions, invocations)
        columns, rows = await asyncio.to_thread(_rows, path)
        seconds = await batched_ceiling(os.path.join(tmp, "raw.db"), columns, rows)
        out.update(
            sessions=sessions,
            invocations=invocations,
            rows=len(rows),
            ceiling_seconds=seconds,
            ceiling_invocations_per_s=len(rows) / 3 / seconds,
            engine_only_invocations_per_s=bare["invocations_per_s"],
        )
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run_langgraph(sizes: Sizes) -> dict[str, Any]:
    """LangGraph's async side: one graph on `AsyncSqliteSaver`, one thread per session, all at once."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from bench.concurrent import lg_concurrent

    sessions, invocations = shape(sizes)
    tmp = tempfile.mkdtemp(prefix="lg-bench9-")
    try:
        async with AsyncSqliteSaver.from_conn_string(os.path.join(tmp, "lg.db")) as saver:
            return await lg_concurrent(saver, sessions, invocations)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
