"""One run of a graph from the studio, without Qt: compile the document, open the checkpointer (bounded
time), create or resume the session, then run to completion, step by step, or until a breakpoint.

The event bus is the studio's own, shared by every run (so sinks attached in the UI live across runs);
the runner is never closed with `aclose()` because that would close the shared bus. The checkpointer is
opened here and closed by `close()`.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.app import App
from engine.errors import CheckpointerError, StepLimitExceeded
from engine.hitl_types import InterruptError, SessionInterrupted
from engine.observability.shutdown import GracefulShutdown
from engine.runner import AppRunner, PausedReport, StepOptions, StepReport
from engine.state import VersionedState
from studio.services import storage

__all__ = ["Breakpoints", "RunOutcome", "RunSession", "connect_timeout"]

CONNECT_TIMEOUT_S = 5.0
GRACE_S = 25.0
"""How long a graceful stop (SIGTERM) lets the running step go on before cancelling it."""


def connect_timeout() -> float:
    return CONNECT_TIMEOUT_S


class Breakpoints(QObject):
    """The one source of truth for breakpoints: node names to pause before / after (mapped to `StepOptions`
    interrupts). The canvas badges and the console's list follow `changed`; nothing else keeps a copy."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.before: set[str] = set()
        self.after: set[str] = set()

    def toggle(self, node: str, which: str) -> bool:
        """Flip one breakpoint; returns whether it is now set."""
        target = self.before if which == "before" else self.after
        now = node not in target
        if now:
            target.add(node)
        else:
            target.discard(node)
        self.changed.emit()
        return now

    def of(self, node: str) -> set[str]:
        return {w for w, s in (("before", self.before), ("after", self.after)) if node in s}

    def by_node(self) -> dict[str, set[str]]:
        """{node: {"before", "after"}} for every node with a breakpoint."""
        return {n: self.of(n) for n in self.before | self.after}

    def rename(self, old: str, new: str) -> None:
        if old in self.before | self.after:
            for target in (self.before, self.after):
                if old in target:
                    target.discard(old)
                    target.add(new)
            self.changed.emit()

    def clear(self) -> None:
        """Forget every breakpoint (another document was opened)."""
        if self:
            self.before.clear()
            self.after.clear()
            self.changed.emit()

    def options(self, skip_before: str | None = None) -> StepOptions:
        return StepOptions(
            interrupt_before=tuple(sorted(self.before - {skip_before or ""})),
            interrupt_after=tuple(sorted(self.after)),
        )

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


@dataclass(slots=True)
class RunOutcome:
    """How a run call ended: "completed", "paused" (with reason and node) or "stepped" (one step done).
    Paused at an interrupt (reason "interrupt"): the pending `interrupts`, and `error` when an answer given
    was refused (nothing changed)."""

    status: str
    step: int
    reason: str = ""
    node: str | None = None
    state_json: dict[str, Any] | None = None
    interrupts: list[Any] = field(default_factory=list)
    error: str = ""


class RunSession:
    """Holds the runner and checkpointer of one studio run. Methods are coroutines started by the bridge;
    none of them may be called concurrently (the run controller enforces it)."""

    def __init__(
        self,
        app: App,
        state: VersionedState,
        *,
        url: str,
        session_id: str,
        bus: Any,
        max_steps: int | None = None,
    ) -> None:
        self.app = app
        self.initial_state = state
        self.url = url
        self.session_id = session_id
        self.bus = bus
        self.max_steps = max_steps
        self.runner: AppRunner | None = None
        self.checkpointer: Any = None
        self.completed = False
        self.resumed_from: int | None = None
        self._skip_before: str | None = None
        self.answers: dict[str, Any] | None = None
        """Interrupt answers (ids -> answers) the next run call gives `resume` before running on."""
        self.resume_only = False
        """Resuming a stored session from the inbox: `open` never creates the session."""
        # SIGTERM: the studio's own handler calls `request_graceful_stop`; no loop signal handlers here
        self.graceful = GracefulShutdown(GRACE_S, signals=())
        self._closed: asyncio.Future[None] | None = None

    def request_graceful_stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Let the running step finish and save, then stop (`Stopped` ends the run call)."""
        self.graceful.request(sig)

    @property
    def redacted_url(self) -> str:
        return storage.redact(self.url)

    async def open(self) -> None:
        """Open storage (at most `CONNECT_TIMEOUT_S` seconds), build the runner, create/resume the session."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self.checkpointer = await storage.open_storage(self.url)
        except TimeoutError:
            seconds = f"{CONNECT_TIMEOUT_S:.0f} s"
            raise CheckpointerError(
                f"{self.redacted_url} did not answer within {seconds}; check the host, port and network"
            ) from None
        self.runner = await storage.build_runner(
            self.app, self.checkpointer, bus=self.bus, max_steps=self.max_steps
        )
        if self.resume_only:
            return
        init = await self.runner.create_session(self.session_id, self.initial_state)
        self.resumed_from = None if init.fresh else init.checkpoint_step

    def _require(self) -> AppRunner:
        if self.runner is None:
            raise RuntimeError("the run session is not open")
        return self.runner

    def state_json(self) -> dict[str, Any]:
        return storage.state_json(self._require().get_session(self.session_id).state)

    def step_number(self) -> int:
        return self._require().get_session(self.session_id).step

    async def run(self, breakpoints: Breakpoints) -> RunOutcome:
        """Run until completion, or until a breakpoint pauses it; a graceful stop raises `Stopped` after
        the running step saved."""
        return await self.graceful.run(
            self._run(breakpoints), runner=self._require(), session_id=self.session_id
        )

    async def step(self, breakpoints: Breakpoints) -> RunOutcome:
        """Run exactly one superstep (a breakpoint before a node may pause it instead)."""
        return await self.graceful.run(
            self._step(breakpoints), runner=self._require(), session_id=self.session_id
        )

    async def _run(self, breakpoints: Breakpoints) -> RunOutcome:
        runner = self._require()
        answered = await self._answer()
        if answered is not None:
            return answered
        if not breakpoints and self._skip_before is None:
            try:
                await runner.run_until_complete(self.session_id)
            except SessionInterrupted as exc:
                return self._interrupted(exc.interrupts)
            self.completed = True
            return RunOutcome("completed", self.step_number(), state_json=self.state_json())
        limit = self.max_steps or runner.max_steps
        for _ in range(limit + 1):
            report = await runner.run_step(self.session_id, breakpoints.options(self._skip_before))
            outcome = self._after(report)
            if outcome is not None:
                return outcome
        raise StepLimitExceeded(self.session_id, limit, self.step_number())

    async def _step(self, breakpoints: Breakpoints) -> RunOutcome:
        if self.answers is not None:  # the resumed step is the step
            answered = await self._answer()
            return answered or RunOutcome("stepped", self.step_number(), state_json=self.state_json())
        report = await self._require().run_step(self.session_id, breakpoints.options(self._skip_before))
        outcome = self._after(report)
        return outcome or RunOutcome("stepped", self.step_number(), state_json=self.state_json())

    def _after(self, report: StepReport | PausedReport) -> RunOutcome | None:
        if isinstance(report, PausedReport):
            node = report.node.name if report.node is not None else None
            # interrupt_before pauses every time it is asked: the next call lets that node run
            self._skip_before = node if report.reason == "before_node" else None
            return RunOutcome(
                "paused", report.step, report.reason, node, self.state_json(), list(report.interrupts)
            )
        self._skip_before = None
        if report.completed:
            self.completed = True
            return RunOutcome("completed", report.step, state_json=self.state_json())
        return None

    async def _answer(self) -> RunOutcome | None:
        """Give the pending answers to `resume` (None when there are none, or the resumed step committed
        and the run goes on). A refused answer changes nothing: the run stays paused, saying why."""
        answers, self.answers = self.answers, None
        if answers is None:
            return None
        runner = self._require()
        try:
            report = await runner.resume(self.session_id, answers, by_id=True)
        except InterruptError as exc:
            pending = await runner.pending_interrupts(self.session_id)
            return self._interrupted(pending, " ".join(str(exc).split()))
        return self._after(report)

    def _interrupted(self, interrupts: list[Any], error: str = "") -> RunOutcome:
        node = interrupts[0].node if interrupts else None
        step = interrupts[0].step if interrupts else self.step_number()
        return RunOutcome("paused", step, "interrupt", node, self.state_json(), list(interrupts), error)

    async def close(self) -> None:
        """Close the checkpointer (the shared bus stays open). Safe to call twice, also at once: a second
        call returns when the first one's close has finished."""
        if self._closed is not None:
            await asyncio.shield(self._closed)
            return
        self._closed = asyncio.get_running_loop().create_future()
        checkpointer, self.checkpointer = self.checkpointer, None
        try:
            if checkpointer is not None:
                await checkpointer.aclose()
        finally:
            self._closed.set_result(None)
