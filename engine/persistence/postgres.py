"""PostgreSQL checkpointer (asyncpg pool, JSONB, TIMESTAMPTZ), Weavegraph 0.6 schema, safe for many writers.

A save is one transaction that locks the session row (`SELECT ... FOR UPDATE`) before checking
`expected_last_step`, so two processes can never both extend the same step; the common compact save is a
single statement that takes the same lock (see `pg_ops.fast_save`). Saving a step that already exists
overwrites it (as Weavegraph does); the latest pointer only moves forward. A trigger NOTIFYs every saved step.
Empty databases use compact storage (see `compact`) unless asked for "full"; the mode is recorded in
`weavegraph_meta`. The transactions themselves are in `pg_ops`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

import engine.persistence.pg_ops as pg_ops
import engine.persistence.records_store as records_store
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
    SessionStats,
    StepQuery,
    StepQueryResult,
    StorageStats,
    order_expression,
)
from engine.persistence.compact import LATEST_MARKER, STORAGE_MODES
from engine.persistence.errors import (
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageUnavailable,
)
from engine.persistence.incremental import StoreMode, encode_save
from engine.persistence.interrupts_store import InterruptStore, PostgresInterrupts
from engine.persistence.pg_ops import STEP_COLUMNS
from engine.persistence.pg_support import (
    apply_migrations,
    check_not_foreign,
    map_pg_errors,
    pending_migrations,
)
from engine.persistence.records_store import SessionInfo
from engine.persistence.serde import (
    contiguous_total,
    decode_checkpoint,
)
from engine.persistence.urls import DatabaseURL

T = TypeVar("T")

CHANNEL = "weavegraph_steps"

_BYTES = (
    "weavegraph_step_bytes(t.payload_bytes, t.state_json, t.frontier_json, t.versions_seen_json,"
    " t.ran_nodes_json, t.skipped_nodes_json, t.updated_channels_json)"
)

_SESSION_STATS = (
    "SELECT s.id, s.last_step, s.created_at, s.updated_at, s.graph_hash, COALESCE(c.steps, 0),"
    " COALESCE(c.bytes, 0) FROM sessions s LEFT JOIN weavegraph_session_counts c ON c.session_id = s.id"
)


def _parse(url: str | DatabaseURL) -> DatabaseURL:
    parsed = DatabaseURL.parse(url)
    if parsed.backend != "postgres":
        raise InvalidCheckpointerUrl(
            f"not a PostgreSQL URL: '{parsed}' (use postgresql://user:password@host:port/database)"
        )
    return parsed


async def migrate(url: str | DatabaseURL, *, connect_timeout: float = 10.0) -> list[str]:
    """Apply the pending SQL migrations to the database at `url`; return the names applied now."""
    parsed = _parse(url)
    with map_pg_errors(parsed, "migrating"):
        conn = await asyncpg.connect(parsed.dsn(), timeout=connect_timeout)
        try:
            return await apply_migrations(conn, parsed.target)
        finally:
            await conn.close()


class PostgresCheckpointer:
    """Checkpoints in PostgreSQL. Create with `await PostgresCheckpointer.connect(url)`."""

    backend_name = "postgres"

    def __init__(
        self, pool: asyncpg.Pool, url: DatabaseURL, timeout: float, store: StoreMode | None = None
    ) -> None:
        self._pool = pool
        self._store = store or StoreMode()
        self._url = url
        self._timeout = timeout
        self.target = url.target
        self._closed = False
        self.read_only = False

    def __repr__(self) -> str:
        return f"PostgresCheckpointer({self._url.redacted()!r})"

    @property
    def storage_mode(self) -> str:
        """ "compact" (deltas, a full snapshot every `snapshot_every` steps) or "full" (Weavegraph's)."""
        return self._store.mode

    @property
    def snapshot_every(self) -> int:
        return self._store.snapshot_every

    @property
    def url(self) -> str:
        """The URL with the password redacted."""
        return self._url.redacted()

    @classmethod
    async def connect(
        cls,
        url: str | DatabaseURL,
        *,
        migrate: bool = True,
        read_only: bool = False,
        connect_timeout: float = 10.0,
        min_size: int = 1,
        max_size: int = 4,
        storage_mode: str | None = None,
        snapshot_every: int | None = None,
    ) -> PostgresCheckpointer:
        """Open a pool and apply pending migrations (with `migrate=False` they must already be applied).

        An empty database is set to `storage_mode` ("compact" by default, or "full") with a full snapshot
        every `snapshot_every` steps (default 50); a database with sessions keeps its recorded mode ("full"
        when it has none, as Weavegraph 0.6 writes).
        """
        parsed = _parse(url)
        storage_mode = storage_mode or parsed.option("storage")
        every_option = parsed.option("snapshot_every")
        if snapshot_every is None and every_option is not None:
            snapshot_every = int(every_option)
        if storage_mode is not None and storage_mode not in STORAGE_MODES:
            raise CheckpointerError(f"storage_mode must be 'compact' or 'full', got {storage_mode!r}")
        if snapshot_every is not None and snapshot_every < 1:
            raise CheckpointerError(f"snapshot_every must be at least 1, got {snapshot_every}")
        target = parsed.target
        with map_pg_errors(parsed, "connecting"):
            pool = await asyncpg.create_pool(
                parsed.dsn(), min_size=min_size, max_size=max_size, timeout=connect_timeout
            )
        try:
            with map_pg_errors(parsed, "preparing the schema"):
                async with pool.acquire() as conn:
                    if migrate and not read_only:
                        await apply_migrations(conn, target)
                    else:
                        await check_not_foreign(conn, target)
                        missing = await pending_migrations(conn, f"PostgreSQL database {target}")
                        if missing:
                            raise NotACheckpointDatabase(
                                f"PostgreSQL database {target} lacks migrations {', '.join(missing)}; "
                                "run `weavegraph migrate` or connect with migrate=True"
                            )
                    fresh = await conn.fetchval(
                        "SELECT NOT EXISTS (SELECT 1 FROM steps) AND NOT EXISTS (SELECT 1 FROM sessions)"
                    )
                    if read_only:
                        store = await pg_ops.read_mode(conn)
                    else:
                        store = await pg_ops.ensure_mode(conn, bool(fresh), storage_mode, snapshot_every)
        except BaseException:
            pool.terminate()
            raise
        self = cls(pool, parsed, connect_timeout, store)
        self.read_only = read_only
        return self

    async def _run(self, fn: Callable[[Any], Awaitable[T]], action: str, *, retry: bool = True) -> T:
        """Run `fn(connection)`; after a lost connection, replace the pool's connections and retry once."""
        if self._closed:
            raise StorageUnavailable(f"PostgreSQL checkpointer for {self.target} is closed")
        for attempt in (0, 1):
            try:
                with map_pg_errors(self._url, action, connected=True):
                    async with self._pool.acquire(timeout=self._timeout) as conn:
                        return await fn(conn)
            except StorageUnavailable:
                await self._pool.expire_connections()
                if attempt or not retry:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ writing

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        """Write the step and move the latest pointer forward in one transaction (see the module docstring).

        A save is retried once after a lost connection unless the loss happened during COMMIT, when the
        outcome is unknown and `StorageUnavailable` is raised.
        """
        store = self._store
        enc = encode_save(checkpoint, store.texts)
        records = checkpoint.node_records
        committing = False

        async def run(conn: Any) -> None:
            nonlocal committing
            committing = True  # one autocommitted statement: a loss during it leaves the outcome unknown
            known = None
            if not records and not checkpoint.events:  # issue 15's rows need the transaction below
                known = await pg_ops.fast_save(conn, enc, expected_last_step, store)
            committing = False
            if known is not None:
                store.remember(enc.session_id, known)
                return
            tr = conn.transaction()
            await tr.start()
            try:
                known = await pg_ops.save(conn, enc, expected_last_step, store)
                await records_store.pg_write(conn, checkpoint)  # node records, events (issue 15)
            except BaseException:
                await tr.rollback()
                raise
            committing = True
            await tr.commit()
            if known is not None:
                store.remember(enc.session_id, known)

        try:
            await self._run(run, f"saving session '{enc.session_id}'", retry=False)
        except StorageUnavailable as lost:
            if committing:
                raise
            try:
                await self._run(run, f"saving session '{enc.session_id}'", retry=False)
            except StorageUnavailable:
                raise lost from lost.__cause__  # the server is gone: report the loss, not the retry

    async def delete_session(self, session_id: str) -> None:
        async def run(conn: Any) -> None:
            await conn.execute("DELETE FROM sessions WHERE id = $1", session_id)  # steps cascade

        self._store.forget(session_id)
        await self._run(run, f"deleting session '{session_id}'")

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        """Delete (or with `dry_run` only count) steps the policy selects; never a session's latest step.
        Kept compact steps whose parent goes become full snapshots first; `bytes` is the net size freed."""

        async def run(conn: Any) -> PruneReport:
            async with conn.transaction():
                return await pg_ops.prune(conn, policy, dry_run)

        return await self._run(run, "pruning")

    async def vacuum(self) -> None:
        async def run(conn: Any) -> None:
            await conn.execute("VACUUM (ANALYZE) steps, sessions")

        await self._run(run, "vacuuming")

    # ------------------------------------------------------------ reading

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        compact = self._store.mode == "compact"

        async def run(conn: Any) -> Checkpoint | None:
            if compact:  # the session row holds only a marker: the state is the latest step's chain
                rows = await conn.fetch(
                    f"SELECT {STEP_COLUMNS} FROM sessions s JOIN steps t"
                    " ON t.session_id = s.id AND t.step = s.last_step"
                    " WHERE s.id = $1 AND s.last_state_json IS NOT NULL",
                    session_id,
                )
                if rows:
                    return (await pg_ops.to_checkpoints(conn, session_id, rows))[0]
            row = await conn.fetchrow(
                "SELECT s.last_step, COALESCE(t.created_at, s.updated_at),"
                " s.last_state_json, COALESCE(t.frontier_json, s.last_frontier_json),"
                " COALESCE(t.versions_seen_json, s.last_versions_seen_json), t.ran_nodes_json,"
                " t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash"
                " FROM sessions s LEFT JOIN steps t ON t.session_id = s.id AND t.step = s.last_step"
                " WHERE s.id = $1",
                session_id,
            )
            if row is None or row[2] is None:
                return None
            if json.loads(row[2]) == json.loads(LATEST_MARKER):
                raise CheckpointDataError(
                    f"the latest step {row[0]} of session '{session_id}' is missing from the steps table"
                )
            return decode_checkpoint(session_id, *row)

        return await self._run(run, f"loading session '{session_id}'")

    async def node_records(self, session_id: str, step: int | None = None) -> list[NodeRecord]:
        """The session's node records (one step, or all), step then frontier order (ENGINE.md 8.1)."""
        sql, args = records_store.pg_query(session_id, step)

        async def run(conn: Any) -> list[NodeRecord]:
            return [records_store.decode_row(r) for r in await conn.fetch(sql, *args)]

        return await self._run(run, f"reading node records of session '{session_id}'")

    async def append_events(self, session_id: str, events: list[Event]) -> None:
        """Store events published after the session's last save (stored events, issue 15)."""

        async def run(conn: Any) -> None:
            async with conn.transaction():
                await records_store.pg_append_events(conn, session_id, events)

        await self._run(run, f"storing events of session '{session_id}'", retry=False)

    async def events(
        self,
        session_id: str,
        min_step: int | None = None,
        max_step: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The session's stored events in publish order (ENGINE.md 8.1)."""
        sql, args = records_store.events_query(session_id, min_step, max_step, limit, postgres=True)

        async def run(conn: Any) -> list[Event]:
            return records_store.decode_events(await conn.fetch(sql, *args))

        return await self._run(run, f"reading events of session '{session_id}'")

    async def session_info(self, session_id: str) -> SessionInfo | None:
        """The session's info (ENGINE.md 8.2), None for an unknown session."""
        sql = records_store.info_query("s.id", postgres=True)

        async def run(conn: Any) -> SessionInfo | None:
            row = await conn.fetchrow(sql, session_id)
            return records_store.decode_info(row) if row is not None else None

        return await self._run(run, f"reading session '{session_id}'")

    async def children(self, session_id: str) -> list[SessionInfo]:
        """The sessions forked from `session_id` (ENGINE.md 8.2)."""
        sql = records_store.info_query("i.parent_session", postgres=True)

        async def run(conn: Any) -> list[SessionInfo]:
            return [records_store.decode_info(r) for r in await conn.fetch(sql, session_id)]

        return await self._run(run, f"reading the forks of session '{session_id}'")

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None:
        async def run(conn: Any) -> Checkpoint | None:
            row = await conn.fetchrow(
                f"SELECT {STEP_COLUMNS} FROM steps t JOIN sessions s ON s.id = t.session_id"
                " WHERE t.session_id = $1 AND t.step = $2",
                session_id,
                step,
            )
            return (await pg_ops.to_checkpoints(conn, session_id, [row]))[0] if row is not None else None

        return await self._run(run, f"loading step {step} of session '{session_id}'")

    # ---- hitl (ENGINE.md 8.3): interrupts, in tables of our own (engine/persistence/interrupts_store.py)

    def interrupt_store(self) -> InterruptStore:
        return PostgresInterrupts(self._run)

    async def list_interrupts(
        self, pending: bool = True, limit: int = 100, offset: int = 0
    ) -> list[PendingInterrupt]:
        """Interrupts across every session, newest first; `pending=False` adds the answered ones."""
        return await self.interrupt_store().list_interrupts(pending, limit, offset)

    async def list_sessions(self) -> list[str]:
        async def run(conn: Any) -> list[str]:
            return [r[0] for r in await conn.fetch("SELECT id FROM sessions ORDER BY updated_at DESC, id")]

        return await self._run(run, "listing sessions")

    async def graph_hash(self, session_id: str) -> str | None:
        async def run(conn: Any) -> str | None:
            value: str | None = await conn.fetchval(
                "SELECT graph_hash FROM sessions WHERE id = $1", session_id
            )
            return value

        return await self._run(run, f"reading the graph hash of session '{session_id}'")

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        """One page of a session's steps, newest first. Totals come from the trigger-kept counts unless a
        range has gaps; an exact `ran_node` filter walks the (session, node, step) index."""
        kind = query.ran_node_kind()
        args: list[Any] = [session_id]
        if kind is None:
            source, where = "steps x", "x.session_id = $1"
        else:
            args.append(kind.name)
            source, where = "weavegraph_step_nodes x", "x.session_id = $1 AND x.node = $2"
        if query.min_step is not None:
            args.append(query.min_step)
            where += f" AND x.step >= ${len(args)}"
        if query.max_step is not None:
            args.append(query.max_step)
            where += f" AND x.step <= ${len(args)}"
        ranged = query.min_step is not None or query.max_step is not None
        n = len(args)

        async def run(conn: Any) -> StepQueryResult:
            total: int | None = None
            if kind is None:
                row = await conn.fetchrow(
                    "SELECT steps, min_step, max_step FROM weavegraph_session_counts WHERE session_id = $1",
                    session_id,
                )
                total = 0 if row is None else contiguous_total(row[0], row[1], row[2], query)
            elif not ranged:
                found = await conn.fetchval(
                    "SELECT steps FROM weavegraph_node_counts WHERE session_id = $1 AND node = $2", *args[:2]
                )
                total = int(found or 0)
            if total is None:
                total = int(await conn.fetchval(f"SELECT count(*) FROM {source} WHERE {where}", *args))
            rows = await conn.fetch(
                f"WITH page AS (SELECT x.step FROM {source} WHERE {where}"
                f" ORDER BY x.step DESC LIMIT ${n + 1} OFFSET ${n + 2})"
                f" SELECT {STEP_COLUMNS} FROM page p JOIN steps t ON t.session_id = $1 AND t.step = p.step"
                " JOIN sessions s ON s.id = t.session_id ORDER BY t.step DESC",
                *args,
                query.limit,
                query.offset,
            )
            items = await pg_ops.to_checkpoints(conn, session_id, list(rows))
            return StepQueryResult(items, total, query.offset + len(items) < total)

        return await self._run(run, f"querying steps of session '{session_id}'")

    async def session_page(self, query: SessionQuery = SessionQuery()) -> SessionPage:
        where, args = "", []
        if query.search:
            escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, args = "WHERE s.id ILIKE $1", [f"%{escaped}%"]
        direction = "DESC" if query.descending else "ASC"
        n = len(args)

        async def run(conn: Any) -> SessionPage:
            total = await conn.fetchval(f"SELECT count(*) FROM sessions s {where}", *args)
            rows = await conn.fetch(
                f"{_SESSION_STATS} {where}"
                f" ORDER BY {order_expression(query.order_by)} {direction}, s.id {direction}"
                f" LIMIT ${n + 1} OFFSET ${n + 2}",
                *args,
                query.limit,
                query.offset,
            )
            return SessionPage([_session_stats(r) for r in rows], int(total))

        return await self._run(run, "listing a page of sessions")

    async def storage_stats(self) -> StorageStats:
        async def run(conn: Any) -> StorageStats:
            rows = await conn.fetch(f"{_SESSION_STATS} ORDER BY s.updated_at DESC, s.id")
            sizes = await conn.fetch(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
                " WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
                " AND c.relname IN ('sessions', 'steps', 'schema_migrations', 'weavegraph_meta')"
            )
            sessions = [_session_stats(r) for r in rows]
            return StorageStats(
                self.backend_name,
                sessions,
                sum(s.steps for s in sessions),
                sum(s.bytes for s in sessions),
                tables={r[0]: int(r[1]) for r in sizes},
                storage_mode=self.storage_mode,
                snapshot_every=self.snapshot_every,
            )

        return await self._run(run, "reading storage statistics")

    # ------------------------------------------------------------ watching and closing

    async def watch(self) -> AsyncIterator[tuple[str, int]]:
        """(session_id, step) for each step saved from now on by any process (LISTEN on a trigger's NOTIFY).

        Uses its own connection; raises `StorageUnavailable` if that connection is lost.
        """
        queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            data = json.loads(payload)
            queue.put_nowait((str(data["session_id"]), int(data["step"])))

        def on_lost(_conn: Any) -> None:
            queue.put_nowait(None)

        with map_pg_errors(self._url, "opening a watch connection"):
            conn = await asyncpg.connect(self._url.dsn(), timeout=self._timeout)
        try:
            with map_pg_errors(self._url, "listening"):
                conn.add_termination_listener(on_lost)
                await conn.add_listener(CHANNEL, on_notify)
            while True:
                item = await queue.get()
                if item is None:
                    raise StorageUnavailable(f"watch connection to PostgreSQL at {self.target} was lost")
                yield item
        finally:
            if not conn.is_closed():
                with map_pg_errors(self._url, "closing a watch connection"):
                    await asyncio.shield(conn.close(timeout=self._timeout))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._pool.close(), self._timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()


def _session_stats(row: Any) -> SessionStats:
    return SessionStats(row[0], int(row[5]), int(row[6]), int(row[1]), row[2], row[3], row[4])
