"""Versioned migrations: one recorded schema version per database, applied the same way on SQLite and
PostgreSQL; files made by the code before versioning open and migrate; a newer database is refused."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.errors import StorageErrorKind
from engine.persistence import migrate, open_checkpointer
from engine.persistence.base import StepQuery
from engine.persistence.errors import SchemaTooNew
from engine.persistence.schema import VERSION_TABLE, latest, migrations
from engine.persistence.sqlite import SQLiteCheckpointer
from tests.aiosqlite_leaks import Closing

from .helpers import make_cp

FIXTURES = Path(__file__).with_name("fixtures")


def test_migration_files_are_numbered_without_gaps() -> None:
    for backend in ("sqlite", "postgres"):
        found = migrations(backend)
        assert [m.number for m in found] == list(range(1, len(found) + 1))
        assert found[0].name == "0001_weavegraph_init" and latest(backend) == len(found)


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_a_file_from_before_versioning_opens_and_migrates(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / f"base_aaefb2e_{mode}.db", path)
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        assert cp.applied == [m.name for m in migrations("sqlite")]  # all, idempotent over the old schema
        assert cp.storage_mode == mode
        assert await cp.list_sessions() == ["beta", "alpha"]
        page = await cp.query_steps("alpha", StepQuery(limit=4))
        assert (
            page.total_count == 6
            and page.has_next_page
            and [c.step for c in page.checkpoints] == [5, 4, 3, 2]
        )
        latest_cp = await cp.load_latest("beta")
        assert latest_cp is not None and latest_cp.step == 5 and latest_cp.state.extra["n"] == 5
        assert [m.content for m in latest_cp.state.messages][-1] == "beta reply 4"
        assert (await cp.query_steps("alpha", StepQuery(ran_node="A"))).total_count == 5
        await cp.save(make_cp("alpha", 6))  # and it keeps working
        assert (await cp.query_steps("alpha")).total_count == 7
    finally:
        await cp.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall() == [(latest("sqlite"),)]
    assert await migrate(f"sqlite://{path}") == []


async def test_a_newer_sqlite_database_is_refused_untouched(tmp_path: Path, closing: Closing[Any]) -> None:
    path = tmp_path / "future.db"
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}"))
    await cp.save(make_cp("s", 0))
    await cp.aclose()
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (latest("sqlite") + 3,))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for read_only in (False, True):
        with pytest.raises(SchemaTooNew) as info:
            await open_checkpointer(f"sqlite://{path}", read_only=read_only)
        assert info.value.kind is StorageErrorKind.SCHEMA_NEWER
        assert (info.value.found, info.value.supported) == (latest("sqlite") + 3, latest("sqlite"))
        assert f"schema version {latest('sqlite') + 3}" in str(info.value) and str(latest("sqlite")) in str(
            info.value
        )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


async def test_schema_is_built_through_aiosqlite_public_api_only() -> None:
    """The migration code never reaches into aiosqlite's private `_execute` / `_conn`."""
    import inspect

    from engine.persistence import schema, sqlite_schema

    for module in (schema, sqlite_schema):
        source = inspect.getsource(module)
        assert "._execute" not in source and "._conn" not in source


@pytest.mark.postgres
async def test_postgres_records_one_version_and_adopts_the_old_table(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        # A database migrated by the code before versioning: files 0001-0004 recorded in schema_migrations.
        await conn.execute(
            "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ)"
        )
        for m in migrations("postgres")[:4]:
            await conn.execute(m.sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", m.name)
        assert await migrate(postgres_url) == [m.name for m in migrations("postgres")[4:]]
        assert await conn.fetchval(f"SELECT version FROM {VERSION_TABLE}") == latest("postgres")
        assert await migrate(postgres_url) == []
        await conn.execute(f"UPDATE {VERSION_TABLE} SET version = version + 1")
        with pytest.raises(SchemaTooNew) as info:
            await open_checkpointer(postgres_url)
        assert info.value.found == latest("postgres") + 1 and info.value.supported == latest("postgres")
    finally:
        await conn.close()
