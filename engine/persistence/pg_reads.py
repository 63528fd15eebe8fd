"""The PostgreSQL checkpointer's reads (a mixin of `PostgresCheckpointer`): latest and single steps, pages of
steps and sessions, node records, stored events, session info and storage statistics. Every read runs through
the checkpointer's `_run` (pool, error mapping, one retry after a lost connection)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import engine.persistence.pg_ops as pg_ops
import engine.persistence.records_store as records_store
from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.persistence.base import (
    Checkpoint,
    SessionPage,
    SessionQuery,
    SessionStats,
    StepQuery,
    StepQueryResult,
    StepSummary,
    StorageStats,
    order_expression,
)
from engine.persistence.compact import LATEST_MARKER
from engine.persistence.errors import CheckpointDataError
from engine.persistence.incremental import StoreMode
from engine.persistence.pg_ops import STEP_COLUMNS
from engine.persistence.records_store import SessionInfo
from engine.persistence.serde import contiguous_total, decode_checkpoint, decode_summaries, summary_bounds

T = TypeVar("T")

_SESSION_STATS = (
    "SELECT s.id, s.last_step, s.created_at, s.updated_at, s.graph_hash, COALESCE(c.steps, 0),"
    " COALESCE(c.bytes, 0) FROM sessions s LEFT JOIN weavegraph_session_counts c ON c.session_id = s.id"
)


class PostgresReads:
    """Reading methods; the class using it provides `_run`, `_store` and `backend_name`."""

    backend_name: str
    _store: StoreMode

    @property
    def storage_mode(self) -> str:
        """ "compact" (deltas, a full snapshot every `snapshot_every` steps) or "full" (Weavegraph's)."""
        return self._store.mode

    @property
    def snapshot_every(self) -> int:
        return self._store.snapshot_every

    async def _run(self, fn: Callable[[Any], Awaitable[T]], action: str, *, retry: bool = True) -> T:
        raise NotImplementedError

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        compact = self._store.mode == "compact"

        async def run(conn: Any, again: bool = False) -> Checkpoint | None:
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
                # Two statements, two snapshots: a session another process created between them shows its
                # marker here; the compact query is asked again (once) before this is called missing data.
                if compact and not again:
                    return await run(conn, again=True)
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

    async def step_summaries(
        self, session_id: str, min_step: int | None = None, max_step: int | None = None
    ) -> list[StepSummary]:
        """Every stored step of the session in this range, oldest first: number, save time, ran and skipped
        nodes, without reading or decoding any state (the studio timeline's read)."""
        bounds, args = summary_bounds(min_step, max_step, 2)

        async def run(conn: Any) -> list[StepSummary]:
            rows = await conn.fetch(
                "SELECT step, created_at, ran_nodes_json, skipped_nodes_json FROM steps"
                f" WHERE session_id = $1{bounds} ORDER BY step",
                session_id,
                *args,
            )
            return decode_summaries(session_id, rows)

        return await self._run(run, f"reading the step times of session '{session_id}'")

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


def _session_stats(row: Any) -> SessionStats:
    return SessionStats(row[0], int(row[5]), int(row[6]), int(row[1]), row[2], row[3], row[4])
