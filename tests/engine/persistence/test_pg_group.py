"""Issue 20: group commit on PostgreSQL (`weavegraph_save_group`), on the real server the suite starts.

- Random interleavings of saves and conflicts from many sessions (hypothesis) against a model: every save
  that returned is loadable, every one that failed is absent, conflicts fail alone.
- kill -9 of a saving process with group commit on: no save that returned is lost.
- The server stopped while a group is in flight: every caller of that group gets the same one-line error,
  nothing of the group is committed, and after a restart the next group works.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CheckpointConflict
from engine.persistence.errors import StorageUnavailable
from engine.persistence.postgres import PostgresCheckpointer
from tests.pgserver import PostgresServer

from .helpers import make_cp

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]

# One operation: (session index, kind) where kind "next" saves the session's next step with the right
# expected step, "stale" claims an expected step one behind (a conflict once the session has steps),
# "ahead" claims one ahead (always a conflict), "blind" saves the next step without a check.
OPS = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["next", "next", "next", "stale", "ahead", "blind"])),
    min_size=1,
    max_size=40,
)
BATCHES = st.lists(st.integers(1, 12), min_size=1, max_size=8)


async def _interleave(url: str, ops: list[tuple[int, str]], batches: list[int], mode: str) -> dict[str, int]:
    prefix = uuid.uuid4().hex[:8]
    cp = await PostgresCheckpointer.connect(url, storage_mode=mode)
    latest: dict[str, int] = {}  # the model: each session's latest step
    saved: list[tuple[str, int]] = []
    failed: list[tuple[str, int]] = []
    try:
        assert cp.group_commit
        pos, b = 0, 0
        while pos < len(ops):
            size = batches[b % len(batches)]
            b += 1
            batch = ops[pos : pos + size]
            pos += size
            calls: list[tuple[str, int, int | None, bool, int | None]] = []
            planned: dict[str, int] = dict(latest)
            for index, kind in batch:
                sid = f"{prefix}-{index}"
                last = planned.get(sid)
                step = 0 if last is None else last + 1
                if kind == "next":
                    expected, ok = last, True
                elif kind == "stale":
                    expected = None if last is None else last - 1
                    ok = expected == last  # a new session expects None: not a conflict
                    if last is not None and last == 0:
                        expected, ok = -1, False
                elif kind == "ahead":
                    expected, ok = (0 if last is None else last + 1), False
                else:
                    expected, ok = None, True
                if kind == "blind" and last is None:
                    ok = True
                if ok:
                    planned[sid] = step
                calls.append((sid, step, expected, ok, last))
            # submitted in order, all at once: they share groups, and the statement keeps their order
            results = await asyncio.gather(
                *(cp.save(make_cp(sid, step), expected_last_step=exp) for sid, step, exp, _, _ in calls),
                return_exceptions=True,
            )
            for (sid, step, exp, ok, last), result in zip(calls, results, strict=True):
                if ok:
                    assert result is None, (sid, step, exp, result)
                    latest[sid] = step
                    saved.append((sid, step))
                else:
                    assert isinstance(result, CheckpointConflict), (sid, step, exp, result)
                    assert result.expected == exp and result.actual == last  # the latest when it ran
                    failed.append((sid, step))
        for sid, step in latest.items():
            cp_latest = await cp.load_latest(sid)
            assert cp_latest is not None and cp_latest.step == step
            assert cp_latest.state == make_cp(sid, step).state
        for sid, step in saved:
            loaded = await cp.load_step(sid, step)
            assert loaded is not None and loaded.state == make_cp(sid, step).state
        written = {(sid, step) for sid, step in saved}
        for sid, step in failed:
            if (sid, step) not in written:  # a conflicting save left no row of its own
                assert await cp.load_step(sid, step) is None
        return {"groups": cp._group.groups, "items": cp._group.items}
    finally:
        await cp.aclose()


@pytest.mark.parametrize("mode", ["compact", "full"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS, batches=BATCHES)
def test_interleaved_saves_and_conflicts_match_the_model(
    postgres_url: str, mode: str, ops: list[tuple[int, str]], batches: list[int]
) -> None:
    asyncio.run(_interleave(postgres_url, ops, batches, mode))


async def test_saves_at_once_share_groups_and_a_conflict_fails_alone(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        await asyncio.gather(*(cp.save(make_cp(f"s{i}", 0)) for i in range(30)))
        groups = cp._group.groups
        results = await asyncio.gather(
            *(cp.save(make_cp(f"s{i}", 1), expected_last_step=0 if i != 7 else 5) for i in range(30)),
            return_exceptions=True,
        )
        assert cp._group.groups - groups < 30  # they went together
        assert isinstance(results[7], CheckpointConflict) and results[7].actual == 0
        assert [r for i, r in enumerate(results) if i != 7] == [None] * 29
        for i in range(30):
            latest = await cp.load_latest(f"s{i}")
            assert latest is not None and latest.step == (0 if i == 7 else 1)
        assert (await cp.query_steps("s3")).total_count == 2  # the triggers' counts ran for grouped rows
    finally:
        await cp.aclose()


async def test_two_writers_grouping_the_same_sessions_in_opposite_orders_do_not_deadlock(
    postgres_url: str,
) -> None:
    a = await PostgresCheckpointer.connect(postgres_url)
    b = await PostgresCheckpointer.connect(postgres_url)
    names = [f"d{i}" for i in range(12)]
    try:
        await asyncio.gather(*(a.save(make_cp(n, 0)) for n in names))
        for step in range(1, 16):
            await asyncio.gather(
                *(a.save(make_cp(n, step)) for n in names),
                *(b.save(make_cp(n, step)) for n in reversed(names)),
            )
        for n in names:
            latest = await a.load_latest(n)
            assert latest is not None and latest.step == 15
    finally:
        await a.aclose()
        await b.aclose()


async def test_group_commit_off_by_url_option(postgres_url: str) -> None:
    cp = await PostgresCheckpointer.connect(postgres_url + "?group_commit=off")
    try:
        assert not cp.group_commit
        await asyncio.gather(*(cp.save(make_cp(f"s{i}", 0)) for i in range(5)))
        assert cp._group.groups == 5
    finally:
        await cp.aclose()
    with pytest.raises(Exception, match="group_commit must be on or off"):
        await PostgresCheckpointer.connect(postgres_url + "?group_commit=maybe")


async def test_grouped_saves_keep_node_records_and_events(postgres_url: str) -> None:
    import datetime as dt

    from engine.events.event import Event
    from engine.node_records import NodeRecord

    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        cps = []
        for i in range(6):
            c = make_cp(f"r{i}", 0)
            when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
            c.node_records = [
                NodeRecord(f"r{i}", 0, f"n{k}", "ok", 1, when, 1.5 * k, {"k": k}, None) for k in range(i % 3)
            ]
            c.events = [Event.create("test.grouped", "session", f"event {i}", step=0)] * (i % 2)
            cps.append(c)
        await asyncio.gather(*(cp.save(c) for c in cps))
        for i in range(6):
            records = await cp.node_records(f"r{i}")
            assert [(r.node, r.output) for r in records] == [(f"n{k}", {"k": k}) for k in range(i % 3)]
            assert len(await cp.events(f"r{i}")) == i % 2
    finally:
        await cp.aclose()


# ------------------------------------------------------------------ kill -9 with group commit on

_SAVER = """
import asyncio, sys
from engine.persistence.postgres import PostgresCheckpointer
from tests.engine.persistence.helpers import make_cp

async def session(cp, sid):
    step = 0
    while True:
        await cp.save(make_cp(sid, step), expected_last_step=step - 1 if step else None)
        print(sid, step, flush=True)
        step += 1

async def main(url):
    cp = await PostgresCheckpointer.connect(url)
    assert cp.group_commit
    await asyncio.gather(*(session(cp, f"k{i}") for i in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def test_kill_9_loses_no_returned_save(postgres_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, postgres_url], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    returned: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sid, step = line.split()
            returned[sid] = int(step)
            if len(returned) == 8 and min(returned.values()) >= 15:
                break
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # lines printed before the kill landed are returned saves too
        for line in rest.splitlines():
            sid, step = line.split()
            returned[sid] = int(step)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    async def check() -> None:
        cp = await PostgresCheckpointer.connect(postgres_url)
        try:
            for sid, step in returned.items():
                latest = await cp.load_latest(sid)
                assert latest is not None and latest.step >= step, (sid, step, latest)
                for s in range(step + 1):
                    assert await cp.load_step(sid, s) is not None, (sid, s)
        finally:
            await cp.aclose()

    asyncio.run(check())


# ------------------------------------------------------------------ the server stopped mid-group


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, which it stops and restarts."""
    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    if server.external_url:
        pytest.skip("WEAVEGRAPH_POSTGRES_TEST_URL names a server this test must not stop")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def _waiting_on_locks(conn: Any, at_least: int) -> None:
    for _ in range(400):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%weavegraph_save%'"
        )
        if waiting >= at_least:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the save never waited on the lock")


async def test_server_stopped_mid_group_fails_every_caller_and_the_next_group_works(
    own_server: PostgresServer,
) -> None:
    url = own_server.create_database()
    # the test server runs with synchronous_commit=off, which an immediate stop (a crash) may undo
    cp = await PostgresCheckpointer.connect(url + "?synchronous_commit=on", connect_timeout=3)
    lock_x = await asyncpg.connect(url)
    lock_y = await asyncpg.connect(url)
    try:
        await asyncio.gather(cp.save(make_cp("x", 0)), *(cp.save(make_cp(f"y{i}", 0)) for i in range(5)))
        # hold the rows of x and y3: x's save waits in the first group, y0..y4 queue behind it
        await lock_x.execute("BEGIN")
        await lock_x.execute("SELECT 1 FROM sessions WHERE id = 'x' FOR UPDATE")
        await lock_y.execute("BEGIN")
        await lock_y.execute("SELECT 1 FROM sessions WHERE id = 'y3' FOR UPDATE")
        first = asyncio.ensure_future(cp.save(make_cp("x", 1), expected_last_step=0))
        await _waiting_on_locks(lock_y, 1)
        group = [asyncio.ensure_future(cp.save(make_cp(f"y{i}", 1), expected_last_step=0)) for i in range(5)]
        await asyncio.sleep(0)
        await lock_x.execute("COMMIT")  # the first group commits; the second writes y0..y2, then waits on y3
        await first
        await _waiting_on_locks(lock_y, 1)
        await asyncio.to_thread(own_server.stop, "immediate")
        results = await asyncio.gather(*group, return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results), results
        assert all(r is results[0] for r in results)  # one error for the whole group
        message = str(results[0])
        assert "\n" not in message and "was lost while saving a group of 5 saves" in message, message
        assert own_server.password not in message
        await asyncio.to_thread(own_server.restart_later)
        await asyncio.gather(*(cp.save(make_cp(f"z{i}", 0)) for i in range(4)))  # the next groups work
        for i in range(5):
            latest = await cp.load_latest(f"y{i}")
            assert latest is not None and latest.step == 0  # nothing of the failed group was committed
        await asyncio.gather(*(cp.save(make_cp(f"y{i}", 1), expected_last_step=0) for i in range(5)))
        for i in range(5):
            latest = await cp.load_latest(f"y{i}")
            assert latest is not None and latest.step == 1
        assert (await cp.load_latest("z3")) is not None
    finally:
        if not own_server.running:
            own_server.restart_later()
        for conn in (lock_x, lock_y):
            conn.terminate()
        await cp.aclose()
