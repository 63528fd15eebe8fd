"""The debugging loop's controller (no widgets): node records for the node inspector, a session's lineage,
its timeline, and time travel (fork preview, fork, replay) over the checkpoint browser's open database.

Reads go through the browser's checkpointer under its lock; fork and replay open a checkpointer of their own
(and a runner over the open document's App) for as long as they write. Every task is a bridge task owned by
this controller; a failure is one `error` line naming the session and step, and nothing is written by a
failed fork or replay (the engine checks first).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from engine.node_records import NodeRecord
from engine.partial import NodePartial
from engine.timetravel import ForkPreview, RecordUndecodable, preview_fork
from studio.bridge import Bridge, one_line
from studio.controllers.browser import BrowserController
from studio.services import storage

__all__ = [
    "DebugController",
    "ForkRequest",
    "LineageNode",
    "NodeRun",
    "ReplaySummary",
    "StepTimes",
    "TimelineData",
    "parse_update",
]

T = TypeVar("T")

LINEAGE_LIMIT = 200
"""At most this many sessions in one lineage tree (a fork storm stays drawable)."""
STEP_PAGE = 500


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One run of a node, as the inspector shows it: its record, the state it received (the checkpoint
    before its step; None when pruned), and the steps of all its runs in the session (for back/forth)."""

    session_id: str
    record: NodeRecord
    received: dict[str, Any] | None
    runs: tuple[int, ...]
    step_nodes: tuple[str, ...]
    """The nodes that have a record in this step (the inspector's node chooser)."""

    @property
    def index(self) -> int:
        return self.runs.index(self.record.step)

    @property
    def error_message(self) -> str:
        err = self.record.error
        if not isinstance(err, dict):
            return ""
        inner = err.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message", ""))
        return str(err.get("message", ""))

    @property
    def traceback(self) -> str:
        """The traceback of the user's own node code ("" when the node did not fail)."""
        err = self.record.error
        if not isinstance(err, dict):
            return ""
        inner = err.get("error")
        details = inner.get("details") if isinstance(inner, dict) else None
        if isinstance(details, dict):
            return str(details.get("traceback", ""))
        return ""


@dataclass(slots=True)
class LineageNode:
    """A session in a lineage tree: its info, and the sessions forked from it."""

    info: Any  # SessionInfo
    children: list[LineageNode] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepTimes:
    step: int
    saved_at: _dt.datetime


@dataclass(frozen=True, slots=True)
class TimelineData:
    session_id: str
    records: list[NodeRecord]
    steps: list[StepTimes]

    @property
    def lanes(self) -> list[str]:
        """Node names, in the order they first ran."""
        return list(dict.fromkeys(r.node for r in self.records))


@dataclass(frozen=True, slots=True)
class ForkRequest:
    source_id: str
    step: int
    new_id: str
    update: NodePartial | None
    frontier: list[str] | None


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    source_id: str
    session_id: str
    from_step: int
    recorded: list[tuple[int, str]]
    ran_live: list[tuple[int, str]]
    diverged_at: int | None

    def text(self) -> str:
        where = (
            "followed the source to the end"
            if self.diverged_at is None
            else f"diverged at step {self.diverged_at} (a node had no done record there and ran live)"
        )
        return (
            f"Replayed '{self.source_id}' from step {self.from_step} into '{self.session_id}': "
            f"{len(self.recorded)} recorded, {len(self.ran_live)} live; {where}."
        )


def parse_update(value: Any) -> NodePartial | None:
    """The fork editor's JSON: None or {} for no update, else a `NodePartial` JSON value
    (`{"messages": [...], "extra": {...}, "errors": [...]}`); ValueError saying what is wrong."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise ValueError('the update must be a JSON object like {"extra": {"key": 1}}')
    try:
        return NodePartial.from_json_value(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the update is not a node partial: {exc}") from exc


def _no_records_message(session_id: str) -> str:
    return (
        f"session '{session_id}' has no node records (made before records or with records off);"
        " choose live for every node to replay it live"
    )


class DebugController(QObject):
    """See the module docstring. `app_source()` returns the open document's App (raises with the reason)."""

    inspected = Signal(object)  # NodeRun
    inspect_empty = Signal(str)  # why there is nothing to inspect
    lineage_loaded = Signal(str, object)  # selected session id, LineageNode root
    timeline_loaded = Signal(object)  # TimelineData
    fork_previewed = Signal(object)  # ForkPreview
    forked = Signal(str, str)  # url, new session id
    replay_nodes = Signal(str, list, bool)  # session id, node names, has records
    replay_progress = Signal(int)  # step reached
    replay_finished = Signal(object)  # ReplaySummary
    error = Signal(str)  # one line: inspector/browser panels show it
    fork_error = Signal(str)
    replay_error = Signal(str, bool)  # message, offer a live replay

    def __init__(
        self,
        bridge: Bridge,
        browser: BrowserController,
        app_source: Callable[[], Any],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("debugController")
        self.bridge = bridge
        self.browser = browser
        self.app_source = app_source
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.replay_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ plumbing

    def _run(self, coro: Any, what: str, key: str, on_error: Callable[[str], None] | None = None) -> Any:
        if self.bridge.closing:
            coro.close()
            return None
        if (old := self._tasks.get(key)) is not None and not old.done():
            old.cancel()

        def failed(_what: str, exc: BaseException) -> None:
            message = f"{what} failed: {one_line(exc)}"
            (on_error or self.error.emit)(message)

        task = self.bridge.guarded(coro, what, owner=self, on_error=failed)
        self._tasks[key] = task
        return task

    async def _read(self, fn: Callable[[Any], Any], source: Any = None) -> Any:
        if source is not None:  # a run's own checkpointer (the run console's last run)
            return await fn(source)
        cp = self.browser.checkpointer
        if cp is None:
            raise RuntimeError("no database is open in the checkpoint browser")
        async with self.browser.lock:
            return await fn(cp)

    async def aclose(self) -> None:
        await self.bridge.stop_owned(self)

    # ------------------------------------------------------------------ node inspector

    def inspect(
        self, session_id: str, node: str | None = None, step: int | None = None, *, source: Any = None
    ) -> None:
        """The run of `node` at `step` (None: its last run; no node: the first node of `step`): `inspected`,
        or `inspect_empty` with the reason. `source`: a checkpointer or a database URL to read instead of
        the browser's database."""
        what = f"inspecting session '{session_id}'" + (f" step {step}" if step is not None else "")
        self._run(self._inspect(session_id, node, step, source), what, "inspect")

    async def _inspect(self, session_id: str, node: str | None, step: int | None, source: Any) -> None:
        if isinstance(source, str):  # a database URL (the run console's last run): opened for this read
            if storage.backend_of(source) == "memory":
                self.inspect_empty.emit(
                    "The last run kept its steps in memory, gone when it ended; run it with a SQLite or"
                    " Postgres database to inspect its nodes."
                )
                return
            cp = await storage.open_storage(source)
            try:
                await self._inspect(session_id, node, step, cp)
            finally:
                await cp.aclose()
            return
        reader = source if source is not None else self.browser.checkpointer
        if reader is not None and not hasattr(reader, "node_records"):
            self.inspect_empty.emit("This storage keeps no node records.")
            return
        records: list[NodeRecord] = await self._read(lambda cp: cp.node_records(session_id), source)
        if not records:
            self.inspect_empty.emit(
                f"Session '{session_id}' has no node records (made before records or with records off)."
            )
            return
        pick: NodeRecord | None = None
        if node is None:
            in_step = [r for r in records if r.step == step]
            pick = in_step[0] if in_step else None
        else:
            mine = [r for r in records if r.node == node]
            if step is not None:
                mine = [r for r in mine if r.step == step]
            pick = mine[-1] if mine else None
        if pick is None:
            where = f"node '{node}'" if node else "any node"
            at = f" at step {step}" if step is not None else ""
            self.inspect_empty.emit(f"Session '{session_id}' has no record of {where}{at}.")
            return
        before = await self._read(lambda cp: _load_step(cp, session_id, pick.step - 1), source)
        received = storage.state_json(before.state) if before is not None else None
        runs = tuple(r.step for r in records if r.node == pick.node)
        step_nodes = tuple(r.node for r in records if r.step == pick.step)
        self.inspected.emit(NodeRun(session_id, pick, received, runs, step_nodes))

    # ------------------------------------------------------------------ lineage

    def load_lineage(self, session_id: str) -> None:
        self._run(self._lineage(session_id), f"reading the lineage of '{session_id}'", "lineage")

    async def _lineage(self, session_id: str) -> None:
        async def walk(cp: Any) -> LineageNode | None:
            info = await cp.session_info(session_id)
            if info is None:
                return None
            seen = {info.session_id}
            while info.parent_session is not None and info.parent_session not in seen:
                parent = await cp.session_info(info.parent_session)
                if parent is None:  # the parent was deleted: this is the oldest we know
                    break
                seen.add(parent.session_id)
                info = parent
            root = LineageNode(info)
            queue, count = [root], 1
            while queue and count < LINEAGE_LIMIT:
                here = queue.pop(0)
                for child in await cp.children(here.info.session_id):
                    if count >= LINEAGE_LIMIT:
                        break
                    node = LineageNode(child)
                    here.children.append(node)
                    queue.append(node)
                    count += 1
            return root

        root = await self._read(walk)
        if root is not None:
            self.lineage_loaded.emit(session_id, root)

    # ------------------------------------------------------------------ timeline

    def load_timeline(self, session_id: str) -> None:
        self._run(self._timeline(session_id), f"reading the timeline of '{session_id}'", "timeline")

    async def _timeline(self, session_id: str) -> None:
        self.timeline_loaded.emit(await self._read(lambda cp: timeline_data(cp, session_id)))

    # ------------------------------------------------------------------ fork

    def preview(self, source_id: str, step: int, update_json: Any, frontier: Sequence[str] | None) -> None:
        """`fork_previewed(ForkPreview)` for the fork editor, or `fork_error`; writes nothing."""
        try:
            update = parse_update(update_json)
            app = self.app_source()
        except Exception as exc:
            self.fork_error.emit(f"session '{source_id}' step {step}: {one_line(exc)}")
            return
        self._run(
            self._preview(app, source_id, step, update, frontier),
            f"previewing the fork of '{source_id}' at step {step}",
            "preview",
            self.fork_error.emit,
        )

    async def _preview(
        self, app: Any, source_id: str, step: int, update: NodePartial | None, frontier: Sequence[str] | None
    ) -> None:
        source = await self._read(lambda cp: cp.load_step(source_id, step))
        if source is None:
            self.fork_error.emit(
                f"session '{source_id}' has no stored checkpoint at step {step} (missing or pruned)"
            )
            return
        result: ForkPreview = preview_fork(source, app.graph, update, frontier)
        self.fork_previewed.emit(result)

    def fork(self, request: ForkRequest) -> None:
        """Fork into a new session (`forked(url, new_id)`), or `fork_error` with nothing written."""
        try:
            app = self.app_source()
        except Exception as exc:
            self.fork_error.emit(f"session '{request.source_id}' step {request.step}: {one_line(exc)}")
            return
        what = f"forking '{request.source_id}' at step {request.step}"
        self._run(self._fork(app, request), what, "fork", self.fork_error.emit)

    async def _fork(self, app: Any, r: ForkRequest) -> None:
        url = self.browser.url
        if url is None:
            raise RuntimeError("no database is open in the checkpoint browser")
        async with self._writer(app, url) as runner:
            await runner.fork_session(r.source_id, r.step, r.new_id, update=r.update, frontier=r.frontier)
        self.forked.emit(url, r.new_id)

    def _writer(self, app: Any, url: str, bus: Any = None) -> Any:
        return _Writer(app, url, bus)

    # ------------------------------------------------------------------ replay

    def load_replay_nodes(self, session_id: str) -> None:
        """`replay_nodes(session_id, names, has_records)`: the nodes to choose live/recorded for."""
        self._run(self._replay_nodes(session_id), f"reading the nodes of '{session_id}'", "replay_nodes")

    async def _replay_nodes(self, session_id: str) -> None:
        records = await self._read(lambda cp: cp.node_records(session_id))
        names = list(dict.fromkeys(r.node for r in records))
        if not names:
            try:
                names = graph_nodes(self.app_source())
            except Exception:  # the document cannot compile: the panel shows no nodes, the replay says why
                names = []
        self.replay_nodes.emit(session_id, names, bool(records))
        if not records:
            self.replay_error.emit(_no_records_message(session_id), True)

    def replay(self, source_id: str, new_id: str, from_step: int, live: Sequence[str]) -> None:
        """Run a replay in a worker thread with an event loop of its own (progress `replay_progress`, cancel
        with `cancel_replay`): `replay_finished`, or `replay_error` (nothing written when the source cannot
        be replayed)."""
        try:
            app = self.app_source()
        except Exception as exc:
            self.replay_error.emit(f"session '{source_id}' step {from_step}: {one_line(exc)}", False)
            return
        self.replay_task = self._run(
            self._replay(app, source_id, new_id, from_step, list(live)),
            f"replaying '{source_id}' from step {from_step}",
            "replay",
            lambda m: self.replay_error.emit(m, False),
        )

    def cancel_replay(self) -> bool:
        task = self.replay_task
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def _replay(self, app: Any, source_id: str, new_id: str, from_step: int, live: list[str]) -> None:
        url = self.browser.url
        if url is None:
            raise RuntimeError("no database is open in the checkpoint browser")
        worker = _LoopThread()
        try:
            outcome = await asyncio.to_thread(
                worker.run, lambda: self._replay_work(app, url, source_id, new_id, from_step, live)
            )
        except asyncio.CancelledError:
            worker.cancel()  # the worker's own loop stops the replay (its steps so far stay saved)
            raise
        if isinstance(outcome, ReplaySummary):
            self.replay_finished.emit(outcome)
        elif outcome is not None:
            self.replay_error.emit(*outcome)

    async def _replay_work(
        self, app: Any, url: str, source_id: str, new_id: str, from_step: int, live: list[str]
    ) -> ReplaySummary | tuple[str, bool]:
        """In the worker thread's loop: open, check, replay, close. Only `replay_progress` is emitted from
        here (a queued signal); the outcome goes back to the UI's task."""
        async with self._writer(app, url, self._progress_bus(new_id)) as runner:
            records = await runner.checkpointer.node_records(source_id)
            if not records and not set(graph_nodes(app)) <= set(live):  # checked before anything is written
                return _no_records_message(source_id), True
            try:
                result = await runner.replay_session(source_id, new_id, from_step=from_step, live=live)
            except RecordUndecodable as exc:
                return str(exc), False
        return ReplaySummary(
            source_id, new_id, from_step, result.recorded, result.ran_live, result.diverged_at
        )

    def _progress_bus(self, session_id: str) -> Any:
        from engine.events.bus import EventBus
        from engine.events.sinks import FunctionSink

        def seen(event: Any) -> None:
            if event.step is not None and event.metadata.get("session_id", session_id) == session_id:
                self.replay_progress.emit(int(event.step))

        return EventBus.with_sink(FunctionSink(seen, name="replay-progress", non_blocking=True))


class _LoopThread:
    """Runs one coroutine on an event loop of its own (in the thread that calls `run`); `cancel()` from
    any thread cancels it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = threading.Event()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
        """The coroutine's result; None when it was cancelled (nobody waits for it then)."""

        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            if self._cancelled.is_set():
                raise asyncio.CancelledError
            return await make()

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:  # a BaseException: it must not escape into the executor's thread
            return None

    def cancel(self) -> None:
        self._cancelled.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # its loop has closed: nothing left to cancel
                pass


class _Writer:
    """`async with`: a checkpointer of its own at `url` and a runner over `app` (both closed after)."""

    def __init__(self, app: Any, url: str, bus: Any) -> None:
        self.app, self.url, self.bus = app, url, bus
        self.cp: Any = None
        self.runner: Any = None

    async def __aenter__(self) -> Any:
        self.cp = await storage.open_storage(self.url)
        try:
            self.runner = await storage.build_runner(self.app, self.cp, bus=self.bus)
        except BaseException:
            await self.cp.aclose()
            raise
        return self.runner

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.runner.aclose()  # its own bus; the checkpointer is ours
        finally:
            await self.cp.aclose()


async def _load_step(cp: Any, session_id: str, step: int) -> Any:
    """A stored step, or None (pruned; in memory only the latest step is kept)."""
    load = getattr(cp, "load_step", None)
    if load is not None:
        return await load(session_id, step)
    latest = await cp.load_latest(session_id)
    return latest if latest is not None and latest.step == step else None


def graph_nodes(app: Any) -> list[str]:
    """The custom node names of an App's graph."""
    return [k.name for k in app.graph.nodes if k.is_custom]


async def timeline_data(cp: Any, session_id: str) -> TimelineData:
    """A session's node records and the save time of each stored step (oldest first): through the store's
    `step_summaries` (no state decoded), or pages of `query_steps` for a store without it."""
    records = await cp.node_records(session_id)
    summaries = getattr(cp, "step_summaries", None)
    if summaries is not None:
        rows = await summaries(session_id)
        return TimelineData(session_id, records, [StepTimes(s.step, s.created_at) for s in rows])
    steps: list[StepTimes] = []
    upper: int | None = None
    while True:  # newest first, keyset on the step number
        page = await cp.query_steps(session_id, storage.StepQuery(limit=STEP_PAGE, max_step=upper))
        steps.extend(StepTimes(c.step, c.created_at) for c in page.checkpoints)
        if not page.checkpoints or not page.has_next_page or page.checkpoints[-1].step <= 0:
            break
        upper = page.checkpoints[-1].step - 1
    steps.reverse()
    return TimelineData(session_id, records, steps)
