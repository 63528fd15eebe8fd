"""Where interrupts live (ENGINE.md 8.3): the `PendingInterrupt`s of every session and the pending writes of a
paused step, in tables of our own (`weavegraph_interrupts`, `weavegraph_pending_writes`; migration
`*_interrupts.sql`). One store per backend with the same methods; the checkpointers hand out theirs as
`interrupt_store()`. Payloads, schemas, answers and partials are stored as JSON text."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

import aiosqlite

from engine.hitl_types import PendingInterrupt
from engine.persistence.sqlite_schema import execute

Writes = dict[str, Any]
"""A paused step's pending writes: node name -> its partial as JSON (None for a node that returned None)."""


class InterruptStore(Protocol):
    async def save_paused(
        self, session_id: str, step: int, writes: Writes, interrupts: Sequence[PendingInterrupt]
    ) -> None:
        """Add pending writes and new interrupts of the paused `step`, in one transaction."""

    async def session_interrupts(self, session_id: str, min_step: int) -> list[PendingInterrupt]:
        """The session's interrupts at `min_step` or later, oldest first."""

    async def pending_writes(self, session_id: str, step: int) -> Writes: ...

    async def answer(self, session_id: str, answers: dict[str, Any], at: _dt.datetime) -> int:
        """Record answers of still-pending interrupts of the session (all or none); how many were set."""

    async def clear_writes(self, session_id: str, step: int) -> None: ...

    async def list_interrupts(self, pending: bool, limit: int, offset: int) -> list[PendingInterrupt]: ...


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _row(row: Sequence[Any]) -> PendingInterrupt:
    iid, sid, step, node, idx, payload, schema, created, answer, answered = row[:10]
    return PendingInterrupt(
        str(iid),
        str(sid),
        int(step),
        str(node),
        int(idx),
        json.loads(payload),
        json.loads(schema) if schema is not None else None,
        _dt.datetime.fromisoformat(created),
        json.loads(answer) if answer is not None else None,
        _dt.datetime.fromisoformat(answered) if answered is not None else None,
    )


def _params(i: PendingInterrupt) -> tuple[Any, ...]:
    schema = _dumps(i.schema) if i.schema is not None else None
    return (i.id, i.session_id, i.step, i.node, i.index, _dumps(i.payload), schema, i.created_at.isoformat())


_COLUMNS = "id, session_id, step, node, idx, payload, schema, created_at, answer, answered_at"


class MemoryInterrupts:
    """For `InMemoryCheckpointer`: kept for the life of the checkpointer (JSON round trips, like the rest)."""

    def __init__(self) -> None:
        self._all: dict[str, PendingInterrupt] = {}  # insertion order = creation order
        self._writes: dict[tuple[str, int], dict[str, str]] = {}

    async def save_paused(
        self, session_id: str, step: int, writes: Writes, interrupts: Sequence[PendingInterrupt]
    ) -> None:
        encoded = {node: _dumps(v) for node, v in writes.items()}
        rows = [_row((*_params(i), None, None)) for i in interrupts]
        self._writes.setdefault((session_id, step), {}).update(encoded)
        for row in rows:
            self._all[row.id] = row

    async def session_interrupts(self, session_id: str, min_step: int) -> list[PendingInterrupt]:
        return [i for i in self._all.values() if i.session_id == session_id and i.step >= min_step]

    async def pending_writes(self, session_id: str, step: int) -> Writes:
        return {n: json.loads(v) for n, v in self._writes.get((session_id, step), {}).items()}

    async def answer(self, session_id: str, answers: dict[str, Any], at: _dt.datetime) -> int:
        found = [self._all.get(iid) for iid in answers]
        if any(i is None or i.session_id != session_id or not i.pending for i in found):
            return 0
        for iid, value in answers.items():
            self._all[iid] = replace(self._all[iid], answer=json.loads(_dumps(value)), answered_at=at)
        return len(answers)

    async def clear_writes(self, session_id: str, step: int) -> None:
        self._writes.pop((session_id, step), None)

    async def list_interrupts(self, pending: bool, limit: int, offset: int) -> list[PendingInterrupt]:
        rows = [i for i in reversed(self._all.values()) if not pending or i.pending]
        return rows[offset : offset + limit]

    def forget_session(self, session_id: str) -> None:
        """A deleted session's interrupts (pending or answered) and pending writes go with it."""
        self._all = {iid: i for iid, i in self._all.items() if i.session_id != session_id}
        self._writes = {key: w for key, w in self._writes.items() if key[0] != session_id}


class SQLiteInterrupts:
    """For `SQLiteCheckpointer`, through aiosqlite's public API: `guard(action)` maps driver errors, `lock`
    is the connection's write lock (held around each writing transaction, so no other statement of this
    connection lands inside it)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        guard: Callable[[str], AbstractContextManager[None]],
        lock: asyncio.Lock,
    ) -> None:
        self._db = db
        self._guard = guard
        self._lock = lock

    async def _rows(self, action: str, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._guard(action):
            return list(await self._db.execute_fetchall(sql, params))

    async def save_paused(
        self, session_id: str, step: int, writes: Writes, interrupts: Sequence[PendingInterrupt]
    ) -> None:
        db = self._db
        async with self._lock, _transaction(db, self._guard("saving interrupts")):
            await db.executemany(
                "INSERT OR REPLACE INTO weavegraph_pending_writes (session_id, step, node, partial)"
                " VALUES (?, ?, ?, ?)",
                [(session_id, step, node, _dumps(v)) for node, v in writes.items()],
            )
            await db.executemany(
                f"INSERT INTO weavegraph_interrupts ({_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " NULL, NULL, (SELECT COALESCE(MAX(seq), 0) + 1 FROM weavegraph_interrupts))",
                [_params(i) for i in interrupts],
            )

    async def session_interrupts(self, session_id: str, min_step: int) -> list[PendingInterrupt]:
        rows = await self._rows(
            "reading interrupts",
            f"SELECT {_COLUMNS} FROM weavegraph_interrupts WHERE session_id = ? AND step >= ? ORDER BY seq",
            (session_id, min_step),
        )
        return [_row(r) for r in rows]

    async def pending_writes(self, session_id: str, step: int) -> Writes:
        rows = await self._rows(
            "reading pending writes",
            "SELECT node, partial FROM weavegraph_pending_writes WHERE session_id = ? AND step = ?",
            (session_id, step),
        )
        return {str(n): json.loads(p) for n, p in rows}

    async def answer(self, session_id: str, answers: dict[str, Any], at: _dt.datetime) -> int:
        """All or none: the answers are kept only when every one of them found its pending interrupt."""
        db = self._db

        class _NotAll(Exception):
            pass

        try:
            async with self._lock, _transaction(db, self._guard("answering interrupts")):
                count = 0
                for iid, value in answers.items():
                    cursor = await db.execute(
                        "UPDATE weavegraph_interrupts SET answer = ?, answered_at = ?"
                        " WHERE id = ? AND session_id = ? AND answered_at IS NULL",
                        (_dumps(value), at.isoformat(), iid, session_id),
                    )
                    count += cursor.rowcount
                    await cursor.close()
                if count != len(answers):
                    raise _NotAll
        except _NotAll:
            return 0
        return count

    async def clear_writes(self, session_id: str, step: int) -> None:
        with self._guard("clearing pending writes"):
            await execute(
                self._db,
                "DELETE FROM weavegraph_pending_writes WHERE session_id = ? AND step = ?",
                (session_id, step),
            )

    async def list_interrupts(self, pending: bool, limit: int, offset: int) -> list[PendingInterrupt]:
        where = "WHERE answered_at IS NULL " if pending else ""
        rows = await self._rows(
            "listing interrupts",
            f"SELECT {_COLUMNS} FROM weavegraph_interrupts {where}ORDER BY seq DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_row(r) for r in rows]


@contextlib.asynccontextmanager
async def _transaction(db: aiosqlite.Connection, guard: AbstractContextManager[None]) -> AsyncIterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception; driver errors mapped by `guard`."""
    with guard:
        await execute(db, "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if db.in_transaction:
                await execute(db, "ROLLBACK")
            raise
        await execute(db, "COMMIT")


class PostgresInterrupts:
    """For `PostgresCheckpointer`: `run(fn, action)` runs `fn(connection)` with its error mapping."""

    def __init__(self, run: Any) -> None:
        self._run = run

    async def save_paused(
        self, session_id: str, step: int, writes: Writes, interrupts: Sequence[PendingInterrupt]
    ) -> None:
        async def go(conn: Any) -> None:
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO weavegraph_pending_writes (session_id, step, node, partial)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, step, node)"
                    " DO UPDATE SET partial = EXCLUDED.partial",
                    [(session_id, step, node, _dumps(v)) for node, v in writes.items()],
                )
                await conn.executemany(
                    f"INSERT INTO weavegraph_interrupts ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                    " NULL, NULL)",
                    [_params(i) for i in interrupts],
                )

        await self._run(go, "save interrupts")

    async def session_interrupts(self, session_id: str, min_step: int) -> list[PendingInterrupt]:
        async def go(conn: Any) -> list[Any]:
            return list(
                await conn.fetch(
                    f"SELECT {_COLUMNS} FROM weavegraph_interrupts WHERE session_id = $1 AND step >= $2"
                    " ORDER BY seq",
                    session_id,
                    min_step,
                )
            )

        return [_row(tuple(r)) for r in await self._run(go, "read interrupts")]

    async def pending_writes(self, session_id: str, step: int) -> Writes:
        async def go(conn: Any) -> list[Any]:
            return list(
                await conn.fetch(
                    "SELECT node, partial FROM weavegraph_pending_writes WHERE session_id = $1 AND step = $2",
                    session_id,
                    step,
                )
            )

        return {str(r[0]): json.loads(r[1]) for r in await self._run(go, "read pending writes")}

    async def answer(self, session_id: str, answers: dict[str, Any], at: _dt.datetime) -> int:
        class _Rollback(Exception):
            pass

        async def go(conn: Any) -> int:
            try:
                async with conn.transaction():
                    count = 0
                    for iid, value in answers.items():
                        status = await conn.execute(
                            "UPDATE weavegraph_interrupts SET answer = $1, answered_at = $2"
                            " WHERE id = $3 AND session_id = $4 AND answered_at IS NULL",
                            _dumps(value),
                            at.isoformat(),
                            iid,
                            session_id,
                        )
                        count += int(str(status).rsplit(" ", 1)[-1])
                    if count != len(answers):
                        raise _Rollback
                    return count
            except _Rollback:
                return 0

        result: int = await self._run(go, "answer interrupts", retry=False)
        return result

    async def clear_writes(self, session_id: str, step: int) -> None:
        async def go(conn: Any) -> None:
            await conn.execute(
                "DELETE FROM weavegraph_pending_writes WHERE session_id = $1 AND step = $2", session_id, step
            )

        await self._run(go, "clear pending writes")

    async def list_interrupts(self, pending: bool, limit: int, offset: int) -> list[PendingInterrupt]:
        where = "WHERE answered_at IS NULL " if pending else ""

        async def go(conn: Any) -> list[Any]:
            return list(
                await conn.fetch(
                    f"SELECT {_COLUMNS} FROM weavegraph_interrupts {where}"
                    "ORDER BY seq DESC LIMIT $1 OFFSET $2",
                    limit,
                    offset,
                )
            )

        return [_row(tuple(r)) for r in await self._run(go, "list interrupts")]
