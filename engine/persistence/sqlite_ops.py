"""The SQLite checkpointer's work, as plain functions run on aiosqlite's worker thread (one per transaction).

Compact mode lives here too: `save` stores a step as a delta from the session's previous step when this
writer knows that step's state (its digest still matches the session row) and the chain is shorter than K;
overwriting a step first turns its dependent steps into full snapshots, and `prune` does the same for kept
steps whose parent it deletes, so no kept step ever loses the chain it needs.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import engine.persistence.records_store as records_store
from engine.errors import CheckpointConflict
from engine.persistence.base import Checkpoint, SessionStats
from engine.persistence.compact import LATEST_MARKER, JsonDict, resolve_state
from engine.persistence.incremental import EncodedSave, StoreMode, new_token
from engine.persistence.serde import (
    dumps,
    format_timestamp,
    parse_timestamp,
)
from engine.persistence.sqlite_schema import COUNTS_TABLE

STEP_COLUMNS = (
    "t.step, t.created_at, t.state_json, t.frontier_json, t.versions_seen_json, t.ran_nodes_json, "
    "t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash, t.parent_step"
)

SESSION_STATS = (
    "SELECT s.id, s.last_step, s.created_at, s.updated_at, s.graph_hash, COALESCE(c.steps, 0),"
    f" COALESCE(c.bytes, 0) FROM sessions s LEFT JOIN {COUNTS_TABLE} c ON c.session_id = s.id"
)

_UPSERT_SESSION = """
INSERT INTO sessions (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                      last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
    updated_at = excluded.updated_at,
    concurrency_limit = excluded.concurrency_limit,
    last_step = excluded.last_step,
    last_state_json = excluded.last_state_json,
    last_frontier_json = excluded.last_frontier_json,
    last_versions_seen_json = excluded.last_versions_seen_json,
    graph_hash = COALESCE(excluded.graph_hash, sessions.graph_hash),
    state_digest = excluded.state_digest
WHERE excluded.last_step >= sessions.last_step OR sessions.last_state_json IS NULL
"""

# An upsert, not INSERT OR REPLACE: REPLACE deletes without firing the delete trigger that keeps the counts.
_INSERT_STEP = """
INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                   ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session_id, step) DO UPDATE SET
    created_at = excluded.created_at,
    state_json = excluded.state_json,
    frontier_json = excluded.frontier_json,
    versions_seen_json = excluded.versions_seen_json,
    ran_nodes_json = excluded.ran_nodes_json,
    skipped_nodes_json = excluded.skipped_nodes_json,
    updated_channels_json = excluded.updated_channels_json,
    payload_bytes = excluded.payload_bytes,
    parent_step = excluded.parent_step
"""


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def save(
    conn: sqlite3.Connection,
    enc: EncodedSave,
    expected: int | None,
    now: str,
    store: StoreMode,
    checkpoint: Checkpoint | None = None,
) -> None:
    """One IMMEDIATE transaction: the conflict check, then the session row and the step row.

    Compact mode writes `LATEST_MARKER` instead of the full latest state into the session row, and the step
    as a delta from this writer's known latest step when its token still matches the session row."""
    sid = enc.session_id
    token = new_token()
    compact = store.mode == "compact"
    with Transaction(conn):
        row = conn.execute(
            "SELECT last_step, last_state_json IS NULL, state_digest FROM sessions WHERE id = ?", (sid,)
        ).fetchone()
        actual = None if row is None or row[1] else int(row[0])
        if expected is not None and actual != expected:
            raise CheckpointConflict(sid, expected, actual)
        base = None
        if compact:
            if actual is not None and enc.step <= actual:
                materialize_children(conn, sid, enc.step)  # an overwrite: nothing may depend on the old row
            base = store.delta_base(sid, actual, row[2] if row is not None else None, enc.step)
        if base is not None:
            state_text = enc.delta_text(base)
            state_bytes, parent, chain = len(state_text.encode()), base.step, base.chain + 1
        else:
            state_text = enc.state_text()
            state_bytes, parent, chain = enc.state_bytes(), None, 0
        conn.execute(
            _UPSERT_SESSION,
            (
                sid,
                now,
                now,
                enc.concurrency_limit,
                enc.step,
                LATEST_MARKER if compact else state_text,
                enc.frontier_json,
                enc.versions_seen_json,
                enc.graph_hash,
                token,
            ),
        )
        conn.execute(
            _INSERT_STEP,
            (
                sid,
                enc.step,
                format_timestamp(enc.created_at),
                state_text,
                enc.frontier_json,
                enc.versions_seen_json,
                enc.ran_nodes_json,
                enc.skipped_nodes_json,
                enc.updated_channels_json,
                enc.other_bytes + state_bytes,
                parent,
            ),
        )
        if checkpoint is not None:  # node records and stored events (issue 15)
            records_store.sqlite_write(conn, checkpoint)
    if compact and (actual is None or enc.step >= actual):
        store.remember(sid, enc.known(token, chain))


def _fetcher(conn: sqlite3.Connection, session_id: str) -> Any:
    def fetch(step: int) -> tuple[Any, int | None] | None:
        row = conn.execute(
            "SELECT state_json, parent_step FROM steps WHERE session_id = ? AND step = ?", (session_id, step)
        ).fetchone()
        return (json.loads(row[0]), row[1]) if row is not None else None

    return fetch


def full_state(conn: sqlite3.Connection, session_id: str, step: int, cache: dict[int, JsonDict]) -> JsonDict:
    """The full state JSON of a stored step, following its delta chain."""
    row = _fetcher(conn, session_id)(step)
    if row is None:
        raise KeyError(step)
    return resolve_state(session_id, step, row[0], row[1], _fetcher(conn, session_id), cache)


def materialize(conn: sqlite3.Connection, session_id: str, steps: list[int], *, write: bool) -> int:
    """Turn these delta steps into full snapshots (or with `write=False` only measure); returns the growth
    in payload bytes."""
    cache: dict[int, JsonDict] = {}
    growth = 0
    for step in sorted(steps):
        state = full_state(conn, session_id, step, cache)
        old_text = conn.execute(
            "SELECT state_json FROM steps WHERE session_id = ? AND step = ?", (session_id, step)
        ).fetchone()[0]
        text = dumps(state)
        growth += len(text.encode()) - len(old_text.encode())
        if write:
            conn.execute(
                "UPDATE steps SET state_json = ?, parent_step = NULL,"
                " payload_bytes = COALESCE(payload_bytes, 0) + ? WHERE session_id = ? AND step = ?",
                (text, len(text.encode()) - len(old_text.encode()), session_id, step),
            )
    return growth


def materialize_children(conn: sqlite3.Connection, session_id: str, step: int) -> None:
    children = [
        r[0]
        for r in conn.execute(
            "SELECT step FROM steps WHERE session_id = ? AND step > ? AND parent_step = ?",
            (session_id, step, step),
        )
    ]
    if children:
        materialize(conn, session_id, children, write=True)


def session_stats(row: Any) -> SessionStats:
    sid, last_step, created, updated, graph_hash, steps, size = row
    return SessionStats(
        sid,
        int(steps),
        int(size),
        int(last_step),
        parse_timestamp(created) if created else None,
        parse_timestamp(updated) if updated else None,
        graph_hash,
    )
