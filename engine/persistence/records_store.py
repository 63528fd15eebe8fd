"""Node records in SQL storage (ENGINE.md 8.1): the rows of `wg_node_records`, written in the save
transaction (SQLite: by the save statement's trigger, see `sqlite_save`; Postgres: `pg_write`) and read
back with `sqlite_query`/`pg_query`. Deleting steps deletes their records (a
trigger of migration 0006)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.events.event import Event, event_json_texts
from engine.node_records import NodeRecord
from engine.persistence.base import Checkpoint
from engine.persistence.serde import parse_timestamp

TABLE = "wg_node_records"
INFO = "wg_session_info"
_INFO_SQLITE = (
    f"INSERT INTO {INFO} (session_id, parent_session, parent_step, graph_name) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (session_id) DO UPDATE SET"
    f" parent_session = COALESCE(excluded.parent_session, {INFO}.parent_session),"
    f" parent_step = COALESCE(excluded.parent_step, {INFO}.parent_step),"
    f" graph_name = COALESCE(excluded.graph_name, {INFO}.graph_name)"
)

_INFO_PG = _INFO_SQLITE.replace("VALUES (?, ?, ?, ?)", "VALUES ($1, $2, $3, $4)")


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session's lineage and identity (ENGINE.md 8.2); None where unknown."""

    session_id: str
    created_at: _dt.datetime | None
    updated_at: _dt.datetime | None
    last_step: int
    step_count: int
    parent_session: str | None = None
    parent_step: int | None = None
    graph_hash: str | None = None
    graph_name: str | None = None


def _info_row(cp: Checkpoint) -> tuple[Any, ...]:
    parent = cp.parent or (None, None)
    return (cp.session_id, parent[0], parent[1], cp.graph_name)


def info_query(where: str, *, postgres: bool) -> str:
    """The SELECT of `SessionInfo` rows; `where` filters on `s.id` or `i.parent_session` ($1 or ?)."""
    counts = "weavegraph_session_counts"
    return (
        "SELECT s.id, s.created_at, s.updated_at, s.last_step, COALESCE(c.steps, 0), i.parent_session,"
        f" i.parent_step, s.graph_hash, i.graph_name FROM sessions s LEFT JOIN {counts} c"
        f" ON c.session_id = s.id LEFT JOIN {INFO} i ON i.session_id = s.id"
        f" WHERE {where} = {'$1' if postgres else '?'} AND s.last_state_json IS NOT NULL ORDER BY s.id"
    )


def decode_info(row: Sequence[Any]) -> SessionInfo:
    sid, created, updated, last, count, parent, pstep, ghash, gname = row

    def stamp(v: Any) -> _dt.datetime | None:
        if v is None or isinstance(v, _dt.datetime):
            return v
        return parse_timestamp(v)

    return SessionInfo(
        sid,
        stamp(created),
        stamp(updated),
        int(last),
        int(count),
        parent,
        None if pstep is None else int(pstep),
        ghash,
        gname,
    )


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


_compact = json.JSONEncoder(separators=(",", ":")).encode
"""`json.dumps(value, separators=(",", ":"))` without building an encoder per call."""


def sqlite_save_params(cp: Checkpoint) -> tuple[Any, ...]:
    """The SQLite save statement's last six parameters (see `sqlite_save.COLUMNS`): whether to upsert the
    session info, its three values, the node records as a JSON array (None leaves the step's records alone)
    and the events as a JSON array of `[step, event JSON text]` (None: no events). A record's output and
    error are JSON texts inside the array, stored exactly as `_row` encodes them."""
    records = cp.node_records
    records_json = None
    if records is not None:
        records_json = _compact(
            [
                [
                    r.node,
                    r.status,
                    r.attempts,
                    r.started_at.isoformat(),
                    r.duration_ms,
                    None if r.output is None else _compact(r.output),
                    None if r.error is None else _compact(r.error),
                ]
                for r in records
            ]
        )
    parent = cp.parent
    info = parent is not None or (cp.graph_name is not None and cp.step == 0)
    events_json = sqlite_events_json(cp.events) if cp.events else None
    if parent is None:
        return (info, None, None, cp.graph_name, records_json, events_json)
    return (info, parent[0], parent[1], cp.graph_name, records_json, events_json)


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
    if cp.parent is not None or (cp.graph_name is not None and cp.step == 0):
        await conn.execute(_INFO_PG, *_info_row(cp))
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


def event_runs(events: Sequence[Event]) -> tuple[list[int | None], list[str]]:
    """The events cut into runs of consecutive events of one step: the runs' steps and their texts, each a
    JSON array of the run's events (`Event.to_json_string` texts). A `wg_events` row holds one run (migrations
    sqlite/0008 and postgres/0010): a save's events are two or three runs, not two dozen rows."""
    texts = event_json_texts(events)
    steps: list[int | None] = []
    runs: list[str] = []
    start = 0
    n = len(texts)
    for i in range(1, n + 1):
        if i == n or events[i].step != events[start].step:
            steps.append(events[start].step)
            runs.append("[" + ",".join(texts[start:i]) + "]")
            start = i
    return steps, runs


SQLITE_APPEND_EVENTS = (
    f"INSERT INTO {EVENTS} (session_id, step, event_json) SELECT ?, json_extract(j.value, '$[0]'),"
    " json_extract(j.value, '$[1]') FROM json_each(?) j ORDER BY j.key"
)
"""Appends a session's events (`sqlite_events_json`) in one statement."""


def sqlite_events_json(events: Sequence[Event]) -> str:
    """The events as the SQLite save's JSON array of `[step, run]`, one per run (`event_runs`), each run the
    JSON array itself, not a string holding it (nothing to escape here or to unescape in SQLite: the save's
    `json_extract(..., '$[1]')` gives the run's text back, minified)."""
    steps, runs = event_runs(events)
    return (
        "["
        + ",".join(
            [f"[{'null' if step is None else step},{run}]" for step, run in zip(steps, runs, strict=True)]
        )
        + "]"
    )


PG_APPEND_EVENTS = (
    f"INSERT INTO {EVENTS} (session_id, step, event_json) SELECT $1, e.step, e.body::jsonb"
    " FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS e(step, body, n) ORDER BY e.n"
)
"""Appends a session's runs of events in one statement (ids in run order, as `weavegraph_save` does)."""


async def pg_append_events(conn: Any, session_id: str, events: Sequence[Event]) -> None:
    steps, runs = event_runs(events)
    await conn.execute(PG_APPEND_EVENTS, session_id, steps, runs)


def events_query(
    session_id: str, min_step: int | None, max_step: int | None, limit: int | None, *, postgres: bool
) -> tuple[str, list[Any]]:
    """The SELECT of a session's stored events in order, one event's JSON text a row (the runs unpacked;
    filters on their step; `limit` the first n)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}" if postgres else "?"

    where = f"e.session_id = {arg(session_id)}"
    if min_step is not None:
        where += f" AND e.step >= {arg(min_step)}"
    if max_step is not None:
        where += f" AND e.step <= {arg(max_step)}"
    tail = f" LIMIT {arg(limit)}" if limit is not None else ""
    if postgres:
        unpack = "jsonb_array_elements(e.event_json) WITH ORDINALITY AS j(value, key)"
        col = "j.value::text"
    else:
        unpack, col = "json_each(e.event_json) AS j", "j.value"
    return f"SELECT {col} FROM {EVENTS} e, {unpack} WHERE {where} ORDER BY e.id, j.key{tail}", args


def decode_events(rows: Sequence[Any]) -> list[Event]:
    return [Event.from_json(r[0]) for r in rows]
