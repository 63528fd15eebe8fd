"""C6: opening storage never changes a file that is not ours. Every file below is checked byte for byte
(sha256) and for -wal/-shm/-journal files after every CLI command and every way of connecting."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import StorageErrorKind
from engine.graph.document import example_path
from engine.persistence import open_checkpointer
from engine.persistence.errors import (
    NotACheckpointDatabase,
    StorageLocked,
    StorageNotFound,
    StorageReadOnly,
)
from engine.persistence.sqlite import SQLiteCheckpointer
from tests.aiosqlite_leaks import Closing

from .helpers import make_cp


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def other_app(path: Path, *, wal: bool = False) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO contacts (name) VALUES (?)", [("ada",), ("grace",)])
    conn.commit()
    conn.close()


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def empty_file(path: Path) -> None:
    path.write_bytes(b"")


def truncated_ours(path: Path) -> None:
    """A checkpoint database of ours cut short (its header promises more pages than the file has)."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, created_at TEXT, updated_at TEXT,"
        " concurrency_limit INTEGER, last_step INTEGER, last_state_json TEXT,"
        " last_frontier_json TEXT, last_versions_seen_json TEXT)"
    )
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(3000),) for _ in range(20)])
    conn.commit()
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


FOREIGN: dict[str, Callable[[Path], None]] = {
    "other_app": other_app,
    "other_app_wal": lambda p: other_app(p, wal=True),
    "random_bytes": random_bytes,
    "empty": empty_file,
    "truncated": truncated_ours,
}

CLI_COMMANDS: list[list[str]] = [
    ["sessions"],
    ["steps", "s"],
    ["stats"],
    ["prune", "--keep-last", "1"],
    ["migrate"],
    ["export", "s"],
    ["run", str(example_path("market_ticks"))],
    ["step", str(example_path("market_ticks")), "--session", "s", "--input", "{}"],
]


@pytest.mark.parametrize("kind", sorted(FOREIGN))
async def test_connect_leaves_a_foreign_file_untouched(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "foreign.db"
    FOREIGN[kind](path)
    before, files = digest(path), listing(folder)
    for create in (True, False):
        with pytest.raises(NotACheckpointDatabase) as info:
            await SQLiteCheckpointer.connect(f"sqlite://{path}", create=create)
        assert info.value.kind is StorageErrorKind.NOT_OURS
        assert digest(path) == before and listing(folder) == files, f"create={create} changed {kind}"
    for read_only in (True, False):
        with pytest.raises(NotACheckpointDatabase):
            await open_checkpointer(f"sqlite://{path}", create=False, read_only=read_only)
        assert digest(path) == before and listing(folder) == files


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_every_cli_command_leaves_a_foreign_file_untouched(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "foreign.db"
    FOREIGN[kind](path)
    before, files = digest(path), listing(folder)
    url = f"sqlite://{path}"
    export = tmp_path / "export.json"
    export.write_text('{"format": "weavegraph.session", "version": 1, "session_id": "s", "steps": []}')
    for argv in [*CLI_COMMANDS, ["import", str(export)]]:
        code = main([*argv, "--db", url])
        _, err = capsys.readouterr()
        assert code != 0, f"{argv} accepted a {kind} file"
        assert "not" in err and str(path) in err, err
        assert digest(path) == before and listing(folder) == files, f"{argv} changed a {kind} file"


@pytest.fixture
def read_only_db(tmp_path: Path) -> Path:
    """A checkpoint database of ours with two steps, closed cleanly, then chmod 0444."""
    path = tmp_path / "ro" / "ours.db"
    path.parent.mkdir()

    async def fill() -> None:
        cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
        try:
            await cp.save(make_cp("s", 0))
            await cp.save(make_cp("s", 1))
        finally:
            await cp.aclose()

    import asyncio

    asyncio.run(fill())
    path.chmod(0o444)
    return path


def test_a_0444_file_of_ours_is_browsed_without_any_write(
    read_only_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    before, files = digest(read_only_db), listing(read_only_db.parent)

    async def browse() -> None:
        cp = await open_checkpointer(f"sqlite://{read_only_db}")  # not asked read-only: the mode decides
        try:
            assert await cp.list_sessions() == ["s"]
            assert (await cp.query_steps("s")).total_count == 2
            with pytest.raises(StorageReadOnly) as info:
                await cp.save(make_cp("s", 2))
            assert info.value.kind is StorageErrorKind.READ_ONLY
            with pytest.raises(StorageReadOnly):
                await cp.delete_session("s")
        finally:
            await cp.aclose()

    asyncio.run(browse())
    assert main(["sessions", "--db", f"sqlite://{read_only_db}", "--json"]) == 0
    assert '"session_id": "s"' in capsys.readouterr().out
    assert digest(read_only_db) == before and listing(read_only_db.parent) == files


async def test_read_only_open_of_a_writable_file_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    writer = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    await writer.save(make_cp("s", 0))
    reader = await open_checkpointer(f"sqlite://{path}", read_only=True)
    try:
        await writer.save(make_cp("s", 1))
        assert (await reader.load_latest("s")).step == 1, "a read-only connection sees new steps"
        with pytest.raises(StorageReadOnly):
            await reader.save(make_cp("s", 2))
    finally:
        await reader.aclose()
        await writer.aclose()
    with pytest.raises(StorageNotFound):
        await open_checkpointer(f"sqlite://{tmp_path / 'absent.db'}", read_only=True)
    assert not (tmp_path / "absent.db").exists()


async def test_missing_directory_and_locked_file(tmp_path: Path, closing: Closing[Any]) -> None:
    with pytest.raises(StorageNotFound) as info:
        await open_checkpointer(f"sqlite://{tmp_path / 'no' / 'such' / 'x.db'}")
    assert info.value.kind is StorageErrorKind.NOT_FOUND
    path = tmp_path / "ours.db"
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}"))
    await cp.save(make_cp("s", 0))
    await cp.aclose()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageLocked) as locked:
            await SQLiteCheckpointer.connect(f"sqlite://{path}", busy_timeout=0.2)
        assert locked.value.kind is StorageErrorKind.LOCKED
    finally:
        holder.execute("ROLLBACK")
        holder.close()
