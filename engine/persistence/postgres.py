"""PostgreSQL checkpointer (asyncpg pool, JSONB, TIMESTAMPTZ), Weavegraph 0.6 schema, safe for many writers.

A save is one statement, `weavegraph_save` (migration 0008, `pg_save`): it locks the session row before
checking `expected_last_step` (since 0011 one UPDATE whose WHERE holds the checks), so two processes can
never both extend the same step, and writes the step, its node records and events and the session row in
the same transaction, one round trip. With group commit (on by default; `group_commit=off` in the URL or
`connect(group_commit=False)` turns it off) saves that arrive while one is in flight are written together by
`weavegraph_save_group`: one transaction and one round trip for the group, each session's check inside it,
each caller returning when its rows are committed (set-based since migration 0009: the checks of all its
sessions in one query, then one statement per table). Saving a step that already exists overwrites it (as
Weavegraph does); the latest pointer only moves forward. Every saved step is NOTIFYed (by the save functions
for their own rows, by a trigger for any other writer's, migration 0011). Empty databases use compact
storage (see `compact`) unless asked for "full"; the mode is recorded in `weavegraph_meta`.
Reads are in `pg_reads`, the other transactions in `pg_ops`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

import engine.persistence.group as group
import engine.persistence.pg_ops as pg_ops
import engine.persistence.pg_save as pg_save
import engine.persistence.records_store as records_store
from engine.errors import CheckpointerError
from engine.events.event import Event
from engine.hitl_types import PendingInterrupt
from engine.persistence.base import Checkpoint, PrunePolicy, PruneReport
from engine.persistence.compact import STORAGE_MODES
from engine.persistence.errors import (
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageUnavailable,
)
from engine.persistence.incremental import EncodedSave, StoreMode, encode_save
from engine.persistence.interrupts_store import InterruptStore, PostgresInterrupts
from engine.persistence.pg_reads import PostgresReads
from engine.persistence.pg_support import (
    apply_migrations,
    check_not_foreign,
    map_pg_errors,
    pending_migrations,
)
from engine.persistence.urls import DatabaseURL

T = TypeVar("T")

CHANNEL = "weavegraph_steps"

WRITER_IDLE = 30.0
"""Seconds the group committer's connection may sit unused before it goes back to the pool."""


def _parse(url: str | DatabaseURL) -> DatabaseURL:
    parsed = DatabaseURL.parse(url)
    if parsed.backend != "postgres":
        raise InvalidCheckpointerUrl(
            f"not a PostgreSQL URL: '{parsed}' (use postgresql://user:password@host:port/database)"
        )
    return parsed


def _without_group_option(parsed: DatabaseURL) -> DatabaseURL:
    """`group_commit` is ours, not a server setting: keep it out of the driver's DSN."""
    return dataclasses.replace(parsed, options=tuple(o for o in parsed.options if o[0] != group.OPTION))


async def migrate(url: str | DatabaseURL, *, connect_timeout: float = 10.0) -> list[str]:
    """Apply the pending SQL migrations to the database at `url`; return the names applied now."""
    parsed = _without_group_option(_parse(url))
    with map_pg_errors(parsed, "migrating"):
        conn = await asyncpg.connect(parsed.dsn(), timeout=connect_timeout)
        try:
            return await apply_migrations(conn, parsed.target)
        finally:
            await conn.close()


class PostgresCheckpointer(PostgresReads):
    """Checkpoints in PostgreSQL. Create with `await PostgresCheckpointer.connect(url)`."""

    backend_name = "postgres"

    def __init__(
        self,
        pool: asyncpg.Pool,
        url: DatabaseURL,
        timeout: float,
        store: StoreMode | None = None,
        *,
        group_commit: bool = True,
    ) -> None:
        self._pool = pool
        self._store = store or StoreMode()
        self._url = url
        self._timeout = timeout
        self.target = url.target
        self._closed = False
        self.last_save_bytes: int | None = None  # the last save's encoded size (lifecycle `checkpoint.saved`)
        self.read_only = False
        self._group: group.GroupCommitter[pg_save.Prepared] = group.GroupCommitter(
            self._write_group, enabled=group_commit, name=f"group commit of PostgreSQL {url.target}"
        )
        self._writer: Any = None  # the committer's pool connection (`_write_group`): no acquire per save
        self._writer_used = 0.0

    def __repr__(self) -> str:
        return f"PostgresCheckpointer({self._url.redacted()!r})"

    @property
    def group_commit(self) -> bool:
        """Whether saves arriving while one is in flight are written together (see the module doc)."""
        return self._group.enabled

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
        group_commit: bool | None = None,
    ) -> PostgresCheckpointer:
        """Open a pool and apply pending migrations (with `migrate=False` they must already be applied).

        An empty database is set to `storage_mode` ("compact" by default, or "full") with a full snapshot
        every `snapshot_every` steps (default 50); a database with sessions keeps its recorded mode ("full"
        when it has none, as Weavegraph 0.6 writes). `group_commit` (default: the URL's `group_commit`
        option, else on) writes concurrent saves together (see the module doc).
        """
        parsed = _parse(url)
        grouped = group.parse_switch(
            group_commit if group_commit is not None else parsed.option(group.OPTION)
        )
        parsed = _without_group_option(parsed)
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
                parsed.dsn(),
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                reset=_keep_session,
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
        self = cls(pool, parsed, connect_timeout, store, group_commit=grouped)
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
        """Write the step, its node records and events and move the latest pointer forward in one
        transaction, alone or with the saves of its group (see the module doc). A lost connection during it
        leaves the outcome unknown: `StorageUnavailable` is raised, never a blind retry."""
        store = self._store
        enc = encode_save(checkpoint, store.texts)
        prepared = pg_save.prepare(checkpoint, enc, expected_last_step, store)
        size = enc.other_bytes + enc.state_bytes()  # the encoded checkpoint (save spans' `bytes`)
        try:
            await self._group.submit(prepared)
        except pg_save.Fallback as fallback:
            if fallback.status == pg_save.STALE_BASE:  # another writer moved the session: a full snapshot
                store.known.pop(enc.session_id, None)
                prepared = pg_save.prepare(checkpoint, enc, expected_last_step, store, delta=False)
                try:
                    await self._group.submit(prepared)
                except pg_save.Fallback:
                    await self._overwrite(checkpoint, enc, expected_last_step)
                    self.last_save_bytes = size
                    return
            else:
                await self._overwrite(checkpoint, enc, expected_last_step)
                self.last_save_bytes = size
                return
        prepared.written(store)
        self.last_save_bytes = size  # after the last await: the saving task reads it first

    async def _write_group(self, items: list[pg_save.Prepared]) -> Sequence[BaseException | None]:
        """The group committer's writer: the group's saves in one statement (see `pg_save.write`). The
        committer writes one group at a time, so it keeps one pool connection between groups; it goes back
        when a write on it fails (`StorageUnavailable`, outcome unknown, no retry, as for any save), after
        `WRITER_IDLE` unused, when the server closed it meanwhile (a fresh one is taken), and on close."""
        if not self._group.enabled:  # saves run concurrently, each on a connection of its own
            return await self._run(
                lambda conn: pg_save.write(conn, items), pg_save.describe(items), retry=False
            )
        if self._closed:
            raise StorageUnavailable(f"PostgreSQL checkpointer for {self.target} is closed")
        now = time.monotonic()
        writer = self._writer
        if writer is not None and (not _open(writer) or now - self._writer_used > WRITER_IDLE):
            await self._release_writer()  # closed by the server meanwhile, or idle long enough
        action = pg_save.describe(items)
        try:
            with map_pg_errors(self._url, action, connected=True):
                if self._writer is None:
                    self._writer = await self._pool.acquire(timeout=self._timeout)
                outcomes = await pg_save.write(self._writer, items)
        except BaseException as exc:
            await self._release_writer()
            if isinstance(exc, StorageUnavailable):
                await self._pool.expire_connections()
            raise
        self._writer_used = now
        return outcomes

    async def _release_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            try:
                await asyncio.shield(self._pool.release(conn, timeout=self._timeout))
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                with contextlib.suppress(asyncpg.InterfaceError):  # already detached from the pool
                    conn.terminate()

    async def _overwrite(
        self, checkpoint: Checkpoint, enc: EncodedSave, expected_last_step: int | None
    ) -> None:
        """A compact save of a step at or below the latest: dependent delta steps become full snapshots
        first, so this runs as a transaction of its own (`pg_ops.save`)."""
        store = self._store

        async def run(conn: Any) -> None:
            async with conn.transaction():
                known = await pg_ops.save(conn, enc, expected_last_step, store)
                await records_store.pg_write(conn, checkpoint)  # node records, events (issue 15)
            if known is not None:
                store.remember(enc.session_id, known)

        await self._run(run, f"saving session '{enc.session_id}'", retry=False)

    async def delete_session(self, session_id: str) -> None:
        async def run(conn: Any) -> None:
            async with conn.transaction():  # steps, records and info cascade; interrupts are keyed by id only
                await conn.execute("DELETE FROM weavegraph_interrupts WHERE session_id = $1", session_id)
                await conn.execute("DELETE FROM weavegraph_pending_writes WHERE session_id = $1", session_id)
                await conn.execute("DELETE FROM sessions WHERE id = $1", session_id)

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

    # ------------------------------------------------------------ events and interrupts (reads: pg_reads)

    async def append_events(self, session_id: str, events: list[Event]) -> None:
        """Store events published after the session's last save (stored events, issue 15)."""

        async def run(conn: Any) -> None:  # one autocommitted statement: no BEGIN and COMMIT round trips
            await records_store.pg_append_events(conn, session_id, events)

        await self._run(run, f"storing events of session '{session_id}'", retry=False)

    # ---- hitl (ENGINE.md 8.3): interrupts, in tables of our own (engine/persistence/interrupts_store.py)

    def interrupt_store(self) -> InterruptStore:
        return PostgresInterrupts(self._run)

    async def list_interrupts(
        self, pending: bool = True, limit: int = 100, offset: int = 0
    ) -> list[PendingInterrupt]:
        """Interrupts across every session, newest first; `pending=False` adds the answered ones."""
        return await self.interrupt_store().list_interrupts(pending, limit, offset)

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
        await self._group.aclose()  # the queued saves are written first
        self._closed = True
        await self._release_writer()
        try:
            await asyncio.wait_for(self._pool.close(), self._timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()


def _open(conn: Any) -> bool:
    """Whether a pool connection can still be used (the pool detaches one the server closed)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


async def _keep_session(conn: Any) -> None:
    """The pool's reset on release: asyncpg rolls back an open transaction itself; nothing here sets session
    state, LISTENs (watch has its own connection) or holds session advisory locks, so the default reset query
    (a round trip per release) is skipped."""
