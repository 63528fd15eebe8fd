"""The SQLite checkpointer's reads, prune and watch polling, through aiosqlite's public API.

A delta state (compact mode) needs the steps it builds on: `chains` fetches every row of the chains the
requested steps need in one recursive query, and decoding then follows them in memory, so a read is a fixed
number of statements however long the chains are.
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from engine.persistence.base import Checkpoint, PrunePolicy, PruneReport, StepQuery, StepQueryResult
from engine.persistence.compact import JsonDict, is_delta, resolve_state
from engine.persistence.serde import contiguous_total, decode_checkpoint, dumps
from engine.persistence.sqlite_ops import STEP_COLUMNS
from engine.persistence.sqlite_schema import (
    COMPUTED_BYTES,
    COUNTS_TABLE,
    NODE_COUNTS_TABLE,
    NODES_TABLE,
    execute,
)
from engine.state import json_copy

Chain = dict[int, tuple[str, int | None]]
"""step -> (stored state text, parent step) of the rows a decoding may need."""


async def fetchall(db: aiosqlite.Connection, sql: str, params: Any = ()) -> list[Any]:
    return list(await db.execute_fetchall(sql, params))


async def chains(db: aiosqlite.Connection, session_id: str, parents: set[int]) -> Chain:
    """The rows of `parents` and of every step they build on, back to full snapshots."""
    if not parents:
        return {}
    marks = ", ".join("?" * len(parents))
    rows = await fetchall(
        db,
        "WITH RECURSIVE chain(step, parent_step, state_json) AS ("
        f" SELECT step, parent_step, state_json FROM steps WHERE session_id = ? AND step IN ({marks})"
        " UNION SELECT t.step, t.parent_step, t.state_json FROM steps t JOIN chain c"
        " ON t.session_id = ? AND t.step = c.parent_step)"
        " SELECT step, parent_step, state_json FROM chain",
        [session_id, *sorted(parents), session_id],
    )
    return {int(r[0]): (r[2], r[1]) for r in rows}


def _fetcher(chain: Chain) -> Any:
    def fetch(step: int) -> tuple[Any, int | None] | None:
        found = chain.get(step)
        return (json.loads(found[0]), found[1]) if found is not None else None

    return fetch


def _needs_chain(row: Any) -> bool:
    text = row[2]
    return row[10] is not None or (isinstance(text, str) and '"weavegraph_delta"' in text[:40])


async def to_checkpoints(db: aiosqlite.Connection, session_id: str, rows: list[Any]) -> list[Checkpoint]:
    """Checkpoints from `STEP_COLUMNS` rows (same order), rebuilding delta states from one chain query."""
    parents = {int(r[10]) for r in rows if r[10] is not None}
    chain = await chains(db, session_id, parents)
    fetch = _fetcher(chain)
    cache: dict[int, JsonDict] = {}
    out: dict[int, Checkpoint] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        step, parent, text = row[0], row[10], row[2]
        state: Any = text
        if _needs_chain(row):
            value = json.loads(text)
            if is_delta(value):
                state = json_copy(resolve_state(session_id, step, value, parent, fetch, cache))
            else:
                cache[step] = value
        out[step] = decode_checkpoint(session_id, step, row[1], state, *row[3:10])
    return [out[r[0]] for r in rows]


async def query_steps(db: aiosqlite.Connection, session_id: str, query: StepQuery) -> StepQueryResult:
    """One page of a session's steps, newest first, with the total number of matches.

    Totals come from the trigger-kept counts (no row counting) unless a step range has gaps; an exact
    `ran_node` filter walks the (session, node, step) index.
    """
    kind = query.ran_node_kind()
    ranges: list[str] = []
    args: list[Any] = []
    if query.min_step is not None:
        ranges.append("AND x.step >= ?")
        args.append(query.min_step)
    if query.max_step is not None:
        ranges.append("AND x.step <= ?")
        args.append(query.max_step)
    bounds = " ".join(ranges)
    head: list[Any]
    if kind is None:
        source, head = "steps x", [session_id]
        where = "x.session_id = ?"
    else:
        source, head = f"{NODES_TABLE} x", [session_id, kind.name]
        where = "x.session_id = ? AND x.node = ?"
    total: int | None = None
    if kind is None:
        counts = await fetchall(
            db,
            f"SELECT steps, min_step, max_step FROM {COUNTS_TABLE} WHERE session_id = ?",
            (session_id,),
        )
        if counts:
            steps_n, low, high = counts[0][0], counts[0][1], counts[0][2]
            total = contiguous_total(steps_n, low, high, query)
        else:
            total = 0
    elif not ranges:
        found = await fetchall(
            db, f"SELECT steps FROM {NODE_COUNTS_TABLE} WHERE session_id = ? AND node = ?", head
        )
        total = int(found[0][0]) if found else 0
    if total is None:
        total = (await fetchall(db, f"SELECT count(*) FROM {source} WHERE {where} {bounds}", head + args))[0][
            0
        ]
    # Two phases: pick the page's step numbers from an index alone (cheap to skip an OFFSET over),
    # then read just those rows.
    steps = [
        r[0]
        for r in await fetchall(
            db,
            f"SELECT x.step FROM {source} WHERE {where} {bounds} ORDER BY x.step DESC LIMIT ? OFFSET ?",
            [*head, *args, query.limit, query.offset],
        )
    ]
    items: list[Checkpoint] = []
    if steps:
        marks = ", ".join("?" * len(steps))
        rows = await fetchall(
            db,
            f"SELECT {STEP_COLUMNS} FROM steps t JOIN sessions s ON s.id = t.session_id"
            f" WHERE t.session_id = ? AND t.step IN ({marks}) ORDER BY t.step DESC",
            [session_id, *steps],
        )
        items = await to_checkpoints(db, session_id, rows)
    return StepQueryResult(items, int(total), query.offset + len(steps) < int(total))


async def materialize(db: aiosqlite.Connection, session_id: str, steps: list[int], *, write: bool) -> int:
    """Turn these delta steps into full snapshots (or with `write=False` only measure); returns the growth
    in payload bytes. Runs inside the caller's transaction."""
    chain = await chains(db, session_id, set(steps))
    fetch = _fetcher(chain)
    cache: dict[int, JsonDict] = {}
    growth = 0
    for step in sorted(steps):
        old_text, parent = chain[step]
        state = resolve_state(session_id, step, json.loads(old_text), parent, fetch, cache)
        text = dumps(state)
        delta = len(text.encode()) - len(old_text.encode())
        growth += delta
        if write:
            await execute(
                db,
                "UPDATE steps SET state_json = ?, parent_step = NULL,"
                " payload_bytes = COALESCE(payload_bytes, 0) + ? WHERE session_id = ? AND step = ?",
                (text, delta, session_id, step),
            )
    return growth


async def prune(
    db: aiosqlite.Connection, policy: PrunePolicy, cutoff: str | None, dry_run: bool
) -> PruneReport:
    """Delete (or count) the steps the policy selects in one IMMEDIATE transaction; never a session's latest
    step; kept delta steps whose parent goes become full snapshots first (their growth is subtracted)."""
    keep = policy.keep_last if policy.keep_last is not None else 1
    args: list[Any] = []
    scope = ""
    if policy.session_ids is not None:
        ids = list(policy.session_ids)
        scope = f"WHERE t.session_id IN ({', '.join('?' * len(ids))})" if ids else "WHERE 0"
        args.extend(ids)
    older = "AND julianday(t.created_at) < julianday(?)" if cutoff is not None else ""
    # Candidates: rank steps per session newest first; keep the first `keep` and the session's latest.
    # They are collected once into a temp table keyed like `steps`, so the queries below are index lookups.
    candidates = (
        "INSERT INTO temp.weavegraph_doomed (sid, step, rid, size)"
        " WITH ranked AS (SELECT t.rowid AS rid, t.session_id AS sid, t.step AS step,"
        " ROW_NUMBER() OVER (PARTITION BY t.session_id ORDER BY t.step DESC) AS rn"
        f" FROM steps t {scope})"
        f" SELECT r.sid, r.step, r.rid, {COMPUTED_BYTES.replace('steps.', 't.')}"
        " FROM ranked r JOIN sessions s ON s.id = r.sid JOIN steps t ON t.rowid = r.rid"
        f" WHERE r.rn > ? AND r.step <> s.last_step {older}"
    )
    args.append(keep)
    if cutoff is not None:
        args.append(cutoff)
    await execute(db, "BEGIN IMMEDIATE")
    try:
        await execute(
            db,
            "CREATE TEMP TABLE IF NOT EXISTS weavegraph_doomed (sid TEXT NOT NULL, step INTEGER NOT NULL,"
            " rid INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (sid, step)) WITHOUT ROWID",
        )
        await execute(db, "DELETE FROM temp.weavegraph_doomed")
        await execute(db, candidates, args)
        count, sessions, size = (
            await fetchall(
                db,
                "SELECT count(*), count(DISTINCT sid), COALESCE(sum(size), 0) FROM temp.weavegraph_doomed",
            )
        )[0]
        orphans: dict[str, list[int]] = {}
        for sid, step in await fetchall(
            db,
            "SELECT k.session_id, k.step FROM steps k JOIN temp.weavegraph_doomed d"
            " ON d.sid = k.session_id AND d.step = k.parent_step"
            " WHERE k.parent_step IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM temp.weavegraph_doomed o WHERE o.sid = k.session_id"
            " AND o.step = k.step)",
        ):
            orphans.setdefault(sid, []).append(int(step))
        growth = 0
        for sid, steps in orphans.items():
            growth += await materialize(db, sid, steps, write=not dry_run)
        if not dry_run and count:
            await execute(db, "DELETE FROM steps WHERE rowid IN (SELECT rid FROM temp.weavegraph_doomed)")
        await execute(db, "DELETE FROM temp.weavegraph_doomed")
        await execute(db, "COMMIT")
    except BaseException:
        if db.in_transaction:
            await execute(db, "ROLLBACK")
        raise
    return PruneReport(int(count), int(size) - growth, int(sessions), dry_run)


async def watch_snapshot(db: aiosqlite.Connection) -> tuple[dict[str, int], int]:
    version = (await fetchall(db, "PRAGMA data_version"))[0][0]
    seen = {str(sid): int(step) for sid, step in await fetchall(db, "SELECT id, last_step FROM sessions")}
    return seen, int(version)


async def watch_poll(
    db: aiosqlite.Connection, seen: dict[str, int], version: int
) -> tuple[list[tuple[str, int]], int]:
    """New (session, step) pairs since the last poll; reads only when `PRAGMA data_version` moved."""
    now = int((await fetchall(db, "PRAGMA data_version"))[0][0])
    if now == version:
        return [], version
    found: list[tuple[str, int]] = []
    await execute(db, "BEGIN")  # one read snapshot for the sessions scan and the step reads
    try:
        for sid, last in await fetchall(db, "SELECT id, last_step FROM sessions"):
            before = seen.get(sid)
            if before is not None and last <= before:
                continue
            floor = before if before is not None else -1
            steps = await fetchall(
                db, "SELECT step FROM steps WHERE session_id = ? AND step > ? ORDER BY step", (sid, floor)
            )
            found.extend((str(sid), int(s[0])) for s in steps)
            seen[str(sid)] = int(last)
    finally:
        await execute(db, "COMMIT")
    return found, now
