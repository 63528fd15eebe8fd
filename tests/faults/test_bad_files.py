"""Bad database files (C6): an empty file, random bytes, a truncated checkpoint database, another
application's SQLite database, a read-only (0444) checkpoint database, one locked by another process, and a
missing directory. Every CLI command (sessions, steps, stats, prune --dry-run, export, run --db) and
`SQLiteCheckpointer.connect` with and without create either works (reading a read-only file of ours) or fails
with one clear line and the right error kind, and the folder is byte-for-byte what it was (sha256 of every
file, no new `-wal`/`-shm`/`-journal` file, no new directory). Each command gets its own copy of the file, so
the commands of one case run in parallel."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CheckpointerError
from engine.persistence.sqlite import SQLiteCheckpointer
from tests.faults.helpers import (
    SESSION,
    CliResult,
    app_of,
    folder_snapshot,
    loop_document,
    run_cli,
    write_document,
)

pytestmark = pytest.mark.slow

DB = "store.db"
READS = {
    "sessions": ["sessions"],
    "steps": ["steps", SESSION],
    "stats": ["stats"],
    "prune --dry-run": ["prune", "--keep-last", "1", "--dry-run"],
    "export": ["export", SESSION],
}
COMMANDS = [*READS, "run --db"]


async def _make_ours(path: Path) -> None:
    """A real checkpoint database with one session of a few steps, closed cleanly (no -wal left)."""
    from engine.runner import AppRunner

    app, state = app_of(loop_document(limit=3))
    storage = await SQLiteCheckpointer.connect(f"sqlite://{path}?storage=full")
    try:
        async with await AppRunner.builder().app(app).checkpointer_custom(storage).build() as runner:
            await runner.create_session(SESSION, state)
            await runner.run_until_complete(SESSION)
    finally:
        await storage.aclose()


def _foreign(path: Path) -> None:
    """Another application's SQLite database (rollback journal, its own tables)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);"
        "INSERT INTO contacts (name, email) VALUES ('Ada', 'ada@example.org'), ('Bob', NULL);"
    )
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ours") / DB
    asyncio.run(_make_ours(path))
    assert sorted(p.name for p in path.parent.iterdir()) == [DB]  # closed cleanly: no -wal or -shm left
    return path


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_document(tmp_path_factory.mktemp("doc") / "loop.wgraph.json", loop_document(limit=3))


def _make_variant(variant: str, folder: Path, ours: Path) -> Path:
    """Put the bad file of `variant` in `folder`; returns the database path the URL names."""
    path = folder / DB
    if variant == "empty":
        path.write_bytes(b"")
    elif variant == "random bytes":
        path.write_bytes(random.Random(21).randbytes(8192))
    elif variant == "truncated":
        data = ours.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif variant == "foreign sqlite":
        _foreign(path)
    elif variant in ("read-only ours", "locked ours"):
        shutil.copyfile(ours, path)
        if variant == "read-only ours":
            path.chmod(0o444)
    elif variant == "missing directory":
        path = folder / "no" / "such" / DB
    else:
        raise AssertionError(variant)
    return path


HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    """
)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock on `path` (no reader or writer gets in) until the block
    ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate(timeout=30)  # closes its stdin: it lets go and exits


@dataclass
class Case:
    what: str
    folder: Path
    path: Path
    before: dict[str, tuple[int, str]]
    result: CliResult | None = None
    error: BaseException | None = None
    problems: list[str] | None = None


def _url(path: Path) -> str:
    return f"sqlite://{path}"


def _cli_args(command: str, path: Path, doc: Path, out: Path) -> list[str]:
    if (
        command == "run --db"
    ):  # a new session: the run must write (a finished one could resume writing nothing)
        return ["run", str(doc), "--db", _url(path), "--session", "fresh"]
    args = [*READS[command], "--db", _url(path)]
    if command == "export":
        args += ["-o", str(out)]
    return args


def _one_clear_line(result: CliResult) -> str | None:
    lines = result.err.strip().splitlines()
    if result.code == 0:
        return "exit 0"
    if "Traceback" in result.err or len(lines) != 1:
        return f"exit {result.code} with {len(lines)} lines on stderr: {result.err.strip()[:600]!r}"
    return None


KIND = {
    "empty": "not_ours",
    "random bytes": "not_ours",
    "truncated": "not_ours",
    "foreign sqlite": "not_ours",
    "locked ours": "locked",
    "missing directory": "not_found",
    "read-only ours": "read_only",
}
CLASS = {
    "not_ours": "NotACheckpointDatabase",
    "locked": "StorageLocked",
    "not_found": "StorageNotFound",
    "read_only": "StorageReadOnly",
}


def _kind_problem(exc: BaseException | None, kind: str) -> str | None:
    if exc is None:
        return f"no error (expected {CLASS[kind]})"
    if not isinstance(exc, CheckpointerError):
        return f"{type(exc).__name__}: {exc} (expected {CLASS[kind]})"
    got = getattr(exc, "kind", None)
    if type(exc).__name__ != CLASS[kind] or got != kind:
        return f"{type(exc).__name__} (kind {got!r}): {exc} (expected {CLASS[kind]}, kind {kind!r})"
    return None


async def _connect_case(path: Path, create: bool, kind: str) -> str | None:
    """connect(url, create=...) to a file of ours (locked or read-only), then a read and (read-only) a
    write; the problem, if any."""
    try:
        storage = await SQLiteCheckpointer.connect(_url(path), create=create, busy_timeout=1.0)
    except Exception as exc:
        if kind == "read_only":
            return f"a read-only file of ours must open for reading: {exc!r}"
        return _kind_problem(exc, kind)
    try:
        try:
            sessions = await storage.list_sessions()
        except Exception as exc:
            return _kind_problem(exc, kind) if kind == "locked" else f"reading failed: {exc!r}"
        if kind == "locked":
            return f"a locked file opened and listed {sessions}"
        if sessions != [SESSION]:
            return f"read-only file: sessions {sessions}"
        latest = await storage.load_latest(SESSION)
        assert latest is not None
        try:
            await storage.save(dataclasses.replace(latest, step=latest.step + 1), latest.step)
        except Exception as exc:
            return _kind_problem(exc, kind)
        return "a write to a read-only file succeeded"
    finally:
        await storage.aclose()


async def _connect_error(path: Path, create: bool) -> BaseException | None:
    try:
        storage = await SQLiteCheckpointer.connect(_url(path), create=create, busy_timeout=1.0)
    except Exception as exc:
        return exc
    await storage.aclose()
    return None


def _run_connect(path: Path, create: bool, kind: str) -> str | None:
    if kind in ("not_ours", "not_found"):
        return _kind_problem(asyncio.run(_connect_error(path, create)), kind)
    return asyncio.run(_connect_case(path, create, kind))


@pytest.mark.parametrize("variant", list(KIND))
def test_bad_database_files_are_never_touched(variant: str, tmp_path: Path, ours: Path, doc: Path) -> None:
    kind = KIND[variant]
    cases: dict[str, Case] = {}
    for what in [*COMMANDS, "connect(create=True)", "connect(create=False)"]:
        folder = tmp_path / what.replace(" ", "_").replace("(", "_").replace(")", "").replace("=", "-")
        folder.mkdir()
        path = _make_variant(variant, folder, ours)
        cases[what] = Case(what, folder, path, {})

    def attempt(case: Case) -> None:
        if case.what.startswith("connect"):
            case.problems = [p for p in [_run_connect(case.path, "True" in case.what, kind)] if p]
            return
        out = tmp_path / f"export-{case.folder.name}.json"
        case.result = run_cli(*_cli_args(case.what, case.path, doc, out), cwd=tmp_path, timeout=120)

    with _held_locks(variant, cases):
        for case in cases.values():
            case.before = folder_snapshot(case.folder)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(attempt, cases.values()))
        after = {what: folder_snapshot(case.folder) for what, case in cases.items()}

    failures: list[str] = []
    for what, case in cases.items():
        if after[what] != case.before:
            failures.append(f"{what}: changed the folder: {case.before} -> {after[what]}")
        if case.result is not None:
            expect_ok = variant == "read-only ours" and what in READS
            if expect_ok and case.result.code != 0:
                failures.append(
                    f"{what}: reading a read-only file of ours failed: {case.result.err.strip()!r}"
                )
            elif not expect_ok:
                problem = _one_clear_line(case.result)
                if problem:
                    failures.append(f"{what}: {problem}")
        failures += [f"{what}: {p}" for p in case.problems or []]
    assert not failures, f"{variant}:\n  " + "\n  ".join(failures)


@contextmanager
def _held_locks(variant: str, cases: dict[str, Case]) -> Iterator[None]:
    if variant != "locked ours":
        yield
        return
    holders: list[Callable[[], Any]] = []
    try:
        for case in cases.values():
            cm = _locked(case.path)
            cm.__enter__()
            holders.append(lambda cm=cm: cm.__exit__(None, None, None))
        yield
    finally:
        for release in holders:
            release()


def test_the_read_only_case_is_real(ours: Path, tmp_path: Path) -> None:
    """The fixture behind "read-only ours" is a checkpoint database in WAL mode with mode 0444 (so the
    case above tests what it says, also as root, where the mode bits alone stop nothing)."""
    path = _make_variant("read-only ours", tmp_path, ours)
    assert os.stat(path).st_mode & 0o777 == 0o444
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL: a careless open would need -shm and -wal files
