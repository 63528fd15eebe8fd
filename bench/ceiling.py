"""The physical ceilings of workloads 4 and 5: the very rows our checkpointer wrote to `steps`, re-inserted
one row per transaction with bare aiosqlite / asyncpg (no serialisation, no session row, no triggers)."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

from bench.common import Timer


def read_sqlite_steps(path: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every column of every `steps` row, in step order."""
    conn = sqlite3.connect(path)
    try:
        cursor = conn.execute("SELECT * FROM steps ORDER BY session_id, step")
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    finally:
        conn.close()


async def sqlite_ceiling(path: str, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """Seconds to insert `rows` into a fresh WAL database (synchronous=NORMAL, as the checkpointer uses),
    one autocommitted INSERT per row."""
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        cols = ", ".join(columns)
        await db.execute(f"CREATE TABLE steps ({cols}, PRIMARY KEY (session_id, step))")
        insert = f"INSERT INTO steps ({cols}) VALUES ({', '.join('?' for _ in columns)})"
        with Timer() as t:
            for row in rows:
                await db.execute(insert, row)
    finally:
        await db.close()
    return t.seconds


async def postgres_ceiling(url: str, session_id: str) -> tuple[float, int, int]:
    """Copy the session's `steps` rows into a new table shaped like `steps` (same types, primary key), one
    autocommitted INSERT per row. Returns (seconds, rows, payload bytes of the rows as stored)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        records = await conn.fetch("SELECT * FROM steps WHERE session_id = $1 ORDER BY step", session_id)
        columns = list(records[0].keys())
        await conn.execute("DROP TABLE IF EXISTS steps_ceiling")
        await conn.execute("CREATE TABLE steps_ceiling (LIKE steps INCLUDING DEFAULTS INCLUDING INDEXES)")
        insert = (
            f"INSERT INTO steps_ceiling ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
        )
        rows = [tuple(r.values()) for r in records]
        size = sum(len(v) for row in rows for v in row if isinstance(v, str))
        with Timer() as t:
            for row in rows:
                await conn.execute(insert, *row)
        await conn.execute("DROP TABLE steps_ceiling")
    finally:
        await conn.close()
    return t.seconds, len(rows), size
