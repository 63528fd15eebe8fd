"""SQLite checkpointer (aiosqlite, WAL): full step history, Weavegraph 0.6 schema, safe for many writers.

Opening inspects an existing file read-only first and writes nothing to a file that is not ours (see
`sqlite_schema`); the schema comes from the versioned migrations. Everything goes through aiosqlite's
public API. Saves are group-committed (issue 20, `group`): saves arriving while one is being written go
together in the next transaction, which `sqlite_save` writes as ONE statement (one thread hop, one commit);
each `save` returns once its own rows are committed. Its JSON is encoded before, on the caller's thread,
reusing the texts of messages already saved (see `incremental`). Saving a step that already exists for the
session overwrites that row (as Weavegraph does); the session's latest pointer only moves forward. New
databases use compact storage (see `compact`) unless asked for "full"; the mode is recorded in the file.
Browsing, statistics and watching are in `sqlite_browse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import sqlite3
from collections.abc import AsyncIterator, Iterator

import aiosqlite

import engine.persistence.group as group
import engine.persistence.records_store as records_store
import engine.persistence.sqlite_reads as reads
import engine.persistence.sqlite_schema as schema_mod
from engine.errors import CheckpointerError
from engine.events.event import Event
from engine.hitl_types import PendingInterrupt
from engine.persistence.base import Checkpoint, PrunePolicy, PruneReport
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
from engine.persistence.serde import decode_checkpoint, format_timestamp
from engine.persistence.sqlite_browse import SQLiteBrowsing
from engine.persistence.sqlite_open import MEMORY, SYNCHRONOUS, open_connection
from engine.persistence.sqlite_ops import STEP_COLUMNS
from engine.persistence.sqlite_save import SaveItem, SQLiteGroupWriter
from engine.persistence.urls import DatabaseURL


def parse_sqlite_url(url: str | DatabaseURL) -> str:
    """The path in a `sqlite://` URL or ":memory:"; `sqlite://a.db` is relative, `sqlite:///a.db` absolute."""
    parsed = DatabaseURL.parse(url)
    if parsed.backend != "sqlite":
        raise InvalidCheckpointerUrl(
            f"not an SQLite URL: '{parsed}' (use sqlite://relative.db, sqlite:///absolute/path.db "
            "or sqlite::memory:)"
        )
    return parsed.path or MEMORY


class SQLiteCheckpointer(SQLiteBrowsing):
    """Checkpoints in an SQLite file or `sqlite::memory:`. Create: `await SQLiteCheckpointer.connect(url)`."""

    backend_name = "sqlite"

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        busy_timeout: float,
        poll_interval: float,
        group_commit: bool = True,
    ) -> None:
        self._db = db
        self.path = path
        self._busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self._closed = False
        self.last_save_bytes: int | None = None  # the last save's encoded size (lifecycle `checkpoint.saved`)
        self._watchers: list[asyncio.Queue[tuple[str, int]]] = []
        self.schema_changed = False
        """Whether connecting created or extended the schema."""
        self.applied: list[str] = []
        """The migrations connecting applied (file names without .sql)."""
        self.read_only = False
        """Opened read-only (asked for, or the file's mode forbids writing): every write raises."""
        self.synchronous = "normal"
        """SQLite's `synchronous` setting of the connection ("normal" or "full"; see the README)."""
        self._store = StoreMode()
        self._write_lock = asyncio.Lock()
        """Held around every writing transaction of the connection, so no statement lands in another's."""
        self._writer = SQLiteGroupWriter(db, self._store, self._mapped)
        self.committer: group.GroupCommitter[SaveItem] = group.GroupCommitter(
            self._write_group, enabled=group_commit, name=f"group commit of SQLite '{path}'"
        )
        """Groups concurrent saves into one transaction (`group_commit=False`: one per save)."""

    def __repr__(self) -> str:
        return f"SQLiteCheckpointer({self.path!r})"

    @property
    def group_commit(self) -> bool:
        return self.committer.enabled

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
        group_commit: bool | None = None,
        synchronous: str | None = None,
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
        keeps the mode it records. `group_commit` (default on; `?group_commit=off`) writes saves that arrive
        while one is being written together in one transaction. `synchronous` ("normal", the default, or
        "full"; `?synchronous=`) is SQLite's fsync policy: see the README's Checkpoints section.
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
        grouped = group.parse_switch(
            group_commit if group_commit is not None else parsed.option(group.OPTION)
        )
        sync = (synchronous or parsed.option("synchronous") or "normal").lower()
        if sync not in SYNCHRONOUS:
            raise CheckpointerError(f"synchronous must be 'normal' or 'full', got {sync!r}")
        opened = await open_connection(
            path,
            busy_timeout=busy_timeout,
            create=create,
            read_only=read_only,
            storage_mode=storage_mode,
            snapshot_every=snapshot_every,
            synchronous=sync,
        )
        self = cls(opened.db, path, busy_timeout, poll_interval, grouped)
        self.read_only = opened.read_only
        self.synchronous = sync
        self.applied = opened.applied
        self.schema_changed = bool(opened.applied)
        self._store.mode, self._store.snapshot_every = opened.storage_mode, opened.snapshot_every
        return self

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

    @contextlib.asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the write lock, rolled back on any exception."""
        db = self._db
        async with self._write_lock:
            with self._mapped(action):
                await schema_mod.execute(db, "BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if db.in_transaction:
                        await schema_mod.execute(db, "ROLLBACK")
                    raise
                await schema_mod.execute(db, "COMMIT")

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

    async def _write_group(self, items: list[SaveItem]) -> list[BaseException | None]:
        async with self._write_lock:
            return await self._writer.write(items)

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        """Write the step row (and its node records, session info and events) and move the latest pointer
        forward, in one transaction shared with the saves that arrived meanwhile (group commit).

        With `expected_last_step`, raises `CheckpointConflict` when the session's latest step (None when it
        has none) differs; the check runs inside the transaction, under the write lock, so two writers can
        never both pass it. Returns once the rows are committed.
        """
        if self._closed:
            raise StorageNotFound(f"SQLite checkpointer for '{self.path}' is closed")
        enc = encode_save(checkpoint, self._store.texts)
        now = format_timestamp(_dt.datetime.now(_dt.UTC))
        try:
            await self.committer.submit(SaveItem(enc, checkpoint, expected_last_step, now))
        except StorageFull as exc:
            raise await self._disk_full(exc, enc.session_id) from exc.__cause__
        # The encoded checkpoint's size (save spans' `bytes`), set after the last await: the saving task
        # reads it before any other task runs.
        self.last_save_bytes = enc.other_bytes + enc.state_bytes()
        for queue in self._watchers:
            queue.put_nowait((enc.session_id, enc.step))

    async def delete_session(self, session_id: str) -> None:
        """Delete the session: its steps, node records, events, info, interrupts and pending writes."""
        async with self._transaction(f"deleting session '{session_id}'") as db:
            for table in ("steps", "weavegraph_interrupts", "weavegraph_pending_writes"):
                await schema_mod.execute(db, f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            await schema_mod.execute(db, "DELETE FROM sessions WHERE id = ?", (session_id,))
        self._store.forget(session_id)

    async def append_events(self, session_id: str, events: list[Event]) -> None:
        """Store events published after the session's last save (stored events, issue 15): one statement."""
        if not events:
            return
        sql, params = records_store.sqlite_append_params(session_id, events)
        async with self._write_lock:
            with self._mapped(f"storing events of session '{session_id}'"):  # one thread hop, autocommit
                await self._db.execute_fetchall(sql, params)

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        """Delete (or with `dry_run` only count) steps the policy selects; never a session's latest step."""
        cutoff = None
        if policy.older_than is not None:
            cutoff = format_timestamp(_dt.datetime.now(_dt.UTC) - policy.older_than)
        async with self._write_lock:
            with self._mapped("pruning"):
                return await reads.prune(self._db, policy, cutoff, dry_run)

    async def vacuum(self) -> None:
        """Checkpoint and truncate the WAL, then rebuild the file so deleted steps give their space back."""
        async with self._write_lock:
            with self._mapped("vacuuming"):
                if not self.is_memory:
                    await schema_mod.execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
                await schema_mod.execute(self._db, "VACUUM")
                if not self.is_memory:
                    await schema_mod.execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")

    # ------------------------------------------------------------ reading

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        return await self._load_latest(session_id, again=False)

    async def _load_latest(self, session_id: str, again: bool) -> Checkpoint | None:
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
                # Two statements, two snapshots: a session another connection created between them shows
                # its marker here; the compact query is asked again (once) before this is called missing data.
                if self._store.mode == "compact" and not again:
                    return await self._load_latest(session_id, again=True)
                raise CheckpointDataError(
                    f"the latest step {row[0]} of session '{session_id}' is missing from the steps table"
                )
            # Full mode (and Weavegraph 0.6 files): the session row holds the latest state in full.
            return decode_checkpoint(session_id, *row)

    # ---- hitl (ENGINE.md 8.3): interrupts, in tables of our own (engine/persistence/interrupts_store.py)

    def interrupt_store(self) -> InterruptStore:
        return SQLiteInterrupts(self._db, self._mapped, self._write_lock)

    async def list_interrupts(
        self, pending: bool = True, limit: int = 100, offset: int = 0
    ) -> list[PendingInterrupt]:
        """Interrupts across every session, newest first; `pending=False` adds the answered ones."""
        return await self.interrupt_store().list_interrupts(pending, limit, offset)

    # ------------------------------------------------------------ closing

    async def aclose(self) -> None:
        """Write the saves still queued, then close the connection."""
        if self._closed:
            return
        try:
            await self.committer.aclose()
        finally:
            self._closed = True
            await self._db.close()
