"""Issue 20, migration 0011: the save functions keep the counts, the ran-node index and the NOTIFY themselves
(the triggers on `steps` skip their rows), and node records have no foreign key to their step. On the real
server the suite starts:

- after single and grouped saves the kept counts equal `count(*)`, and every saved step is announced once;
- a step that another writer already wrote (the save's insert finds it) is overwritten as before, with its
  records replaced and the counts still exact, for a single save and inside a group;
- a step's records go with the step (prune, delete_session) and no record is ever left without its step;
- a record that cannot be stored as JSON fails its own save before anything is sent; its group commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import uuid
from typing import Any

import asyncpg
import pytest

from engine.node_records import NodeRecord
from engine.persistence.base import PrunePolicy
from engine.persistence.errors import CheckpointDataError
from engine.persistence.postgres import PostgresCheckpointer

from .helpers import make_cp
from .test_pg_set_saves import _counts_match

pytestmark = pytest.mark.postgres

WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _cp(sid: str, step: int, ran: list[str], records: int = 1, output: Any = None) -> Any:
    cp = make_cp(sid, step, ran=ran)
    cp.node_records = [
        NodeRecord(sid, step, f"n{j}", "done", 1, WHEN, 0.5, output if output is not None else {"j": j}, None)
        for j in range(records)
    ]
    return cp


async def _orphans(conn: asyncpg.Connection, prefix: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM wg_node_records r WHERE r.session_id LIKE $1 AND NOT EXISTS"
            " (SELECT 1 FROM steps t WHERE t.session_id = r.session_id AND t.step = r.step)",
            f"{prefix}%",
        )
    )


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_inline_counts_and_notify_after_single_and_grouped_saves(postgres_url: str, mode: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url, storage_mode=mode)
    prefix = f"l{uuid.uuid4().hex[:8]}"
    heard: list[tuple[str, int]] = []
    listener = await asyncpg.connect(postgres_url)

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        found = json.loads(payload)
        if found["session_id"].startswith(prefix):
            heard.append((found["session_id"], found["step"]))

    await listener.add_listener("weavegraph_steps", on_notify)
    try:
        for step in range(5):  # one session alone: single saves
            await cp.save(_cp(f"{prefix}-solo", step, ["A", "Custom:B"][: 1 + step % 2]))
        for step in range(4):  # many at once: groups
            await asyncio.gather(
                *(
                    cp.save(_cp(f"{prefix}-{i}", step, ["A", "C"][: 1 + (i + step) % 2], records=i % 3))
                    for i in range(10)
                )
            )
        assert cp._group.groups < 5 + 4 * 10  # some saves went together
        async with cp._pool.acquire() as conn:
            await _counts_match(conn, prefix)
            assert (
                await conn.fetchval("SELECT count(*) FROM steps WHERE session_id LIKE $1", f"{prefix}%") == 45
            )
        for _ in range(50):
            if len(heard) >= 45:
                break
            await asyncio.sleep(0.05)
        want = [(f"{prefix}-solo", s) for s in range(5)] + [
            (f"{prefix}-{i}", s) for s in range(4) for i in range(10)
        ]
        assert sorted(heard) == sorted(want)
    finally:
        await listener.close()
        await cp.aclose()


@pytest.mark.parametrize("grouped", [False, True])
async def test_a_step_another_writer_already_wrote_is_overwritten_with_exact_counts(
    postgres_url: str, grouped: bool
) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url, storage_mode="compact")
    prefix = f"o{uuid.uuid4().hex[:8]}"
    sids = [f"{prefix}-{i}" for i in range(3 if grouped else 1)]
    try:
        for sid in sids:
            await cp.save(_cp(sid, 0, ["A"]))
        async with cp._pool.acquire() as conn:
            for sid in sids:  # step 1 written by someone else, the session's latest pointer left at 0
                await conn.execute(
                    "INSERT INTO steps (session_id, step, state_json, frontier_json, versions_seen_json,"
                    " ran_nodes_json, skipped_nodes_json) VALUES ($1, 1, '{}', '[]', '{}', '[\"Z\"]', '[]')",
                    sid,
                )
                await conn.execute(
                    "INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at,"
                    " duration_ms) VALUES ($1, 1, 0, 'Z', 'done', 1, now(), 1),"
                    " ($1, 1, 1, 'Z2', 'done', 1, now(), 1)",
                    sid,
                )
        groups, items = cp._group.groups, cp._group.items
        await asyncio.gather(*(cp.save(_cp(sid, 1, ["B"], records=1), expected_last_step=0) for sid in sids))
        assert (cp._group.items - items > cp._group.groups - groups) == grouped  # the group's statement ran
        async with cp._pool.acquire() as conn:
            await _counts_match(conn, prefix)
            for sid in sids:
                row = await conn.fetchrow(
                    "SELECT ran_nodes_json, payload_bytes FROM steps WHERE session_id = $1 AND step = 1", sid
                )
                assert json.loads(row[0]) == ["Custom:B"] and row[1] is not None
                nodes = await conn.fetch(
                    "SELECT node FROM wg_node_records WHERE session_id = $1 AND step = 1", sid
                )
                assert [r[0] for r in nodes] == ["n0"]
                assert await conn.fetchval("SELECT last_step FROM sessions WHERE id = $1", sid) == 1
        loaded = await cp.load_latest(sids[0])
        assert loaded is not None and loaded.step == 1
    finally:
        await cp.aclose()


async def test_records_go_with_their_step_and_none_is_left_without_one(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url, storage_mode="full")
    prefix = f"r{uuid.uuid4().hex[:8]}"
    try:
        async with cp._pool.acquire() as conn:
            keys = await conn.fetchval(
                "SELECT count(*) FROM pg_constraint"
                " WHERE conrelid = 'wg_node_records'::regclass AND contype = 'f'"
            )
        assert keys == 0  # integrity comes from the write path and the delete trigger (migration 0011)
        for step in range(6):
            await asyncio.gather(*(cp.save(_cp(f"{prefix}-{i}", step, ["A"], records=2)) for i in range(3)))
        await cp.save(_cp(f"{prefix}-0", 3, ["A"], records=1))  # an overwrite replaces the step's records
        await cp.prune(PrunePolicy(keep_last=2))
        async with cp._pool.acquire() as conn:
            assert await _orphans(conn, prefix) == 0
            kept = await conn.fetch(
                "SELECT session_id, step, count(*) FROM wg_node_records WHERE session_id LIKE $1"
                " GROUP BY 1, 2 ORDER BY 1, 2",
                f"{prefix}%",
            )
            assert [tuple(r) for r in kept] == [(f"{prefix}-{i}", s, 2) for i in range(3) for s in (4, 5)]
        await cp.delete_session(f"{prefix}-1")
        async with cp._pool.acquire() as conn:
            assert await _orphans(conn, prefix) == 0
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM wg_node_records WHERE session_id = $1", f"{prefix}-1"
                )
                == 0
            )
            await _counts_match(conn, prefix)
    finally:
        await cp.aclose()


async def test_a_record_json_cannot_hold_fails_its_save_alone(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    prefix = f"n{uuid.uuid4().hex[:8]}"
    try:
        results = await asyncio.gather(
            *(
                cp.save(_cp(f"{prefix}-{i}", 0, ["A"], output={"x": math.nan} if i == 2 else None))
                for i in range(6)
            ),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results] == ["NoneType"] * 2 + ["CheckpointDataError"] + [
            "NoneType"
        ] * 3
        assert isinstance(results[2], CheckpointDataError) and "not JSON-storable" in str(results[2])
        for i in range(6):
            assert (await cp.load_latest(f"{prefix}-{i}") is None) == (i == 2)
    finally:
        await cp.aclose()
