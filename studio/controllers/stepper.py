"""The session stepper's controller (no widgets): owns the runner, its storage and the iterative session;
invokes input patches one at a time, feeds a JSON Lines file with progress and Cancel, finishes.

Each invocation is kept in `invocations` (a Qt item model) with its input, step, state, events and error.
Work runs as bridge tasks owned by this controller; a failure is one `error` line and the controller
stays usable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.graph.document import GraphDocument
from engine.state import VersionedState
from engine.types import JSON
from studio.bridge import Bridge, one_line
from studio.models.invocations import Invocation, InvocationsModel, PatchError, parse_jsonl, patch_to_partial
from studio.services import storage

__all__ = ["StepperController"]


class StepperController(QObject):
    """See the module docstring. Signals: `busy_changed(bool)`; `session_changed(id)` ("" when finished);
    `status(text)` for the session line; `state_shown(state, title)`; `invocation_added(row)` and
    `invocation_finished(row)` (also after a failure, with `Invocation.error` set); `event_added(row, event)`;
    `progress(done, total)` during a feed, then `feed_finished(done, cancelled)`; `error(message)`."""

    busy_changed = Signal(bool)
    session_changed = Signal(str)
    status = Signal(str)
    state_shown = Signal(object, str)
    invocation_added = Signal(int)
    invocation_finished = Signal(int)
    event_added = Signal(int, object)
    progress = Signal(int, int)
    feed_finished = Signal(int, bool)
    error = Signal(str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stepperController")
        self.bridge = bridge
        self.invocations = InvocationsModel(self)
        self.default_url = "memory:"
        """The studio's database (what the stepper offers first); the main window sets it."""
        self._runner: Any = None
        self._cp: Any = None
        self._session_id: str | None = None
        self._entry = "Start"
        self._step = 0
        self._busy = False
        self._feed_cancelled = False
        self._event_target = 0
        self._events_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def step(self) -> int:
        return self._step

    def _run(self, coro: Any, what: str) -> asyncio.Task[None]:
        return self.bridge.guarded(coro, what, owner=self, on_error=self._on_error, on_busy=self._set_busy)

    def _on_error(self, what: str, exc: BaseException) -> None:
        self.error.emit(f"{what} failed: {one_line(exc)}")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.busy_changed.emit(busy)

    # ------------------------------------------------------------------ commands

    def create(
        self, doc: GraphDocument, url: str, session_id: str, state: VersionedState, entry: str
    ) -> asyncio.Task[None]:
        """Create (or resume, when `session_id` is stored at `url`) an iterative session; a live one is
        finished first."""
        return self._run(self._reopen(doc, url, session_id, state, entry), "creating the session")

    async def _reopen(
        self, doc: GraphDocument, url: str, session_id: str, state: VersionedState, entry: str
    ) -> None:
        if self._session_id is not None:
            await self._finish()
        await self._create(doc, url, session_id, state, entry)

    def invoke(self, patch: JSON, entry: str | None = None) -> asyncio.Task[None]:
        """Merge `patch` at the barrier and run from the entry to completion."""
        return self._run(self._invoke_many([patch], entry), "invoke_next")

    def feed_file(self, path: str, entry: str | None = None) -> asyncio.Task[None]:
        """Invoke once per line of a JSON Lines file, with `progress` and Cancel."""
        return self._run(self._feed(path, entry), "feeding inputs")

    def finish(self) -> asyncio.Task[None]:
        return self._run(self._finish(), "finishing the session")

    def cancel(self) -> None:
        """Stop a feed after the invocation in flight."""
        self._feed_cancelled = True

    async def aclose(self) -> None:
        """Close the runner and its storage (the main window awaits it on exit)."""
        await self.bridge.stop_owned(self)
        await self._close_runner()

    # ------------------------------------------------------------------ work

    async def _create(
        self, doc: GraphDocument, url: str, session_id: str, state: VersionedState, entry: str
    ) -> None:
        from engine.graph.document import TrustStore, document_to_app

        app = document_to_app(doc, trusted=TrustStore().is_trusted(doc))
        cp = await storage.open_storage(url)
        try:
            runner = await storage.build_runner(app, cp)
        except BaseException:
            await cp.aclose()
            raise
        self._runner, self._cp, self._entry = runner, cp, entry
        try:
            stream = runner.event_stream()
            init = await runner.create_iterative_session(session_id, state, entry)
        except BaseException:
            await self._close_runner()
            raise
        self._session_id = session_id
        self._step = runner.get_session(session_id).step
        self.invocations.clear()
        self._event_target = 0
        self._events_task = self.bridge.start(
            self._consume(stream), name="stepperController: events", owner=self
        )
        how = "created" if init.fresh else f"resumed at step {init.checkpoint_step}"
        self.status.emit(f"Session '{session_id}' {how} on {storage.redact(url)}")
        self.state_shown.emit(runner.get_session(session_id).state, f"Step {self._step}")
        self.session_changed.emit(session_id)

    async def _consume(self, stream: Any) -> None:
        from engine.events.event import INVOCATION_END_SCOPE

        async for event in stream:
            inv = self.invocations.invocation_at(self._event_target)
            if inv is not None:
                inv.events.append(event)
                self.event_added.emit(self._event_target, event)
            if event.scope == INVOCATION_END_SCOPE:
                self._event_target += 1

    async def _invoke_many(self, patches: list[JSON], entry: str | None, progress: bool = False) -> int:
        self._feed_cancelled = False
        done = 0
        if progress:
            self.progress.emit(0, len(patches))
        for patch in patches:
            if self._feed_cancelled or self._runner is None or self._session_id is None:
                break
            await self._invoke_one(patch, entry or self._entry)
            done += 1
            if progress:
                self.progress.emit(done, len(patches))
        return done

    async def _invoke_one(self, patch: JSON, entry: str) -> None:
        runner, sid = self._runner, self._session_id
        assert runner is not None and sid is not None
        before = runner.get_session(sid).state.extra
        inv = Invocation(
            len(self.invocations.invocations()) + 1,
            patch,
            dt.datetime.now(dt.UTC),
            previous_extra=dict(before),
        )
        row = self.invocations.append(inv)
        self.invocation_added.emit(row)
        try:
            state = await runner.invoke_next(sid, patch_to_partial(patch), entry)
        except asyncio.CancelledError:
            inv.error = "cancelled"
            raise
        except Exception as exc:
            inv.error = one_line(exc)
            inv.step = self._step = runner.get_session(sid).step
            self.invocations.update_row(row)
            self.invocation_finished.emit(row)
            raise
        inv.state = state
        inv.step = self._step = runner.get_session(sid).step
        self.invocations.update_row(row)
        self.status.emit(f"Session '{sid}' at step {self._step}, {row + 1} invocation(s)")
        self.invocation_finished.emit(row)

    async def _feed(self, path: str, entry: str | None) -> None:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        try:
            patches = parse_jsonl(text)
        except PatchError as exc:
            raise PatchError(f"{Path(path).name} {exc}") from exc
        done = 0
        try:
            done = await self._invoke_many(patches, entry, progress=True)
        finally:
            self.feed_finished.emit(done, self._feed_cancelled and done < len(patches))

    async def _finish(self) -> None:
        runner, sid = self._runner, self._session_id
        if runner is not None and sid is not None:
            await runner.finish_iterative_session(sid)
        await self._close_runner()
        self.status.emit(f"Session '{sid}' finished at step {self._step}.")
        self.session_changed.emit("")

    async def _close_runner(self) -> None:
        runner, cp = self._runner, self._cp
        self._runner = self._cp = None
        self._session_id = None
        if self._events_task is not None:
            self._events_task.cancel()
            self._events_task = None
        try:
            if runner is not None:
                await runner.aclose()
        finally:
            if cp is not None:
                await cp.aclose()
