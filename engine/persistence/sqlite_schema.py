"""The SQLite schema: what a file must hold to be ours, read-only inspection of a file before anything is
written to it, and applying the versioned migrations (`migrations/sqlite/*.sql`, see `schema`) through
aiosqlite's public API."""

from __future__ import annotations

import asyncio
import os
import struct
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiosqlite

import engine.persistence.schema as schema
from engine.errors import CheckpointerError
from engine.persistence.compact import DEFAULT_SNAPSHOT_EVERY, default_mode
from engine.persistence.errors import NotACheckpointDatabase, StorageNotFound, map_sqlite_errors

SQLITE_HEADER = b"SQLite format 3\x00"


def _bytes(row: str) -> str:
    """Size of a steps row: payload_bytes, or for rows without it (Weavegraph 0.6) its JSON lengths."""
    return (
        f"COALESCE({row}.payload_bytes, length(CAST({row}.state_json AS BLOB))"
        f" + length(CAST({row}.frontier_json AS BLOB)) + length(CAST({row}.versions_seen_json AS BLOB))"
        f" + COALESCE(length(CAST({row}.ran_nodes_json AS BLOB)), 0)"
        f" + COALESCE(length(CAST({row}.skipped_nodes_json AS BLOB)), 0)"
        f" + COALESCE(length(CAST({row}.updated_channels_json AS BLOB)), 0))"
    )


# The plain name of a stored node ("Custom:A", `Custom("A")` and "A" are all "A"; "Start"/"End" stay).
NODE_NAME = (
    "(CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8)"
    " WHEN substr(value, 1, 8) = 'Custom(\"' AND substr(value, -2) = '\")'"
    " THEN substr(value, 9, length(value) - 10)"
    " ELSE value END)"
)

COUNTS_TABLE = "weavegraph_session_counts"
NODES_TABLE = "weavegraph_step_nodes"
NODE_COUNTS_TABLE = "weavegraph_node_counts"

REQUIRED_COLUMNS = {
    "sessions": {
        "id",
        "created_at",
        "updated_at",
        "concurrency_limit",
        "last_step",
        "last_state_json",
        "last_frontier_json",
        "last_versions_seen_json",
    },
    "steps": {
        "session_id",
        "step",
        "created_at",
        "state_json",
        "frontier_json",
        "versions_seen_json",
        "ran_nodes_json",
        "skipped_nodes_json",
        "updated_channels_json",
    },
}

COMPUTED_BYTES = _bytes("steps")
"""Size of a `steps` row in a query over `steps`."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a read-only look at an existing file found."""

    tables: frozenset[str]
    version: int
    """The recorded schema version (0 for a file from before versioning, or Weavegraph's)."""
    storage_mode: str | None
    snapshot_every: int | None


def check_path(path: str) -> bool:
    """Clear errors before SQLite's own; True when the file exists. Reads at most the first 100 bytes.

    A missing directory is `StorageNotFound`; a directory, an empty (0-byte) file, a file without the SQLite
    header and a file shorter than its header says (truncated) are `NotACheckpointDatabase`."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StorageNotFound(
            f"the directory '{directory}' of SQLite database '{path}' does not exist; create it first"
        )
    if os.path.isdir(path):
        raise NotACheckpointDatabase(f"'{path}' is a directory, not an SQLite database file")
    if not os.path.exists(path):
        return False
    size = os.path.getsize(path)
    if size == 0:
        raise NotACheckpointDatabase(
            f"'{path}' is an empty (0-byte) file, not a checkpoint database; delete it or choose another file"
        )
    with open(path, "rb") as fh:
        header = fh.read(100)
    if not header.startswith(SQLITE_HEADER):
        raise NotACheckpointDatabase(
            f"'{path}' is not an SQLite database (it lacks the SQLite file header); "
            "point the URL at a checkpoint database or a new file"
        )
    if len(header) == 100:
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        counter, pages, valid_for = (struct.unpack(">I", header[i : i + 4])[0] for i in (24, 28, 92))
        wal = f"{path}-wal"
        wal_pending = os.path.exists(wal) and os.path.getsize(wal) > 0  # pages may live in the WAL for now
        if pages and counter == valid_for and size < pages * page_size and not wal_pending:
            raise NotACheckpointDatabase(
                f"'{path}' is truncated ({size} bytes; its header says {pages * page_size}); "
                "restore it from a backup or choose another file"
            )
    return True


def read_only_uri(path: str, *, immutable: bool = False) -> str:
    """A `file:` URI that opens `path` read-only (`immutable` also skips locking and the -shm file)."""
    quoted = urllib.parse.quote(os.path.abspath(path))
    return f"file:{quoted}?mode=ro" + ("&immutable=1" if immutable else "")


async def execute(db: aiosqlite.Connection, sql: str, params: Any = ()) -> None:
    """Run one statement and close its cursor (an open cursor keeps the statement in progress)."""
    cursor = await db.execute(sql, params)
    await cursor.close()


async def _tables(db: aiosqlite.Connection) -> frozenset[str]:
    rows = await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return frozenset(str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_"))


async def _columns(db: aiosqlite.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in await db.execute_fetchall(f"PRAGMA table_info({table})")}


async def _meta(db: aiosqlite.Connection, tables: frozenset[str], key: str) -> str | None:
    if "weavegraph_meta" not in tables:
        return None
    rows = list(await db.execute_fetchall("SELECT value FROM weavegraph_meta WHERE key = ?", (key,)))
    return str(rows[0][0]) if rows else None


async def _version(db: aiosqlite.Connection, tables: frozenset[str]) -> int:
    if schema.VERSION_TABLE not in tables:
        return 0
    rows = list(await db.execute_fetchall(f"SELECT version FROM {schema.VERSION_TABLE} WHERE id = 1"))
    return int(rows[0][0]) if rows else 0


async def check_ours(db: aiosqlite.Connection, path: str, tables: frozenset[str], *, create: bool) -> None:
    """`NotACheckpointDatabase` unless the tables are ours (or there are none and `create` is set)."""
    missing = [t for t in REQUIRED_COLUMNS if t not in tables]
    if tables and missing:
        shown = ", ".join(sorted(tables)[:8])
        raise NotACheckpointDatabase(
            f"'{path}' is an SQLite database but not a checkpoint database: it has tables {shown} "
            f"and no {' or '.join(missing)} table; choose another file"
        )
    for table, required in REQUIRED_COLUMNS.items():
        if table in tables:
            lacking = required - await _columns(db, table)
            if lacking:
                raise NotACheckpointDatabase(
                    f"'{path}' has a '{table}' table without the checkpoint columns "
                    f"{', '.join(sorted(lacking))}; it is not a checkpoint database"
                )
    if not tables and not create:
        raise NotACheckpointDatabase(
            f"'{path}' holds no checkpoint tables (sessions, steps); open a database written by "
            "Weavegraph or Weavegraph Studio, or connect with create=True to initialise it"
        )


def is_wal_file(path: str) -> bool:
    """Whether the header says WAL mode (file format versions 2) and no other process has a WAL going."""
    with open(path, "rb") as fh:
        header = fh.read(20)
    live_wal = os.path.exists(path + "-wal") and os.path.getsize(path + "-wal") > 0
    return header[18:20] == b"\x02\x02" and not live_wal


async def inspect(path: str, *, create: bool, busy_timeout: float = 5.0) -> FileFacts:
    """Look at an existing file through a read-only connection, writing nothing: no pragma, no table, and
    no -wal or -shm file (a WAL-mode file nobody is writing is read `immutable`, since even a read-only
    connection would create those). Raises `NotACheckpointDatabase` when the file is not ours,
    `SchemaTooNew` when it is newer than this code and `StorageLocked` when it stays locked."""
    immutable = await asyncio.to_thread(is_wal_file, path)
    uri = read_only_uri(path, immutable=immutable)
    with map_sqlite_errors(path, "inspecting the file"):
        async with aiosqlite.connect(uri, uri=True, timeout=busy_timeout) as db:
            tables = await _tables(db)
            await check_ours(db, path, tables, create=create)
            version = await _version(db, tables)
            schema.pending("sqlite", version, f"'{path}'")
            mode = await _meta(db, tables, "storage_mode")
            every = await _meta(db, tables, "snapshot_every")
    return FileFacts(tables, version, mode, int(every) if every else None)


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    applied: list[str]
    """The migrations applied now (file names without .sql)."""
    storage_mode: str
    """"compact" or "full", as recorded in weavegraph_meta."""
    snapshot_every: int


async def read_info(db: aiosqlite.Connection, path: str) -> SchemaInfo:
    """The schema facts of a database this process may not write (read-only connections)."""
    tables = await _tables(db)
    mode = await _meta(db, tables, "storage_mode") or "full"
    every = await _meta(db, tables, "snapshot_every")
    return SchemaInfo([], mode, int(every) if every else DEFAULT_SNAPSHOT_EVERY)


async def migrate(
    db: aiosqlite.Connection,
    path: str,
    *,
    create: bool = True,
    storage_mode: str | None = None,
    snapshot_every: int | None = None,
) -> SchemaInfo:
    """Apply pending migrations and record the storage mode, in one `BEGIN IMMEDIATE` transaction that
    re-checks everything under the write lock (so concurrent first opens apply each migration once).

    Writes nothing when the schema is current and the mode recorded. A new database records `storage_mode`
    (default `compact.default_mode()`); an existing one without a recorded mode (Weavegraph 0.6) is "full";
    asking for the other mode of an existing database raises `CheckpointerError`."""
    tables = await _tables(db)
    await check_ours(db, path, tables, create=create)
    version = await _version(db, tables)
    todo = schema.pending("sqlite", version, f"'{path}'")
    recorded = await _meta(db, tables, "storage_mode")
    every = await _meta(db, tables, "snapshot_every")
    if not todo and recorded is not None and every is not None:
        if storage_mode is not None and storage_mode != recorded:
            raise _other_mode(path, recorded, storage_mode)
        if snapshot_every is None or str(snapshot_every) == every:
            return SchemaInfo([], recorded, int(every))
    await execute(db, "BEGIN IMMEDIATE")
    try:
        tables = await _tables(db)
        await check_ours(db, path, tables, create=create)
        had_sessions = "sessions" in tables
        todo = schema.pending("sqlite", await _version(db, tables), f"'{path}'")
        for migration in todo:
            for statement in schema.sqlite_statements(migration.sql):
                added = schema.added_column(statement)
                if added and added[1] in await _columns(db, added[0]):
                    continue
                await execute(db, statement)
        await execute(db, schema.CREATE_VERSION_TABLE)
        if todo:
            await execute(db, schema.SET_VERSION["sqlite"], (schema.latest("sqlite"),))
        tables = await _tables(db)
        recorded = await _meta(db, tables, "storage_mode")
        if recorded is None:
            recorded = "full" if had_sessions else (storage_mode or default_mode())
            await execute(
                db, "INSERT INTO weavegraph_meta (key, value) VALUES ('storage_mode', ?)", (recorded,)
            )
        elif storage_mode is not None and storage_mode != recorded:
            raise _other_mode(path, recorded, storage_mode)
        stored_every = await _meta(db, tables, "snapshot_every")
        every_n = snapshot_every or int(stored_every or DEFAULT_SNAPSHOT_EVERY)
        if stored_every != str(every_n):
            await execute(
                db,
                "INSERT INTO weavegraph_meta (key, value) VALUES ('snapshot_every', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(every_n),),
            )
        await execute(db, "COMMIT")
    except BaseException:
        if db.in_transaction:
            await execute(db, "ROLLBACK")
        raise
    return SchemaInfo([m.name for m in todo], recorded, every_n)


def _other_mode(path: str, recorded: str, requested: str) -> CheckpointerError:
    return CheckpointerError(
        f"'{path}' stores checkpoints in {recorded} mode, not {requested}; open it without a "
        "mode, or convert it with `weavegraph export` and `weavegraph import`"
    )
