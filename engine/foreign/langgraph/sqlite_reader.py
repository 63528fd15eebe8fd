"""Read-only reader of a LangGraph `SqliteSaver` / `AsyncSqliteSaver` file (tables `checkpoints`, `writes`).

Never writes: the file is opened with a `file:...?mode=ro` URI. A WAL-mode file with no `-wal` beside it (no
process has it open) is read with `immutable=1` as well, because even a read-only connection would otherwise
create `-wal` and `-shm` files and leave them behind; as soon as a `-wal` file appears (a LangGraph process
opened the database) the reader reconnects without `immutable`, using the files that process made. Interactive
queries run on aiosqlite; whole-database scans (analytics, prune planning) run in a worker thread on their own
read-only connection so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiosqlite

import engine.foreign.langgraph.sqlite_scan as sqlite_scan
from engine.foreign.langgraph.decode import Decoder, checkpoint_time
from engine.foreign.langgraph.errors import NotALangGraphDatabase
from engine.foreign.langgraph.plan import PrunePlan, plan_prune
from engine.foreign.langgraph.records import (
    CheckpointDetail,
    CheckpointInfo,
    CheckpointPage,
    CheckpointTree,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    ThreadPage,
    ThreadQuery,
)
from engine.foreign.langgraph.tree import build_tree, page_threads
from engine.persistence.errors import StorageNotFound, map_sqlite_errors

SQLITE_MAGIC = b"SQLite format 3\x00"


def read_only_uri(path: str, *, immutable: bool) -> str:
    return sqlite_scan.file_uri(path, "ro", immutable=immutable)


def sqlite_header(path: str) -> bytes:
    """The first 100 bytes; StorageNotFound / NotALangGraphDatabase for a missing or non-SQLite file."""
    if not os.path.exists(path):
        raise StorageNotFound(f"no such file: '{path}'")
    if os.path.isdir(path):
        raise NotALangGraphDatabase(f"'{path}' is a directory, not a LangGraph SQLite database")
    with open(path, "rb") as f:
        head = f.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise NotALangGraphDatabase(f"'{path}' is not a SQLite database (no SQLite header)")
    return head


def wants_immutable(path: str, header: bytes) -> bool:
    """WAL mode (header bytes 18/19 = 2) and no `-wal` file: no process has the database open."""
    return len(header) >= 20 and header[18] == 2 and not os.path.exists(path + "-wal")


class SQLiteLangGraphReader:
    """Browse a LangGraph SQLite file. Create with `await SQLiteLangGraphReader.open(path)`."""

    backend = "sqlite"

    def __init__(self, path: str, decoder: Decoder, busy_timeout: float) -> None:
        self.path = path
        self.location = path
        self.decoder = decoder
        self._timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._immutable = False
        self._has_task_path = True
        self._threads: list[ThreadInfo] | None = None
        self._threads_version: object = None

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, busy_timeout: float = 2.0, trust_types: bool = False
    ) -> SQLiteLangGraphReader:
        reader = cls(str(Path(path)), Decoder(trust_types=trust_types), busy_timeout)
        await reader._connect()
        return reader

    async def _connect(self) -> None:
        header = await asyncio.to_thread(sqlite_header, self.path)
        immutable = wants_immutable(self.path, header)
        with map_sqlite_errors(self.path, "opening read-only"):
            conn = await aiosqlite.connect(
                read_only_uri(self.path, immutable=immutable), uri=True, timeout=self._timeout
            )
            try:
                tables: dict[str, set[str]] = {}
                async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
                    names = [str(r[0]) for r in await cur.fetchall()]
                for name in names:
                    if name in ("checkpoints", "writes"):
                        async with conn.execute(f"PRAGMA table_info({name})") as cur:
                            tables[name] = {str(r[1]) for r in await cur.fetchall()}
                    else:
                        tables[name] = set()
                sqlite_scan.check_tables(None, tables, self.path)
            except BaseException:
                await conn.close()
                raise
        self._has_task_path = "task_path" in tables["writes"]
        old, self._conn, self._immutable = self._conn, conn, immutable
        if old is not None:
            await old.close()

    async def _db(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("the reader is closed")
        if self._immutable and os.path.exists(self.path + "-wal"):  # noqa: ASYNC240  # one stat call
            await self._connect()  # a LangGraph process opened the file: read through its WAL from now on
        assert self._conn is not None
        return self._conn

    async def _fetch(self, sql: str, params: tuple[Any, ...] = (), action: str = "reading") -> list[Any]:
        conn = await self._db()
        with map_sqlite_errors(self.path, action):
            async with conn.execute(sql, params) as cur:
                return list(await cur.fetchall())

    def _scan_uri(self) -> str:
        return read_only_uri(self.path, immutable=self._immutable)

    async def _data_version(self) -> object:
        if self._immutable:
            return "immutable"
        rows = await self._fetch("PRAGMA data_version")
        return rows[0][0]

    async def aclose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def __aenter__(self) -> SQLiteLangGraphReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ threads

    async def all_threads(self) -> list[ThreadInfo]:
        """Every thread and namespace (cached until the database changes)."""
        await self._db()
        version = await self._data_version()
        if self._threads is not None and version == self._threads_version:
            return self._threads
        rows = await self._fetch(
            "SELECT thread_id, checkpoint_ns, COUNT(*), "
            "SUM(COALESCE(length(checkpoint), 0) + COALESCE(length(metadata), 0)), MAX(checkpoint_id) "
            "FROM checkpoints GROUP BY thread_id, checkpoint_ns",
            action="listing threads",
        )
        writes = {
            (r[0], r[1]): int(r[2] or 0)
            for r in await self._fetch(
                "SELECT thread_id, checkpoint_ns, SUM(COALESCE(length(value), 0)) FROM writes "
                "GROUP BY thread_id, checkpoint_ns",
                action="listing threads",
            )
        }
        self._threads = [
            ThreadInfo(
                ThreadKey(str(t), str(ns)),
                int(n),
                int(b or 0) + writes.get((t, ns), 0),
                str(last),
                checkpoint_time(str(last)),
            )
            for t, ns, n, b, last in rows
        ]
        self._threads_version = version
        return self._threads

    async def list_threads(self, query: ThreadQuery = ThreadQuery()) -> ThreadPage:
        return page_threads(await self.all_threads(), query)

    # ------------------------------------------------------------ checkpoints

    def _info(self, key: ThreadKey, row: Any, metadata: dict[str, Any]) -> CheckpointInfo:
        cid, parent, size, writes = row[0], row[1], row[2], row[3]
        step = metadata.get("step")
        return CheckpointInfo(
            key,
            str(cid),
            str(parent) if parent else None,
            int(step) if isinstance(step, int) else None,
            str(metadata["source"]) if metadata.get("source") is not None else None,
            checkpoint_time(str(cid)),
            int(size or 0),
            int(writes or 0),
            metadata,
        )

    _INFO_SQL = (
        "SELECT c.checkpoint_id, c.parent_checkpoint_id, "
        "COALESCE(length(c.checkpoint), 0) + COALESCE(length(c.metadata), 0), "
        "(SELECT COUNT(*) FROM writes w WHERE w.thread_id = c.thread_id "
        "AND w.checkpoint_ns = c.checkpoint_ns "
        "AND w.checkpoint_id = c.checkpoint_id), c.metadata FROM checkpoints c "
    )

    async def list_checkpoints(self, key: ThreadKey, *, limit: int = 100, offset: int = 0) -> CheckpointPage:
        """A page of the chain's checkpoints, newest first."""
        rows = await self._fetch(
            self._INFO_SQL + "WHERE c.thread_id = ? AND c.checkpoint_ns = ? "
            "ORDER BY c.checkpoint_id DESC LIMIT ? OFFSET ?",
            (key.thread_id, key.checkpoint_ns, limit, offset),
            "listing checkpoints",
        )
        total = (
            await self._fetch(
                "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?",
                (key.thread_id, key.checkpoint_ns),
            )
        )[0][0]
        items = [self._info(key, r, _metadata(r[4])) for r in rows]
        return CheckpointPage(items, int(total), offset + len(items) < int(total))

    async def checkpoint_tree(self, key: ThreadKey) -> CheckpointTree:
        """Every checkpoint of the chain with parent links and drawing lanes (metadata: step and source)."""
        rows = await self._fetch(
            "SELECT c.checkpoint_id, c.parent_checkpoint_id, "
            "COALESCE(length(c.checkpoint), 0) + COALESCE(length(c.metadata), 0), 0, "
            "json_extract(CAST(c.metadata AS TEXT), '$.step'), "
            "json_extract(CAST(c.metadata AS TEXT), '$.source') "
            "FROM checkpoints c WHERE c.thread_id = ? AND c.checkpoint_ns = ? ORDER BY c.checkpoint_id",
            (key.thread_id, key.checkpoint_ns),
            "reading the checkpoint tree",
        )
        nodes = [self._info(key, r, {"step": r[4], "source": r[5]}) for r in rows]
        return build_tree(key, nodes)

    async def load_checkpoint(self, key: ThreadKey, checkpoint_id: str | None = None) -> CheckpointDetail:
        """One checkpoint (default: the chain's newest) with its values decoded and its pending writes."""
        where = "WHERE c.thread_id = ? AND c.checkpoint_ns = ? "
        params: tuple[Any, ...] = (key.thread_id, key.checkpoint_ns)
        if checkpoint_id is None:
            sql = self._INFO_SQL.replace("c.metadata FROM", "c.metadata, c.type, c.checkpoint FROM")
            rows = await self._fetch(sql + where + "ORDER BY c.checkpoint_id DESC LIMIT 1", params)
        else:
            sql = self._INFO_SQL.replace("c.metadata FROM", "c.metadata, c.type, c.checkpoint FROM")
            rows = await self._fetch(sql + where + "AND c.checkpoint_id = ?", (*params, checkpoint_id))
        if not rows:
            what = f"checkpoint '{checkpoint_id}'" if checkpoint_id else "no checkpoint"
            raise LookupError(f"{what} not found in thread '{key.label}' of '{self.path}'")
        row = rows[0]
        info = self._info(key, row, _metadata(row[4]))
        task_path = "task_path" if self._has_task_path else "''"
        writes = await self._fetch(
            f"SELECT task_id, {task_path}, idx, channel, type, value FROM writes "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ? ORDER BY task_id, idx",
            (key.thread_id, key.checkpoint_ns, info.checkpoint_id),
            "reading pending writes",
        )
        return await asyncio.to_thread(
            sqlite_scan.decode_checkpoint, self.decoder, info, row[5], row[6], writes
        )

    # ------------------------------------------------------------ analytics and prune

    async def analytics(self, keep_last: tuple[int, ...] = (1, 10), *, top: int = 20) -> StorageReport:
        """Bytes per thread, channel, checkpoint; repeated content; free pages, WAL; keep-last-N savings."""
        threads = await self.all_threads()
        uri = self._scan_uri()
        with map_sqlite_errors(self.path, "scanning for analytics"):
            return await asyncio.to_thread(
                sqlite_scan.analytics, uri, self.path, self._timeout, threads, keep_last, top
            )

    async def plan_prune(self, keep_last: int, thread_ids: list[str] | None = None) -> PrunePlan:
        """The dry run of keep-last-N: what would go (nothing is written)."""
        uri = self._scan_uri()
        with map_sqlite_errors(self.path, "planning a prune"):
            nodes = await asyncio.to_thread(sqlite_scan.read_nodes_at, uri, self._timeout)
        return plan_prune(nodes, keep_last, thread_ids)


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(bytes(raw) if isinstance(raw, bytes | memoryview) else raw)
    except (ValueError, TypeError):
        return {"$error": "metadata is not JSON"}
    return value if isinstance(value, dict) else {"$value": value}
