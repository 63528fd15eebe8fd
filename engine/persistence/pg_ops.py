"""The PostgreSQL checkpointer's transactions: save (full or compact), delta resolution, chain-safe prune.

`save` is the overwrite transaction (a compact save of a step at or below the latest; the common save is one
statement, see `pg_save`). It locks the session row (`SELECT ... FOR UPDATE`), so the expected-step check and
the delta base check (the session's latest state digest) hold until commit. Compact mode follows `compact`:
a delta when this writer saved the latest step, a full snapshot every K steps, dependent steps made full
before their parent is overwritten or pruned.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from engine.errors import CheckpointConflict
from engine.persistence.base import Checkpoint, PrunePolicy, PruneReport
from engine.persistence.compact import (
    DEFAULT_SNAPSHOT_EVERY,
    LATEST_MARKER,
    JsonDict,
    default_mode,
    resolve_state,
)
from engine.persistence.incremental import EncodedSave, Known, StoreMode, new_token
from engine.persistence.serde import decode_checkpoint, dumps

STEP_COLUMNS = (
    "t.step, t.created_at, t.state_json, t.frontier_json, t.versions_seen_json, t.ran_nodes_json,"
    " t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash, t.parent_step"
)

BYTES = (
    "weavegraph_step_bytes(t.payload_bytes, t.state_json, t.frontier_json, t.versions_seen_json,"
    " t.ran_nodes_json, t.skipped_nodes_json, t.updated_channels_json)"
)

_UPSERT_SESSION = """
INSERT INTO sessions AS s (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                           last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
VALUES ($1, now(), clock_timestamp(), $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8)
ON CONFLICT (id) DO UPDATE SET
    updated_at = clock_timestamp(),
    concurrency_limit = excluded.concurrency_limit,
    last_step = excluded.last_step,
    last_state_json = excluded.last_state_json,
    last_frontier_json = excluded.last_frontier_json,
    last_versions_seen_json = excluded.last_versions_seen_json,
    graph_hash = COALESCE(excluded.graph_hash, s.graph_hash),
    state_digest = excluded.state_digest
WHERE excluded.last_step >= s.last_step OR s.last_state_json IS NULL
"""

_UPSERT_STEP = """
INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                   ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11)
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

_CHAIN = """
WITH RECURSIVE chain(step, parent_step, state_json) AS (
    SELECT step, parent_step, state_json FROM steps WHERE session_id = $1 AND step = $2
    UNION ALL
    SELECT t.step, t.parent_step, t.state_json FROM steps t JOIN chain c
        ON t.session_id = $1 AND t.step = c.parent_step
)
SELECT step, parent_step, state_json::text FROM chain
"""


async def read_mode(conn: Any) -> StoreMode:
    """The recorded storage mode and snapshot interval, writing nothing (read-only opens)."""
    rows = await conn.fetch(
        "SELECT key, value FROM weavegraph_meta WHERE key IN ('storage_mode', 'snapshot_every')"
    )
    values = {r[0]: r[1] for r in rows}
    return StoreMode(
        str(values.get("storage_mode", "full")), int(values.get("snapshot_every") or DEFAULT_SNAPSHOT_EVERY)
    )


async def ensure_mode(conn: Any, fresh: bool, requested: str | None, snapshot_every: int | None) -> StoreMode:
    """Record (for a new database) or read the storage mode; refuse a request for the other mode."""
    from engine.errors import CheckpointerError

    proposed = (requested or default_mode()) if fresh else "full"
    await conn.execute(
        "INSERT INTO weavegraph_meta (key, value) VALUES ('storage_mode', $1) ON CONFLICT (key) DO NOTHING",
        proposed,
    )
    mode = await conn.fetchval("SELECT value FROM weavegraph_meta WHERE key = 'storage_mode'")
    if requested is not None and requested != mode:
        raise CheckpointerError(
            f"this PostgreSQL database stores checkpoints in {mode} mode, not {requested}; connect without a "
            "mode, or convert it with `weavegraph export` and `weavegraph import`"
        )
    stored = await conn.fetchval("SELECT value FROM weavegraph_meta WHERE key = 'snapshot_every'")
    every = snapshot_every or int(stored or DEFAULT_SNAPSHOT_EVERY)
    if stored != str(every):
        await conn.execute(
            "INSERT INTO weavegraph_meta (key, value) VALUES ('snapshot_every', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            str(every),
        )
    return StoreMode(str(mode), every)


async def save(conn: Any, enc: EncodedSave, expected: int | None, store: StoreMode) -> Known | None:
    """Write one checkpoint inside the caller's transaction; returns what the writer should remember.
    Compact mode writes `LATEST_MARKER` instead of the full latest state into the session row."""
    sid = enc.session_id
    row = await conn.fetchrow(
        "SELECT last_step, last_state_json IS NULL, state_digest FROM sessions WHERE id = $1 FOR UPDATE", sid
    )
    actual = None if row is None or row[1] else int(row[0])
    if expected is not None and actual != expected:
        raise CheckpointConflict(sid, expected, actual)
    token = new_token()
    compact = store.mode == "compact"
    base = None
    if compact:
        if actual is not None and enc.step <= actual:
            await materialize_children(conn, sid, enc.step)  # an overwrite: nothing may depend on the old row
        base = store.delta_base(sid, actual, row[2] if row is not None else None, enc.step)
    if base is not None:
        state_text = enc.delta_text(base)
        state_bytes, parent, chain = len(state_text.encode()), base.step, base.chain + 1
    else:
        state_text = enc.state_text()
        state_bytes, parent, chain = enc.state_bytes(), None, 0
    created = enc.created_at if enc.created_at.tzinfo else enc.created_at.replace(tzinfo=_dt.UTC)
    await conn.execute(
        _UPSERT_SESSION,
        sid,
        enc.concurrency_limit,
        enc.step,
        LATEST_MARKER if compact else state_text,
        enc.frontier_json,
        enc.versions_seen_json,
        enc.graph_hash,
        token,
    )
    await conn.execute(
        _UPSERT_STEP,
        sid,
        enc.step,
        created,
        state_text,
        enc.frontier_json,
        enc.versions_seen_json,
        enc.ran_nodes_json,
        enc.skipped_nodes_json,
        enc.updated_channels_json,
        enc.other_bytes + state_bytes,
        parent,
    )
    if not compact or (actual is not None and enc.step < actual):
        return None
    return enc.known(token, chain)


class _Need(Exception):
    def __init__(self, step: int) -> None:
        self.step = step


async def resolve_states(
    conn: Any, session_id: str, rows: dict[int, tuple[Any, int | None]]
) -> dict[int, Any]:
    """Full state JSON for each given step (step -> (stored state, parent)), fetching missing chain links."""
    known: dict[int, tuple[Any, int | None]] = {
        step: (json.loads(value) if isinstance(value, str) else value, parent)
        for step, (value, parent) in rows.items()
    }
    cache: dict[int, JsonDict] = {}
    out: dict[int, Any] = {}

    def fetch(step: int) -> tuple[Any, int | None] | None:
        if step not in known:
            raise _Need(step)
        value, parent = known[step]
        return None if value is None else (value, parent)

    for step in sorted(rows):
        value, parent = known[step]
        while True:
            try:
                out[step] = resolve_state(session_id, step, value, parent, fetch, cache)
                break
            except _Need as need:
                for link_step, link_parent, text in await conn.fetch(_CHAIN, session_id, need.step):
                    known[int(link_step)] = (json.loads(text), link_parent)
                if need.step not in known:
                    known[need.step] = (None, None)  # missing: resolve_state reports it
    return out


async def to_checkpoints(conn: Any, session_id: str, rows: list[Any]) -> list[Checkpoint]:
    """Checkpoints from STEP_COLUMNS rows, rebuilding delta states."""
    deltas = {int(r[0]): (r[2], r[10]) for r in rows if r[10] is not None}
    states = await resolve_states(conn, session_id, deltas) if deltas else {}
    return [decode_checkpoint(session_id, r[0], r[1], states.get(int(r[0]), r[2]), *r[3:10]) for r in rows]


async def materialize(conn: Any, session_id: str, steps: list[int], *, write: bool) -> int:
    """Make these delta steps full snapshots (or only measure); returns the growth in payload bytes."""
    if not steps:
        return 0
    rows = await conn.fetch(
        "SELECT step, state_json::text, parent_step FROM steps"
        " WHERE session_id = $1 AND step = ANY($2::bigint[])",
        session_id,
        steps,
    )
    states = await resolve_states(conn, session_id, {int(r[0]): (r[1], r[2]) for r in rows})
    growth = 0
    for step, old_text, _parent in rows:
        text = dumps(states[int(step)])
        change = len(text.encode()) - len(old_text.encode())
        growth += change
        if write:
            await conn.execute(
                "UPDATE steps SET state_json = $1::jsonb, parent_step = NULL,"
                " payload_bytes = COALESCE(payload_bytes, 0) + $2 WHERE session_id = $3 AND step = $4",
                text,
                change,
                session_id,
                step,
            )
    return growth


async def materialize_children(conn: Any, session_id: str, step: int) -> None:
    children = await conn.fetch(
        "SELECT step FROM steps WHERE session_id = $1 AND step > $2 AND parent_step = $2", session_id, step
    )
    await materialize(conn, session_id, [int(r[0]) for r in children], write=True)


async def prune(conn: Any, policy: PrunePolicy, dry_run: bool) -> PruneReport:
    """Inside the caller's transaction: count (and unless `dry_run` delete) the steps the policy selects."""
    args: list[Any] = [policy.keep_last if policy.keep_last is not None else 1]
    scope = ""
    if policy.session_ids is not None:
        args.append(list(policy.session_ids))
        scope = f"WHERE t.session_id = ANY(${len(args)}::text[])"
    older = ""
    if policy.older_than is not None:
        args.append(policy.older_than)
        older = f"AND t.created_at < now() - ${len(args)}::interval"
    doomed = (
        "WITH ranked AS (SELECT t.session_id AS sid, t.step AS step,"
        " ROW_NUMBER() OVER (PARTITION BY t.session_id ORDER BY t.step DESC) AS rn FROM steps t"
        f" {scope}), doomed AS (SELECT t.session_id AS sid, t.step AS step, {BYTES} AS size"
        " FROM ranked r JOIN sessions s ON s.id = r.sid"
        " JOIN steps t ON t.session_id = r.sid AND t.step = r.step"
        f" WHERE r.rn > $1 AND r.step <> s.last_step {older})"
    )
    row = await conn.fetchrow(
        doomed + " SELECT count(*), count(DISTINCT sid), COALESCE(sum(size), 0) FROM doomed", *args
    )
    orphans: dict[str, list[int]] = {}
    for sid, step in await conn.fetch(
        doomed + " SELECT k.session_id, k.step FROM steps k JOIN doomed d ON d.sid = k.session_id"
        " AND d.step = k.parent_step WHERE NOT EXISTS (SELECT 1 FROM doomed x WHERE x.sid = k.session_id"
        " AND x.step = k.step)",
        *args,
    ):
        orphans.setdefault(sid, []).append(int(step))
    growth = 0
    for sid, steps in orphans.items():
        growth += await materialize(conn, sid, steps, write=not dry_run)
    if not dry_run and row[0]:
        await conn.execute(
            doomed + " DELETE FROM steps t USING doomed d WHERE t.session_id = d.sid AND t.step = d.step",
            *args,
        )
    return PruneReport(int(row[0]), int(row[2]) - growth, int(row[1]), dry_run)
