"""SQLite checkpointer (aiosqlite, WAL): full step history, Weavegraph 0.6 schema, safe for many writers.

Every operation runs as one function on aiosqlite's worker thread, so a save is one thread hop and one
transaction. Saving a step that already exists for the session overwrites that row (as Weavegraph does);
the session's latest pointer only moves forward.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import aiosqlite

from engine.errors import CheckpointConflict
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
)
from engine.persistence.errors import (
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageNotFound,
    map_sqlite_errors,
)
from engine.persistence.serde import (
    EncodedCheckpoint,
    contiguous_total,
    decode_checkpoint,
    encode_checkpoint,
    format_timestamp,
    parse_timestamp,
)
from engine.persistence.sqlite_schema import (
    COMPUTED_BYTES,
    COUNTS_TABLE,
    NODE_COUNTS_TABLE,
    NODES_TABLE,
    ensure_schema,
)

T = TypeVar("T")

MEMORY = ":memory:"
_SQLITE_HEADER = b"SQLite format 3\x00"

_STEP_COLUMNS = (
    "t.step, t.created_at, t.state_json, t.frontier_json, t.versions_seen_json, t.ran_nodes_json, "
    "t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash"
)

_SESSION_STATS = (
    "SELECT s.id, s.last_step, s.created_at, s.updated_at, s.graph_hash, COALESCE(c.steps, 0),"
    f" COALESCE(c.bytes, 0) FROM sessions s LEFT JOIN {COUNTS_TABLE} c ON c.session_id = s.id"
)

_UPSERT_SESSION = """
INSERT INTO sessions (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                      last_frontier_json, last_versions_seen_json, graph_hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
    updated_at = excluded.updated_at,
    concurrency_limit = excluded.concurrency_limit,
    last_step = excluded.last_step,
    last_state_json = excluded.last_state_json,
    last_frontier_json = excluded.last_frontier_json,
    last_versions_seen_json = excluded.last_versions_seen_json,
    graph_hash = COALESCE(excluded.graph_hash, sessions.graph_hash)
WHERE excluded.last_step >= sessions.last_step OR sessions.last_state_json IS NULL
"""

_TOUCH_SESSION = """
INSERT INTO sessions (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                      last_frontier_json, last_versions_seen_json, graph_hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO NOTHING
"""

# An upsert, not INSERT OR REPLACE: REPLACE deletes without firing the delete trigger that keeps the counts.
_INSERT_STEP = """
INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                   ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session_id, step) DO UPDATE SET
    created_at = excluded.created_at,
    state_json = excluded.state_json,
    frontier_json = excluded.frontier_json,
    versions_seen_json = excluded.versions_seen_json,
    ran_nodes_json = excluded.ran_nodes_json,
    skipped_nodes_json = excluded.skipped_nodes_json,
    updated_channels_json = excluded.updated_channels_json,
    payload_bytes = excluded.payload_bytes
"""


def parse_sqlite_url(url: str) -> str:
    """The path in a `sqlite://` URL or ":memory:"; `sqlite://a.db` is relative, `sqlite:///a.db` absolute."""
    if url in ("sqlite::memory:", "sqlite://:memory:", "sqlite:///:memory:"):
        return MEMORY
    if not url.startswith("sqlite://"):
        raise InvalidCheckpointerUrl(
            f"not an SQLite URL: '{url}' (use sqlite://relative.db, sqlite:///absolute/path.db "
            "or sqlite::memory:)"
        )
    path = url[len("sqlite://") :].split("?", 1)[0]
    if not path:
        raise InvalidCheckpointerUrl(f"SQLite URL '{url}' names no file (example: sqlite://weavegraph.db)")
    return path


def _check_file(path: str) -> None:
    """Clear errors before SQLite's own: a missing directory, a directory, a file that is not SQLite."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StorageNotFound(
            f"the directory '{directory}' of SQLite database '{path}' does not exist; create it first"
        )
    if os.path.isdir(path):
        raise NotACheckpointDatabase(f"'{path}' is a directory, not an SQLite database file")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            raise NotACheckpointDatabase(
                f"'{path}' is not an SQLite database (it lacks the SQLite file header); "
                "point the URL at a checkpoint database or a new file"
            )


class SQLiteCheckpointer:
    """Checkpoints in an SQLite file or `sqlite::memory:`. Create: `await SQLiteCheckpointer.connect(url)`."""

    backend_name = "sqlite"

    def __init__(
        self, db: aiosqlite.Connection, path: str, busy_timeout: float, poll_interval: float
    ) -> None:
        self._db = db
        self._raw: sqlite3.Connection = db._conn  # only used on aiosqlite's worker thread
        self.path = path
        self._busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self._closed = False
        self._watchers: list[asyncio.Queue[tuple[str, int]]] = []
        self.schema_changed = False
        """Whether connecting created or extended the schema."""

    def __repr__(self) -> str:
        return f"SQLiteCheckpointer({self.path!r})"

    @property
    def is_memory(self) -> bool:
        return self.path == MEMORY

    @classmethod
    async def connect(
        cls,
        url: str = "sqlite://weavegraph.db",
        *,
        busy_timeout: float = 5.0,
        poll_interval: float = 0.2,
        create: bool = True,
    ) -> SQLiteCheckpointer:
        """Open (and unless `create=False` create) the database: WAL, synchronous=NORMAL, foreign keys on.

        `busy_timeout` (seconds) is how long a write waits for another process's lock before `StorageLocked`.
        """
        path = parse_sqlite_url(url)
        if path != MEMORY:
            _check_file(path)
            if not create and not os.path.exists(path):  # noqa: ASYNC240  # a stat, before any I/O
                raise StorageNotFound(f"SQLite database '{path}' does not exist")
        with map_sqlite_errors(path, "opening"):
            db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
        self = cls(db, path, busy_timeout, poll_interval)
        try:
            await self._call(lambda c: self._prepare(c, create), "creating the schema")
        except BaseException:
            await db.close()
            raise
        return self

    def _prepare(self, conn: sqlite3.Connection, create: bool) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not self.is_memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        self.schema_changed = ensure_schema(conn, self.path, create)

    async def _call(self, fn: Callable[[sqlite3.Connection], T], action: str) -> T:
        if self._closed:
            raise StorageNotFound(f"SQLite checkpointer for '{self.path}' is closed")
        raw = self._raw
        with map_sqlite_errors(self.path, action):
            # aiosqlite's worker-thread call (private but stable since 0.17): one hop per transaction.
            result: T = await self._db._execute(fn, raw)  # type: ignore[no-untyped-call]
            return result

    # ------------------------------------------------------------ writing

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        """Write the step row and move the latest pointer forward, in one IMMEDIATE transaction.

        With `expected_last_step`, raises `CheckpointConflict` when the session's latest step (None when it
        has none) differs; the check holds the write lock, so two writers can never both pass it.
        """
        enc = encode_checkpoint(checkpoint)
        now = format_timestamp(_dt.datetime.now(_dt.UTC))
        await self._call(
            lambda c: _save(c, enc, expected_last_step, now), f"saving session '{enc.session_id}'"
        )
        for queue in self._watchers:
            queue.put_nowait((enc.session_id, enc.step))

    async def delete_session(self, session_id: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute("DELETE FROM steps WHERE session_id = ?", (session_id,))
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

        await self._call(run, f"deleting session '{session_id}'")

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        """Delete (or with `dry_run` only count) steps the policy selects; never a session's latest step."""
        cutoff = None
        if policy.older_than is not None:
            cutoff = format_timestamp(_dt.datetime.now(_dt.UTC) - policy.older_than)
        return await self._call(lambda c: _prune(c, policy, cutoff, dry_run), "pruning")

    async def vacuum(self) -> None:
        """Checkpoint and truncate the WAL, then rebuild the file so deleted steps give their space back."""

        def run(conn: sqlite3.Connection) -> None:
            if not self.is_memory:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            if not self.is_memory:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._call(run, "vacuuming")

    # ------------------------------------------------------------ reading

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        def run(conn: sqlite3.Connection) -> Checkpoint | None:
            row = conn.execute(
                "SELECT s.last_step, COALESCE(t.created_at, s.updated_at),"
                " COALESCE(t.state_json, s.last_state_json), COALESCE(t.frontier_json, s.last_frontier_json),"
                " COALESCE(t.versions_seen_json, s.last_versions_seen_json), t.ran_nodes_json,"
                " t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash"
                " FROM sessions s LEFT JOIN steps t ON t.session_id = s.id AND t.step = s.last_step"
                " WHERE s.id = ?",
                (session_id,),
            ).fetchone()
            if row is None or row[2] is None:
                return None
            return decode_checkpoint(session_id, *row)

        return await self._call(run, f"loading session '{session_id}'")

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None:
        def run(conn: sqlite3.Connection) -> Checkpoint | None:
            row = conn.execute(
                f"SELECT {_STEP_COLUMNS} FROM steps t JOIN sessions s ON s.id = t.session_id"
                " WHERE t.session_id = ? AND t.step = ?",
                (session_id, step),
            ).fetchone()
            return decode_checkpoint(session_id, *row) if row is not None else None

        return await self._call(run, f"loading step {step} of session '{session_id}'")

    async def list_sessions(self) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT id FROM sessions ORDER BY updated_at DESC, rowid DESC")
            return [r[0] for r in rows]

        return await self._call(run, "listing sessions")

    async def graph_hash(self, session_id: str) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT graph_hash FROM sessions WHERE id = ?", (session_id,)).fetchone()
            return row[0] if row is not None else None

        return await self._call(run, f"reading the graph hash of session '{session_id}'")

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        """One page of a session's steps, newest first, with the total number of matches.

        Totals come from the trigger-kept counts (no row counting) unless a step range has gaps; an exact
        `ran_node` filter walks the (session, node, step) index.
        """
        kind = query.ran_node_kind()
        ranges: list[str] = []
        args: list[Any] = []
        if query.min_step is not None:
            ranges.append("AND x.step >= ?")
            args.append(query.min_step)
        if query.max_step is not None:
            ranges.append("AND x.step <= ?")
            args.append(query.max_step)
        bounds = " ".join(ranges)
        head: list[Any]
        if kind is None:
            source, head = "steps x", [session_id]
            where = "x.session_id = ?"
        else:
            source, head = f"{NODES_TABLE} x", [session_id, kind.name]
            where = "x.session_id = ? AND x.node = ?"

        def run(conn: sqlite3.Connection) -> StepQueryResult:
            total: int | None = None
            if kind is None:
                total = _range_total(conn, session_id, query)
            elif not ranges:
                row = conn.execute(
                    f"SELECT steps FROM {NODE_COUNTS_TABLE} WHERE session_id = ? AND node = ?", head
                ).fetchone()
                total = int(row[0]) if row is not None else 0
            if total is None:
                total = conn.execute(
                    f"SELECT count(*) FROM {source} WHERE {where} {bounds}", head + args
                ).fetchone()[0]
            # Two phases: pick the page's step numbers from an index alone (cheap to skip an OFFSET over),
            # then read just those rows.
            steps = [
                r[0]
                for r in conn.execute(
                    f"SELECT x.step FROM {source} WHERE {where} {bounds}"
                    " ORDER BY x.step DESC LIMIT ? OFFSET ?",
                    [*head, *args, query.limit, query.offset],
                )
            ]
            items: list[Checkpoint] = []
            if steps:
                marks = ", ".join("?" * len(steps))
                rows = conn.execute(
                    f"SELECT {_STEP_COLUMNS} FROM steps t JOIN sessions s ON s.id = t.session_id"
                    f" WHERE t.session_id = ? AND t.step IN ({marks}) ORDER BY t.step DESC",
                    [session_id, *steps],
                ).fetchall()
                items = [decode_checkpoint(session_id, *r) for r in rows]
            return StepQueryResult(items, int(total), query.offset + len(steps) < total)

        return await self._call(run, f"querying steps of session '{session_id}'")

    async def session_page(self, query: SessionQuery = SessionQuery()) -> SessionPage:
        """One page of sessions with their step counts and sizes (from the covering index, not the rows)."""
        where, args = "", []
        if query.search:
            escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, args = "WHERE s.id LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
        direction = "DESC" if query.descending else "ASC"

        def run(conn: sqlite3.Connection) -> SessionPage:
            total = conn.execute(f"SELECT count(*) FROM sessions s {where}", args).fetchone()[0]
            rows = conn.execute(
                f"{_SESSION_STATS} {where} ORDER BY s.{query.order_by} {direction}, s.id {direction}"
                " LIMIT ? OFFSET ?",
                [*args, query.limit, query.offset],
            ).fetchall()
            return SessionPage([_session_stats(r) for r in rows], total)

        return await self._call(run, "listing a page of sessions")

    async def storage_stats(self) -> StorageStats:
        def run(conn: sqlite3.Connection) -> StorageStats:
            rows = conn.execute(f"{_SESSION_STATS} ORDER BY s.updated_at DESC, s.id").fetchall()
            sessions = [_session_stats(r) for r in rows]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page_size
            tables: dict[str, int] = {}
            try:
                for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                    tables[name] = int(size)
            except sqlite3.OperationalError:  # SQLite built without the dbstat table
                tables = {}
            file_bytes = wal_bytes = None
            if not self.is_memory:
                file_bytes = os.path.getsize(self.path)
                wal = self.path + "-wal"
                wal_bytes = os.path.getsize(wal) if os.path.exists(wal) else 0
            return StorageStats(
                self.backend_name,
                sessions,
                sum(s.steps for s in sessions),
                sum(s.bytes for s in sessions),
                file_bytes,
                wal_bytes,
                free,
                tables,
            )

        return await self._call(run, "reading storage statistics")

    async def integrity_check(self) -> str:
        """`PRAGMA integrity_check`: "ok" for a sound file."""
        return await self._call(
            lambda c: "\n".join(str(r[0]) for r in c.execute("PRAGMA integrity_check")), "checking integrity"
        )

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
        with map_sqlite_errors(self.path, "opening a watch connection"):
            reader = await aiosqlite.connect(self.path, isolation_level=None, timeout=self._busy_timeout)
        try:
            seen, version = await reader._execute(_watch_snapshot, reader._conn)  # type: ignore[no-untyped-call]
            while True:
                await asyncio.sleep(self.poll_interval)
                with map_sqlite_errors(self.path, "watching"):
                    found, version = await reader._execute(  # type: ignore[no-untyped-call]
                        _watch_poll, reader._conn, seen, version
                    )
                for item in found:
                    yield item
        finally:
            await reader.close()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._db.close()


# ---------------------------------------------------------------- worker-thread functions


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _save(conn: sqlite3.Connection, enc: EncodedCheckpoint, expected: int | None, now: str) -> None:
    with _transaction(conn):
        if expected is not None:
            row = conn.execute(
                "SELECT last_step, last_state_json IS NULL FROM sessions WHERE id = ?", (enc.session_id,)
            ).fetchone()
            actual = None if row is None or row[1] else int(row[0])
            if actual != expected:
                raise CheckpointConflict(enc.session_id, expected, actual)
        created = format_timestamp(enc.created_at)
        conn.execute(
            _UPSERT_SESSION,
            (
                enc.session_id,
                now,
                now,
                enc.concurrency_limit,
                enc.step,
                enc.state_json,
                enc.frontier_json,
                enc.versions_seen_json,
                enc.graph_hash,
            ),
        )
        conn.execute(
            _INSERT_STEP,
            (
                enc.session_id,
                enc.step,
                created,
                enc.state_json,
                enc.frontier_json,
                enc.versions_seen_json,
                enc.ran_nodes_json,
                enc.skipped_nodes_json,
                enc.updated_channels_json,
                enc.payload_bytes,
            ),
        )


def _prune(conn: sqlite3.Connection, policy: PrunePolicy, cutoff: str | None, dry_run: bool) -> PruneReport:
    keep = policy.keep_last if policy.keep_last is not None else 1
    args: list[Any] = []
    scope = ""
    if policy.session_ids is not None:
        ids = list(policy.session_ids)
        scope = f"WHERE t.session_id IN ({', '.join('?' * len(ids))})" if ids else "WHERE 0"
        args.extend(ids)
    older = ""
    if cutoff is not None:
        older = "AND julianday(t.created_at) < julianday(?)"
    # Candidates: rank steps per session newest first; keep the first `keep` and the session's latest.
    candidates = (
        "WITH ranked AS (SELECT t.rowid AS rid, t.session_id AS sid, t.step AS step,"
        " ROW_NUMBER() OVER (PARTITION BY t.session_id ORDER BY t.step DESC) AS rn"
        f" FROM steps t {scope}),"
        f" doomed AS (SELECT r.rid, r.sid, {COMPUTED_BYTES.replace('steps.', 't.')} AS size FROM ranked r"
        " JOIN sessions s ON s.id = r.sid JOIN steps t ON t.rowid = r.rid"
        f" WHERE r.rn > ? AND r.step <> s.last_step {older}) "
    )
    args.append(keep)
    if cutoff is not None:
        args.append(cutoff)
    with _transaction(conn):
        count, sessions, size = conn.execute(
            candidates + "SELECT count(*), count(DISTINCT sid), COALESCE(sum(size), 0) FROM doomed", args
        ).fetchone()
        if not dry_run and count:
            conn.execute(candidates + "DELETE FROM steps WHERE rowid IN (SELECT rid FROM doomed)", args)
    return PruneReport(int(count), int(size), int(sessions), dry_run)


def _range_total(conn: sqlite3.Connection, session_id: str, query: StepQuery) -> int | None:
    """Steps in [min_step, max_step] from the trigger-kept counts; None when the range must be counted."""
    row = conn.execute(
        f"SELECT steps, min_step, max_step FROM {COUNTS_TABLE} WHERE session_id = ?", (session_id,)
    ).fetchone()
    return 0 if row is None else contiguous_total(row[0], row[1], row[2], query)


def _session_stats(row: Any) -> SessionStats:
    sid, last_step, created, updated, graph_hash, steps, size = row
    return SessionStats(
        sid,
        int(steps),
        int(size),
        int(last_step),
        parse_timestamp(created) if created else None,
        parse_timestamp(updated) if updated else None,
        graph_hash,
    )


def _watch_snapshot(conn: sqlite3.Connection) -> tuple[dict[str, int], int]:
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    seen = {sid: int(step) for sid, step in conn.execute("SELECT id, last_step FROM sessions")}
    return seen, int(version)


def _watch_poll(
    conn: sqlite3.Connection, seen: dict[str, int], version: int
) -> tuple[list[tuple[str, int]], int]:
    now = int(conn.execute("PRAGMA data_version").fetchone()[0])
    if now == version:
        return [], version
    found: list[tuple[str, int]] = []
    conn.execute("BEGIN")  # one read snapshot for the sessions scan and the step reads
    try:
        for sid, last in conn.execute("SELECT id, last_step FROM sessions").fetchall():
            before = seen.get(sid)
            if before is not None and last <= before:
                continue
            floor = before if before is not None else -1
            steps = conn.execute(
                "SELECT step FROM steps WHERE session_id = ? AND step > ? ORDER BY step", (sid, floor)
            ).fetchall()
            found.extend((sid, int(s[0])) for s in steps)
            seen[sid] = int(last)
    finally:
        conn.execute("COMMIT")
    return found, now
