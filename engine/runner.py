"""`AppRunner` and its builder: sessions, saves and events. A step is `plan.gate` (who runs), then
`executor.execute` (run, barrier, route), then a save and the step's lifecycle records; the runner decides
nothing about the superstep itself."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from engine import executor, plan
from engine.clock import Clock
from engine.errors import InvalidIterativeEntry, InvalidOption, NodeRunError, NoStartNodes, StepLimitExceeded
from engine.events.event import INVOCATION_END_SCOPE, STREAM_END_SCOPE, Event, end_message
from engine.events.records import NodeFailed, NodeSkip, RunEnd, RunStart, StepEnd, StepStart
from engine.executor import NodeFailure, RouteFailure
from engine.hitl_types import SessionInterrupted, StepInterrupted
from engine.interrupts import InterruptsMixin
from engine.partial import NodePartial
from engine.persistence.base import CheckpointerType
from engine.plan import Session, StepPlan
from engine.policies import attempts_of
from engine.reports import (
    PausedReport,
    RunMetadata,
    SessionInit,
    SessionState,
    StepOptions,
    StepReport,
    UntilStreamEnd,
)
from engine.sessions import RunnableApp, SessionKeeper
from engine.state import VersionedState
from engine.timetravel import TimeTravel
from engine.types import ErrorScope, NodeKind, NodeLike

DEFAULT_MAX_STEPS = 10_000


@dataclass
class AppRunnerBuilder:
    """Chainable configuration of an `AppRunner`; `await .build()` connects storage."""

    _app: RunnableApp | None = None
    _checkpointer_type: CheckpointerType | None = None
    _custom: Any = None
    _autosave: bool = True
    _bus: Any = None
    _start_listener: bool = True
    _clock: Clock | None = None
    _concurrency: int | None = None
    _max_steps: int | None = None
    _lifecycle: bool = False
    _record_nodes: bool = True  # node records (issue 15)
    _persist_events: bool = False  # stored events (issue 15)
    _extra: dict[str, Any] = field(default_factory=dict)

    def app(self, app: RunnableApp) -> AppRunnerBuilder:
        self._app = app
        return self

    def checkpointer(self, kind: CheckpointerType) -> AppRunnerBuilder:
        self._checkpointer_type = kind
        self._custom = None
        return self

    def checkpointer_custom(self, checkpointer: Any) -> AppRunnerBuilder:
        self._custom = checkpointer
        self._checkpointer_type = None
        return self

    def autosave(self, enabled: bool) -> AppRunnerBuilder:
        self._autosave = enabled
        return self

    def event_bus(self, bus: Any) -> AppRunnerBuilder:
        self._bus = bus
        return self

    def start_listener(self, enabled: bool) -> AppRunnerBuilder:
        self._start_listener = enabled
        return self

    def clock(self, clock: Clock) -> AppRunnerBuilder:
        self._clock = clock
        return self

    def concurrency_limit(self, limit: int) -> AppRunnerBuilder:
        if limit < 1:
            raise InvalidOption("concurrency_limit", limit, "must be at least 1")
        self._concurrency = limit
        return self

    def max_steps(self, limit: int) -> AppRunnerBuilder:
        if limit < 1:
            raise InvalidOption("max_steps", limit, "must be at least 1")
        self._max_steps = limit
        return self

    def lifecycle_events(self, enabled: bool) -> AppRunnerBuilder:
        self._lifecycle = enabled
        return self

    def record_nodes(self, enabled: bool) -> AppRunnerBuilder:
        """Keep a `NodeRecord` of every node with each saved step (on by default; ENGINE.md 8.1)."""
        self._record_nodes = enabled
        return self

    def persist_events(self, enabled: bool) -> AppRunnerBuilder:
        """Store every event published for a session with its checkpoints (off by default; ENGINE.md 8.1)."""
        self._persist_events = enabled
        return self

    async def build(self) -> AppRunner:
        if self._app is None:
            raise InvalidOption("app", None, "is required: call AppRunner.builder().app(app) before build()")
        app = self._app
        cfg = app.runtime_config
        owns = False
        checkpointer: Any
        if self._custom is not None:
            checkpointer, backend = self._custom, "custom"
        else:
            kind = self._checkpointer_type or cfg.checkpointer or CheckpointerType.IN_MEMORY
            if kind is CheckpointerType.IN_MEMORY:
                from engine.persistence.memory import InMemoryCheckpointer

                checkpointer = InMemoryCheckpointer()
            else:
                from engine.persistence.factory import open_checkpointer, resolve_url

                checkpointer = await open_checkpointer(resolve_url(kind, cfg.sqlite_db_name))
            backend, owns = kind.value, True
        bus = self._bus if self._bus is not None else cfg.event_bus.build()
        if not self._start_listener:
            # Like Weavegraph's start_listener(false): the caller starts delivery to sinks itself, with
            # bus.start_listening() (flush() and aclose() also start it, so nothing queued is lost).
            bus.defer_listening()
        return AppRunner(
            app,
            checkpointer,
            backend,
            owns,
            autosave=self._autosave,
            bus=bus,
            clock=self._clock if self._clock is not None else cfg.clock,
            concurrency_limit=self._concurrency or cfg.concurrency_limit or os.cpu_count() or 1,
            max_steps=self._max_steps or cfg.max_steps or DEFAULT_MAX_STEPS,
            lifecycle=self._lifecycle,
            start_listener=self._start_listener,
            record_nodes=self._record_nodes,
            persist_events=self._persist_events,
        )


class AppRunner(InterruptsMixin, TimeTravel, SessionKeeper):
    """Runs sessions of one App. Use as `async with await AppRunner.builder().app(app).build() as r:`."""

    @staticmethod
    def builder() -> AppRunnerBuilder:
        return AppRunnerBuilder()

    async def __aenter__(self) -> AppRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ sessions

    async def create_session(self, session_id: str, state: VersionedState) -> SessionInit:
        """Resume `session_id` from its latest checkpoint (ignoring `state`), or start it fresh from `state`
        and save step 0 (even with autosave off)."""
        restored = await self._restore(session_id)
        if restored is not None:
            self._sessions[session_id] = restored
            return SessionInit(False, restored.step)
        routing = await executor.route_start(self.graph, state)
        if not routing.frontier:
            self._log_dropped(session_id, routing.dropped)
            raise NoStartNodes(session_id)
        session = Session(session_id, state.copy(), 0, routing.frontier, {}, self.concurrency_limit)
        self._sessions[session_id] = session
        self._routed(session, 0, routing.routed, routing.dropped)
        await self._save(session, force=True)
        return SessionInit(True, None)

    # ------------------------------------------------------------ stepping

    async def run_step(
        self, session_id: str, options: StepOptions | None = None
    ) -> StepReport | PausedReport:
        """Run one superstep (or pause at an interrupt). A completed session reports completed=True."""
        session = self._get(session_id)
        if session_id in self._paused_at and session_id not in self._env.resuming:  # hitl: waits for answers
            return await self._still_paused(session)
        if plan.is_complete(session.frontier):
            return StepReport(session.step, [], [], [], list(session.frontier), True)
        gate = plan.gate(session, self.graph.joins)
        if options is not None and options.interrupt_before:
            before = options.before_names()
            for kind in gate.run:
                if kind.name in before:
                    return PausedReport("before_node", kind, session.step, self._copy_of(session))
        step = gate.step
        if self.lifecycle:
            self._emit(StepStart(step, tuple(k.name for k in session.frontier)), session)
            for skip in gate.skipped:
                self._emit(NodeSkip(step, skip.node.name, skip.reason), session)
        try:
            outcome = await executor.execute(self._env, session, gate)
        except NodeFailure as failure:
            await self._record_node_failure(session, step, failure)
            raise NodeRunError(failure.kind.name, step, failure.error) from failure.error
        except StepInterrupted as interrupted:  # hitl: the step is not committed
            return await self._pause_for_interrupt(session, gate, interrupted)
        except RouteFailure as failure:
            session.step = step
            exc = failure.error
            session.state.errors.append(self._error_event(ErrorScope.scheduler(step), str(exc), ["routing"]))
            await self._save(session, gate.run, [s.node for s in gate.skipped], failure.updated_channels)
            raise exc from exc.__cause__
        session.step = step
        session.frontier = outcome.next_frontier
        if self.lifecycle or outcome.dropped:
            self._routed(session, step, outcome.routed, outcome.dropped)
        skipped_nodes = [s[0] for s in outcome.skipped] if outcome.skipped else []
        await self._save(session, outcome.run, skipped_nodes, outcome.updated_channels)
        if self.lifecycle:
            self._emit(_step_end(outcome), session)
        if options is not None:
            paused = self._pause_after(session, outcome, options)
            if paused is not None:
                return paused
        return StepReport(
            step,
            list(outcome.run),
            skipped_nodes,
            outcome.updated_channels,
            list(outcome.next_frontier),
            plan.is_complete(outcome.next_frontier),
        )

    def _pause_after(self, session: Session, outcome: StepPlan, options: StepOptions) -> PausedReport | None:
        if options.interrupt_after:
            after = options.after_names()
            for kind in outcome.run:
                if kind.name in after:
                    return PausedReport("after_node", kind, outcome.step, self._copy_of(session))
        if options.interrupt_each_step:
            return PausedReport("after_step", None, outcome.step, self._copy_of(session))
        return None

    async def _record_node_failure(self, session: Session, step: int, failure: NodeFailure) -> None:
        session.step = step
        session.state.errors.append(
            self._error_event(ErrorScope.for_node(failure.kind, step), str(failure.error), ["node"])
        )
        kind = failure.kind
        attempts = attempts_of(failure.error) if kind in self.graph.guarded else None
        error_type = type(failure.error.__cause__ or failure.error).__name__  # spans: exception.type
        self._emit(NodeFailed(step, kind.name, str(failure.error), attempts, error_type), session)
        await self._save(session)

    async def _run_to_completion(self, session: Session) -> None:
        count = 0
        while not plan.is_complete(session.frontier):
            if count >= self.max_steps:
                exc = StepLimitExceeded(session.session_id, self.max_steps, session.step)
                session.state.errors.append(
                    self._error_event(
                        ErrorScope.runner(session.session_id, session.step), str(exc), ["runner", "max_steps"]
                    )
                )
                await self._save(session)
                raise exc
            report = await self.run_step(session.session_id)
            if isinstance(report, PausedReport) and report.reason == "interrupt":  # hitl
                raise SessionInterrupted(session.session_id, report.interrupts)
            count += 1
            if isinstance(report, StepReport) and report.completed:
                break

    def _end_event(self, scope: str, session: Session, error: BaseException | None) -> None:
        if error is None:
            text = end_message(session.session_id, "completed", session.step)
        elif isinstance(error, SessionInterrupted):  # hitl
            text = end_message(session.session_id, "interrupted", session.step)
        else:
            detail = str(error) or type(error).__name__
            text = end_message(session.session_id, "error", session.step, detail)
        now = self.clock.now_unix_ms() if self.clock is not None else None
        self.bus.publish(
            Event.create(
                "diagnostic",
                scope,
                text,
                step=session.step,
                invocation_id=session.session_id,
                now_unix_ms=now,
            )
        )

    async def _drive(self, session: Session, what: str, end_scope: str) -> VersionedState:
        """Run to completion between run.start/run.end, then emit `end_scope` (status completed or error)."""
        sid = session.session_id
        self._emit(RunStart(session.step, what, sid), session)
        try:
            await self._run_to_completion(session)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, SessionInterrupted) else "error"  # hitl
            self._emit(RunEnd(session.step, what, sid, status), session)
            self._end_event(end_scope, session, exc)
            await self._flush_events(sid)  # stored events (issue 15)
            raise
        self._emit(RunEnd(session.step, what, sid, "completed"), session)
        self._end_event(end_scope, session, None)
        await self._flush_events(sid)  # stored events (issue 15)
        return session.state.copy()

    async def run_until_complete(self, session_id: str) -> VersionedState:
        """Step until the frontier is empty or only End; emits the stream-end event either way."""
        return await self._drive(self._get(session_id), "run", STREAM_END_SCOPE)

    # ------------------------------------------------------------ iterative sessions

    async def _resolve_entry(
        self, entry: NodeLike, state: VersionedState, session_id: str
    ) -> tuple[list[NodeKind], plan.Routing | None]:
        """The entry's frontier (and Start's routing when the entry is Start)."""
        kind = NodeKind.coerce(entry)
        if kind.is_start:
            routing = await executor.route_start(self.graph, state)
            self._log_dropped(session_id, routing.dropped)
            if not routing.frontier:
                raise InvalidIterativeEntry(kind.name, "Start leads nowhere")
            return routing.frontier, routing
        if kind.is_end:
            raise InvalidIterativeEntry(kind.name, "End cannot be an entry")
        if not self.graph.has_node(kind):
            raise InvalidIterativeEntry(kind.name, "no such node in the graph")
        return [kind], None

    async def create_iterative_session(
        self, session_id: str, state: VersionedState, entry: NodeLike = NodeKind.START
    ) -> SessionInit:
        """Create (or resume) a session driven by `invoke_next`; the entry is checked first. A fresh one
        saves step 0 (even with autosave off)."""
        await self._resolve_entry(entry, state, session_id)
        restored = await self._restore(session_id)
        if restored is not None:
            self._sessions[session_id] = restored
            return SessionInit(False, restored.step)
        session = Session(session_id, state.copy(), 0, [], {}, self.concurrency_limit)
        self._sessions[session_id] = session
        await self._save(session, force=True)
        return SessionInit(True, None)

    async def invoke_next(
        self, session_id: str, partial: NodePartial | None, entry: NodeLike = NodeKind.START
    ) -> VersionedState:
        """Merge `partial` at a barrier, run from `entry` to completion, emit the invocation-end event."""
        session = self._get(session_id)
        reducers = self.graph.reducers
        probe = session.state
        if partial is not None and (partial.messages or partial.extra):
            probe = session.state.copy()
            plan.apply_barrier(probe, plan.merge_partials([partial]), reducers)
        frontier, routing = await self._resolve_entry(entry, probe, session_id)
        if partial is not None:
            plan.apply_barrier(session.state, plan.merge_partials([partial]), reducers)
        session.frontier = frontier
        session.versions_seen.clear()
        if routing is not None and self.lifecycle:
            self._routed(session, session.step, routing.routed, [])
        return await self._drive(session, "invocation", INVOCATION_END_SCOPE)

    async def finish_iterative_session(self, session_id: str) -> None:
        """Emit the stream-end event, which closes streams taken with `event_stream()`."""
        session = self._get(session_id)
        self._end_event(STREAM_END_SCOPE, session, None)
        await self._flush_events(session_id)  # stored events (issue 15)


def _step_end(outcome: StepPlan) -> StepEnd:
    return StepEnd(
        outcome.step,
        tuple(k.name for k in outcome.run),
        tuple(s.node.name for s in outcome.skipped),
        tuple(outcome.updated_channels),
        tuple(k.name for k in outcome.next_frontier),
    )


__all__ = [
    "AppRunner",
    "AppRunnerBuilder",
    "PausedReport",
    "RunMetadata",
    "SessionInit",
    "SessionState",
    "StepOptions",
    "StepReport",
    "UntilStreamEnd",
]
