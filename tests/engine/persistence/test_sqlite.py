"""SQLite specifics: the Weavegraph 0.6 file format, bad files, locks, crashes, concurrent writers, watch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CheckpointConflict, CheckpointerError
from engine.persistence.base import StepQuery
from engine.persistence.errors import NotACheckpointDatabase, StorageLocked, StorageNotFound
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.types import NodeKind
from tests.aiosqlite_leaks import Closing
from tests.engine.persistence.helpers import make_cp

ROOT = Path(__file__).resolve().parents[3]
WRITER = Path(__file__).with_name("writer_proc.py")

# The documented Weavegraph 0.6 schema: only its columns, no extras.
WEAVEGRAPH_06 = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    concurrency_limit INTEGER NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0,
    last_state_json TEXT,
    last_frontier_json TEXT,
    last_versions_seen_json TEXT
);
CREATE TABLE steps (
    session_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    state_json TEXT NOT NULL,
    frontier_json TEXT NOT NULL,
    versions_seen_json TEXT NOT NULL,
    ran_nodes_json TEXT NOT NULL,
    skipped_nodes_json TEXT NOT NULL,
    updated_channels_json TEXT,
    PRIMARY KEY (session_id, step),
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);
"""


def _state(n: int) -> str:
    return json.dumps(
        {
            "messages": {"version": n + 1, "items": [{"role": "user", "content": "hi"}]},
            "extra": {"version": 2, "map": {"n": n}},
            "errors": {"version": 1, "items": []},
        }
    )


def write_weavegraph_06_file(path: Path) -> None:
    """A database as Weavegraph 0.6 writes it, made with plain sqlite3 from the documented schema."""
    conn = sqlite3.connect(path)
    conn.executescript(WEAVEGRAPH_06)
    conn.execute(
        "INSERT INTO sessions VALUES ('legacy', '2025-06-01 10:00:00', '2025-06-01 10:05:00', 4, 2, ?, ?, ?)",
        (_state(2), '["End"]', json.dumps({"Custom:A": {"messages": 2, "extra": 1}})),
    )
    rows = [
        (0, '["Custom:A"]', "{}", "[]", "[]", "[]"),
        (
            1,
            '["Custom:B", "Custom:AB"]',
            json.dumps({"A": {"messages": 1}}),
            '["Custom:A"]',
            "[]",
            '["messages"]',
        ),
        (2, '["End"]', json.dumps({'Custom("B")': {"messages": 2}}), '["B", "AB"]', '["Custom:A"]', None),
    ]
    for step, frontier, seen, ran, skipped, updated in rows:
        conn.execute(
            "INSERT INTO steps VALUES ('legacy', ?, ?, ?, ?, ?, ?, ?, ?)",
            (step, f"2025-06-01 10:0{step}:00", _state(step), frontier, seen, ran, skipped, updated),
        )
    conn.commit()
    conn.close()


async def test_weavegraph_06_database_loads(tmp_path: Path) -> None:
    path = tmp_path / "wg06.db"
    write_weavegraph_06_file(path)
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        latest = await cp.load_latest("legacy")
        assert latest is not None and latest.step == 2 and latest.concurrency_limit == 4
        assert latest.frontier == [NodeKind.END]
        assert latest.versions_seen == {"B": {"messages": 2}}
        assert latest.ran_nodes == [NodeKind.custom("B"), NodeKind.custom("AB")]
        assert latest.updated_channels == [] and latest.state.extra == {"n": 2}
        assert latest.created_at.year == 2025 and latest.created_at.tzinfo is not None
        step1 = await cp.load_step("legacy", 1)
        assert step1.versions_seen == {"A": {"messages": 1}}
        found = await cp.query_steps("legacy", StepQuery(ran_node="A"))
        assert [c.step for c in found.checkpoints] == [1] and found.total_count == 1
        found = await cp.query_steps("legacy", StepQuery(ran_node="AB"))
        assert [c.step for c in found.checkpoints] == [2]
        assert await cp.list_sessions() == ["legacy"]
        stats = await cp.storage_stats()
        assert stats.sessions[0].steps == 3 and stats.sessions[0].bytes > 0
        page = await cp.session_page()
        assert page.items[0].bytes == stats.sessions[0].bytes
        await cp.save(make_cp("legacy", 3), expected_last_step=2)
    finally:
        await cp.aclose()
    # Weavegraph 0.6 reads only its own columns; they hold the new latest checkpoint in its format.
    conn = sqlite3.connect(path)
    last_step, frontier, seen = conn.execute(
        "SELECT last_step, last_frontier_json, last_versions_seen_json FROM sessions WHERE id = 'legacy'"
    ).fetchone()
    ran = conn.execute("SELECT ran_nodes_json FROM steps WHERE session_id = 'legacy' AND step = 3").fetchone()
    conn.close()
    assert (last_step, json.loads(frontier), json.loads(ran[0])) == (3, ["Custom:B", "End"], ["Custom:A"])
    assert set(json.loads(seen)) == {"A", "B"}


async def test_foreign_sqlite_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "other-app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    with pytest.raises(NotACheckpointDatabase, match=r"other-app\.db") as info:
        await SQLiteCheckpointer.connect(f"sqlite://{path}")
    assert "invoices" in str(info.value)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sessions (id TEXT, owner TEXT)")
    conn.execute("CREATE TABLE steps (id TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(NotACheckpointDatabase, match="last_step"):
        await SQLiteCheckpointer.connect(f"sqlite://{path}")


async def test_file_that_is_not_sqlite_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 10)
    with pytest.raises(NotACheckpointDatabase, match=r"notes\.txt"):
        await SQLiteCheckpointer.connect(f"sqlite://{path}")
    with pytest.raises(NotACheckpointDatabase, match="directory"):
        await SQLiteCheckpointer.connect(f"sqlite://{tmp_path}")
    assert path.read_text().startswith("hello")  # untouched


async def test_missing_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageNotFound, match="does not exist") as info:
        await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'nope' / 'x.db'}")
    assert str(tmp_path / "nope") in str(info.value)
    with pytest.raises(StorageNotFound, match=r"absent\.db"):
        await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'absent.db'}", create=False)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a 0-byte file: refused, with or without create, and left as it is
    for create in (False, True):
        with pytest.raises(NotACheckpointDatabase, match=r"empty \(0-byte\) file"):
            await SQLiteCheckpointer.connect(f"sqlite://{empty}", create=create)
        assert empty.stat().st_size == 0
    tableless = tmp_path / "tableless.db"
    with sqlite3.connect(tableless) as conn:
        conn.execute("PRAGMA user_version = 7")  # a valid SQLite file without a single table
    with pytest.raises(NotACheckpointDatabase, match="no checkpoint tables"):
        await SQLiteCheckpointer.connect(f"sqlite://{tableless}", create=False)


async def test_locked_database_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageLocked, match=r"busy\.db"):
            await cp.save(make_cp("s", 0))
        other.execute("ROLLBACK")
        await cp.save(make_cp("s", 0))  # usable again once the lock is gone
    finally:
        other.close()
        await cp.aclose()
    # Locked while connecting: another connection holds an exclusive lock on a rollback-journal file.
    plain = tmp_path / "exclusive.db"
    holder = sqlite3.connect(plain, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageLocked, match=r"exclusive\.db"):
            await SQLiteCheckpointer.connect(f"sqlite://{plain}", busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _spawn_writer(
    url: str, session: str, start: int, count: int, delay: float = 0.0
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, session, str(start), str(count), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


async def test_kill_9_mid_run_loses_no_committed_step(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite://{path}"
    proc = _spawn_writer(url, "crashy", 0, 100_000)
    last_reported = -1
    try:
        assert proc.stdout is not None
        while last_reported < 300:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, proc.stderr.read() if proc.stderr else "writer exited"
            last_reported = int(line)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    cp = await SQLiteCheckpointer.connect(url)
    try:
        assert await cp.integrity_check() == "ok"
        latest = await cp.load_latest("crashy")
        assert latest is not None and latest.step >= last_reported
        result = await cp.query_steps("crashy", StepQuery(limit=1))
        assert result.total_count == latest.step + 1  # every step 0..latest is there
        await cp.save(make_cp("crashy", latest.step + 1), expected_last_step=latest.step)  # and it goes on
    finally:
        await cp.aclose()


async def test_concurrent_writers_one_wins_each_step(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'race.db'}"
    a = await SQLiteCheckpointer.connect(url)
    b = await SQLiteCheckpointer.connect(url)
    try:
        await race(a, b)
    finally:
        await a.aclose()
        await b.aclose()


async def race(a: Any, b: Any, target: int = 60) -> None:
    """Two writers extend one session with expected_last_step; every step must be won by exactly one."""
    await a.save(make_cp("race", 0))
    wins: dict[str, list[int]] = {"a": [], "b": []}
    conflicts = {"a": 0, "b": 0}

    async def writer(name: str, cp: Any) -> None:
        while True:
            latest = await cp.load_latest("race")
            if latest.step >= target:
                return
            step = latest.step + 1
            try:
                await cp.save(make_cp("race", step, extra={"writer": name}), expected_last_step=latest.step)
                wins[name].append(step)
            except CheckpointConflict:
                conflicts[name] += 1
            await asyncio.sleep(0)

    await asyncio.gather(writer("a", a), writer("b", b))
    assert sorted(wins["a"] + wins["b"]) == list(range(1, target + 1))  # no step won twice, none lost
    stored = await a.query_steps("race", StepQuery(limit=target + 10))
    assert stored.total_count == target + 1
    for cp in stored.checkpoints[:-1]:
        assert cp.step in wins[cp.state.extra["writer"]]  # the stored row is the winner's


async def test_watch_sees_steps_from_another_process(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'watched.db'}"
    cp = await SQLiteCheckpointer.connect(url, poll_interval=0.05)
    await cp.save(make_cp("before", 0))
    stream = cp.watch()
    pending = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(0.2)
        proc = _spawn_writer(url, "remote", 0, 3)
        _out, err = await asyncio.to_thread(proc.communicate)
        assert proc.returncode == 0, err
        got = [await asyncio.wait_for(pending, 5)]
        while len(got) < 3:
            got.append(await asyncio.wait_for(anext(stream), 5))
        assert got == [("remote", 0), ("remote", 1), ("remote", 2)]
    finally:
        pending.cancel()
        await stream.aclose()
        await cp.aclose()


async def test_memory_database_and_closed_checkpointer(closing: Closing[Any]) -> None:
    cp = await closing(SQLiteCheckpointer.connect("sqlite::memory:"))
    await cp.save(make_cp("m", 0))
    assert (await cp.load_latest("m")).step == 0
    stats = await cp.storage_stats()
    assert stats.file_bytes is None and stats.total_steps == 1
    await cp.aclose()
    await cp.aclose()
    with pytest.raises(CheckpointerError, match="closed"):
        await cp.load_latest("m")
