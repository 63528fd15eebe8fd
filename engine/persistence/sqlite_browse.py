"""The SQLite checkpointer's browsing side (ENGINE.md 8.1/8.2): steps, pages, records, events, lineage,
statistics and watching, as a mixin of `SQLiteCheckpointer` (split off `sqlite.py`); all through
aiosqlite's public API (`sqlite_reads`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator

import aiosqlite

import engine.persistence.records_store as records_store
import engine.persistence.sqlite_ops as ops
import engine.persistence.sqlite_reads as reads
import engine.persistence.sqlite_schema as schema_mod
from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.persistence.base import (
    Checkpoint,
    SessionPage,
    SessionQuery,
    StepQuery,
    StepQueryResult,
    StepSummary,
    StorageStats,
    order_expression,
)
from engine.persistence.errors import map_sqlite_errors
from engine.persistence.incremental import StoreMode
from engine.persistence.records_store import SessionInfo
from engine.persistence.serde import decode_summaries, summary_bounds
from engine.persistence.sqlite_open import MEMORY
from engine.persistence.sqlite_ops import SESSION_STATS, STEP_COLUMNS


def _file_sizes(path: str) -> tuple[int, int]:
    wal = path + "-wal"
    return os.path.getsize(path), (os.path.getsize(wal) if os.path.exists(wal) else 0)


class SQLiteBrowsing:
    """Reads for browsing and administration; the checkpointer provides the connection and the mapping."""

    backend_name = "sqlite"
    path: str
    poll_interval: float
    read_only: bool
    _db: aiosqlite.Connection
    _busy_timeout: float
    _store: StoreMode
    _watchers: list[asyncio.Queue[tuple[str, int]]]

    def _mapped(self, action: str) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    @property
    def is_memory(self) -> bool:
        return self.path == MEMORY

    @property
    def storage_mode(self) -> str:
        """ "compact" (deltas, a full snapshot every `snapshot_every` steps) or "full" (Weavegraph's)."""
        return self._store.mode

    @property
    def snapshot_every(self) -> int:
        return self._store.snapshot_every

    async def node_records(self, session_id: str, step: int | None = None) -> list[NodeRecord]:
        """The session's node records (one step, or all), step then frontier order (ENGINE.md 8.1)."""
        sql, args = records_store.sqlite_query(session_id, step)
        with self._mapped(f"reading node records of session '{session_id}'"):
            rows = await reads.fetchall(self._db, sql, args)
        return [records_store.decode_row(r) for r in rows]

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
        return records_store.sqlite_events(session_id, rows, limit)

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

    async def step_summaries(
        self, session_id: str, min_step: int | None = None, max_step: int | None = None
    ) -> list[StepSummary]:
        """Every stored step of the session in this range, oldest first: number, save time, ran and skipped
        nodes, without reading or decoding any state (the studio timeline's read)."""
        bounds, args = summary_bounds(min_step, max_step, None)
        with self._mapped(f"reading the step times of session '{session_id}'"):
            rows = await reads.fetchall(
                self._db,
                "SELECT step, created_at, ran_nodes_json, skipped_nodes_json FROM steps"
                f" WHERE session_id = ?{bounds} ORDER BY step",
                (session_id, *args),
            )
        return decode_summaries(session_id, rows)

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
