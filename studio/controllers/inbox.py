"""The interrupt inbox's controller (README "Human in the loop: interrupts"): it owns the inbox's connection
to the open database, reads every interrupt (`checkpointer.list_interrupts`, pending ones or all) on a timer
as a task on the loop (the SQLite driver works in its own thread), and answers: the answers are checked
against each interrupt's schema and against the database (an interrupt answered meanwhile, or a session
written by another graph, is refused in one line and nothing is sent), then each session is resumed, one after
the other, in the run console through `RunController` (the engine's `resume`), so the run goes on where the
user sees it."""

from __future__ import annotations

import datetime as _dt
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.bridge import CLOSE_GRACE_S, Bridge, one_line
from studio.controllers.run import RunController, RunState
from studio.services import storage
from studio.widgets.interrupt_form import AnswerError, check_answer

__all__ = ["InboxController", "InboxEntry", "ResumeOrder", "named_app"]

PAGE = 500
"""Interrupts read per query (the inbox shows up to `LIMIT`)."""
LIMIT = 2000


def named_app(app: Any, name: str | None) -> Any:
    """`app` with `name` as its graph name when it has none (`RuntimeConfig.graph_name`, stored in the session
    info by the runner and not a part of any hash), so the inbox can say which graph a session runs."""
    config = getattr(app, "runtime_config", None)
    if config is not None and name and not config.graph_name:
        config.graph_name = name
    return app


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One interrupt of the inbox with what the table shows beside it (its session's graph)."""

    interrupt: Any  # engine.PendingInterrupt
    graph_name: str | None
    graph_hash: str | None

    @property
    def id(self) -> str:
        return str(self.interrupt.id)

    def age(self, now: _dt.datetime | None = None) -> _dt.timedelta:
        created: _dt.datetime = self.interrupt.created_at
        now = now or _dt.datetime.now(created.tzinfo)
        delta: _dt.timedelta = now - created
        return max(delta, _dt.timedelta(0))


@dataclass(frozen=True, slots=True)
class ResumeOrder:
    """A session to resume in the run console with these answers (interrupt ids -> answers)."""

    url: str
    session_id: str
    answers: dict[str, Any]


class InboxController(QObject):
    """`open(url)`; `updated(list[InboxEntry])` after every read; `failed(line)` when the database cannot be
    read; `answer(answers)` -> `sent(line)` or `rejected(line)`; `set_show_answered(bool)`."""

    updated = Signal(list)
    failed = Signal(str)
    sent = Signal(str)
    rejected = Signal(str)
    opened = Signal(str)  # the redacted URL

    def __init__(
        self,
        bridge: Bridge,
        runs: RunController,
        app_source: Callable[[], Any],
        parent: QObject | None = None,
        *,
        interval_ms: int = 1000,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inboxController")
        self.bridge = bridge
        self.runs = runs
        self.app_source = app_source
        self.url: str | None = None
        self.store: Any = None
        self.show_answered = False
        self.entries: list[InboxEntry] = []
        self.orders: deque[ResumeOrder] = deque()
        self._graphs: dict[str, tuple[str | None, str | None]] = {}
        self._reading = False
        self._generation = 0
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        runs.state_changed.connect(self._on_runs_state_changed)

    # ------------------------------------------------------------------ database

    def open(self, url: str) -> None:
        """Show the interrupts of `url` (a SQLite file that does not exist yet is read once a run made it)."""
        if url == self.url and self.store is not None:
            self.refresh()
            return
        self._generation += 1
        self.url = url
        self._graphs = {}
        self.entries = []
        old, self.store = self.store, None
        if old is not None:
            self.bridge.start(old.aclose(), name="inbox: close", owner=self)
        if storage.backend_of(url) == "memory":
            self.timer.stop()
            self.updated.emit([])
            self.failed.emit("an in-memory run's interrupts show in the run console only")
            return
        self.opened.emit(storage.redact(url))
        self.timer.start()
        self.refresh()

    def set_show_answered(self, on: bool) -> None:
        self.show_answered = on
        self.refresh()

    def refresh(self) -> None:
        if self.url is not None and not self._reading and not self.bridge.closing:
            self._reading = True
            task = self.bridge.start(self._read(self._generation), name="inbox: read", owner=self)
            task.add_done_callback(lambda _t: setattr(self, "_reading", False))

    async def _read(self, generation: int) -> None:
        url = self.url
        if url is None:
            return
        try:
            if self.store is None:
                if storage.backend_of(url) == "sqlite" and not storage.sqlite_file_exists(url):
                    self.updated.emit([])
                    self.failed.emit("no interrupts yet: the database is created by the first run")
                    return
                store = await storage.open_browsable(url)  # never creates or migrates a database
                if generation != self._generation:
                    await store.aclose()
                    return
                self.store = store
            rows = await self._list(self.store)
            entries = [await self._entry(self.store, row) for row in rows]
        except Exception as exc:
            if generation == self._generation:
                self.failed.emit(f"{storage.redact(url)}: {storage.describe_storage_error(exc)}")
            return
        if generation == self._generation:
            self.entries = entries
            self.updated.emit(entries)

    async def _list(self, store: Any) -> list[Any]:
        lister = getattr(store, "list_interrupts", None)
        if lister is None:
            raise RuntimeError(f"{type(store).__name__} stores no interrupts")
        out: list[Any] = []
        for offset in range(0, LIMIT, PAGE):
            page = await lister(pending=not self.show_answered, limit=PAGE, offset=offset)
            out += page
            if len(page) < PAGE:
                break
        return out

    async def _entry(self, store: Any, row: Any) -> InboxEntry:
        graph = self._graphs.get(row.session_id)
        if graph is None:
            info = await store.session_info(row.session_id)
            graph = (info.graph_name, info.graph_hash) if info is not None else (None, None)
            self._graphs[row.session_id] = graph
        return InboxEntry(row, graph[0], graph[1])

    async def aclose(self) -> None:
        """Stop reading and close the database: a read or close still going on finishes first (a read that
        opened the database after this began closes it itself), so nothing stays open once this returns."""
        self.timer.stop()
        self._generation += 1
        await self.bridge.stop_owned(self, grace=CLOSE_GRACE_S)
        store, self.store = self.store, None
        if store is not None:
            await store.aclose()

    # ------------------------------------------------------------------ answering

    def answer(self, answers: Mapping[str, Any]) -> None:
        """Answer interrupts (ids -> answers) of one or many sessions: checked, then resumed in the run
        console session by session. `sent` or `rejected` tells how it went, in one line."""
        if not answers:
            self.rejected.emit("select the interrupts to answer")
            return
        self.bridge.guarded(self._answer(dict(answers)), "answer", owner=self, on_error=self._on_answer_error)

    def _on_answer_error(self, _what: str, exc: BaseException) -> None:
        self.rejected.emit(one_line(exc))

    async def _answer(self, answers: dict[str, Any]) -> None:
        url, store = self.url, self.store
        if url is None or store is None:
            raise AnswerError("no database is open in the inbox")
        current = {i.id: i for i in await self._all(store, answers)}
        by_session: dict[str, dict[str, Any]] = {}
        for iid, value in answers.items():
            row = current.get(iid)
            if row is None:
                raise AnswerError(f"interrupt {iid} is not in {storage.redact(url)} (pruned or deleted?)")
            if not row.pending:
                raise AnswerError(
                    f"interrupt {iid} ({row.node}, session '{row.session_id}') was already answered "
                    f"at {row.answered_at:%Y-%m-%d %H:%M:%S}; nothing was sent"
                )
            try:
                check_answer(row, value)
            except AnswerError as exc:
                raise AnswerError(f"{row.node} (session '{row.session_id}'): {exc}") from None
            by_session.setdefault(row.session_id, {})[iid] = value
        app = self.app_source()
        wanted = str(app.graph_definition_hash())
        for sid in by_session:
            info = await store.session_info(sid)
            if info is not None and info.graph_hash and info.graph_hash != wanted:
                name = f"'{info.graph_name}'" if info.graph_name else "another graph"
                raise AnswerError(
                    f"session '{sid}' was written by {name} (graph hash {info.graph_hash[:12]}), not the "
                    f"open document ({wanted[:12]}): open that graph to answer it"
                )
        local, notes = dict(by_session), list[str]()
        if storage.backend_of(url) == "postgres":
            local, notes = await self._resume_by_queue(url, by_session)
        for sid, given in local.items():
            self.orders.append(ResumeOrder(url, sid, given))
        count, sessions = len(answers), len(local)
        line = f"answered {count} interrupt{'s' if count != 1 else ''}"
        if sessions:
            line += (
                f"; {sessions} session{'s' if sessions != 1 else ''} go{'es' if sessions == 1 else ''} on "
                "in the run console"
            )
        self.sent.emit("; ".join([line, *notes]))
        self._next(app)

    async def _resume_by_queue(
        self, url: str, by_session: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Sessions that came from a queue job are resumed as a queue job (`QueueClient.submit(resume=...)`);
        returns the sessions to resume here instead, and a note per queued one. A database without queue
        tables leaves the sessions to the run console."""
        from engine import QueueClient
        from engine.queue import QueueError

        try:
            client = await QueueClient.connect(url)
        except Exception:  # no queue in this database: every session goes on here
            return by_session, []
        local: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        try:
            try:
                jobs = await client.jobs(limit=PAGE)
            except Exception:
                return by_session, []
            origin: dict[str, Any] = {}
            for row in jobs:  # newest first: a session's latest job
                origin.setdefault(row.session_id, row)
            for sid, given in by_session.items():
                job = origin.get(sid)
                if job is None:
                    local[sid] = given
                    continue
                try:
                    new = await client.submit(job.graph_name, session_id=sid, resume=given)
                except QueueError as exc:
                    raise AnswerError(f"session '{sid}' (queue job {job.id}): {one_line(exc)}") from None
                notes.append(f"session '{sid}' goes on as queue job {new.id}")
        finally:
            await client.aclose()
        return local, notes

    async def _all(self, store: Any, wanted: Iterable[str]) -> list[Any]:
        """The stored rows (pending or answered) of the `wanted` ids, read fresh."""
        todo, out = set(wanted), []
        offset = 0
        while todo:
            page = await store.list_interrupts(pending=False, limit=PAGE, offset=offset)
            out += [r for r in page if r.id in todo]
            todo -= {r.id for r in page}
            if len(page) < PAGE:
                break
            offset += PAGE
        return out

    def _on_runs_state_changed(self, state: str) -> None:
        if state not in RunState.BUSY:
            if self.orders:
                try:
                    self._next(self.app_source())
                except Exception as exc:
                    self.orders.clear()
                    self.rejected.emit(f"the graph cannot run: {one_line(exc)}")
            self.refresh()

    def _next(self, app: Any) -> None:
        """Hand the next session to the run console (when it is free)."""
        if not self.orders or self.runs.busy:
            return
        order = self.orders.popleft()
        current = self.runs.session
        if (
            current is not None
            and current.session_id == order.session_id
            and current.url == order.url
            and self.runs.state == RunState.PAUSED
        ):
            self.runs.answer(order.answers)  # the console's own paused run goes on
        else:
            self.runs.resume(app, order.answers, url=order.url, session_id=order.session_id)
