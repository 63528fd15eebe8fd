"""One run of a graph from the studio, without Qt: compile the document, open the checkpointer (bounded
time), create or resume the session, then run to completion, step by step, or until a breakpoint.

The event bus is the studio's own, shared by every run (so sinks attached in the UI live across runs);
the runner is never closed with `aclose()` because that would close the shared bus. The checkpointer is
opened here and closed by `close()`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from engine.app import App
from engine.errors import CheckpointerError, StepLimitExceeded
from engine.persistence.factory import open_checkpointer, redact_url
from engine.persistence.serde import state_to_json
from engine.runner import AppRunner, PausedReport, StepOptions, StepReport
from engine.state import VersionedState

__all__ = ["Breakpoints", "RunOutcome", "RunSession", "connect_timeout"]

CONNECT_TIMEOUT_S = 5.0


def connect_timeout() -> float:
    return CONNECT_TIMEOUT_S


@dataclass(slots=True)
class Breakpoints:
    """Node names to pause before / after (mapped to `StepOptions` interrupts)."""

    before: set[str] = field(default_factory=set)
    after: set[str] = field(default_factory=set)

    def toggle(self, node: str, which: str) -> bool:
        """Flip one breakpoint; returns whether it is now set."""
        target = self.before if which == "before" else self.after
        if node in target:
            target.discard(node)
            return False
        target.add(node)
        return True

    def of(self, node: str) -> set[str]:
        return {w for w, s in (("before", self.before), ("after", self.after)) if node in s}

    def rename(self, old: str, new: str) -> None:
        for target in (self.before, self.after):
            if old in target:
                target.discard(old)
                target.add(new)

    def options(self, skip_before: str | None = None) -> StepOptions:
        return StepOptions(
            interrupt_before=tuple(sorted(self.before - {skip_before or ""})),
            interrupt_after=tuple(sorted(self.after)),
        )

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


@dataclass(slots=True)
class RunOutcome:
    """How a run call ended: "completed", "paused" (with reason and node) or "stepped" (one step done)."""

    status: str
    step: int
    reason: str = ""
    node: str | None = None
    state_json: dict[str, Any] | None = None


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

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    async def open(self) -> None:
        """Open storage (at most `CONNECT_TIMEOUT_S` seconds), build the runner, create/resume the session."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self.checkpointer = await open_checkpointer(self.url)
        except TimeoutError:
            seconds = f"{CONNECT_TIMEOUT_S:.0f} s"
            raise CheckpointerError(
                f"{self.redacted_url} did not answer within {seconds}; check the host, port and network"
            ) from None
        builder = (
            AppRunner.builder()
            .app(self.app)
            .checkpointer_custom(self.checkpointer)
            .event_bus(self.bus)
            .lifecycle_events(True)
        )
        if self.max_steps:
            builder = builder.max_steps(self.max_steps)
        self.runner = await builder.build()
        init = await self.runner.create_session(self.session_id, self.initial_state)
        self.resumed_from = None if init.fresh else init.checkpoint_step

    def _require(self) -> AppRunner:
        if self.runner is None:
            raise RuntimeError("the run session is not open")
        return self.runner

    def state_json(self) -> dict[str, Any]:
        return state_to_json(self._require().get_session(self.session_id).state)

    def step_number(self) -> int:
        return self._require().get_session(self.session_id).step

    async def run(self, breakpoints: Breakpoints) -> RunOutcome:
        """Run until completion, or until a breakpoint pauses it."""
        runner = self._require()
        if not breakpoints and self._skip_before is None:
            await runner.run_until_complete(self.session_id)
            self.completed = True
            return RunOutcome("completed", self.step_number(), state_json=self.state_json())
        limit = self.max_steps or runner.max_steps
        for _ in range(limit + 1):
            report = await runner.run_step(self.session_id, breakpoints.options(self._skip_before))
            outcome = self._after(report)
            if outcome is not None:
                return outcome
        raise StepLimitExceeded(self.session_id, limit, self.step_number())

    async def step(self, breakpoints: Breakpoints) -> RunOutcome:
        """Run exactly one superstep (a breakpoint before a node may pause it instead)."""
        report = await self._require().run_step(self.session_id, breakpoints.options(self._skip_before))
        outcome = self._after(report)
        return outcome or RunOutcome("stepped", self.step_number(), state_json=self.state_json())

    def _after(self, report: StepReport | PausedReport) -> RunOutcome | None:
        if isinstance(report, PausedReport):
            node = report.node.name if report.node is not None else None
            # interrupt_before pauses every time it is asked: the next call lets that node run
            self._skip_before = node if report.reason == "before_node" else None
            return RunOutcome("paused", report.step, report.reason, node, self.state_json())
        self._skip_before = None
        if report.completed:
            self.completed = True
            return RunOutcome("completed", report.step, state_json=self.state_json())
        return None

    async def close(self) -> None:
        """Close the checkpointer (the shared bus stays open). Safe to call twice."""
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            await checkpointer.aclose()
