"""Read-only reader of a LangGraph `PostgresSaver` database (tables `checkpoints`, `checkpoint_blobs`,
`checkpoint_writes`, `checkpoint_migrations`) (its writers, prune and VACUUM, are in pg_write.py).

Read-only twice over: the connection sets `default_transaction_read_only = on` and every query runs in a
`READ ONLY` transaction. A `checkpoint_migrations` version newer than `KNOWN_MIGRATION` is refused before any
data is read. asyncpg is imported lazily (the `postgres` extra).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from engine.foreign.langgraph.decode import Decoder, checkpoint_time
from engine.foreign.langgraph.errors import LangGraphSchemaTooNew, NotALangGraphDatabase
from engine.foreign.langgraph.plan import Node, PrunePlan, plan_prune
from engine.foreign.langgraph.records import (
    ChannelBytes,
    CheckpointDetail,
    CheckpointInfo,
    CheckpointPage,
    CheckpointTree,
    PendingWrite,
    RepeatedBlob,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    ThreadPage,
    ThreadQuery,
    Value,
)
from engine.foreign.langgraph.tree import build_tree, page_threads
from engine.persistence.urls import DatabaseURL, redact_url

KNOWN_MIGRATION = 9
"""The newest `checkpoint_migrations.v` of langgraph-checkpoint-postgres this reader understands (3.2)."""
TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations")
TASKS = "__pregel_tasks"
_BLOB_JOIN = (
    "FROM jsonb_each_text(c.checkpoint -> 'channel_versions') v JOIN checkpoint_blobs b "
    "ON b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns AND b.channel = v.key "
    "AND b.version = v.value"
)
_INFO_SQL = (
    "SELECT c.checkpoint_id, c.parent_checkpoint_id, "
    "pg_column_size(c.checkpoint) + pg_column_size(c.metadata) "
    f"+ COALESCE((SELECT SUM(length(b.blob)) {_BLOB_JOIN}), 0), "
    "(SELECT COUNT(*) FROM checkpoint_writes w WHERE w.thread_id = c.thread_id "
    "AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id), c.metadata::text "
    "FROM checkpoints c "
)


async def check_schema(conn: Any, where: str) -> int:
    """The saver's migration version; raises for a database without its tables or with a newer schema."""
    names = {
        r[0]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    if not set(TABLES) <= names:
        hint = " (it is a Weavegraph checkpoint database)" if {"sessions", "steps"} <= names else ""
        raise NotALangGraphDatabase(
            f"PostgreSQL database {where} is not a LangGraph checkpoint database: it lacks "
            f"{', '.join(t for t in TABLES if t not in names)} of langgraph-checkpoint-postgres{hint}"
        )
    version = await conn.fetchval("SELECT MAX(v) FROM checkpoint_migrations")
    if version is not None and int(version) > KNOWN_MIGRATION:
        raise LangGraphSchemaTooNew(where, int(version), KNOWN_MIGRATION)
    return int(version) if version is not None else -1


class PostgresLangGraphReader:
    """Browse a LangGraph Postgres database. Create with `await PostgresLangGraphReader.open(url)`."""

    backend = "postgres"

    def __init__(self, url: str, conn: Any, decoder: Decoder, version: int) -> None:
        self._url = url
        self.location = redact_url(url)
        self.target = DatabaseURL.parse(url).target
        self._conn = conn
        self.decoder = decoder
        self.schema_version = version
        self._lock = asyncio.Lock()
        self._task_path = version >= KNOWN_MIGRATION

    @classmethod
    async def open(
        cls, url: str, *, connect_timeout: float = 10.0, trust_types: bool = False
    ) -> PostgresLangGraphReader:
        import asyncpg

        from engine.persistence.pg_support import map_pg_errors

        parsed = DatabaseURL.parse(url)
        target = parsed.target
        with map_pg_errors(parsed, "opening read-only"):
            conn = await asyncpg.connect(
                parsed.dsn(), timeout=connect_timeout, server_settings={"default_transaction_read_only": "on"}
            )
        try:
            with map_pg_errors(parsed, "checking the schema"):
                async with conn.transaction(readonly=True):
                    version = await check_schema(conn, target)
        except BaseException:
            await conn.close()
            raise
        return cls(url, conn, Decoder(trust_types=trust_types), version)

    async def _fetch(self, sql: str, *args: Any, action: str = "reading") -> list[Any]:
        from engine.persistence.pg_support import map_pg_errors

        async with self._lock:
            with map_pg_errors(DatabaseURL.parse(self._url), action, connected=True):
                async with self._conn.transaction(readonly=True):
                    return list(await self._conn.fetch(sql, *args))

    async def aclose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def __aenter__(self) -> PostgresLangGraphReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ threads and checkpoints

    async def all_threads(self) -> list[ThreadInfo]:
        rows = await self._fetch(
            "SELECT c.thread_id, c.checkpoint_ns, COUNT(*), "
            "SUM(pg_column_size(c.checkpoint) + pg_column_size(c.metadata)) "
            "+ COALESCE((SELECT SUM(COALESCE(length(b.blob), 0)) FROM checkpoint_blobs b "
            "WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns), 0) "
            "+ COALESCE((SELECT SUM(length(w.blob)) FROM checkpoint_writes w "
            "WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns), 0), "
            "MAX(c.checkpoint_id) FROM checkpoints c GROUP BY c.thread_id, c.checkpoint_ns",
            action="listing threads",
        )
        return [
            ThreadInfo(ThreadKey(t, ns), int(n), int(b or 0), str(last), checkpoint_time(str(last)))
            for t, ns, n, b, last in rows
        ]

    async def list_threads(self, query: ThreadQuery = ThreadQuery()) -> ThreadPage:
        return page_threads(await self.all_threads(), query)

    def _info(self, key: ThreadKey, row: Any, metadata: dict[str, Any]) -> CheckpointInfo:
        step = metadata.get("step")
        return CheckpointInfo(
            key,
            str(row[0]),
            str(row[1]) if row[1] else None,
            int(step)
            if isinstance(step, int) or (isinstance(step, str) and step.lstrip("-").isdigit())
            else None,
            str(metadata["source"]) if metadata.get("source") is not None else None,
            checkpoint_time(str(row[0])),
            int(row[2] or 0),
            int(row[3] or 0),
            metadata,
        )

    async def list_checkpoints(self, key: ThreadKey, *, limit: int = 100, offset: int = 0) -> CheckpointPage:
        rows = await self._fetch(
            _INFO_SQL + "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 "
            "ORDER BY c.checkpoint_id DESC LIMIT $3 OFFSET $4",
            key.thread_id,
            key.checkpoint_ns,
            limit,
            offset,
            action="listing checkpoints",
        )
        total = (
            await self._fetch(
                "SELECT COUNT(*) FROM checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2",
                key.thread_id,
                key.checkpoint_ns,
            )
        )[0][0]
        items = [self._info(key, r, _json(r[4])) for r in rows]
        return CheckpointPage(items, int(total), offset + len(items) < int(total))

    async def checkpoint_tree(self, key: ThreadKey) -> CheckpointTree:
        rows = await self._fetch(
            "SELECT c.checkpoint_id, c.parent_checkpoint_id, "
            "pg_column_size(c.checkpoint) + pg_column_size(c.metadata), 0, "
            "c.metadata -> 'step', c.metadata ->> 'source' FROM checkpoints c "
            "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 ORDER BY c.checkpoint_id",
            key.thread_id,
            key.checkpoint_ns,
            action="reading the checkpoint tree",
        )
        nodes = [self._info(key, r, {"step": _json(r[4]), "source": r[5]}) for r in rows]
        return build_tree(key, nodes)

    async def load_checkpoint(self, key: ThreadKey, checkpoint_id: str | None = None) -> CheckpointDetail:
        sql = _INFO_SQL.replace("c.metadata::text FROM", "c.metadata::text, c.checkpoint::text FROM")
        where = "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 "
        if checkpoint_id is None:
            rows = await self._fetch(
                sql + where + "ORDER BY c.checkpoint_id DESC LIMIT 1", key.thread_id, key.checkpoint_ns
            )
        else:
            rows = await self._fetch(
                sql + where + "AND c.checkpoint_id = $3", key.thread_id, key.checkpoint_ns, checkpoint_id
            )
        if not rows:
            what = f"checkpoint '{checkpoint_id}'" if checkpoint_id else "no checkpoint"
            raise LookupError(f"{what} not found in thread '{key.label}' of {self.target}")
        row = rows[0]
        info = self._info(key, row, _json(row[4]))
        doc = _json(row[5])
        blobs = await self._fetch(
            "SELECT b.channel, b.type, b.blob FROM checkpoints c CROSS JOIN LATERAL "
            f"(SELECT b.channel, b.type, b.blob {_BLOB_JOIN}) b "
            "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 AND c.checkpoint_id = $3",
            key.thread_id,
            key.checkpoint_ns,
            info.checkpoint_id,
            action="reading blobs",
        )
        task_path = "task_path" if self._task_path else "''"
        writes = await self._fetch(
            f"SELECT task_id, {task_path}, idx, channel, type, blob FROM checkpoint_writes "
            "WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3 ORDER BY task_id, idx",
            key.thread_id,
            key.checkpoint_ns,
            info.checkpoint_id,
            action="reading pending writes",
        )
        return await asyncio.to_thread(self._decode, info, doc, blobs, writes)

    def _decode(self, info: CheckpointInfo, doc: dict[str, Any], blobs: list[Any], writes: list[Any]) -> Any:
        channels: dict[str, Value] = {}
        for name, value in dict(doc.get("channel_values") or {}).items():
            channels[str(name)] = Value("inline", len(json.dumps(value)), True, value)
        for channel, type_, blob in blobs:
            if type_ != "empty":
                channels[str(channel)] = self.decoder.value(type_, bytes(blob) if blob is not None else None)
        pending = [
            PendingWrite(str(t), str(p or ""), int(i), str(ch), self.decoder.value(ty, bytes(b)))
            for t, p, i, ch, ty, b in writes
        ]
        seen = doc.get("versions_seen") or {}
        return CheckpointDetail(
            info,
            channels,
            dict(doc.get("channel_versions") or {}),
            {str(k): dict(v) for k, v in seen.items() if isinstance(v, dict)},
            pending,
            doc.get("v") if isinstance(doc.get("v"), int) else None,
        )

    # ------------------------------------------------------------ analytics and prune

    async def read_nodes(self) -> tuple[list[Node], dict[tuple[ThreadKey, str, str], int]]:
        return await read_nodes(self._fetch)

    async def analytics(self, keep_last: tuple[int, ...] = (1, 10), *, top: int = 20) -> StorageReport:
        threads = await self.all_threads()
        nodes, sizes = await self.read_nodes()
        channels = [
            ChannelBytes(str(ch), int(b or 0), int(n), int(d))
            for ch, b, n, d in await self._fetch(
                "SELECT channel, SUM(COALESCE(length(blob), 0)), COUNT(*), COUNT(DISTINCT md5(blob)) "
                "FROM checkpoint_blobs GROUP BY channel ORDER BY 2 DESC, 1"
            )
        ]
        groups = await self._fetch(
            "SELECT channel, md5(blob), length(blob), COUNT(*) FROM checkpoint_blobs WHERE blob IS NOT NULL "
            "GROUP BY channel, md5(blob), length(blob) HAVING COUNT(*) > 1"
        )
        repeated = sorted(
            (RepeatedBlob(str(c), str(h), int(s), int(n)) for c, h, s, n in groups),
            key=lambda r: (-r.wasted, r.channel),
        )
        largest = await self._fetch(
            "SELECT thread_id, checkpoint_ns, checkpoint_id, "
            "pg_column_size(checkpoint) + pg_column_size(metadata) "
            "FROM checkpoints ORDER BY 4 DESC LIMIT $1",
            top,
        )
        tables = {
            str(n): int(s)
            for n, s in await self._fetch(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r' AND pg_table_is_visible(c.oid)",
                list(TABLES),
            )
        }
        writes = (await self._fetch("SELECT COUNT(*) FROM checkpoint_writes"))[0][0]
        return StorageReport(
            "postgres",
            len(nodes),
            int(writes),
            sorted(threads, key=lambda t: (-t.bytes, t.key)),
            channels,
            [
                CheckpointInfo(ThreadKey(t, ns), cid, None, None, None, checkpoint_time(cid), int(s), 0)
                for t, ns, cid, s in largest
            ],
            repeated[:top],
            sum(r.wasted for r in repeated),
            tables,
            keep_last=[plan_prune(nodes, n, None, sizes).summary for n in keep_last],
        )

    async def plan_prune(self, keep_last: int, thread_ids: list[str] | None = None) -> PrunePlan:
        nodes, sizes = await self.read_nodes()
        return plan_prune(nodes, keep_last, thread_ids, sizes)


async def read_nodes(fetch: Any) -> tuple[list[Node], dict[tuple[ThreadKey, str, str], int]]:
    writes = {
        (t, ns, cid): (int(n), int(s or 0), bool(sends))
        for t, ns, cid, n, s, sends in await fetch(
            "SELECT thread_id, checkpoint_ns, checkpoint_id, COUNT(*), SUM(length(blob)), "
            f"bool_or(channel = '{TASKS}') FROM checkpoint_writes GROUP BY 1, 2, 3"
        )
    }
    sizes = {
        (ThreadKey(t, ns), str(ch), str(v)): int(s)
        for t, ns, ch, v, s in await fetch(
            "SELECT thread_id, checkpoint_ns, channel, version, COALESCE(length(blob), 0) "
            "FROM checkpoint_blobs"
        )
    }
    nodes = []
    for t, ns, cid, parent, size, fmt, root, delta, versions in await fetch(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
        "pg_column_size(checkpoint) + pg_column_size(metadata), (checkpoint ->> 'v')::int, "
        "metadata -> 'parents' ->> '', "
        "(metadata ? 'counters_since_delta_snapshot' OR metadata ? 'delta_writes_versioned'), "
        "(checkpoint -> 'channel_versions')::text FROM checkpoints"
    ):
        n, wsize, sends = writes.get((t, ns, cid), (0, 0, False))
        refs = tuple(sorted((str(k), str(v)) for k, v in _json(versions).items()))
        nodes.append(
            Node(
                ThreadKey(t, ns),
                cid,
                parent,
                int(size),
                n,
                wsize,
                int(fmt or 1),
                sends,
                bool(delta),
                root,
                refs,
            )
        )
    return nodes, sizes


def _json(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"$error": "not JSON"}
    return value
