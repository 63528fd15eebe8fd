"""SQLite saves through aiosqlite's public API, a whole group in one statement (issue 20).

Every connection gets a TEMP view, `wg_save`, whose INSTEAD OF trigger writes one save: it checks the
session's `expected_last_step`, then upserts the session row and the step row and writes the node records
(a JSON array expanded with `json_each`), the session info and the stored events. A group of saves is ONE
`INSERT INTO wg_save ... VALUES (...), (...) RETURNING ...` in autocommit mode: one thread hop, one
transaction (SQLite takes the write lock when the statement starts, as BEGIN IMMEDIATE would), one commit.

A row the trigger refuses notes why in `temp.wg_refused` and is skipped with `RAISE(IGNORE)`, so the rest of
the group still commits; RETURNING lists the rows written, and only when one is missing are the reasons
read (a second hop). Reasons: "conflict" (the expected step check failed: `CheckpointConflict`), "stale"
(compact mode: the delta's base is no longer the session's latest step this writer saved) and "children"
(overwriting a step other steps are deltas of). The last two are rare and saved again one by one in an
IMMEDIATE transaction: the dependent steps become full snapshots first, the state is stored in full.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import aiosqlite

import engine.persistence.sqlite_reads as reads
from engine.errors import CheckpointConflict
from engine.persistence.base import Checkpoint
from engine.persistence.compact import LATEST_MARKER
from engine.persistence.group import DEFAULT_MAX_GROUP
from engine.persistence.incremental import EncodedSave, Known, StoreMode, new_token
from engine.persistence.records_store import sqlite_save_params
from engine.persistence.serde import format_timestamp
from engine.persistence.sqlite_schema import execute

COLUMNS = (
    "k",
    "session_id",
    "step",
    "created_at",
    "state_json",
    "frontier_json",
    "versions_seen_json",
    "ran_nodes_json",
    "skipped_nodes_json",
    "updated_channels_json",
    "payload_bytes",
    "parent_step",
    "base_token",
    "now",
    "concurrency_limit",
    "session_state",
    "graph_hash",
    "token",
    "expected",
    "check_expected",
    "info",
    "parent_session",
    "parent_session_step",
    "graph_name",
    "records_json",
    "ev_step1",
    "ev_run1",
    "ev_step2",
    "ev_run2",
    "ev_more",
)

_STEP_COLUMNS = (
    "session_id, step, created_at, state_json, frontier_json, versions_seen_json, ran_nodes_json,"
    " skipped_nodes_json, updated_channels_json, payload_bytes, parent_step"
)
_RECORD = "json_extract(j.value, '$[{}]')"

_TRIGGER = f"""
CREATE TEMP TRIGGER IF NOT EXISTS wg_save_row INSTEAD OF INSERT ON wg_save
BEGIN
    INSERT INTO wg_refused (k, reason, actual)
    SELECT NEW.k, r.reason, r.actual FROM (
        SELECT CASE
            WHEN NEW.check_expected AND NEW.expected IS NOT a.actual THEN 'conflict'
            WHEN NEW.parent_step IS NOT NULL
                AND (a.actual IS NOT NEW.parent_step OR a.digest IS NOT NEW.base_token) THEN 'stale'
            WHEN EXISTS (SELECT 1 FROM steps c WHERE c.session_id = NEW.session_id
                AND c.parent_step = NEW.step AND c.step > NEW.step) THEN 'children'
        END AS reason, a.actual AS actual
        FROM (SELECT (SELECT last_step FROM sessions WHERE id = NEW.session_id
                      AND last_state_json IS NOT NULL) AS actual,
                     (SELECT state_digest FROM sessions WHERE id = NEW.session_id) AS digest) a
    ) r WHERE r.reason IS NOT NULL;
    SELECT RAISE(IGNORE) FROM wg_refused WHERE k = NEW.k;
    INSERT INTO sessions (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                          last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
    VALUES (NEW.session_id, NEW.now, NEW.now, NEW.concurrency_limit, NEW.step,
            COALESCE(NEW.session_state, NEW.state_json), NEW.frontier_json, NEW.versions_seen_json,
            NEW.graph_hash, NEW.token)
    ON CONFLICT(id) DO UPDATE SET
        updated_at = excluded.updated_at,
        concurrency_limit = excluded.concurrency_limit,
        last_step = excluded.last_step,
        last_state_json = excluded.last_state_json,
        last_frontier_json = excluded.last_frontier_json,
        last_versions_seen_json = excluded.last_versions_seen_json,
        graph_hash = COALESCE(excluded.graph_hash, sessions.graph_hash),
        state_digest = excluded.state_digest
    WHERE excluded.last_step >= sessions.last_step OR sessions.last_state_json IS NULL;
    INSERT INTO steps ({_STEP_COLUMNS})
    VALUES (NEW.session_id, NEW.step, NEW.created_at, NEW.state_json, NEW.frontier_json,
            NEW.versions_seen_json, NEW.ran_nodes_json, NEW.skipped_nodes_json, NEW.updated_channels_json,
            NEW.payload_bytes, NEW.parent_step)
    ON CONFLICT (session_id, step) DO UPDATE SET
        created_at = excluded.created_at,
        state_json = excluded.state_json,
        frontier_json = excluded.frontier_json,
        versions_seen_json = excluded.versions_seen_json,
        ran_nodes_json = excluded.ran_nodes_json,
        skipped_nodes_json = excluded.skipped_nodes_json,
        updated_channels_json = excluded.updated_channels_json,
        payload_bytes = excluded.payload_bytes,
        parent_step = excluded.parent_step;
    INSERT INTO wg_session_info (session_id, parent_session, parent_step, graph_name)
    SELECT NEW.session_id, NEW.parent_session, NEW.parent_session_step, NEW.graph_name WHERE NEW.info
    ON CONFLICT (session_id) DO UPDATE SET
        parent_session = COALESCE(excluded.parent_session, wg_session_info.parent_session),
        parent_step = COALESCE(excluded.parent_step, wg_session_info.parent_step),
        graph_name = COALESCE(excluded.graph_name, wg_session_info.graph_name);
    DELETE FROM wg_node_records
    WHERE NEW.records_json IS NOT NULL AND session_id = NEW.session_id AND step = NEW.step;
    INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at, duration_ms,
                                 output_json, error_json)
    SELECT NEW.session_id, NEW.step, j.key, {", ".join(_RECORD.format(i) for i in range(7))}
    FROM json_each(NEW.records_json) j;
    INSERT INTO wg_events (session_id, step, event_json)
    SELECT NEW.session_id, NEW.ev_step1, NEW.ev_run1 WHERE NEW.ev_run1 IS NOT NULL;
    INSERT INTO wg_events (session_id, step, event_json)
    SELECT NEW.session_id, NEW.ev_step2, NEW.ev_run2 WHERE NEW.ev_run2 IS NOT NULL;
    INSERT INTO wg_events (session_id, step, event_json)
    SELECT NEW.session_id, {_RECORD.format(0)}, {_RECORD.format(1)}
    FROM json_each(NEW.ev_more) j ORDER BY j.key;
END
"""

DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS wg_refused"
    " (k INTEGER PRIMARY KEY, reason TEXT NOT NULL, actual INTEGER)",
    f"CREATE TEMP VIEW IF NOT EXISTS wg_save ({', '.join(COLUMNS)}) AS"
    f" SELECT {', '.join('NULL' for _ in COLUMNS)} WHERE 0",
    _TRIGGER,
)
"""The connection's TEMP objects of the save statement, one statement each (created before the first save)."""

_ROW = "(" + ", ".join("?" for _ in COLUMNS) + ")"
_MOVED = "(SELECT state_digest FROM sessions s WHERE s.id = session_id) IS token"


@functools.lru_cache(maxsize=DEFAULT_MAX_GROUP)
def insert_sql(rows: int) -> str:
    """The statement writing `rows` saves; RETURNING the index of each row written and whether the
    session's latest pointer now is that save."""
    values = ", ".join(_ROW for _ in range(rows))
    return f"INSERT INTO wg_save ({', '.join(COLUMNS)}) VALUES {values} RETURNING k, {_MOVED}"


@dataclass(slots=True)
class SaveItem:
    """One save handed to the group committer: the encoded checkpoint and what its rows need."""

    enc: EncodedSave
    checkpoint: Checkpoint
    expected: int | None
    now: str


def _prepare(item: SaveItem, k: int, store: StoreMode, delta: bool) -> tuple[list[Any], str, int]:
    """The row parameters of one save, its token and its delta chain length: in compact mode a delta from
    this writer's last save of the session when it may be one (the trigger checks that it still is the
    session's latest), else the full state."""
    enc = item.enc
    compact = store.mode == "compact"
    base: Known | None = None
    if compact and delta:
        known = store.known.get(enc.session_id)
        base = store.delta_base(enc.session_id, known.step, known.token, enc.step) if known else None
    if base is not None:
        state_text = enc.delta_text(base)
        state_bytes, parent, chain, base_token = (
            len(state_text.encode()),
            base.step,
            base.chain + 1,
            base.token,
        )
    else:
        state_text = enc.state_text()
        state_bytes, parent, chain, base_token = enc.state_bytes(), None, 0, None
    token = new_token()
    params = [
        k,
        enc.session_id,
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
        base_token,
        item.now,
        enc.concurrency_limit,
        LATEST_MARKER if compact else None,
        enc.graph_hash,
        token,
        item.expected,
        item.expected is not None,
        *sqlite_save_params(item.checkpoint),
    ]
    return params, token, chain


Guard = Callable[[str], AbstractContextManager[None]]


class SQLiteGroupWriter:
    """Writes groups of saves on one aiosqlite connection (the caller holds the connection's write lock)."""

    def __init__(self, db: aiosqlite.Connection, store: StoreMode, guard: Guard) -> None:
        self._db = db
        self._store = store
        self._guard = guard
        self._ready = False

    async def _ensure_ddl(self) -> None:
        if not self._ready:
            with self._guard("preparing the save statement"):
                for statement in DDL:
                    await execute(self._db, statement)
            self._ready = True

    async def write(self, items: Sequence[SaveItem]) -> list[BaseException | None]:
        """Write `items` in one transaction; one outcome per item (see `group.GroupCommitter`)."""
        if not self._ready:
            await self._ensure_ddl()
        store = self._store
        n = len(items)
        if n == 1:  # the common case of a lone session: no per-group bookkeeping
            params, token, chain = _prepare(items[0], 0, store, delta=True)
            prepared = [(params, token, chain)]
        else:
            prepared = [_prepare(item, k, store, delta=True) for k, item in enumerate(items)]
            params = [p for prep in prepared for p in prep[0]]
        try:
            rows = await self._db.execute_fetchall(insert_sql(n), params)
        except Exception:  # mapped here only: entering the guard on every save costs more than the write
            with self._guard(_action(items)):
                raise
        outcomes: list[BaseException | None] = [None] * n
        compact = store.mode == "compact"
        written = 0
        for k, moved in rows:
            written += 1
            if compact and moved:  # else an older step was re-saved: what this writer knows still holds
                item = items[k]
                _, token, chain = prepared[k]
                store.remember(item.enc.session_id, item.enc.known(token, chain))
        if written == n:
            return outcomes
        action = _action(items)
        with self._guard(action):
            refused = await self._refusals()
        for k, (reason, actual) in refused.items():
            if reason == "conflict":
                item = items[k]
                outcomes[k] = CheckpointConflict(item.enc.session_id, item.expected, actual)
            else:  # "stale" or "children": again, alone and in full
                try:
                    outcomes[k] = await self._write_alone(items[k], action)
                except Exception as exc:  # this item's transaction failed, not the group's
                    outcomes[k] = exc
        return outcomes

    async def _refusals(self) -> dict[int, tuple[str, int | None]]:
        rows = await self._db.execute_fetchall("DELETE FROM wg_refused RETURNING k, reason, actual")
        return {int(k): (str(reason), None if actual is None else int(actual)) for k, reason, actual in rows}

    async def _write_alone(self, item: SaveItem, action: str) -> BaseException | None:
        """One save in its own IMMEDIATE transaction, state in full, after turning the steps that are deltas
        of the step it overwrites into full snapshots."""
        db, sid = self._db, item.enc.session_id
        with self._guard(action):
            await execute(db, "BEGIN IMMEDIATE")
            try:
                children = [
                    int(r[0])
                    for r in await db.execute_fetchall(
                        "SELECT step FROM steps WHERE session_id = ? AND step > ? AND parent_step = ?",
                        (sid, item.enc.step, item.enc.step),
                    )
                ]
                if children:
                    await reads.materialize(db, sid, children, write=True)
                params, token, chain = _prepare(item, 0, self._store, delta=False)
                rows = list(await db.execute_fetchall(insert_sql(1), params))
                if not rows:
                    refused = await self._refusals()
                    await execute(db, "ROLLBACK")
                    _, actual = refused.get(0, ("conflict", None))
                    return CheckpointConflict(sid, item.expected, actual)
                await execute(db, "COMMIT")
            except BaseException:
                if db.in_transaction:
                    await execute(db, "ROLLBACK")
                raise
        # Compact mode: the next save of the session may be a delta from this one when the session row now
        # holds this save's token (the trigger checks it again then).
        if self._store.mode == "compact" and rows[0][1]:
            self._store.remember(sid, item.enc.known(token, chain))
        return None


def _action(items: Sequence[SaveItem]) -> str:
    """What a group's write is doing, for error messages."""
    if len(items) == 1:
        return f"saving session '{items[0].enc.session_id}'"
    return f"saving a group of {len(items)} checkpoints"


def now_text() -> str:
    return format_timestamp(_dt.datetime.now(_dt.UTC))
