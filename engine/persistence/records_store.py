"""Node records in SQL storage (ENGINE.md 8.1): the rows of `wg_node_records`, written in the save
transaction by `sqlite_write` and read back by `sqlite_read`. Deleting steps deletes their records (a
trigger of migration 0006)."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from engine.node_records import NodeRecord

TABLE = "wg_node_records"
_COLUMNS = "session_id, step, idx, node, status, attempts, started_at, duration_ms, output_json, error_json"


def _row(idx: int, rec: NodeRecord) -> tuple[Any, ...]:
    return (
        rec.session_id,
        rec.step,
        idx,
        rec.node,
        rec.status,
        rec.attempts,
        rec.started_at.isoformat(),
        rec.duration_ms,
        None if rec.output is None else json.dumps(rec.output, separators=(",", ":")),
        None if rec.error is None else json.dumps(rec.error, separators=(",", ":")),
    )


def sqlite_write(
    conn: sqlite3.Connection, session_id: str, step: int, records: Sequence[NodeRecord] | None
) -> None:
    """Replace the step's records (inside the caller's save transaction); None leaves them alone."""
    if records is None:
        return
    conn.execute(f"DELETE FROM {TABLE} WHERE session_id = ? AND step = ?", (session_id, step))
    if records:
        conn.executemany(
            f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_row(i, r) for i, r in enumerate(records)],
        )


def decode_row(row: Sequence[Any]) -> NodeRecord:
    sid, step, _idx, node, status, attempts, started, ms, output, error = row
    started_at = started if isinstance(started, _dt.datetime) else _dt.datetime.fromisoformat(started)
    return NodeRecord(
        sid,
        int(step),
        node,
        status,
        int(attempts),
        started_at,
        float(ms),
        json.loads(output) if isinstance(output, str) else output,
        json.loads(error) if isinstance(error, str) else error,
    )


def sqlite_query(session_id: str, step: int | None) -> tuple[str, tuple[Any, ...]]:
    """The SELECT (and its arguments) of a session's records, step then frontier order."""
    where = "session_id = ?" + ("" if step is None else " AND step = ?")
    args: tuple[Any, ...] = (session_id,) if step is None else (session_id, step)
    return f"SELECT {_COLUMNS} FROM {TABLE} WHERE {where} ORDER BY step, idx", args


async def pg_write(conn: Any, session_id: str, step: int, records: Sequence[NodeRecord] | None) -> None:
    """Postgres: replace the step's records inside the caller's save transaction; None leaves them alone."""
    if records is None:
        return
    await conn.execute(f"DELETE FROM {TABLE} WHERE session_id = $1 AND step = $2", session_id, step)
    if records:
        rows = []
        for i, r in enumerate(records):
            row = list(_row(i, r))
            row[6] = r.started_at
            rows.append(tuple(row))
        await conn.executemany(
            f"INSERT INTO {TABLE} ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)",
            rows,
        )


def pg_query(session_id: str, step: int | None) -> tuple[str, tuple[Any, ...]]:
    where = "session_id = $1" + ("" if step is None else " AND step = $2")
    args: tuple[Any, ...] = (session_id,) if step is None else (session_id, step)
    cols = _COLUMNS.replace("output_json, error_json", "output_json::text, error_json::text")
    return f"SELECT {cols} FROM {TABLE} WHERE {where} ORDER BY step, idx", args
