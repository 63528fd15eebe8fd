"""Node records in SQL storage (ENGINE.md 8.1): the rows of `wg_node_records`, written in the save
transaction by `sqlite_write` and read back by `sqlite_read`. Deleting steps deletes their records (a
trigger of migration 0006)."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.persistence.base import Checkpoint

TABLE = "wg_node_records"
EVENTS = "wg_events"
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


def sqlite_write(conn: sqlite3.Connection, cp: Checkpoint) -> None:
    """Inside the caller's save transaction: replace the step's node records (None leaves them alone) and
    append the checkpoint's events."""
    if cp.events:
        sqlite_append_events(conn, cp.session_id, cp.events)
    session_id, step, records = cp.session_id, cp.step, cp.node_records
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


async def pg_write(conn: Any, cp: Checkpoint) -> None:
    """Postgres, inside the caller's save transaction: replace the step's node records (None leaves them
    alone) and append the checkpoint's events."""
    if cp.events:
        await pg_append_events(conn, cp.session_id, cp.events)
    session_id, step, records = cp.session_id, cp.step, cp.node_records
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


def _event_rows(session_id: str, events: Sequence[Event]) -> list[tuple[Any, ...]]:
    return [(session_id, e.step, e.to_json_string()) for e in events]


def sqlite_append_events(conn: sqlite3.Connection, session_id: str, events: Sequence[Event]) -> None:
    conn.executemany(
        f"INSERT INTO {EVENTS} (session_id, step, event_json) VALUES (?, ?, ?)",
        _event_rows(session_id, events),
    )


async def pg_append_events(conn: Any, session_id: str, events: Sequence[Event]) -> None:
    await conn.executemany(
        f"INSERT INTO {EVENTS} (session_id, step, event_json) VALUES ($1, $2, $3::jsonb)",
        _event_rows(session_id, events),
    )


def events_query(
    session_id: str, min_step: int | None, max_step: int | None, limit: int | None, *, postgres: bool
) -> tuple[str, list[Any]]:
    """The SELECT of a session's stored events in order (filters on their step; `limit` the first n)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}" if postgres else "?"

    where = f"session_id = {arg(session_id)}"
    if min_step is not None:
        where += f" AND step >= {arg(min_step)}"
    if max_step is not None:
        where += f" AND step <= {arg(max_step)}"
    tail = f" LIMIT {arg(limit)}" if limit is not None else ""
    col = "event_json::text" if postgres else "event_json"
    return f"SELECT {col} FROM {EVENTS} WHERE {where} ORDER BY id{tail}", args


def decode_events(rows: Sequence[Any]) -> list[Event]:
    return [Event.from_json(r[0]) for r in rows]
