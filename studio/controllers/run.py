"""The run console's controller: one RunSession (runner + storage) at a time, started through the bridge;
engine events come from one long-lived subscription (batched by an EventPump) into the run log, per-node run
states and the routed edges (`edge.routed` lifecycle events) for the canvas. Stop cancels the run's task, and
a stopped run reads "stopped" everywhere: its running nodes become "cancelled", and the engine's closing
events of that run (which report the cancellation as an error) are shown as "stopped"."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.errors import NodeRunError
from engine.events.event import STREAM_END_SCOPE, Event, end_message
from engine.observability.shutdown import Stopped
from engine.state import VersionedState
from studio.bridge import Bridge, EventPump, one_line
from studio.controllers.run_interrupts import asking_statuses
from studio.controllers.run_session import Breakpoints, RunOutcome, RunSession
from studio.models.run_log import RunLogModel

__all__ = ["RunController", "RunRequest", "RunState", "user_traceback"]

SHUTDOWN_WAIT_S = 10.0
"""How long closing the window waits for a cancelled run to end before closing its storage anyway."""

SUBSCRIPTION_CAPACITY = (
    1_000_000  # the console must not lose events in a flood (memory-bounded by the log cap)
)


class RunState:
    IDLE = "idle"
    CONNECTING = "connecting"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    BUSY = (CONNECTING, RUNNING)


_LIFECYCLE_STATUS = {
    "node.start": "running",
    "node.finish": "done",
    "node.skip": "skipped",
    "node.error": "failed",
    "node.retry": "running",
}
NODE_RETRY = "node.retry"
WAITING = "waiting"
CANCELLED = "cancelled"
EDGE_ROUTED = "edge.routed"
_ENGINE_DIR = Path(__file__).resolve().parents[2] / "engine"
_STDLIB_DIR = Path(traceback.__file__).resolve().parent


@dataclasses.dataclass(frozen=True, slots=True)
class RunRequest:
    """What the console asks the controller to resume: a database URL (with its password, never shown)
    and a session id. The browser's "Resume in run console" travels as one of these."""

    url: str
    session_id: str


def user_traceback(exc: BaseException) -> str:
    """The traceback of the user's own code inside a failed run: the innermost cause's frames that are
    neither the engine's nor the standard library's ("" when there are none, e.g. a built-in node)."""
    inner: BaseException = exc
    while inner.__cause__ is not None or getattr(inner, "error", None) is not None:
        nxt = inner.__cause__ or getattr(inner, "error", None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    frames = [
        f
        for f in traceback.extract_tb(inner.__traceback__)
        if not _is_under(f.filename, _ENGINE_DIR) and not _is_under(f.filename, _STDLIB_DIR)
    ]
    if not frames:
        return ""
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(inner), inner)
    return "".join(lines).rstrip()


def _is_under(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


class RunController(QObject):
    """Signals: `state_changed(state)`, `node_statuses(dict node -> (status, step, message))` once per event
    batch, `run_failed(node, message)` (node "" when no node is at fault), `outcome(dict)` with the state
    JSON when a run completes, pauses or steps, `step_started()` before each new run (clear highlights)."""

    state_changed = Signal(str)
    node_statuses = Signal(dict)
    edges_taken = Signal(list)  # [(source, target)] from `edge.routed` events, in routing order
    run_failed = Signal(str, str)
    failure_detail = Signal(str)  # the user's traceback of the last failure ("" when none)
    outcome = Signal(dict)
    run_started = Signal()
    resume_requested = Signal(object)  # RunRequest: the console fills its form from it and runs

    def __init__(self, bridge: Bridge, bus: Any, log: RunLogModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.bus = bus
        self.log = log
        self.breakpoints = Breakpoints(self)
        self.state = RunState.IDLE
        self.session: RunSession | None = None
        self.last_error = ""
        self.last_failed_node = ""
        self.stop_requested_at: float | None = None
        self.stop_latency_ms: float | None = None
        self.last_traceback = ""
        self._stopped: set[str] = set()  # session ids this controller cancelled (their end events say so)
        self._running_nodes: dict[str, int | None] = {}
        self.asking: dict[str, tuple[str, int | None, str]] = {}  # nodes waiting for an answer (hitl)
        self._task: Any = None
        self._pump = EventPump(bridge, interval_ms=50, max_batch=5000, parent=self)
        self._pump.batch_ready.connect(self._on_pump_batch_ready)
        self._listening = False

    # ------------------------------------------------------------------ events

    def listen(self) -> None:
        """Subscribe to the bus (once, needs the running loop)."""
        if not self._listening:
            self._listening = True
            self._pump.pump(self.bus.subscribe(capacity=SUBSCRIPTION_CAPACITY), name="run-console-events")

    def _on_pump_batch_ready(self, batch: list[Event]) -> None:
        if self._stopped:
            batch = [self._as_stopped(ev) for ev in batch]
        self.log.enqueue(batch)
        statuses: dict[str, tuple[str, int | None, str]] = {}
        taken: list[tuple[str, str]] = []
        for ev in batch:
            if ev.type != "lifecycle":
                continue
            if ev.scope == EDGE_ROUTED:
                source, target = ev.metadata.get("source"), ev.metadata.get("target")
                if isinstance(source, str) and isinstance(target, str):
                    taken.append((source, target))
                continue
            status = _LIFECYCLE_STATUS.get(ev.scope)
            if status is None or not ev.node_id:
                continue
            if status == "skipped" and ev.metadata.get("reason") == "waiting":
                status = WAITING  # a join whose wait_for sources have not all run
            if ev.scope == NODE_RETRY:  # still running: attempt (the failed one) + 1 is under way
                attempt, limit = ev.metadata.get("attempt"), ev.metadata.get("max_attempts")
                if isinstance(attempt, int) and isinstance(limit, int):
                    statuses[ev.node_id] = ("running", ev.step, f"attempt {attempt + 1} of {limit}")
                continue
            if status == "running" and ev.invocation_id in self._stopped:
                status = CANCELLED  # started just before the stop took effect
            if status == "running":
                self._running_nodes[ev.node_id] = ev.step
            else:
                self._running_nodes.pop(ev.node_id, None)
            message = str(ev.metadata.get("error", "")) if status == "failed" else ""
            statuses[ev.node_id] = self.asking.get(ev.node_id) or (status, ev.step, message)
        if statuses:
            self.node_statuses.emit(statuses)
        if taken:
            self.edges_taken.emit(taken)

    def _as_stopped(self, ev: Event) -> Event:
        """The engine reports a cancelled run as failed (`run.end` status error, a stream end with
        `error=CancelledError`); for a run the user stopped, say "stopped" instead."""
        sid = ev.invocation_id
        if sid not in self._stopped:
            return ev
        if ev.scope == "run.end" and ev.metadata.get("status") == "error":
            meta = {**ev.metadata, "status": "stopped"}
            return dataclasses.replace(ev, message=f"run of {sid} stopped", metadata=meta)
        if ev.scope == STREAM_END_SCOPE and "status=error" in ev.message:
            return dataclasses.replace(ev, message=end_message(sid, "stopped", ev.step or 0))
        return ev

    def _mark_cancelled(self) -> None:
        """Nodes still running when the run was stopped are cancelled, not running forever."""
        running, self._running_nodes = self._running_nodes, {}
        if running:
            self.node_statuses.emit({n: (CANCELLED, step, "stopped") for n, step in running.items()})

    # ------------------------------------------------------------------ commands

    @property
    def busy(self) -> bool:
        return self.state in RunState.BUSY

    def run(
        self, app: Any, state: VersionedState, *, url: str, session_id: str, max_steps: int | None = None
    ) -> None:
        """Start a new run (or resume the session id from the checkpointer) to completion or a breakpoint."""
        self._begin(
            RunSession(app, state, url=url, session_id=session_id, bus=self.bus, max_steps=max_steps), "run"
        )

    def step(self, app: Any, state: VersionedState | None, *, url: str, session_id: str) -> None:
        """One superstep: of the paused/stepping session, or of a new one."""
        if self.session is not None and not self.session.completed and self.state in (RunState.PAUSED,):
            self._start(self.session, "step", new=False)
            return
        if state is None:
            raise ValueError("a new session needs an initial state")
        self._begin(RunSession(app, state, url=url, session_id=session_id, bus=self.bus), "step")

    def continue_(self) -> bool:
        """Resume a paused (or stepped) session until completion or the next breakpoint."""
        if self.session is None or self.state != RunState.PAUSED or self.session.completed:
            return False
        self._start(self.session, "run", new=False)
        return True

    def answer(self, answers: dict[str, Any]) -> bool:
        """Answer the paused run's interrupts (ids -> answers) and go on with the same run."""
        if self.session is None or self.state != RunState.PAUSED or self.session.completed:
            return False
        self.session.answers = dict(answers)
        self.asking = {}
        self._start(self.session, "run", new=False)
        return True

    def resume(self, app: Any, answers: dict[str, Any], *, url: str, session_id: str) -> None:
        """Answer interrupts of the stored session `session_id` (the inbox) and run it on here."""
        session = RunSession(app, VersionedState(), url=url, session_id=session_id, bus=self.bus)
        session.answers, session.resume_only = dict(answers), True
        self._begin(session, "run")

    def stop(self) -> bool:
        """Cancel the running task (the run's nodes are cancelled with it)."""
        if self._task is None or self._task.done():
            if self.state == RunState.PAUSED:
                self._finish(RunState.STOPPED)
                return True
            return False
        if self.session is not None:
            self._stopped.add(self.session.session_id)
        self.stop_requested_at = time.perf_counter()
        self._task.cancel()
        return True

    def request_resume(self, url: str, session_id: str) -> None:
        """Resume `session_id` stored at `url` in the console (from the checkpoint browser): the console
        puts them in its form and starts the run, as if the user had typed them."""
        self.resume_requested.emit(RunRequest(url, session_id))

    def stop_gracefully(self) -> bool:
        """SIGTERM: let the running step finish and save, then stop the run (STOPPED). False when no run
        is going on."""
        if self.session is None or self._task is None or self._task.done():
            return False
        self._stopped.add(self.session.session_id)
        self.session.request_graceful_stop()
        return True

    async def shutdown(self) -> None:
        """Stop the run and close its storage (the window is closing)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()  # the run ends before its storage is closed (one still opening closes it then)
            await asyncio.wait({task}, timeout=SHUTDOWN_WAIT_S)
        session, self.session = self.session, None
        if session is not None:
            await session.close()
        self._pump.stop()

    # ------------------------------------------------------------------ internals

    def _begin(self, session: RunSession, kind: str) -> None:
        if self.busy:
            raise RuntimeError("a run is already going on; stop it first")
        old = self.session
        if old is not None:
            self.bridge.start(old.close(), name="close-previous-run")
        self.listen()
        self.session = session
        self.last_error = ""
        self.last_failed_node = ""
        self.last_traceback = ""
        self._stopped.discard(session.session_id)
        self._running_nodes = {}
        self.asking = {}
        self.log.clear()  # the table shows the current run (export it first to keep it)
        self.run_started.emit()
        self._start(session, kind, new=True)

    def _start(self, session: RunSession, kind: str, *, new: bool) -> None:
        self._set_state(RunState.CONNECTING if new else RunState.RUNNING)
        self._task = self.bridge.start(
            self._operate(session, kind, new), name=f"{kind}:{session.session_id}", owner=self
        )
        self._task.add_done_callback(self._on_task_done)

    async def _operate(self, session: RunSession, kind: str, new: bool) -> None:
        try:
            if new:
                await session.open()
                self._set_state(RunState.RUNNING)
            result = await (
                session.run(self.breakpoints) if kind == "run" else session.step(self.breakpoints)
            )
        except Stopped as exc:
            self.last_error = exc.line
            self._finish(RunState.STOPPED)
            self._mark_cancelled()
            await session.close()
            return
        except Exception as exc:
            node = exc.kind if isinstance(exc, NodeRunError) else None
            self.last_failed_node = str(getattr(node, "name", node) or "")
            self.last_error = one_line(exc)
            self.last_traceback = user_traceback(exc)
            self.failure_detail.emit(self.last_traceback)
            self.run_failed.emit(self.last_failed_node, self.last_error)
            self._finish(RunState.FAILED)
            await session.close()
            return
        self.asking = asking_statuses(result.interrupts)
        self._report(result)
        if self.asking:
            self.node_statuses.emit(self.asking)
        if result.status == "completed":
            self._finish(RunState.COMPLETED)
            await session.close()
        else:
            self._set_state(RunState.PAUSED)

    def _report(self, result: RunOutcome) -> None:
        self.outcome.emit(
            {
                "status": result.status,
                "step": result.step,
                "reason": result.reason,
                "node": result.node,
                "state": result.state_json,
                "interrupts": result.interrupts,
                "error": result.error,
            }
        )

    def _on_task_done(self, task: Any) -> None:
        if task.cancelled():
            if self.stop_requested_at is not None:
                self.stop_latency_ms = (time.perf_counter() - self.stop_requested_at) * 1000.0
                self.stop_requested_at = None
            self._finish(RunState.STOPPED)
            self._mark_cancelled()
            session = self.session
            if session is not None:
                try:
                    self.bridge.start(session.close(), name="close-stopped-run")
                except RuntimeError:  # the studio is shutting down; shutdown() closes it
                    pass

    def _finish(self, state: str) -> None:
        self._set_state(state)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
