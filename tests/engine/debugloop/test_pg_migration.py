"""A Postgres database written before node records existed (schema version 4, dumped by
fixtures/make_pg_before_records.py with the engine of commit e835386) opens with today's code: it migrates,
keeps its sessions, reads no records for them, and records, forks and replays from then on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.clock import MockClock
from engine.persistence.base import PrunePolicy
from engine.persistence.postgres import PostgresCheckpointer
from engine.persistence.schema import latest
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.debugloop.test_fork_replay import counting

FIXTURES = Path(__file__).resolve().parents[1] / "persistence" / "fixtures"

pytestmark = pytest.mark.postgres


async def _restore(url: str, mode: str) -> None:
    sql = (FIXTURES / f"pg_e835386_{mode}.sql").read_text(encoding="utf-8")
    conn = await asyncpg.connect(url)  # the dump empties search_path: a connection of its own
    try:
        await conn.execute(sql)
        assert await conn.fetchval("SELECT version FROM public.weavegraph_schema_version") == 4
        tables = {
            r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert "wg_node_records" not in tables  # really from before records
    finally:
        await conn.close()


async def _runner(cp: Any, calls: dict[str, int]) -> AppRunner:
    return (
        await AppRunner.builder().app(counting(calls)).checkpointer_custom(cp).clock(MockClock(5.0)).build()
    )


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_a_database_from_before_records_migrates_and_records(postgres_url: str, mode: str) -> None:
    await _restore(postgres_url, mode)
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        conn = await asyncpg.connect(postgres_url)
        try:
            assert await conn.fetchval("SELECT version FROM weavegraph_schema_version") == latest("postgres")
            assert await conn.fetchval("SELECT value FROM weavegraph_meta WHERE key = 'storage_mode'") == mode
        finally:
            await conn.close()
        # the old sessions: all steps there, no records, no events, no lineage - and no error
        assert sorted(await cp.list_sessions()) == ["alpha", "beta"]
        latest_alpha = await cp.load_latest("alpha")
        assert latest_alpha is not None and latest_alpha.step == 5 and latest_alpha.state.extra["n"] == 5
        assert len(latest_alpha.state.messages) == 6
        assert await cp.node_records("alpha") == [] and await cp.events("alpha") == []
        info = await cp.session_info("alpha")
        assert info is not None and (info.last_step, info.step_count, info.parent_session) == (5, 6, None)

        # from now on: a new run records its nodes, a fork of an old step keeps its lineage
        calls: dict[str, int] = {}
        runner = await _runner(cp, calls)
        await runner.create_session("new", VersionedState.new_with_user_message("go"))
        await runner.run_until_complete("new")
        assert [r.step for r in await cp.node_records("new")][:2] == [1, 2]
        await runner.fork_session("alpha", 3, "alpha-fork")
        forked = await cp.session_info("alpha-fork")
        assert forked is not None and (forked.parent_session, forked.parent_step) == ("alpha", 3)
        assert [c.session_id for c in await cp.children("alpha")] == ["alpha-fork"]

        # a replay of an old session has nothing recorded: every node runs live, diverging at once
        before = dict(calls)
        result = await runner.replay_session("beta", "beta-replay", from_step=2)
        assert result.recorded == [] and result.diverged_at == 3 and result.ran_live
        assert sum(calls.values()) > sum(before.values())
        await runner.aclose()

        # prune and delete work on the old and the new rows together
        await cp.prune(PrunePolicy(keep_last=1))
        assert [r.step for r in await cp.node_records("new")] == [(await cp.load_latest("new")).step]
        await cp.delete_session("new")
        assert await cp.node_records("new") == []
        assert (await cp.load_latest("alpha")).step == 5
    finally:
        await cp.aclose()
