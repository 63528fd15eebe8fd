"""The PostgreSQL group committer keeps one pool connection between groups (issue 20: a pool acquire and
release per save cost as much client CPU as the rest of the save). It gives it back when it sits idle, when
the server closed it (the next save takes a fresh one and succeeds), when a write on it fails, and on close;
with group commit off, saves run concurrently on connections of their own."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

import engine.persistence.postgres as postgres
from engine.persistence.postgres import PostgresCheckpointer

from .helpers import make_cp

pytestmark = pytest.mark.postgres


async def _backend_pid(cp: PostgresCheckpointer) -> int:
    assert cp._writer is not None
    return int(await cp._writer.fetchval("SELECT pg_backend_pid()"))


async def test_one_connection_serves_every_group_and_close_returns_it(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        await cp.save(make_cp("a", 0))
        pid = await _backend_pid(cp)
        for step in range(1, 4):
            await cp.save(make_cp("a", step), expected_last_step=step - 1)
        await asyncio.gather(*(cp.save(make_cp(f"b{i}", 0)) for i in range(30)))
        assert await _backend_pid(cp) == pid
        latest = await cp.load_latest("a")
        assert latest is not None and latest.step == 3
    finally:
        await asyncio.wait_for(cp.aclose(), 10)  # the pool closes: the kept connection went back
    assert cp._writer is None


async def test_a_connection_the_server_ended_is_replaced_before_the_next_save(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    admin = await asyncpg.connect(postgres_url)
    try:
        await cp.save(make_cp("a", 0))
        pid = await _backend_pid(cp)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):  # the client notices the closed socket on its next loop turns
            if not postgres._open(cp._writer):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the ended connection never looked closed")
        await cp.save(make_cp("a", 1), expected_last_step=0)  # a fresh connection, not a failure
        assert await _backend_pid(cp) != pid
        latest = await cp.load_latest("a")
        assert latest is not None and latest.step == 1
    finally:
        await admin.close()
        await cp.aclose()


async def test_an_idle_connection_goes_back_to_the_pool(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        await cp.save(make_cp("a", 0))
        first = cp._writer
        monkeypatch.setattr(postgres, "WRITER_IDLE", 0.0)
        await asyncio.sleep(0.01)
        await cp.save(make_cp("a", 1), expected_last_step=0)
        assert cp._writer is not None and cp._writer is not first  # released, and a pool one taken
    finally:
        await cp.aclose()


async def test_without_group_commit_saves_run_at_once_on_their_own_connections(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url + "?group_commit=off", max_size=4)
    try:
        await asyncio.gather(*(cp.save(make_cp(f"s{i}", 0)) for i in range(12)))
        assert cp._writer is None
        for i in range(12):
            latest = await cp.load_latest(f"s{i}")
            assert latest is not None and latest.step == 0
    finally:
        await cp.aclose()
