"""Issue 13: Weavegraph 0.6 re-saves a step with INSERT OR REPLACE, which deletes the old row without firing
delete triggers (its connection never sets recursive_triggers). Our trigger-kept counts must not drift:
after such re-saves, `query_steps(...).total_count` and `has_next_page` still match the `steps` table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.persistence.base import StepQuery
from engine.persistence.sqlite import SQLiteCheckpointer

from .helpers import make_cp

STATE = json.dumps(
    {
        "messages": {"version": 1, "items": [{"role": "user", "content": "hi"}]},
        "extra": {"version": 1, "map": {}},
        "errors": {"version": 1, "items": []},
    }
)

# Weavegraph 0.6's own statements (its SQLite checkpointer), column for column.
WEAVEGRAPH_SAVE_STEP = (
    "INSERT OR REPLACE INTO steps (session_id, step, state_json, frontier_json, versions_seen_json,"
    " ran_nodes_json, skipped_nodes_json, updated_channels_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
WEAVEGRAPH_SAVE_SESSION = (
    "INSERT INTO sessions (id, concurrency_limit, last_step, last_state_json, last_frontier_json,"
    " last_versions_seen_json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
    " updated_at = CURRENT_TIMESTAMP, last_step = excluded.last_step,"
    " last_state_json = excluded.last_state_json, last_frontier_json = excluded.last_frontier_json,"
    " last_versions_seen_json = excluded.last_versions_seen_json"
)


def weavegraph_save(path: Path, session: str, step: int, ran: list[str]) -> None:
    conn = sqlite3.connect(path)  # a plain connection, as Weavegraph's: no recursive_triggers
    try:
        conn.execute(WEAVEGRAPH_SAVE_SESSION, (session, 2, step, STATE, '["End"]', "{}"))
        conn.execute(
            WEAVEGRAPH_SAVE_STEP, (session, step, STATE, '["End"]', "{}", json.dumps(ran), "[]", "[]")
        )
        conn.commit()
    finally:
        conn.close()


def rows(path: Path, session: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM steps WHERE session_id = ?", (session,)).fetchone()[0])


@pytest.mark.parametrize("mode", ["full", "compact"])
async def test_counts_survive_weavegraph_replace(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "shared.db"
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode=mode)
    try:
        for step in range(4):
            await cp.save(make_cp("s", step, ran=["A"]))
        for step in (1, 2, 3, 3):  # Weavegraph re-saves existing steps (3 twice) and adds step 4
            weavegraph_save(path, "s", step, ["Custom:B"])
        weavegraph_save(path, "s", 4, ["Custom:A"])
        assert rows(path, "s") == 5
        everything = await cp.query_steps("s")
        assert everything.total_count == 5 and not everything.has_next_page
        assert [c.step for c in everything.checkpoints] == [4, 3, 2, 1, 0]
        page = await cp.query_steps("s", StepQuery(limit=3, offset=2))
        assert page.total_count == 5 and not page.has_next_page and len(page.checkpoints) == 3
        page = await cp.query_steps("s", StepQuery(limit=2))
        assert page.total_count == 5 and page.has_next_page
        ran_a = await cp.query_steps("s", StepQuery(ran_node="A"))
        ran_b = await cp.query_steps("s", StepQuery(ran_node="B"))
        assert [c.step for c in ran_a.checkpoints] == [4, 0] and ran_a.total_count == 2
        assert [c.step for c in ran_b.checkpoints] == [3, 2, 1] and ran_b.total_count == 3
        stats = await cp.storage_stats()
        assert [(s.session_id, s.steps) for s in stats.sessions] == [("s", 5)]
        await cp.save(make_cp("s", 2, ran=["A"]))  # and our own overwrite (an upsert) after theirs
        assert (await cp.query_steps("s")).total_count == 5
        assert (await cp.query_steps("s", StepQuery(ran_node="A"))).total_count == 3
    finally:
        await cp.aclose()
