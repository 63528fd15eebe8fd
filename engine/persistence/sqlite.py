"""SQLite checkpointer (aiosqlite, WAL): full step history, Weavegraph 0.6 schema, safe for many writers.

Opening inspects an existing file read-only first and writes nothing to a file that is not ours (see
`sqlite_schema`); the schema comes from the versioned migrations. Reads, prune, delete and watch go through
aiosqlite's public API (see `sqlite_reads`). A save is one function on aiosqlite's worker thread (see
`sqlite_ops`: one thread hop and one transaction); its JSON is encoded before, on the caller's thread,
reusing the texts of messages already saved (see `incremental`). Saving a step that already exists for the
session overwrites that row (as Weavegraph does); the session's latest pointer only moves forward. New
databases use compact storage (see `compact`) unless asked for "full"; the mode is recorded in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import aiosqlite

import engine.persistence.records_store as records_store
import engine.persistence.sqlite_ops as ops
import engine.persistence.sqlite_reads as reads
import engine.persistence.sqlite_schema as schema_mod
from engine.errors import CheckpointerError
from engine.events.event import Event
from engine.hitl_types import PendingInterrupt
from engine.node_records import NodeRecord
from engine.persistence.base import (
    Checkpoint,
    PrunePolicy,
    PruneReport,
    SessionPage,
    SessionQuery,
    StepQuery,
    StepQueryResult,
    StorageStats,
    order_expression,
)
from engine.persistence.compact import LATEST_MARKER, STORAGE_MODES
from engine.persistence.errors import (
    CheckpointDataError,
    InvalidCheckpointerUrl,
    StorageFull,
    StorageNotFound,
    disk_full,
    map_sqlite_errors,
)
from engine.persistence.incremental import StoreMode, encode_save
from engine.persistence.interrupts_store import InterruptStore, SQLiteInterrupts
from engine.persistence.records_store import SessionInfo
from engine.persistence.serde import decode_checkpoint, format_timestamp
from engine.persistence.sqlite_open import MEMORY, open_connection
from engine.persistence.sqlite_ops import SESSION_STATS, STEP_COLUMNS
from engine.persistence.urls import DatabaseURL

T = TypeVar("T")


def parse_sqlite_url(url: str | DatabaseURL) -> str:
    """The path in a `sqlite://` URL or ":memory:"; `sqlite://a.db` is relative, `sqlite:///a.db` absolute."""
    parsed = DatabaseURL.parse(url)
    if parsed.backend != "sqlite":
        raise InvalidCheckpointerUrl(
            f"not an SQLite URL: '{parsed}' (use sqlite://relative.db, sqlite:///absolute/path.db "
            "or sqlite::memory:)"
        )
    return parsed.path or MEMORY


def _file_sizes(path: str) -> tuple[int, int]:
    wal = path + "-wal"
    return os.path.getsize(path), (os.path.getsize(wal) if os.path.exists(wal) else 0)


class SQLiteCheckpointer:
    """Checkpoints in an SQLite file or `sqlite::memory:`. Create: `await SQLiteCheckpointer.connect(url)`."""

    backend_name = "sqlite"

    def __init__(
        self, db: aiosqlite.Connection, path: str, busy_timeout: float, poll_interval: float
    ) -> None:
        self._db = db
        self._raw: sqlite3.Connection = db._conn  # the save path only (`_call`), on aiosqlite's thread
        self.path = path
        self._busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self._closed = False
        self._watchers: list[asyncio.Queue[tuple[str, int]]] = []
        self.schema_changed = False
        """Whether connecting created or extended the schema."""
        self.applied: list[str] = []
        """The migrations connecting applied (file names without .sql)."""
        self.read_only = False
        """Opened read-only (asked for, or the file's mode forbids writing): every write raises."""
        self._store = StoreMode()

    @property
    def storage_mode(self) -> str:
        """ "compact" (deltas, a full snapshot every `snapshot_every` steps) or "full" (Weavegraph's)."""
        return self._store.mode

    @property
    def snapshot_every(self) -> int:
        return self._store.snapshot_every

    def __repr__(self) -> str:
        return f"SQLiteCheckpointer({self.path!r})"

    @property
    def is_memory(self) -> bool:
        return self.path == MEMORY

    @classmethod
    async def connect(
        cls,
        url: str | DatabaseURL = "sqlite://weavegraph.db",
        *,
        busy_timeout: float = 5.0,
        poll_interval: float = 0.2,
        create: bool = True,
        read_only: bool = False,
        storage_mode: str | None = None,
        snapshot_every: int | None = None,
    ) -> SQLiteCheckpointer:
        """Open (and unless `create=False` create) the database: WAL, synchronous=NORMAL, foreign keys on.

        An existing file is first inspected read-only and left untouched unless it is ours
        (`NotACheckpointDatabase` otherwise; `SchemaTooNew` when a newer version migrated it). With
        `read_only=True`, or for a file whose mode forbids writing (0444, even as root), the connection is
        read-only and every write raises `StorageReadOnly`. A new file is built under a temporary name and
        linked into place, so another process never sees it half made and two first opens both succeed.

        `busy_timeout` (seconds) is how long a write waits for another process's lock before `StorageLocked`.
        A new database stores `storage_mode` ("compact", the default, or "full"; also `?storage=` in the URL)
        with a full snapshot every `snapshot_every` steps (default 50; `?snapshot_every=`); an existing one
        keeps the mode it records.
        """
        parsed = DatabaseURL.parse(url)
        path = parse_sqlite_url(parsed)
        storage_mode = storage_mode or parsed.option("storage")
        if storage_mode is not None and storage_mode not in STORAGE_MODES:
            raise CheckpointerError(f"storage_mode must be 'compact' or 'full', got {storage_mode!r}")
        every_option = parsed.option("snapshot_every")
        if snapshot_every is None and every_option is not None:
            snapshot_every = int(every_option)
        if snapshot_every is not None and snapshot_every < 1:
            raise CheckpointerError(f"snapshot_every must be at least 1, got {snapshot_every}")
        opened = await open_connection(
            path,
            busy_timeout=busy_timeout,
            create=create,
            read_only=read_only,
            storage_mode=storage_mode,
            snapshot_every=snapshot_every,
        )
        self = cls(opened.db, path, busy_timeout, poll_interval)
        self.read_only = opened.read_only
        self.applied = opened.applied
        self.schema_changed = bool(opened.applied)
        self._store.mode, self._store.snapshot_every = opened.storage_mode, opened.snapshot_every
        return self

    async def _call(self, fn: Callable[[sqlite3.Connection], T], action: str) -> T:
        if self._closed:
            raise StorageNotFound(f"SQLite checkpointer for '{self.path}' is closed")
        raw = self._raw
        try:
            with map_sqlite_errors(self.path, action):
                # aiosqlite's worker-thread call (private but stable since 0.17): one hop per transaction.
                result: T = await self._db._execute(fn, raw)  # type: ignore[no-untyped-call]
                return result
        except (ValueError, TypeError, KeyError) as exc:  # a stored row that does not decode
            raise CheckpointDataError(
                f"a stored row of SQLite database '{self.path}' cannot be read while {action}: {exc!r}"
            ) from exc

    @contextlib.contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        """Around public-API calls: driver errors and undecodable rows become `CheckpointerError`s."""
        if self._closed:
            raise StorageNotFound(f"SQLite checkpointer for '{self.path}' is closed")
        try:
            with map_sqlite_errors(self.path, action):
                yield
        except (ValueError, TypeError, KeyError) as exc:  # a stored row that does not decode
            raise CheckpointDataError(
                f"a stored row of SQLite database '{self.path}' cannot be read while {action}: {exc!r}"
            ) from exc

    async def _disk_full(self, exc: StorageFull, session_id: str) -> StorageFull:
        """The error of a save that hit a full disk, saying what of the session is safely stored."""
        try:
            rows = list(
                await self._db.execute_fetchall(
                    "SELECT last_step FROM sessions WHERE id = ? AND last_state_json IS NOT NULL",
                    (session_id,),
                )
            )
        except sqlite3.Error:
            return exc
        full = disk_full(self.path, session_id, int(rows[0][0]) if rows else None)
        full.__cause__ = exc.__cause__
        return full

    # ------------------------------------------------------------ writing

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        """Write the step row and move the latest pointer forward, in one IMMEDIATE transaction.

        With `expected_last_step`, raises `CheckpointConflict` when the session's latest step (None when it
        has none) differs; the check holds the write lock, so two writers can never both pass it.
        """
        store = self._store
        enc = encode_save(checkpoint, store.texts)
        now = format_timestamp(_dt.datetime.now(_dt.UTC))
        try:
            await self._call(
                lambda c: ops.save(c, enc, expected_last_step, now, store, checkpoint),
                f"saving session '{enc.session_id}'",
            )
        except StorageFull as exc:
            raise await self._disk_full(exc, enc.session_id) from exc.__cause__
        for queue in self._watchers:
            queue.put_nowait((enc.session_id, enc.step))

    async def delete_session(self, session_id: str) -> None:
        db = self._db
        with self._mapped(f"deleting session '{session_id}'"):
            await schema_mod.execute(db, "BEGIN IMMEDIATE")
            try:
                await schema_mod.execute(db, "DELETE FROM steps WHERE session_id = ?", (session_id,))
                await schema_mod.execute(db, "DELETE FROM sessions WHERE id = ?", (session_id,))
                await schema_mod.execute(db, "COMMIT")
            except BaseException:
                if db.in_transaction:
                    await schema_mod.execute(db, "ROLLBACK")
                raise
        self._store.forget(session_id)

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        """Delete (or with `dry_run` only count) steps the policy selects; never a session's latest step."""
        cutoff = None
        if policy.older_than is not None:
            cutoff = format_timestamp(_dt.datetime.now(_dt.UTC) - policy.older_than)
        with self._mapped("pruning"):
            return await reads.prune(self._db, policy, cutoff, dry_run)

    async def vacuum(self) -> None:
        """Checkpoint and truncate the WAL, then rebuild the file so deleted steps give their space back."""
        with self._mapped("vacuuming"):
            if not self.is_memory:
                await schema_mod.execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
            await schema_mod.execute(self._db, "VACUUM")
            if not self.is_memory:
                await schema_mod.execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")

    # ------------------------------------------------------------ reading

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        db = self._db
        with self._mapped(f"loading session '{session_id}'"):
            if self._store.mode == "compact":  # the session row holds a marker: the state is the step's
                rows = await reads.fetchall(
                    db,
                    f"SELECT {STEP_COLUMNS} FROM sessions s JOIN steps t"
                    " ON t.session_id = s.id AND t.step = s.last_step"
                    " WHERE s.id = ? AND s.last_state_json IS NOT NULL",
                    (session_id,),
                )
                if rows:
                    return (await reads.to_checkpoints(db, session_id, rows))[0]
            found = await reads.fetchall(
                db,
                "SELECT s.last_step, COALESCE(t.created_at, s.updated_at),"
                " s.last_state_json, COALESCE(t.frontier_json, s.last_frontier_json),"
                " COALESCE(t.versions_seen_json, s.last_versions_seen_json), t.ran_nodes_json,"
                " t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash"
                " FROM sessions s LEFT JOIN steps t ON t.session_id = s.id AND t.step = s.last_step"
                " WHERE s.id = ?",
                (session_id,),
            )
            if not found or found[0][2] is None:
                return None
            row = found[0]
            if row[2] == LATEST_MARKER:
                raise CheckpointDataError(
                    f"the latest step {row[0]} of session '{session_id}' is missing from the steps table"
                )
            # Full mode (and Weavegraph 0.6 files): the session row holds the latest state in full.
            return decode_checkpoint(session_id, *row)

    async def node_records(self, session_id: str, step: int | None = None) -> list[NodeRecord]:
        """The session's node records (one step, or all), step then frontier order (ENGINE.md 8.1)."""
        sql, args = records_store.sqlite_query(session_id, step)
        with self._mapped(f"reading node records of session '{session_id}'"):
            rows = await reads.fetchall(self._db, sql, args)
        return [records_store.decode_row(r) for r in rows]

    async def append_events(self, session_id: str, events: list[Event]) -> None:
        """Store events published after the session's last save (stored events, issue 15)."""
        with self._mapped(f"storing events of session '{session_id}'"):
            await schema_mod.execute(self._db, "BEGIN IMMEDIATE")
            try:
                await self._db.executemany(
                    f"INSERT INTO {records_store.EVENTS} (session_id, step, event_json) VALUES (?, ?, ?)",
                    [(session_id, e.step, e.to_json_string()) for e in events],
                )
                await schema_mod.execute(self._db, "COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    await schema_mod.execute(self._db, "ROLLBACK")
                raise

    async def events(
        self,
        session_id: str,
        min_step: int | None = None,
        max_step: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The session's stored events in publish order (ENGINE.md 8.1)."""
        sql, args = records_store.events_query(session_id, min_step, max_step, limit, postgres=False)
        with self._mapped(f"reading events of session '{session_id}'"):
            rows = await reads.fetchall(self._db, sql, tuple(args))
        return records_store.decode_events(rows)

    async def session_info(self, session_id: str) -> SessionInfo | None:
        """The session's info (ENGINE.md 8.2), None for an unknown session."""
        with self._mapped(f"reading session '{session_id}'"):
            rows = await reads.fetchall(
                self._db, records_store.info_query("s.id", postgres=False), (session_id,)
            )
        return records_store.decode_info(rows[0]) if rows else None

    async def children(self, session_id: str) -> list[SessionInfo]:
        """The sessions forked from `session_id` (ENGINE.md 8.2)."""
        sql = records_store.info_query("i.parent_session", postgres=False)
        with self._mapped(f"reading the forks of session '{session_id}'"):
            rows = await reads.fetchall(self._db, sql, (session_id,))
        return [records_store.decode_info(r) for r in rows]

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None:
        with self._mapped(f"loading step {step} of session '{session_id}'"):
            rows = await reads.fetchall(
                self._db,
                f"SELECT {STEP_COLUMNS} FROM steps t JOIN sessions s ON s.id = t.session_id"
                " WHERE t.session_id = ? AND t.step = ?",
                (session_id, step),
            )
            return (await reads.to_checkpoints(self._db, session_id, rows))[0] if rows else None

    # ---- hitl (ENGINE.md 8.3): interrupts, in tables of our own (engine/persistence/interrupts_store.py)

    def interrupt_store(self) -> InterruptStore:
        return SQLiteInterrupts(self._call)

    async def list_interrupts(
        self, pending: bool = True, limit: int = 100, offset: int = 0
    ) -> list[PendingInterrupt]:
        """Interrupts across every session, newest first; `pending=False` adds the answered ones."""
        return await self.interrupt_store().list_interrupts(pending, limit, offset)

    async def list_sessions(self) -> list[str]:
        with self._mapped("listing sessions"):
            rows = await reads.fetchall(
                self._db, "SELECT id FROM sessions ORDER BY updated_at DESC, rowid DESC"
            )
            return [str(r[0]) for r in rows]

    async def graph_hash(self, session_id: str) -> str | None:
        with self._mapped(f"reading the graph hash of session '{session_id}'"):
            rows = await reads.fetchall(
                self._db, "SELECT graph_hash FROM sessions WHERE id = ?", (session_id,)
            )
            return rows[0][0] if rows else None

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        """One page of a session's steps, newest first, with the total number of matches (see
        `sqlite_reads.query_steps`)."""
        with self._mapped(f"querying steps of session '{session_id}'"):
            return await reads.query_steps(self._db, session_id, query)

    async def session_page(self, query: SessionQuery = SessionQuery()) -> SessionPage:
        """One page of sessions with their step counts and sizes (from the covering index, not the rows)."""
        where, args = "", []
        if query.search:
            escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, args = "WHERE s.id LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
        direction = "DESC" if query.descending else "ASC"
        with self._mapped("listing a page of sessions"):
            total = (await reads.fetchall(self._db, f"SELECT count(*) FROM sessions s {where}", args))[0][0]
            rows = await reads.fetchall(
                self._db,
                f"{SESSION_STATS} {where}"
                f" ORDER BY {order_expression(query.order_by)} {direction}, s.id {direction}"
                " LIMIT ? OFFSET ?",
                [*args, query.limit, query.offset],
            )
            return SessionPage([ops.session_stats(r) for r in rows], int(total))

    async def storage_stats(self) -> StorageStats:
        db = self._db
        with self._mapped("reading storage statistics"):
            rows = await reads.fetchall(db, f"{SESSION_STATS} ORDER BY s.updated_at DESC, s.id")
            sessions = [ops.session_stats(r) for r in rows]
            page_size = (await reads.fetchall(db, "PRAGMA page_size"))[0][0]
            free = (await reads.fetchall(db, "PRAGMA freelist_count"))[0][0] * page_size
            tables: dict[str, int] = {}
            try:
                for name, size in await reads.fetchall(
                    db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
                ):
                    tables[name] = int(size)
            except sqlite3.OperationalError:  # SQLite built without the dbstat table
                tables = {}
        file_bytes = wal_bytes = None
        if not self.is_memory:
            file_bytes, wal_bytes = await asyncio.to_thread(_file_sizes, self.path)
        return StorageStats(
            self.backend_name,
            sessions,
            sum(s.steps for s in sessions),
            sum(s.bytes for s in sessions),
            file_bytes,
            wal_bytes,
            free,
            tables,
            self.storage_mode,
            self.snapshot_every,
        )

    async def integrity_check(self) -> str:
        """`PRAGMA integrity_check`: "ok" for a sound file."""
        with self._mapped("checking integrity"):
            return "\n".join(str(r[0]) for r in await reads.fetchall(self._db, "PRAGMA integrity_check"))

    # ------------------------------------------------------------ watching and closing

    async def watch(self) -> AsyncIterator[tuple[str, int]]:
        """(session_id, step) for each step saved from now on by any process.

        Polls `PRAGMA data_version` on a separate read connection every `poll_interval` seconds, and reads
        new steps only when it changed. A re-save of an existing step is not reported again.
        `sqlite::memory:` databases are private to this process, so there saves are reported directly.
        """
        if self.is_memory:
            queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
            self._watchers.append(queue)
            try:
                while True:
                    yield await queue.get()
            finally:
                self._watchers.remove(queue)
        target = schema_mod.read_only_uri(self.path) if self.read_only else self.path
        with map_sqlite_errors(self.path, "opening a watch connection"):
            reader = await aiosqlite.connect(
                target, uri=self.read_only, isolation_level=None, timeout=self._busy_timeout
            )
        try:
            with map_sqlite_errors(self.path, "watching"):
                seen, version = await reads.watch_snapshot(reader)
            while True:
                await asyncio.sleep(self.poll_interval)
                with map_sqlite_errors(self.path, "watching"):
                    found, version = await reads.watch_poll(reader, seen, version)
                for item in found:
                    yield item
        finally:
            await reader.close()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._db.close()
