"""Opening an SQLite file: look before writing (read-only inspection), build new files out of sight, open
read-only when asked or when the file's mode says so, and migrate with retries under the write lock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from dataclasses import dataclass

import aiosqlite

import engine.persistence.schema as schema
import engine.persistence.sqlite_schema as schema_mod
from engine.persistence.errors import StorageLocked, StorageNotFound, StorageReadOnly, map_sqlite_errors

MEMORY = ":memory:"
SYNCHRONOUS = ("normal", "full")
"""SQLite `synchronous` settings a checkpointer may use (README, Checkpoints: what each promises)."""
CREATE_ATTEMPTS = 5
"""How often opening retries when another process holds the lock while creating or migrating the schema."""


@dataclass(slots=True)
class Opened:
    db: aiosqlite.Connection
    read_only: bool
    applied: list[str]
    storage_mode: str
    snapshot_every: int


async def open_connection(
    path: str,
    *,
    busy_timeout: float,
    create: bool,
    read_only: bool,
    storage_mode: str | None,
    snapshot_every: int | None,
    synchronous: str = "normal",
) -> Opened:
    """The connection `SQLiteCheckpointer.connect` describes (see there)."""
    if path == MEMORY:
        with map_sqlite_errors(path, "opening"):
            db = await aiosqlite.connect(MEMORY, isolation_level=None, timeout=busy_timeout)
        return await _ready(db, path, busy_timeout, storage_mode, snapshot_every, synchronous=synchronous)
    exists = await asyncio.to_thread(schema_mod.check_path, path)
    created: list[str] = []
    if not exists:
        if read_only or not create:
            raise StorageNotFound(f"SQLite database '{path}' does not exist")
        created = await _create_file(path, busy_timeout, storage_mode, snapshot_every)
    facts = await schema_mod.inspect(path, create=create, busy_timeout=busy_timeout)
    writable = await asyncio.to_thread(_writable_bits, path)
    if read_only or not writable:
        if schema.pending("sqlite", facts.version, f"'{path}'"):
            raise StorageReadOnly(
                f"'{path}' was written by an older version and must be migrated once before it can be "
                "opened read-only; open it writable (or run `weavegraph migrate`)"
            )
        live_wal = await asyncio.to_thread(os.path.exists, path + "-wal")
        uri = schema_mod.read_only_uri(path, immutable=not live_wal and not writable)
        with map_sqlite_errors(path, "opening read-only"):
            db = await aiosqlite.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout)
        try:
            with map_sqlite_errors(path, "opening read-only"):
                await schema_mod.execute(db, f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                info = await schema_mod.read_info(db, path)
        except BaseException:
            await db.close()
            raise
        return Opened(db, True, [], info.storage_mode, info.snapshot_every)
    with map_sqlite_errors(path, "opening"):
        db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
    opened = await _ready(db, path, busy_timeout, storage_mode, snapshot_every, create, synchronous)
    opened.applied = created + opened.applied
    return opened


async def _ready(
    db: aiosqlite.Connection,
    path: str,
    busy_timeout: float,
    storage_mode: str | None,
    snapshot_every: int | None,
    create: bool = True,
    synchronous: str = "normal",
) -> Opened:
    """Set the connection up and migrate (retrying while another process holds the lock)."""
    try:
        with map_sqlite_errors(path, "opening"):
            await schema_mod.execute(db, f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await schema_mod.execute(db, "PRAGMA foreign_keys = ON")
            if path != MEMORY:
                rows = await db.execute_fetchall("PRAGMA journal_mode")
                if str(next(iter(rows))[0]).lower() != "wal":
                    await schema_mod.execute(db, "PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; FULL also fsyncs each commit (power loss)
            await schema_mod.execute(db, f"PRAGMA synchronous = {synchronous.upper()}")
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with map_sqlite_errors(path, "creating the schema"):
                    info = await schema_mod.migrate(
                        db, path, create=create, storage_mode=storage_mode, snapshot_every=snapshot_every
                    )
                break
            except StorageLocked:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
    except BaseException:
        await db.close()
        raise
    return Opened(db, False, info.applied, info.storage_mode, info.snapshot_every)


def _writable_bits(path: str) -> bool:
    """Whether the file's mode allows writing at all (root bypasses permissions, so `os.access` cannot
    tell: a 0444 file must still be treated as read-only)."""
    return bool(os.stat(path).st_mode & 0o222)


async def _create_file(
    path: str, busy_timeout: float, storage_mode: str | None, snapshot_every: int | None
) -> list[str]:
    """Build a new database under a temporary name in the same directory and hard-link it into place.

    Nobody ever sees the file half made; when another process linked its own first, this one's is dropped
    and the other's used. Filesystems without hard links get a rename that skips an existing file."""
    tmp = f"{path}.{uuid.uuid4().hex[:12]}.creating"
    try:
        with map_sqlite_errors(path, "creating the database"):
            db = await aiosqlite.connect(tmp, isolation_level=None, timeout=busy_timeout)
            try:
                await schema_mod.execute(db, "PRAGMA journal_mode = WAL")
                info = await schema_mod.migrate(
                    db, path, storage_mode=storage_mode, snapshot_every=snapshot_every
                )
            finally:
                await db.close()  # the last connection: the WAL is checkpointed and removed
        try:
            await asyncio.to_thread(os.link, tmp, path)
        except FileExistsError:
            return []  # another process created it first: use theirs
        except OSError:
            if os.path.exists(path):  # noqa: ASYNC240  # no hard links here
                return []
            await asyncio.to_thread(os.replace, tmp, path)
        return info.applied
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, leftover)
