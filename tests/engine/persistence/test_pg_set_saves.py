"""Issue 20, migration 0009: the set-based `weavegraph_save_group` and the statement-level counts triggers, on
the real server the suite starts.

- The same groups written set-based and through the item-by-item loop (`weavegraph_save_group_serial`, 0008's
  body) leave the same rows in every table, with conflicts, stale delta bases, overwrites, node records,
  events and session info mixed in, in both storage modes.
- The counts the triggers keep equal `count(*)` (and the bytes, min/max step and per-node counts) after
  grouped saves, overwrites, prune and delete.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

import engine.persistence.pg_save as pg_save
from engine.errors import CheckpointConflict
from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.persistence.base import PrunePolicy, StepQuery
from engine.persistence.incremental import encode_save
from engine.persistence.postgres import PostgresCheckpointer

from .helpers import make_cp

pytestmark = pytest.mark.postgres

SERIAL_SQL = pg_save.GROUP_SQL.replace("weavegraph_save_group(", "weavegraph_save_group_serial(")

TABLES = {
    "sessions": "SELECT id, concurrency_limit, last_step, last_state_json, last_frontier_json,"
    " last_versions_seen_json, graph_hash FROM sessions WHERE id LIKE $1 ORDER BY id",
    "steps": "SELECT session_id, step, created_at, state_json, frontier_json, versions_seen_json,"
    " ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step FROM steps"
    " WHERE session_id LIKE $1 ORDER BY 1, 2",
    "records": "SELECT session_id, step, idx, node, status, attempts, started_at, duration_ms, output_json,"
    " error_json FROM wg_node_records WHERE session_id LIKE $1 ORDER BY 1, 2, 3",
    "events": "SELECT session_id, step, event_json FROM wg_events WHERE session_id LIKE $1 ORDER BY id",
    "info": "SELECT * FROM wg_session_info WHERE session_id LIKE $1 ORDER BY 1",
    "counts": "SELECT * FROM weavegraph_session_counts WHERE session_id LIKE $1 ORDER BY 1",
    "nodes": "SELECT * FROM weavegraph_step_nodes WHERE session_id LIKE $1 ORDER BY 1, 2, 3",
    "node_counts": "SELECT * FROM weavegraph_node_counts WHERE session_id LIKE $1 ORDER BY 1, 2",
}


_EVENTS: dict[tuple[int, int], Event] = {}


def _checkpoint(sid: str, step: int, k: int) -> Any:
    when = dt.datetime(2026, 3, 1, 12, k % 60, tzinfo=dt.UTC)
    cp = make_cp(sid, step, ran=["A", "Custom:B"] if k % 2 else ["A"], graph_hash=f"h{k % 3}")
    cp.node_records = [
        NodeRecord(sid, step, f"n{j}", "ok", 1, when, 0.5 * j, {"j": j, "k": k}, None) for j in range(k % 3)
    ]
    if (k, step) not in _EVENTS:  # the same event (and timestamp) on both sides
        _EVENTS[k, step] = Event.create("test.set", "session", f"event {k}", step=step)
    cp.events = [_EVENTS[k, step]] * (k % 2)
    cp.graph_name = "g" if step == 0 else None
    if k % 5 == 4:
        cp.parent = (f"{sid}-origin", 0)
    return cp


async def _write(
    cp: PostgresCheckpointer, sql: str, prefix: str, group: list[tuple[int, int, int | None, int]]
) -> list[str]:
    """Prepare the group's saves (sessions `prefix`-i) and write them with `sql`; each outcome's name."""
    store = cp._store
    items = []
    for i, step, expected, k in group:
        checkpoint = _checkpoint(f"{prefix}-{i}", step, k)
        items.append(pg_save.prepare(checkpoint, encode_save(checkpoint, store.texts), expected, store))
    columns = pg_save.group_columns(items)
    outcomes = []
    async with cp._pool.acquire() as conn:
        rows = await conn.fetch(sql, *columns)
    for prepared, row in zip(items, rows, strict=True):
        outcome = prepared.result(int(row[0]), None if row[1] is None else int(row[1]))
        if outcome is None:
            prepared.written(store)
        outcomes.append(type(outcome).__name__ if outcome is not None else f"ok:{row[1]}")
        if isinstance(outcome, pg_save.Fallback):
            outcomes[-1] += f":{outcome.status}"
        if isinstance(outcome, CheckpointConflict):
            outcomes[-1] += f":{outcome.actual}"
    return outcomes


async def _rows(cp: PostgresCheckpointer, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    async with cp._pool.acquire() as conn:
        out = {}
        for name, sql in TABLES.items():
            rows = await conn.fetch(sql, f"{prefix}-%")
            out[name] = [tuple(r.values()) for r in rows]
        return out


# (session index, step, expected last step, variety): conflicts (expected wrong), new and existing sessions,
# overwrites of existing steps (full mode writes them; compact sends status 3 back), records and events.
GROUPS: list[list[tuple[int, int, int | None, int]]] = [
    [(i, 0, None, i) for i in range(8)],
    [
        (0, 1, 0, 1),
        (1, 1, 5, 2),
        (2, 1, 0, 3),
        (3, 1, None, 4),
        (8, 0, None, 5),
        (9, 0, 3, 6),
        (4, 0, None, 7),
    ],
    [(0, 2, 1, 8), (2, 2, 1, 9), (3, 0, 1, 10), (5, 1, 0, 11), (6, 1, 0, 12), (7, 1, 1, 13)],
    [(0, 3, 2, 14), (1, 1, 0, 15), (5, 1, 1, 16), (6, 2, 1, 17), (9, 0, None, 18)],
]


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_set_based_group_writes_what_the_item_by_item_loop_writes(postgres_url: str, mode: str) -> None:
    set_based = await PostgresCheckpointer.connect(postgres_url, storage_mode=mode)
    serial = await PostgresCheckpointer.connect(postgres_url, storage_mode=mode)
    assert set_based.storage_mode == mode
    a, b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    try:
        for group in GROUPS:
            assert len({i for i, *_ in group}) == len(group)  # distinct sessions: the set-based path
            got = await _write(set_based, pg_save.GROUP_SQL, a, group)
            want = await _write(serial, SERIAL_SQL, b, group)
            assert got == want
        assert got != ["ok"] * len(got)
        rows_a, rows_b = await _rows(set_based, a), await _rows(serial, b)
        for name in TABLES:
            fix = [
                tuple(str(v).replace(a, b) if isinstance(v, str) else v for v in row) for row in rows_a[name]
            ]
            assert fix == rows_b[name], name
        assert rows_a["records"] and rows_a["events"] and rows_a["info"]
    finally:
        await set_based.aclose()
        await serial.aclose()


async def _counts_match(conn: asyncpg.Connection, prefix: str) -> None:
    kept = await conn.fetch(
        "SELECT session_id, steps, bytes, min_step, max_step FROM weavegraph_session_counts"
        " WHERE session_id LIKE $1 ORDER BY 1",
        f"{prefix}%",
    )
    counted = await conn.fetch(
        "SELECT session_id, count(*), sum(weavegraph_step_bytes(payload_bytes, state_json, frontier_json,"
        " versions_seen_json, ran_nodes_json, skipped_nodes_json, updated_channels_json)),"
        " min(step), max(step)"
        " FROM steps WHERE session_id LIKE $1 GROUP BY 1 ORDER BY 1",
        f"{prefix}%",
    )
    assert [tuple(r) for r in kept] == [tuple(r) for r in counted]
    kept_nodes = await conn.fetch(
        "SELECT session_id, node, steps FROM weavegraph_node_counts WHERE session_id LIKE $1 ORDER BY 1, 2",
        f"{prefix}%",
    )
    counted_nodes = await conn.fetch(
        "SELECT t.session_id, n.name, count(*) FROM steps t, weavegraph_nodes_of(t.ran_nodes_json) AS n(name)"
        " WHERE t.session_id LIKE $1 GROUP BY 1, 2 ORDER BY 1, 2",
        f"{prefix}%",
    )
    assert [tuple(r) for r in kept_nodes] == [tuple(r) for r in counted_nodes]


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_counts_equal_count_star_after_grouped_saves_overwrites_prune_and_delete(
    postgres_url: str, mode: str
) -> None:
    import asyncio

    cp = await PostgresCheckpointer.connect(postgres_url, storage_mode=mode)
    prefix = f"c{uuid.uuid4().hex[:8]}"
    try:
        assert cp.group_commit
        for step in range(6):
            await asyncio.gather(
                *(
                    cp.save(make_cp(f"{prefix}-{i}", step, ran=["A", "Custom:B"][: 1 + (i + step) % 2]))
                    for i in range(12)
                )
            )
        # overwrites of existing steps with other ran nodes (full mode: in the group; compact: alone)
        await asyncio.gather(*(cp.save(make_cp(f"{prefix}-{i}", 2, ran=["C"])) for i in range(12)))
        async with cp._pool.acquire() as conn:
            await _counts_match(conn, prefix)
            assert (
                await conn.fetchval(
                    "SELECT sum(steps) FROM weavegraph_session_counts WHERE session_id LIKE $1", f"{prefix}%"
                )
                == 12 * 6
            )
        page = await cp.query_steps(f"{prefix}-3", StepQuery(ran_node="C"))
        assert page.total_count == 1
        await cp.prune(PrunePolicy(keep_last=3))
        await cp.delete_session(f"{prefix}-0")
        async with cp._pool.acquire() as conn:
            await _counts_match(conn, prefix)
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM weavegraph_session_counts WHERE session_id = $1", f"{prefix}-0"
                )
                == 0
            )
    finally:
        await cp.aclose()
