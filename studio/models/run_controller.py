"""Drives studio runs for the run console: one RunSession at a time, started through the bridge; engine
events come from one long-lived subscription (batched by an EventPump) into the run log and into per-node
run states for the canvas. Stop cancels the run's task."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.events.event import Event
from engine.state import VersionedState
from studio.bridge import Bridge, EventPump, one_line
from studio.models.run_log import RunLogModel
from studio.models.run_session import Breakpoints, RunOutcome, RunSession

__all__ = ["RunController", "RunState"]

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
}


class RunController(QObject):
    """Signals: `state_changed(state)`, `node_statuses(dict node -> (status, step, message))` once per event
    batch, `run_failed(node, message)` (node "" when no node is at fault), `outcome(dict)` with the state
    JSON when a run completes, pauses or steps, `step_started()` before each new run (clear highlights)."""

    state_changed = Signal(str)
    node_statuses = Signal(dict)
    edges_taken = Signal(list)  # [(source, target)] routed at the end of a step
    run_failed = Signal(str, str)
    outcome = Signal(dict)
    run_started = Signal()

    def __init__(self, bridge: Bridge, bus: Any, log: RunLogModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.bus = bus
        self.log = log
        self.breakpoints = Breakpoints()
        self.state = RunState.IDLE
        self.session: RunSession | None = None
        self.last_error = ""
        self.last_failed_node = ""
        self.stop_requested_at: float | None = None
        self.stop_latency_ms: float | None = None
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
        self.log.enqueue(batch)
        statuses: dict[str, tuple[str, int | None, str]] = {}
        taken: list[tuple[str, str]] = []
        for ev in batch:
            if ev.type != "lifecycle":
                continue
            if ev.scope == "step.start" and ev.step == 1:
                frontier = ev.metadata.get("frontier")
                if isinstance(frontier, list):
                    taken += [("Start", str(n)) for n in frontier]
            elif ev.scope == "step.end":
                ran, nxt = ev.metadata.get("ran"), ev.metadata.get("next_frontier")
                if isinstance(ran, list) and isinstance(nxt, list):
                    taken += [(str(a), str(b)) for a in ran for b in nxt]
            status = _LIFECYCLE_STATUS.get(ev.scope)
            if status is not None and ev.node_id:
                message = str(ev.metadata.get("error", "")) if status == "failed" else ""
                statuses[ev.node_id] = (status, ev.step, message)
        if statuses:
            self.node_statuses.emit(statuses)
        if taken:
            self.edges_taken.emit(taken)

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

    def stop(self) -> bool:
        """Cancel the running task (the run's nodes are cancelled with it)."""
        if self._task is None or self._task.done():
            if self.state == RunState.PAUSED:
                self._finish(RunState.STOPPED)
                return True
            return False
        self.stop_requested_at = time.perf_counter()
        self._task.cancel()
        return True

    async def shutdown(self) -> None:
        """Stop the run and close its storage (the window is closing)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
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
        except Exception as exc:
            node = getattr(exc, "kind", None)
            self.last_failed_node = str(getattr(node, "name", node) or "")
            self.last_error = one_line(exc)
            self.run_failed.emit(self.last_failed_node, self.last_error)
            self._finish(RunState.FAILED)
            await session.close()
            return
        self._report(result)
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
            }
        )

    def _on_task_done(self, task: Any) -> None:
        if task.cancelled():
            if self.stop_requested_at is not None:
                self.stop_latency_ms = (time.perf_counter() - self.stop_requested_at) * 1000.0
                self.stop_requested_at = None
            self._finish(RunState.STOPPED)
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
