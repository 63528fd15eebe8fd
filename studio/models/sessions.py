"""Paged table model over a checkpoint database's sessions; it never holds more than one page.

The model owns the query (page, sort, search) and says when it changed; whoever owns the database connection
runs `session_page(model.session_query())` on the loop and hands the result back with `set_page_result`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from engine.persistence.base import (
    Checkpoint,
    CheckpointStore,
    PrunePolicy,
    PruneReport,
    SessionStats,
    StepQuery,
)
from engine.persistence.serde import nodes_to_json, state_to_json, versions_seen_to_json
from studio.models.records import PagedRecordModel

_Index = QModelIndex | QPersistentModelIndex


class PruneOptionsLike(Protocol):
    """What `prune_in_batches` needs of the prune dialog's options."""

    @property
    def session_ids(self) -> tuple[str, ...] | None: ...

    def policy(self, session_ids: tuple[str, ...] | None = None) -> PrunePolicy: ...


COLUMNS = ("Session", "Created", "Updated", "Last step", "Steps", "Bytes")
ORDER_KEYS: tuple[str | None, ...] = ("id", "created_at", "updated_at", "last_step", "steps", "bytes")
"""`SessionQuery.order_by` value for each column (the database sorts; None would mean it cannot)."""


def format_time(when: dt.datetime | None, *, seconds: bool = True) -> str:
    """Local-time `YYYY-MM-DD HH:MM:SS` (or without seconds), or an empty string."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_bytes(n: int | None) -> str:
    """`512 B`, `1.5 KiB`, `3.2 MiB`, ..."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class SessionsModel(PagedRecordModel[SessionStats]):
    """One page of `SessionStats` with the query that produced it.

    `query_changed` fires when the page, the sort or the search text changed; the owner refetches.
    Sorting through the view (`sort`) is done by the database, not in memory.
    """

    COLUMNS = COLUMNS
    EMPTY_LABEL = "no sessions"

    def __init__(self, page_size: int = 50, parent: Any = None) -> None:
        super().__init__(page_size, parent)
        self.search: str | None = None
        self.order_by = "updated_at"
        self.descending = True

    # ------------------------------------------------------------------ query

    def session_query_args(self) -> dict[str, Any]:
        """Keyword arguments for `SessionQuery(...)`."""
        return {
            **self.page_query_args(),
            "search": self.search,
            "order_by": self.order_by,
            "descending": self.descending,
        }

    def set_search(self, text: str) -> None:
        value = text.strip() or None
        if value != self.search:
            self.search = value
            self.page = 0
            self.query_changed.emit()

    def sort_column(self) -> int:
        """The column the current order is by (for the header's sort indicator)."""
        return ORDER_KEYS.index(self.order_by) if self.order_by in ORDER_KEYS else 2

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = ORDER_KEYS[column] if 0 <= column < len(ORDER_KEYS) else None
        if key is None:
            return
        desc = order == Qt.SortOrder.DescendingOrder
        if (key, desc) != (self.order_by, self.descending):
            self.order_by, self.descending = key, desc
            self.page = 0
            self.query_changed.emit()

    def clear(self) -> None:
        self.set_page_result([], 0)
        self.page = 0

    def session_at(self, row: int) -> SessionStats | None:
        return self.item_at(row)

    def sessions(self) -> list[SessionStats]:
        return list(self._items)

    def row_of(self, session_id: str) -> int:
        for i, s in enumerate(self._items):
            if s.session_id == session_id:
                return i
        return -1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        s = self.session_at(index.row()) if index.isValid() else None
        if s is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                s.session_id,
                format_time(s.created_at, seconds=False),
                format_time(s.updated_at, seconds=False),
                str(s.last_step),
                str(s.steps),
                format_bytes(s.bytes),
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 5:
            return f"{s.bytes} bytes"
        if role == Qt.ItemDataRole.ToolTipRole and col in (0, 1, 2):
            return (s.session_id, format_time(s.created_at), format_time(s.updated_at))[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return s.session_id
        return None


# ---------------------------------------------------------------------- database operations (no Qt)


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_url_for_path(path: str) -> str:
    """`sqlite://` + the file path (absolute paths give `sqlite:///...`)."""
    return "sqlite://" + path


def with_password(url: str, password: str) -> str:
    """Put `password` into a Postgres URL's user info (percent-encoded); other URLs are returned as is."""
    if not password or not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def strip_password(url: str) -> str:
    """The URL without any password (user info or a `password=` parameter), fit to be remembered or shown."""
    if not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host_part = netloc.rsplit("@", 1)[1]
        netloc = f"{user}@{host_part}" if user else host_part
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    """One step in the stored JSON shapes (ENGINE.md section 6), for export."""
    return {
        "step": cp.step,
        "created_at": cp.created_at.isoformat() if cp.created_at else None,
        "state": state_to_json(cp.state),
        "frontier": nodes_to_json(cp.frontier),
        "versions_seen": versions_seen_to_json(cp.versions_seen),
        "concurrency_limit": cp.concurrency_limit,
        "ran_nodes": nodes_to_json(cp.ran_nodes),
        "skipped_nodes": nodes_to_json(cp.skipped_nodes),
        "updated_channels": list(cp.updated_channels),
    }


async def iter_steps_desc(
    cp: CheckpointStore, session_id: str, *, page_size: int = 500, limit: int | None = None
) -> AsyncIterator[list[Checkpoint]]:
    """Pages of a session's steps, newest first, by key (`max_step`), so concurrent writes never shift
    a page; stops after `limit` steps when given."""
    max_step: int | None = None
    seen = 0
    while limit is None or seen < limit:
        size = page_size if limit is None else min(page_size, limit - seen)
        result = await cp.query_steps(session_id, StepQuery(limit=size, max_step=max_step))
        if not result.checkpoints:
            return
        seen += len(result.checkpoints)
        yield result.checkpoints
        max_step = min(c.step for c in result.checkpoints) - 1
        if not result.has_next_page or max_step < 0:
            return


async def export_session_json(
    cp: CheckpointStore, session_id: str, path: str | Path, graph_hash: str | None = None
) -> int:
    """Write every step of a session (ascending) to `path` as one JSON document; returns the step count."""
    steps: list[dict[str, Any]] = []
    async for page in iter_steps_desc(cp, session_id):
        steps.extend(checkpoint_to_json(c) for c in page)
    steps.reverse()
    doc = {"format": "weavegraph.session", "version": 1, "session_id": session_id, "graph_hash": graph_hash}
    doc["steps"] = steps

    def _write() -> None:
        tmp = Path(str(path) + ".part")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    await asyncio.to_thread(_write)
    return len(steps)


async def step_sizes(cp: CheckpointStore, session_id: str, limit: int = 1000) -> list[tuple[int, int]]:
    """(step, state JSON bytes) for the latest `limit` steps, ascending by step (the growth chart)."""
    out: list[tuple[int, int]] = []
    async for page in iter_steps_desc(cp, session_id, page_size=250, limit=limit):
        for c in page:
            out.append((c.step, len(json.dumps(state_to_json(c.state), separators=(",", ":")).encode())))
    out.sort()
    return out


async def prune_in_batches(
    cp: CheckpointStore,
    options: PruneOptionsLike,
    *,
    on_progress: Callable[[int, int, int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    batch_size: int = 20,
    dry_run: bool = False,
) -> tuple[PruneReport, bool]:
    """Apply `options.policy(batch)` to sessions `batch_size` at a time so progress shows and Cancel
    takes effect between batches (a batch in flight always completes: nothing is half-deleted).
    A policy selects steps session by session, so the batches of a dry run add up to exactly what the
    real run then deletes (barring concurrent writes). Returns the summed report and whether it was
    cancelled."""
    ids = list(options.session_ids) if options.session_ids else await cp.list_sessions()
    batches = [tuple(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)]
    steps = size = sessions = 0
    for done, batch in enumerate(batches):
        if cancelled():
            return PruneReport(steps, size, sessions, dry_run), True
        report = await cp.prune(options.policy(batch), dry_run=dry_run)
        steps, size, sessions = steps + report.steps, size + report.bytes, sessions + report.sessions
        if on_progress is not None:
            on_progress(done + 1, len(batches), steps)
    return PruneReport(steps, size, sessions, dry_run), False


class BrowsableCheckpointer(CheckpointStore, Protocol):
    """A checkpointer with the studio's extra read methods (the SQLite and Postgres backends)."""

    async def session_page(self, query: Any) -> Any: ...

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None: ...

    async def graph_hash(self, session_id: str) -> str | None: ...


async def open_browsable(url: str, *, busy_timeout: float = 1.0) -> BrowsableCheckpointer:
    """Open an existing checkpoint database for browsing without creating one.

    A missing SQLite file, a foreign file and an unreachable server raise `CheckpointerError`s naming the
    database. A Weavegraph 0.6 file gets our additive columns (as the runner would add them); a file or
    database without checkpoint tables is refused rather than initialised.
    `busy_timeout` (seconds) bounds how long a locked file is waited for before `StorageLocked`.
    """
    from engine.persistence.base import SessionQuery
    from engine.persistence.errors import NotACheckpointDatabase

    if is_postgres_url(url):
        from engine.persistence.factory import open_checkpointer

        cp: Any = await open_checkpointer(url, migrate=False)
    else:
        from engine.persistence.sqlite import SQLiteCheckpointer

        cp = await SQLiteCheckpointer.connect(url, create=False, busy_timeout=busy_timeout)
    for attempt in range(2):
        try:
            await cp.session_page(SessionQuery(limit=1))
            return cast(BrowsableCheckpointer, cp)
        except Exception as exc:
            text = str(exc).lower()
            await cp.aclose()
            if attempt == 0 and "no such column" in text and not is_postgres_url(url):
                from engine.persistence.sqlite import SQLiteCheckpointer

                cp = await SQLiteCheckpointer.connect(url, create=True, busy_timeout=busy_timeout)
                continue
            if "no such table" in text or ("does not exist" in text and "relation" in text):
                raise NotACheckpointDatabase(
                    f"{strip_password(url)} holds no checkpoint tables (sessions, steps); "
                    "open a database written by Weavegraph, or run `weavegraph migrate` first"
                ) from exc
            raise
    raise AssertionError("unreachable")
