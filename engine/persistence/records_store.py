"""Node records in SQL storage (ENGINE.md 8.1): the rows of `wg_node_records`, written in the save
transaction (SQLite: by the save statement's trigger, see `sqlite_save`; Postgres: `pg_write`) and read
back with `sqlite_query`/`pg_query`. Deleting steps deletes their records (a
trigger of migration 0006)."""

from __future__ import annotations

import datetime as _dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.events.event import Event, event_json_texts
from engine.events.stored import decode_run, encode_run
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
    """The SQLite save statement's last parameters (see `sqlite_save.COLUMNS`): whether to upsert the
    session info, its three values, the node records as a JSON array (None leaves the step's records alone)
    and the events (`sqlite_events_params`). A record's output and error are JSON texts inside the array,
    stored exactly as `_row` encodes them."""
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
    events = sqlite_events_params(cp.session_id, cp.events)
    if parent is None:
        return (info, None, None, cp.graph_name, records_json, *events)
    return (info, parent[0], parent[1], cp.graph_name, records_json, *events)


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


def split_runs(events: Sequence[Event]) -> list[tuple[int | None, Sequence[Event]]]:
    """The events cut into runs of consecutive events of one step: `(step, events)` pairs. A `wg_events` row
    holds one run (migrations sqlite/0008 and postgres/0010): a save's events are two or three rows."""
    out: list[tuple[int | None, Sequence[Event]]] = []
    start = 0
    n = len(events)
    step = events[0].step if n else None
    for i in range(1, n + 1):
        if i == n or events[i].step != step:
            out.append((step, events[start:i]))
            if i < n:
                start, step = i, events[i].step
    return out


def event_runs(events: Sequence[Event]) -> tuple[list[int | None], list[str]]:
    """Postgres: the runs' steps and their texts, each a JSON array of the run's events in the object form
    (`Event.to_json_string` texts)."""
    texts = event_json_texts(events)
    steps: list[int | None] = []
    runs: list[str] = []
    start = 0
    for step, run in split_runs(events):
        steps.append(step)
        runs.append("[" + ",".join(texts[start : start + len(run)]) + "]")
        start += len(run)
    return steps, runs


SQLITE_RUN_COLUMNS = 2
"""Runs a SQLite save passes as columns of their own (`sqlite_events_params`); more go in one JSON array."""


def sqlite_events_params(session_id: str, events: Sequence[Event] | None) -> list[Any]:
    """The SQLite save's event parameters: the step and compact text (`engine.events.stored`, migration
    0009) of its first `SQLITE_RUN_COLUMNS` runs (None when fewer), then the rest as a JSON array of
    `[step, run]` (None when none). Columns of their own spare SQLite parsing the texts again as JSON."""
    params: list[Any] = [None] * (2 * SQLITE_RUN_COLUMNS + 1)
    if not events:
        return params
    more: list[str] = []
    for i, (step, run) in enumerate(split_runs(events)):
        text = encode_run(run, session_id)
        if i < SQLITE_RUN_COLUMNS:
            params[2 * i] = step
            params[2 * i + 1] = text
        else:
            more.append(f"[{'null' if step is None else step},{text}]")
    if more:
        params[-1] = "[" + ",".join(more) + "]"
    return params


@functools.lru_cache(maxsize=16)
def sqlite_append_sql(runs: int) -> str:
    """Appends `runs` rows of a session's events (`sqlite_append_params`) in one statement."""
    return f"INSERT INTO {EVENTS} (session_id, step, event_json) VALUES " + ", ".join(
        "(?, ?, ?)" for _ in range(runs)
    )


def sqlite_append_params(session_id: str, events: Sequence[Event]) -> tuple[str, list[Any]]:
    """The statement and parameters storing a session's events after its last save (SQLite)."""
    runs = split_runs(events)
    params: list[Any] = []
    for step, run in runs:
        params += (session_id, step, encode_run(run, session_id))
    return sqlite_append_sql(len(runs)), params


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
    """The SELECT of a session's stored events in order. Postgres: one event's JSON text a row (the runs
    unpacked; filters on their step; `limit` the first n). SQLite: the rows themselves, step and run text
    (`sqlite_events`), at most `limit` of them (a row holds at least one event)."""
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
    if not postgres:
        return f"SELECT e.step, e.event_json FROM {EVENTS} e WHERE {where} ORDER BY e.id{tail}", args
    unpack = "jsonb_array_elements(e.event_json) WITH ORDINALITY AS j(value, key)"
    return f"SELECT j.value::text FROM {EVENTS} e, {unpack} WHERE {where} ORDER BY e.id, j.key{tail}", args


def decode_events(rows: Sequence[Any]) -> list[Event]:
    return [Event.from_json(r[0]) for r in rows]


def sqlite_events(session_id: str, rows: Sequence[Any], limit: int | None) -> list[Event]:
    """The events of SQLite `wg_events` rows (`events_query`), either form (`engine.events.stored`), the
    first `limit` (SQLite's LIMIT: a negative one is none)."""
    out: list[Event] = []
    for step, text in rows:
        out += decode_run(text, step, session_id)
    if limit is not None and 0 <= limit < len(out):
        del out[limit:]
    return out
