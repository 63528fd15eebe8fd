"""The checkpoint browser's controller (no widgets): owns the open database, its lock, the live tail, and
every query, deletion, export and prune; the panel calls its methods and shows what its signals report.

All database work runs as bridge tasks owned by this controller, one statement at a time (a lock). A
generation counter drops results of a database that was replaced while a query ran. Every failure is
reported once through `error(message, kind)` and the controller stays usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.bridge import Bridge, one_line
from studio.services import langgraph, storage
from studio.services.storage import BrowsableCheckpointer, SessionQuery, StepQuery

__all__ = ["BrowserController", "GraphMismatch", "storage_close"]

TAIL_DEBOUNCE_MS = 250


@dataclass(frozen=True, slots=True)
class GraphMismatch:
    """A session written by another graph than the open document: names and what differs."""

    session_id: str
    stored_hash: str
    document_hash: str
    document_name: str
    stored_name: str | None  # a known graph (bundled example, recent document) with the stored hash
    only_in_session: tuple[str, ...]  # nodes the session ran that the document does not have
    only_in_document: tuple[str, ...]

    def text(self) -> str:
        written = f"graph '{self.stored_name}'" if self.stored_name else "another graph"
        parts = [f"Session '{self.session_id}' was written by {written}, not by '{self.document_name}'."]
        if self.only_in_session:
            parts.append(f"Nodes it ran that this document lacks: {', '.join(self.only_in_session)}.")
        if self.only_in_document:
            parts.append(f"Nodes only in this document: {', '.join(self.only_in_document)}.")
        if not (self.only_in_session or self.only_in_document):
            parts.append("Same node names; the edges or routers differ.")
        parts.append(
            f"Resuming runs the current graph on that state (hashes {self.stored_hash[:8]} vs "
            f"{self.document_hash[:8]})."
        )
        return " ".join(parts)


class BrowserController(QObject):
    """See the module docstring. `url` keeps the password in memory only; `shown_url` is redacted."""

    opening = Signal(str)  # redacted URL
    opened = Signal(str)  # redacted URL
    open_failed = Signal(str, str)  # message, kind
    reset = Signal()  # the previous database's results are void (clear every view)
    sessions_loaded = Signal(list, int)  # SessionStats page, total
    steps_loaded = Signal(str, list, int)  # session id, checkpoints, total
    compared = Signal(object, object)  # old, new Checkpoint
    compare_missing = Signal(str)
    stats_loaded = Signal(object)  # StorageStats
    growth_loaded = Signal(str, list)  # session id, [(step, bytes)]
    graph_checked = Signal(str, object)  # session id, GraphMismatch | None
    live_step_seen = Signal(str, int)
    sessions_touched = Signal(list)  # session ids written by others since the last report (debounced)
    tail_stopped = Signal(str)
    session_deleted = Signal(str)
    export_finished = Signal(str, int)  # path, steps
    error = Signal(str, str)  # one-line message, storage error kind

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("browserController")
        self.bridge = bridge
        self.lock = asyncio.Lock()
        self._cp: BrowsableCheckpointer | None = None
        self._lg: langgraph.LangGraphReader | None = None
        """The open LangGraph database's reader (then `_cp` is None): read-only, prune aside."""
        self._url: str | None = None
        self._generation = 0
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._closing: set[asyncio.Task[Any]] = set()
        self._touched: set[str] = set()
        self.live_count = 0
        self.known_graphs: dict[str, str] = {}
        """graph hash -> name of graphs the studio knows (examples, recent documents)."""
        self._tail_timer = QTimer(self)
        self._tail_timer.setSingleShot(True)
        self._tail_timer.setInterval(TAIL_DEBOUNCE_MS)
        self._tail_timer.timeout.connect(self._on_tail_timer_timeout)

    # ------------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        return self._cp is not None or self._lg is not None

    @property
    def is_langgraph(self) -> bool:
        """Whether the open database is a LangGraph saver's (its queries: `LangGraphController`)."""
        return self._lg is not None

    @property
    def langgraph_reader(self) -> langgraph.LangGraphReader | None:
        return self._lg

    @property
    def url(self) -> str | None:
        """The open database's URL with its password (for handing to the stepper/console; never shown)."""
        return self._url

    def shown_url(self) -> str | None:
        """The open database's URL without its password (None when nothing is open)."""
        return storage.strip_password(self._url) if self._url is not None else None

    @property
    def checkpointer(self) -> BrowsableCheckpointer | None:
        return self._cp

    def run(self, coro: Coroutine[Any, Any, Any], what: str, *, key: str = "") -> asyncio.Task[None] | None:
        """Start database work owned by this controller; a failure becomes one `error` line. A `key` keeps
        one task per key (a newer request cancels the older one)."""
        if self.bridge.closing:  # the studio is shutting down: nobody will see the answer
            coro.close()
            return None
        if key and (old := self._tasks.get(key)) is not None:
            old.cancel()
        task = self.bridge.guarded(coro, what, owner=self, on_error=self._on_task_error)
        if key:
            self._tasks[key] = task
        return task

    async def refresh_langgraph_reader(self) -> None:
        """After our prune wrote to a LangGraph database: a fresh read-only reader (one opened `immutable`
        would not see the change), the old one closed in the background."""
        if self._lg is None or self._url is None:
            return
        fresh = await langgraph.open_reader(self._url)
        old, self._lg = self._lg, fresh
        self._close_in_background(old)

    def cancel_task(self, key: str) -> None:
        """Cancel the keyed task (a prune preview the user stopped), if it runs."""
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def _on_task_error(self, what: str, exc: BaseException) -> None:
        self.error.emit(f"{what} failed: {one_line(exc)}", storage.storage_error_kind(exc))

    # ------------------------------------------------------------------ opening

    def open(self, url: str, password: str = "") -> None:
        """Open `url` (or a plain SQLite path) in the background: `opened` or `open_failed`. Whatever was
        open before is closed and `reset` tells the views to drop its results at once."""
        url = storage.normalize_location(url)
        if not url or self.bridge.closing:
            return
        if storage.is_postgres_url(url) and password:
            url = storage.with_password(url, password)
        self._generation += 1
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        old, self._cp, self._url = self._cp, None, None
        old_lg, self._lg = self._lg, None
        for gone in (old, old_lg):
            if gone is not None:  # closing may wait for a dead server's timeout: never hold up the new one
                self._close_in_background(gone)
        self.reset.emit()
        self.opening.emit(storage.redact(url))
        self.bridge.guarded(self._open(url, self._generation), "open database", owner=self)

    async def _open(self, url: str, generation: int) -> None:
        shown = storage.redact(url)
        # The connection is made in a task of its own that is never cancelled half-way (a cancelled
        # connect could leave a SQLite connection and its thread behind): if this open is abandoned,
        # whatever it opens is closed when it arrives, and `aclose` waits for that.
        opening = self.bridge.start(_attempt_open(url), name="browserController: connecting")
        self._track(opening)
        try:
            cp, exc = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(self._close_abandoned)
            raise
        if exc is not None:
            if generation == self._generation:
                message = f"Cannot open {shown}: {storage.describe_storage_error(exc)}"
                self.open_failed.emit(message, storage.storage_error_kind(exc))
            return
        assert cp is not None
        if generation != self._generation:
            self._close_in_background(cp)
            return
        if isinstance(cp, _LangGraph):
            self._lg, self._url = cp.reader, url
        else:
            self._cp, self._url = cp, url
        self.opened.emit(shown)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _close_abandoned(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            cp, _exc = task.result()
            if cp is not None:
                self._close_in_background(cp)

    async def aclose(self) -> None:
        """Stop every task and close the database (the main window awaits it on exit)."""
        self._generation += 1
        await self.bridge.stop_owned(self)
        cp, self._cp = self._cp, None
        if cp is not None:
            self._close_in_background(cp)
        lg_reader, self._lg = self._lg, None
        if lg_reader is not None:
            self._close_in_background(lg_reader)
        while self._closing:  # an abandoned open adds its close when it arrives
            await asyncio.gather(*list(self._closing), return_exceptions=True)

    def _close_in_background(self, cp: Any) -> None:
        # Not owned by the controller: a close must finish even when it goes away (an unclosed SQLite
        # connection keeps its worker thread, and so the process, alive). `aclose` waits for these.
        self._track(self.bridge.start(storage_close(cp), name="browserController: closing a database"))

    # ------------------------------------------------------------------ queries

    def load_sessions(self, query: dict[str, Any]) -> None:
        """Fetch one page of sessions (`SessionsModel.session_query_args()`): `sessions_loaded`."""
        self.run(self._fetch_sessions(query), "listing sessions", key="sessions")

    async def _fetch_sessions(self, query: dict[str, Any]) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            page = await cp.session_page(SessionQuery(**query))
        if cp is self._cp:
            self.sessions_loaded.emit(list(page.items), page.total_count)

    def load_steps(self, session_id: str, limit: int, offset: int) -> None:
        self.run(self._fetch_steps(session_id, limit, offset), "loading steps", key="steps")

    async def _fetch_steps(self, session_id: str, limit: int, offset: int) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            result = await cp.query_steps(session_id, StepQuery(limit=limit, offset=offset))
        if cp is self._cp:
            self.steps_loaded.emit(session_id, list(result.checkpoints), result.total_count)

    def compare(self, session_id: str, old_step: int, new_step: int) -> None:
        self.run(self._compare(session_id, old_step, new_step), "comparing steps", key="compare")

    async def _compare(self, session_id: str, old_step: int, new_step: int) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            old = await cp.load_step(session_id, old_step)
            new = await cp.load_step(session_id, new_step)
        missing = [str(s) for s, c in ((old_step, old), (new_step, new)) if c is None]
        if missing:
            self.compare_missing.emit(
                f"Step {' and '.join(missing)} of '{session_id}' is not stored (pruned?)"
            )
        elif cp is self._cp:
            self.compared.emit(old, new)

    def load_stats(self, session_id: str | None = None) -> None:
        """Storage statistics, and the growth chart of `session_id` when given."""
        self.run(self._fetch_stats(), "storage statistics", key="stats")
        if session_id is not None:
            self.load_growth(session_id)

    async def _fetch_stats(self) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            stats = await cp.storage_stats()
        if cp is self._cp:
            self.stats_loaded.emit(stats)

    def load_growth(self, session_id: str) -> None:
        self.run(self._fetch_growth(session_id), "growth chart", key="growth")

    async def _fetch_growth(self, session_id: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            sizes = await storage.step_sizes(cp, session_id, limit=1000)
        if cp is self._cp:
            self.growth_loaded.emit(session_id, sizes)

    def check_graph(
        self, session_id: str, document_hash: str | None, document_name: str, document_nodes: list[str]
    ) -> None:
        """Compare the session's graph with the open document: `graph_checked(session_id, mismatch)`."""
        self.run(
            self._check_graph(session_id, document_hash, document_name, document_nodes),
            "graph hash",
            key="graph",
        )

    async def _check_graph(
        self, session_id: str, document_hash: str | None, document_name: str, document_nodes: list[str]
    ) -> None:
        cp = self._cp
        if cp is None or document_hash is None or not hasattr(cp, "graph_hash"):
            self.graph_checked.emit(session_id, None)
            return
        async with self.lock:
            stored = await cp.graph_hash(session_id)
            ran: set[str] = set()
            if stored is not None and stored != document_hash:
                async for page in storage.iter_steps_desc(cp, session_id, page_size=200, limit=200):
                    for c in page:
                        ran.update(str(n) for n in (*c.ran_nodes, *c.frontier))
        if stored is None or stored == document_hash:
            self.graph_checked.emit(session_id, None)
            return
        ran -= {"Start", "End"}
        doc = set(document_nodes)
        self.graph_checked.emit(
            session_id,
            GraphMismatch(
                session_id,
                stored,
                document_hash,
                document_name,
                self.known_graphs.get(stored),
                tuple(sorted(ran - doc)),
                tuple(sorted(doc - ran)),
            ),
        )

    # ------------------------------------------------------------------ delete, export

    def delete_session(self, session_id: str) -> None:
        self.run(self._delete(session_id), f"deleting '{session_id}'")

    async def _delete(self, session_id: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            await cp.delete_session(session_id)
        self.session_deleted.emit(session_id)

    def export_session(self, session_id: str, path: str) -> None:
        """Write every step of the session to `path` as JSON in the background (`export_finished`)."""
        self.run(self._export(session_id, path), f"exporting '{session_id}'")

    async def _export(self, session_id: str, path: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self.lock:
            ghash = await cp.graph_hash(session_id)
            count = await storage.export_session_json(cp, session_id, path, ghash)
        self.export_finished.emit(path, count)

    # ------------------------------------------------------------------ live tail

    def set_live(self, on: bool) -> None:
        """Follow steps written by other processes (Postgres LISTEN/NOTIFY, SQLite polling)."""
        task = self._tasks.get("tail")
        if on and self._cp is not None:
            if task is None or task.done():
                self._tasks["tail"] = self.bridge.guarded(
                    self._tail(), "live tail", owner=self, on_error=self._on_task_error
                )
        elif task is not None:
            task.cancel()
            self._tasks.pop("tail", None)

    async def _tail(self) -> None:
        cp = self._cp
        if cp is None:
            return
        try:
            async for session_id, step in cp.watch():
                self.live_count += 1
                self._touched.add(session_id)
                self.live_step_seen.emit(session_id, step)
                if not self._tail_timer.isActive():
                    self._tail_timer.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if cp is self._cp:
                self.tail_stopped.emit(f"Live tail stopped: {one_line(exc)}")

    def _on_tail_timer_timeout(self) -> None:
        touched, self._touched = self._touched, set()
        if self._cp is not None and touched:
            self.sessions_touched.emit(sorted(touched))


@dataclass(frozen=True, slots=True)
class _LangGraph:
    """What `_attempt_open` returns for a LangGraph database."""

    reader: Any

    async def aclose(self) -> None:
        await self.reader.aclose()


async def _attempt_open(url: str) -> tuple[Any, Exception | None]:
    """(checkpointer or _LangGraph, None) or (None, the error): the caller reports the error (not a failed
    task). A LangGraph saver's database is recognised by its tables before our checkpointer opens the file
    (a read-only look), so opening one never writes to it."""
    try:
        if not storage.is_postgres_url(url) and await langgraph.is_langgraph(url):
            return _LangGraph(await langgraph.open_reader(url)), None
        return await storage.open_browsable(url), None
    except Exception as exc:
        if storage.storage_error_kind(exc) == "not_ours" and storage.is_postgres_url(url):
            try:  # our tables are missing: a LangGraph saver's Postgres database?
                if await langgraph.is_langgraph(url):
                    return _LangGraph(await langgraph.open_reader(url)), None
            except Exception as lg_exc:
                return None, lg_exc
        return None, exc


async def storage_close(cp: Any) -> None:
    """Close a checkpointer, ignoring its errors (a dead server must not stop the studio)."""
    try:
        await cp.aclose()
    except Exception:
        pass
