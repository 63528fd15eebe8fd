"""The LangGraph Postgres reader on a database written by LangGraph's PostgresSaver (the suite's server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.base import MIGRATIONS
from langgraph.types import Command

from engine.foreign.langgraph import (
    LangGraphSchemaTooNew,
    NotALangGraphDatabase,
    ThreadKey,
    ThreadQuery,
    export_thread,
    open_langgraph,
    prune_langgraph,
    state_json,
    vacuum_langgraph,
)
from engine.foreign.langgraph.pg_reader import KNOWN_MIGRATION
from tests.engine.foreign.lg_graphs import approval_graph, cfg, chat_graph, populate

pytestmark = pytest.mark.postgres


@pytest.fixture
def lg_pg(postgres_url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with PostgresSaver.from_conn_string(postgres_url) as saver:
        saver.setup()
        facts = populate(saver)
    yield postgres_url, facts


async def _fingerprint(url: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        out = []
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"):
            out.append(
                await conn.fetchval(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t")
            )
        out.append(
            await conn.fetchval("SELECT SUM(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")
        )
        return out
    finally:
        await conn.close()


def test_known_migration_matches_the_installed_saver() -> None:
    assert len(MIGRATIONS) - 1 == KNOWN_MIGRATION


async def test_browse_threads_tree_values_and_writes(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, facts = lg_pg
    async with await open_langgraph(url) as reader:
        assert reader.backend == "postgres" and "pw-" not in reader.location
        page = await reader.list_threads()
        assert page.total_count == 7
        found = await reader.list_threads(ThreadQuery(search="CHAT", order_by="thread_id", descending=False))
        assert [t.key.thread_id for t in found.items] == ["chat-1", "chat-2"]
        tree = await reader.checkpoint_tree(ThreadKey("chat-1"))
        assert len(tree.tips) == 2 and tree.lanes[facts["fork"]] == 0
        steps = await reader.list_checkpoints(ThreadKey("chat-1"), limit=3)
        assert steps.total_count == 13 and steps.items[0].source == "update" and steps.items[0].bytes > 0
        detail = await reader.load_checkpoint(ThreadKey("chat-2"))
        assert [m["type"] for m in detail.channels["messages"].value] == ["human", "ai"]
        assert detail.channels["turns"].value == 1
        assert state_json(detail)["messages"]["items"][1] == {"role": "assistant", "content": "echo: hi 0"}
        waiting = await reader.load_checkpoint(ThreadKey("approve-waiting"))
        assert any(w.channel == "__interrupt__" and w.value.decoded for w in waiting.pending_writes)
        sub = next(t for t in page.items if t.key.checkpoint_ns)
        assert (await reader.load_checkpoint(sub.key)).channels["items"].value == [
            "first",
            "inner-a",
            "inner-b",
        ]
        records = await export_thread(reader, ThreadKey("chat-2"))
        assert records[-1]["state"]["messages"]["items"][0] == {"role": "user", "content": "hi 0"}


async def test_reading_is_read_only(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    before = await _fingerprint(url)
    async with await open_langgraph(url) as reader:
        for t in (await reader.list_threads()).items:
            await reader.list_checkpoints(t.key)
            await reader.checkpoint_tree(t.key)
            await reader.load_checkpoint(t.key)
        await reader.analytics()
        await reader.plan_prune(1)
        with pytest.raises(Exception, match="read-only"):
            await reader._fetch("DELETE FROM checkpoints")
        assert await reader._conn.fetchval("SHOW default_transaction_read_only") == "on"
    assert await _fingerprint(url) == before


async def test_analytics(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    async with await open_langgraph(url) as reader:
        report = await reader.analytics(keep_last=(1, 100))
    assert report.backend == "postgres" and report.checkpoints == 34 and report.writes > 0
    assert set(report.tables) >= {"checkpoints", "checkpoint_blobs", "checkpoint_writes"}
    assert report.channels and report.channels[0].bytes >= report.channels[-1].bytes
    assert report.threads[0].bytes >= report.threads[-1].bytes
    one, hundred = report.keep_last
    assert one.checkpoints > 0 and one.blobs > 0 and one.bytes > 0 and hundred.checkpoints == 0


async def test_prune_keeps_everything_loadable_by_langgraph(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    async with await open_langgraph(url) as reader:
        preview = await reader.plan_prune(1)
    applied = await prune_langgraph(url, 1, vacuum=True)
    assert applied.summary == preview.summary and applied.summary.blobs > 0
    with PostgresSaver.from_conn_string(url) as saver:
        tuples = list(saver.list(None))
        assert len(tuples) == 34 - applied.summary.checkpoints
        for tup in tuples:
            loaded = saver.get_tuple(tup.config)
            assert (
                loaded is not None and loaded.checkpoint["channel_values"] == tup.checkpoint["channel_values"]
            )
        chat = chat_graph(saver)
        assert len(chat.get_state(cfg("chat-1")).values["messages"]) == 4
        approval = approval_graph(saver)
        final = approval.invoke(Command(resume="ok"), cfg("approve-waiting"))
        assert final["log"] == ["asked", "done: ok"]


async def test_newer_schema_is_refused_with_the_version(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO checkpoint_migrations (v) VALUES ($1)", KNOWN_MIGRATION + 3)
    finally:
        await conn.close()
    before = await _fingerprint(url)
    with pytest.raises(LangGraphSchemaTooNew) as info:
        await open_langgraph(url)
    assert info.value.found == KNOWN_MIGRATION + 3 and f"version {KNOWN_MIGRATION + 3}" in str(info.value)
    assert info.value.kind == "schema_newer" and "\n" not in str(info.value) and "pw-" not in str(info.value)
    with pytest.raises(LangGraphSchemaTooNew):
        await prune_langgraph(url, 1)
    assert await _fingerprint(url) == before


async def test_a_database_without_langgraph_tables_is_refused(postgres_url: str) -> None:
    with pytest.raises(NotALangGraphDatabase, match="checkpoint_migrations"):
        await open_langgraph(postgres_url)


async def test_a_corrupt_blob_is_undecodable(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE checkpoint_blobs SET blob = '\\xa3fffefd'::bytea "
            "WHERE thread_id = 'chat-2' AND channel = 'messages'"
        )
        await conn.execute(
            "UPDATE checkpoint_writes SET blob = '\\xc1'::bytea WHERE thread_id = 'approve-waiting'"
        )
    finally:
        await conn.close()
    async with await open_langgraph(url) as reader:
        detail = await reader.load_checkpoint(ThreadKey("chat-2"))
        assert not detail.channels["messages"].decoded and "cannot decode" in (
            detail.channels["messages"].error or ""
        )
        assert detail.channels["turns"].decoded
        waiting = await reader.load_checkpoint(ThreadKey("approve-waiting"))
        assert waiting.pending_writes and all(not w.value.decoded for w in waiting.pending_writes)
        assert (await reader.analytics()).checkpoints == 34


async def test_vacuum_runs_and_keeps_the_data(lg_pg: tuple[str, dict[str, Any]]) -> None:
    url, _ = lg_pg
    await vacuum_langgraph(url)
    async with await open_langgraph(url) as reader:
        assert (await reader.list_threads()).total_count == 7
