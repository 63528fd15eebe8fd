"""PostgreSQL specifics on a real throwaway server: migrations, Weavegraph 0.6 tables, bad credentials,
a server restart in the middle of a run, concurrent writers and watch() across processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from engine.errors import CheckpointerError
from engine.persistence.base import StepQuery
from engine.persistence.errors import (
    AuthenticationFailed,
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageNotFound,
    StorageUnavailable,
)
from engine.persistence.factory import migrate, open_checkpointer
from engine.persistence.postgres import PostgresCheckpointer
from engine.persistence.schema import migrations
from engine.types import NodeKind
from tests.engine.persistence.helpers import make_cp
from tests.engine.persistence.test_sqlite import race
from tests.pgserver import PostgresServer, free_port

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
WRITER = Path(__file__).with_name("writer_proc.py")


async def test_migrate_applies_once_and_connect_can_require_it(postgres_url: str) -> None:
    with pytest.raises(NotACheckpointDatabase, match="weavegraph migrate"):
        await PostgresCheckpointer.connect(postgres_url, migrate=False)
    applied = await migrate(postgres_url)
    assert applied == [m.name for m in migrations("postgres")] and applied[0] == "0001_weavegraph_init"
    assert await migrate(postgres_url) == []
    cp = await PostgresCheckpointer.connect(postgres_url, migrate=False)
    await cp.save(make_cp("s", 0))
    await cp.aclose()


async def test_weavegraph_06_tables_load(postgres_url: str) -> None:
    """A database with only Weavegraph 0.6's tables (its own migration, no schema_migrations) and rows."""
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(migrations("postgres")[0].sql)  # 0001 is Weavegraph's schema, column for column
        state = {
            "messages": {"version": 2, "items": [{"role": "user", "content": "hi"}]},
            "extra": {"version": 1, "map": {}},
            "errors": {"version": 1, "items": []},
        }
        await conn.execute(
            "INSERT INTO sessions (id, concurrency_limit, last_step, last_state_json, last_frontier_json,"
            " last_versions_seen_json) VALUES ('old', 2, 1, $1::jsonb, '[\"End\"]',"
            ' \'{"Custom:A": {"messages": 1}}\')',
            json.dumps(state),
        )
        await conn.execute(
            "INSERT INTO steps (session_id, step, state_json, frontier_json, versions_seen_json,"
            " ran_nodes_json, skipped_nodes_json, updated_channels_json)"
            " VALUES ('old', 1, $1::jsonb, '[\"End\"]',"
            " '{\"Custom:A\": {\"messages\": 1}}', '[\"A\"]', '[]', NULL)",
            json.dumps(state),
        )
    finally:
        await conn.close()
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        latest = await cp.load_latest("old")
        assert latest.step == 1 and latest.versions_seen == {"A": {"messages": 1}}
        assert latest.frontier == [NodeKind.END] and latest.ran_nodes == [NodeKind.custom("A")]
        assert [
            c.step for c in (await cp.query_steps("old", StepQuery(ran_node="Custom:A"))).checkpoints
        ] == [1]
        stats = await cp.storage_stats()
        assert stats.sessions[0].bytes > 0
        await cp.save(make_cp("old", 2), expected_last_step=1)
    finally:
        await cp.aclose()


async def test_foreign_tables_are_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    await conn.execute("CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INT)")
    await conn.close()
    with pytest.raises(NotACheckpointDatabase, match="sessions"):
        await PostgresCheckpointer.connect(postgres_url)


async def test_bad_credentials_and_unreachable_servers_never_show_the_password(
    postgres_server: PostgresServer,
) -> None:
    secret = "Sup3r-Secret-Value"
    wrong = postgres_server.url("postgres", password=secret)
    with pytest.raises(AuthenticationFailed) as info:
        await open_checkpointer(wrong)
    text = f"{info.value} {info.value.__cause__!r} {info.value!r}"
    assert secret not in text and str(postgres_server.port) in str(info.value)
    unreachable = f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/db"
    with pytest.raises(StorageUnavailable, match="cannot reach") as info:
        await open_checkpointer(unreachable)
    assert secret not in str(info.value) and secret not in repr(info.value.__cause__)
    missing_db = postgres_server.url("no_such_db")
    with pytest.raises(StorageNotFound, match="no_such_db") as info:
        await open_checkpointer(missing_db)
    assert postgres_server.password not in str(info.value)
    with pytest.raises(InvalidCheckpointerUrl) as url_info:
        await open_checkpointer(f"mysql://root:{secret}@localhost/db")
    assert secret not in str(url_info.value) and "***" in str(url_info.value)


async def test_server_restart_mid_run(postgres_server: PostgresServer, postgres_url: str) -> None:
    if postgres_server.external_url:
        pytest.skip("cannot restart an external server")
    cp = await PostgresCheckpointer.connect(postgres_url, connect_timeout=3)
    try:
        await cp.save(make_cp("r", 0))
        await cp.save(make_cp("r", 1), expected_last_step=0)
        await asyncio.to_thread(postgres_server.stop)
        with pytest.raises(StorageUnavailable) as info:
            await cp.save(make_cp("r", 2), expected_last_step=1)
        assert isinstance(info.value, CheckpointerError)
        assert postgres_server.password not in str(info.value)
        await asyncio.to_thread(postgres_server.restart_later)
        await cp.save(make_cp("r", 2), expected_last_step=1)  # the pool recovered
        assert (await cp.load_latest("r")).step == 2
        assert (await cp.query_steps("r")).total_count == 3
    finally:
        if not postgres_server.running:
            postgres_server.restart_later()
        await cp.aclose()


async def test_concurrent_writers_one_wins_each_step(postgres_url: str) -> None:
    a = await PostgresCheckpointer.connect(postgres_url)
    b = await PostgresCheckpointer.connect(postgres_url)
    try:
        await race(a, b, target=40)
    finally:
        await a.aclose()
        await b.aclose()


async def test_watch_sees_steps_from_another_process(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    stream = cp.watch()
    pending = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(0.3)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(WRITER), postgres_url, "remote", "0", "3"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        got = [await asyncio.wait_for(pending, 5)]
        while len(got) < 3:
            got.append(await asyncio.wait_for(anext(stream), 5))
        assert got == [("remote", 0), ("remote", 1), ("remote", 2)]
    finally:
        pending.cancel()
        await stream.aclose()
        await cp.aclose()


async def test_repr_hides_the_password(postgres_url: str, postgres_server: PostgresServer) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        assert postgres_server.password not in repr(cp) and "***" in repr(cp)
    finally:
        await cp.aclose()


async def test_nul_characters_get_a_clear_error(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        with pytest.raises(CheckpointDataError, match="NUL"):
            await cp.save(make_cp("nul", 0, extra={"text": "a\x00b"}))
        await cp.save(make_cp("nul", 0))
    finally:
        await cp.aclose()


async def test_storage_mode_from_the_url(postgres_url: str) -> None:
    cp = await open_checkpointer(postgres_url + "?storage=full&snapshot_every=7")
    try:
        assert (cp.storage_mode, cp.snapshot_every) == ("full", 7)
        await cp.save(make_cp("m", 0))
        stats = await cp.storage_stats()
        assert stats.storage_mode == "full"
    finally:
        await cp.aclose()
    again = await open_checkpointer(postgres_url)
    try:
        assert again.storage_mode == "full"
    finally:
        await again.aclose()
    with pytest.raises(CheckpointerError, match="full mode"):
        await open_checkpointer(postgres_url + "?storage=compact")
    with pytest.raises(InvalidCheckpointerUrl, match="snapshot_every"):
        await open_checkpointer(postgres_url + "?snapshot_every=x")
