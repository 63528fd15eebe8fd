"""A PostgreSQL save in one round trip: the arguments of `weavegraph_save` (migration 0008, made leaner by
0009 and 0011) for one checkpoint, the arrays of `weavegraph_save_group` for several, and what the writer
makes of the answer.

The statement locks the session row, checks `expected_last_step` (and, for a compact delta, that this
writer's base is still the session's latest step), upserts the session and the step, replaces the step's
node records, appends its events (a row per run of events of one step, migration 0010) and keeps the
session info, all in one autocommitted statement; since 0011 it also keeps the counts, the ran-node index
and the NOTIFY of the steps it inserts (the triggers on `steps` skip those rows). When a check fails it
writes nothing and returns a status (see the migration); the caller then raises the conflict, resends a
full snapshot (status 2) or runs the overwrite transaction of `pg_ops.save` (status 3).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import engine.persistence.records_store as records_store
from engine.errors import CheckpointConflict
from engine.persistence.base import Checkpoint
from engine.persistence.compact import LATEST_MARKER
from engine.persistence.errors import CheckpointDataError
from engine.persistence.incremental import EncodedSave, StoreMode, new_token
from engine.persistence.serde import dumps

SAVE_SQL = "SELECT status, last_step FROM weavegraph_save(" + ", ".join(f"${i}" for i in range(1, 34)) + ")"
GROUP_SQL = (
    "SELECT status, last_step FROM weavegraph_save_group(" + ", ".join(f"${i}" for i in range(1, 36)) + ")"
)

WRITTEN, CONFLICT, STALE_BASE, OVERWRITE = 0, 1, 2, 3
_RECORDS = range(20, 27)  # positions of the node-record arrays in `Prepared.args`
_EVENTS = range(27, 29)
_COMPACT = 18


class Fallback(Exception):
    """A save the statement did not write (`STALE_BASE` or `OVERWRITE`): the caller handles it itself."""

    def __init__(self, status: int) -> None:
        super().__init__(f"save not written (status {status})")
        self.status = status


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


@dataclass(slots=True)
class Prepared:
    """One save's statement arguments and what to remember when it is written."""

    session_id: str
    step: int
    expected: int | None
    args: tuple[Any, ...]
    token: str
    chain: int
    enc: EncodedSave

    def result(self, status: int, actual: int | None) -> BaseException | None:
        """The statement's answer for this save: None when written, else the error it fails with
        (`CheckpointConflict`) or a `Fallback` for the caller."""
        if status == WRITTEN:
            return None
        if status == CONFLICT:
            return CheckpointConflict(self.session_id, self.expected, actual)
        return Fallback(status)

    def written(self, store: StoreMode) -> None:
        """Remember the step as this writer's delta base (compact storage: the statement refuses compact
        overwrites, so a written step is the session's latest)."""
        if store.mode == "compact":
            store.remember(self.session_id, self.enc.known(self.token, self.chain))


def prepare(
    cp: Checkpoint, enc: EncodedSave, expected: int | None, store: StoreMode, *, delta: bool = True
) -> Prepared:
    """The `weavegraph_save` arguments: a delta against this writer's record of the latest step when compact
    storage allows one (and `delta`), else a full snapshot."""
    compact = store.mode == "compact"
    base = store.known.get(enc.session_id) if compact and delta else None
    if base is not None and (
        (expected is not None and expected != base.step)
        or base.step >= enc.step
        or base.chain + 1 >= store.snapshot_every
    ):
        base = None
    if base is not None:
        state_text = enc.delta_text(base)
        state_bytes, parent, chain = len(state_text.encode()), base.step, base.chain + 1
    else:
        state_text = enc.state_text()
        state_bytes, parent, chain = enc.state_bytes(), None, 0
    token = new_token()
    records = cp.node_records
    nodes: list[str] = []
    statuses: list[str] = []
    attempts: list[int] = []
    started: list[_dt.datetime] = []
    durations: list[float] = []
    outputs: list[str | None] = []
    errors: list[str | None] = []
    try:
        for rec in records or ():
            nodes.append(rec.node)
            statuses.append(rec.status)
            attempts.append(rec.attempts)
            started.append(_utc(rec.started_at))
            durations.append(rec.duration_ms)
            outputs.append(_json(rec.output))
            errors.append(_json(rec.error))
    except (TypeError, ValueError) as exc:  # refused here, so a group's other saves still commit
        raise CheckpointDataError(
            f"node records of session '{cp.session_id}' step {cp.step} are not JSON-storable: {exc}"
        ) from exc
    event_steps, event_runs = records_store.event_runs(cp.events) if cp.events else ([], [])
    info = cp.parent is not None or (cp.graph_name is not None and cp.step == 0)
    parent_session, parent_step = cp.parent or (None, None)
    args = (
        enc.session_id,
        enc.step,
        _utc(enc.created_at),
        state_text,
        enc.frontier_json,
        enc.versions_seen_json,
        enc.ran_nodes_json,
        enc.skipped_nodes_json,
        enc.updated_channels_json,
        enc.other_bytes + state_bytes,
        parent,
        enc.concurrency_limit,
        LATEST_MARKER if compact else None,  # full mode: NULL is "the step's state" (migration 0009)
        enc.graph_hash,
        token,
        expected,
        None if base is None else base.step,
        None if base is None else base.token,
        compact,
        records is not None,
        nodes,
        statuses,
        attempts,
        started,
        durations,
        outputs,
        errors,
        event_steps,  # one element per run of events of one step (migration 0010): p_event_steps, p_events
        event_runs,
        info,
        parent_session,
        parent_step,
        cp.graph_name,
    )
    return Prepared(enc.session_id, enc.step, expected, args, token, chain, enc)


def _answer(prepared: Prepared, row: Any) -> BaseException | None:
    return prepared.result(int(row[0]), None if row[1] is None else int(row[1]))


def group_columns(items: list[Prepared]) -> list[Any]:
    """The `weavegraph_save_group` arguments of the saves: one array per argument (the node-record and event
    arrays concatenated, with per-save counts), the storage mode as is."""
    columns: list[Any] = []
    for i in range(len(items[0].args)):
        if i == _COMPACT:
            columns.append(items[0].args[i])
        elif i in _RECORDS or i in _EVENTS:
            if i == _RECORDS.start or i == _EVENTS.start:
                columns.append([len(p.args[i]) for p in items])
            columns.append([value for p in items for value in p.args[i]])
        else:
            columns.append([p.args[i] for p in items])
    return columns


async def write(conn: Any, items: list[Prepared]) -> list[BaseException | None]:
    """Write the saves in one autocommitted statement (one transaction, one round trip); one outcome per
    save, in order (see `Prepared.result`)."""
    if len(items) == 1:
        return [_answer(items[0], await conn.fetchrow(SAVE_SQL, *items[0].args))]
    rows = await conn.fetch(GROUP_SQL, *group_columns(items))
    return [_answer(p, row) for p, row in zip(items, rows, strict=True)]


def describe(items: list[Prepared]) -> str:
    """What a group's save is called in errors: "saving session 's'", or the group's sessions."""
    if len(items) == 1:
        return f"saving session '{items[0].session_id}'"
    names = list(dict.fromkeys(p.session_id for p in items))
    shown = ", ".join(f"'{n}'" for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"saving a group of {len(items)} saves (sessions {shown})"
