"""`AppRunner`: sessions, supersteps with interrupts, runs to completion, iterative sessions, checkpoints."""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from engine import plan
from engine.app import App
from engine.clock import Clock
from engine.errors import (
    InvalidIterativeEntry,
    NodeRunError,
    NoStartNodes,
    RoutingError,
    SessionNotFound,
    StepLimitExceeded,
)
from engine.events.event import (
    INVOCATION_END_SCOPE,
    STREAM_END_SCOPE,
    Event,
    end_message,
    utc_from_unix_ms,
)
from engine.partial import NodePartial
from engine.persistence.base import Checkpoint, Checkpointer, CheckpointerType
from engine.reports import (
    PausedReport,
    RunMetadata,
    SessionInit,
    SessionState,
    StepOptions,
    StepReport,
    UntilStreamEnd,
)
from engine.scheduler import NodeFailure, Session, StepEnv, call_predicate, execute_nodes, route
from engine.state import VersionedState
from engine.types import ErrorEvent, ErrorScope, NodeKind, NodeLike, WeaveError

log = logging.getLogger("engine.runner")

DEFAULT_MAX_STEPS = 10_000


@dataclass
class AppRunnerBuilder:
    """Chainable configuration of an `AppRunner`; `await .build()` connects storage."""

    _app: App | None = None
    _checkpointer_type: CheckpointerType | None = None
    _custom: Any = None
    _autosave: bool = True
    _bus: Any = None
    _start_listener: bool = True
    _clock: Clock | None = None
    _concurrency: int | None = None
    _max_steps: int | None = None
    _lifecycle: bool = False
    _extra: dict[str, Any] = field(default_factory=dict)

    def app(self, app: App) -> AppRunnerBuilder:
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
            raise ValueError(f"concurrency_limit must be at least 1, got {limit}")
        self._concurrency = limit
        return self

    def max_steps(self, limit: int) -> AppRunnerBuilder:
        if limit < 1:
            raise ValueError(f"max_steps must be at least 1, got {limit}")
        self._max_steps = limit
        return self

    def lifecycle_events(self, enabled: bool) -> AppRunnerBuilder:
        self._lifecycle = enabled
        return self

    async def build(self) -> AppRunner:
        if self._app is None:
            raise ValueError("AppRunner.builder() needs .app(app) before build()")
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
        )


class AppRunner:
    """Runs sessions of one App. Use as `async with await AppRunner.builder().app(app).build() as r:`."""

    def __init__(
        self,
        app: App,
        checkpointer: Checkpointer | None,
        backend: str,
        owns_checkpointer: bool,
        *,
        autosave: bool,
        bus: Any,
        clock: Clock | None,
        concurrency_limit: int,
        max_steps: int,
        lifecycle: bool,
        start_listener: bool,
    ) -> None:
        self.app = app
        self.checkpointer = checkpointer
        self._backend = backend
        # Lifecycle events name the real storage even behind checkpointer_custom (run_metadata says "custom").
        self._storage_name = str(getattr(checkpointer, "backend_name", backend))
        self._owns_checkpointer = owns_checkpointer
        self.autosave = autosave
        self.bus = bus
        self.clock = clock
        self.concurrency_limit = concurrency_limit
        self.max_steps = max_steps
        self.lifecycle = lifecycle
        self.start_listener = start_listener
        self._sessions: dict[str, Session] = {}
        self._env = StepEnv(app, bus.publish, clock, lifecycle)
        self._closed = False

    @staticmethod
    def builder() -> AppRunnerBuilder:
        return AppRunnerBuilder()

    async def __aenter__(self) -> AppRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Drain the event bus's sinks and close storage this runner opened. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.bus.aclose()
        finally:
            if self._owns_checkpointer and self.checkpointer is not None:
                await self.checkpointer.aclose()

    # ------------------------------------------------------------ helpers

    def _now_ms(self) -> int | None:
        return self.clock.now_unix_ms() if self.clock is not None else None

    def _now_dt(self) -> _dt.datetime:
        if self.clock is not None:
            return utc_from_unix_ms(self.clock.now_unix_ms())
        return _dt.datetime.now(_dt.UTC)

    def _publish(self, type_: str, scope: str, message: str, session: Session, **meta: Any) -> None:
        self.bus.publish(
            Event.create(
                type_,
                scope,
                message,
                step=meta.pop("step", None),
                node_id=meta.pop("node_id", None),
                invocation_id=session.session_id,
                now_unix_ms=self._now_ms(),
                metadata=meta or None,
            )
        )

    def _lifecycle(self, scope: str, message: str, session: Session, **meta: Any) -> None:
        if self.lifecycle:
            self._publish("lifecycle", scope, message, session, **meta)

    def _get(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionNotFound(session_id) from None

    @staticmethod
    def _copy_of(session: Session) -> SessionState:
        return SessionState(
            session.state.copy(),
            session.step,
            list(session.frontier),
            {k: dict(v) for k, v in session.versions_seen.items()},
        )

    def _error_event(self, scope: ErrorScope, message: str, tags: list[str]) -> ErrorEvent:
        return ErrorEvent(self._now_dt(), scope, WeaveError(message), tags, {})

    async def _save(
        self,
        session: Session,
        ran: list[NodeKind] | None = None,
        skipped: list[NodeKind] | None = None,
        updated: list[str] | None = None,
    ) -> None:
        if not self.autosave or self.checkpointer is None:
            return
        cp = Checkpoint(
            session.session_id,
            session.step,
            session.state,
            list(session.frontier),
            {k: dict(v) for k, v in session.versions_seen.items()},
            session.concurrency_limit,
            self._now_dt(),
            list(ran or ()),
            list(skipped or ()),
            list(updated or ()),
        )
        cp.graph_hash = self.app.graph_definition_hash()
        started = time.perf_counter()
        await self.checkpointer.save(cp, expected_last_step=session.last_saved_step)
        session.last_saved_step = session.step
        if self.lifecycle:
            ms = round((time.perf_counter() - started) * 1000.0, 3)
            self._lifecycle(
                "checkpoint.saved",
                f"checkpoint step {session.step} saved ({self._storage_name}, {ms} ms)",
                session,
                step=session.step,
                backend=self._storage_name,
                duration_ms=ms,
            )

    async def _start_frontier(self, state: VersionedState, session_id: str) -> list[NodeKind]:
        """Start's targets: unconditional edges, then conditional edges from Start on the initial state."""
        app = self.app
        frontier: list[NodeKind] = []
        seen: set[NodeKind] = set()
        dropped: list[NodeKind] = []
        plan.add_targets(frontier, seen, app._edge_map.get(NodeKind.START, ()), app._invokers, dropped)
        conds = app._conditional_by_source.get(NodeKind.START, ())
        if conds:
            snap = state.snapshot()
            for cond in conds:
                targets = await call_predicate(cond.predicate, snap, NodeKind.START, 0)
                plan.add_targets(frontier, seen, targets, app._invokers, dropped)
        for t in dropped:
            log.warning("session %s: dropped unknown routing target '%s' from Start", session_id, t)
        return frontier

    async def _restore(self, session_id: str) -> Session | None:
        if self.checkpointer is None:
            return None
        cp = await self.checkpointer.load_latest(session_id)
        if cp is None:
            return None
        return Session(
            session_id,
            cp.state,
            cp.step,
            list(cp.frontier),
            {k: dict(v) for k, v in cp.versions_seen.items()},
            cp.concurrency_limit or self.concurrency_limit,
            cp.step,
        )

    # ------------------------------------------------------------ sessions

    async def create_session(self, session_id: str, state: VersionedState) -> SessionInit:
        """Resume `session_id` from its latest checkpoint (ignoring `state`), or start it fresh from `state`
        and save step 0."""
        restored = await self._restore(session_id)
        if restored is not None:
            self._sessions[session_id] = restored
            return SessionInit(False, restored.step)
        frontier = await self._start_frontier(state, session_id)
        if not frontier:
            raise NoStartNodes(session_id)
        session = Session(session_id, state.copy(), 0, frontier, {}, self.concurrency_limit)
        self._sessions[session_id] = session
        await self._save(session)
        return SessionInit(True, None)

    def get_session(self, session_id: str) -> SessionState:
        return self._copy_of(self._get(session_id))

    async def list_sessions(self) -> list[str]:
        ids = list(await self.checkpointer.list_sessions()) if self.checkpointer is not None else []
        known = set(ids)
        ids.extend(s for s in self._sessions if s not in known)
        return ids

    def event_stream(self) -> UntilStreamEnd:
        """A new subscription to this runner's events; it ends after the next stream-end event."""
        return UntilStreamEnd(self.bus.subscribe())

    def run_metadata(self) -> RunMetadata:
        meta = self.app.graph_metadata()
        return RunMetadata(
            engine_version=meta["engine_version"],
            graph_hash=meta["graph_hash"],
            runtime_config_hash=self.app.runtime_config.config_hash(),
            checkpointer_backend=self._backend,
            clock_mode="configured" if self.clock is not None else "unset",
        )

    # ------------------------------------------------------------ stepping

    async def run_step(
        self, session_id: str, options: StepOptions | None = None
    ) -> StepReport | PausedReport:
        """Run one superstep (or pause at an interrupt). A completed session reports completed=True."""
        session = self._get(session_id)
        if plan.is_complete(session.frontier):
            return StepReport(session.step, [], [], [], list(session.frontier), True)
        state = session.state
        run, skipped = plan.partition(
            session.frontier, session.versions_seen, state.messages_version, state.extra_version
        )
        if options is not None and options.interrupt_before:
            before = options.before_names()
            for kind in run:
                if kind.name in before:
                    return PausedReport("before_node", kind, session.step, self._copy_of(session))
        step = session.step + 1
        env = self._env
        if self.lifecycle:
            self._lifecycle(
                "step.start",
                f"step {step}: {', '.join(k.name for k in session.frontier)}",
                session,
                step=step,
                frontier=[k.name for k in session.frontier],
            )
            for kind, reason in skipped:
                self._lifecycle(
                    "node.skip",
                    f"{kind.name} skipped ({reason})",
                    session,
                    step=step,
                    node_id=kind.name,
                    reason=reason,
                )
        partials: list[NodePartial | None] = []
        if run:
            snapshot = state.snapshot()
            if env.loop is None:
                env.loop = asyncio.get_running_loop()
            try:
                partials = await execute_nodes(env, run, snapshot, session, step)
            except NodeFailure as failure:
                await self._record_node_failure(session, step, failure)
                raise NodeRunError(failure.kind.name, step, failure.error) from failure.error
            merged = plan.merge_partials(partials)
            updated = plan.apply_barrier(state, merged, self.app._reducers)
            plan.record_seen(session.versions_seen, run, snapshot.messages_version, snapshot.extra_version)
        else:
            updated = []
        session.step = step
        try:
            next_frontier, dropped = await route(env, session, step, run, partials)
        except RoutingError as exc:
            state.errors.append(self._error_event(ErrorScope.scheduler(step), str(exc), ["routing"]))
            await self._save(session, run, [k for k, _ in skipped], updated)
            raise
        for source, target in dropped:
            log.warning(
                "session %s step %d: dropped unknown routing target '%s' (from '%s')",
                session_id,
                step,
                target,
                source,
            )
            self._lifecycle(
                "route.dropped",
                f"unknown target '{target}' from '{source}' dropped",
                session,
                step=step,
                node_id=source.name,
                target=target.name,
            )
        session.frontier = next_frontier
        completed = plan.is_complete(next_frontier)
        skipped_nodes = [k for k, _ in skipped]
        await self._save(session, run, skipped_nodes, updated)
        if self.lifecycle:
            self._lifecycle(
                "step.end",
                f"step {step} ran {len(run)}, skipped {len(skipped)}",
                session,
                step=step,
                ran=[k.name for k in run],
                skipped=[k.name for k in skipped_nodes],
                updated_channels=list(updated),
                next_frontier=[k.name for k in next_frontier],
            )
        if options is not None:
            if options.interrupt_after:
                after = options.after_names()
                for kind in run:
                    if kind.name in after:
                        return PausedReport("after_node", kind, step, self._copy_of(session))
            if options.interrupt_each_step:
                return PausedReport("after_step", None, step, self._copy_of(session))
        return StepReport(step, list(run), skipped_nodes, updated, list(next_frontier), completed)

    async def _record_node_failure(self, session: Session, step: int, failure: NodeFailure) -> None:
        session.step = step
        session.state.errors.append(
            self._error_event(ErrorScope.for_node(failure.kind, step), str(failure.error), ["node"])
        )
        self._lifecycle(
            "node.error",
            f"{failure.kind.name} failed: {failure.error}",
            session,
            step=step,
            node_id=failure.kind.name,
            error=str(failure.error),
            error_type=type(failure.error.__cause__ or failure.error).__name__,  # spans: exception.type
        )
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
            count += 1
            if isinstance(report, StepReport) and report.completed:
                break

    def _end_event(self, scope: str, session: Session, error: BaseException | None) -> None:
        if error is None:
            text = end_message(session.session_id, "completed", session.step)
        else:
            detail = str(error) or type(error).__name__
            text = end_message(session.session_id, "error", session.step, detail)
        self._publish("diagnostic", scope, text, session, step=session.step)

    async def _drive(self, session: Session, what: str, end_scope: str) -> VersionedState:
        """Run to completion between run.start/run.end, then emit `end_scope` (status completed or error)."""
        sid = session.session_id
        self._lifecycle("run.start", f"{what} of {sid} started", session, step=session.step)
        try:
            await self._run_to_completion(session)
        except BaseException as exc:
            self._lifecycle("run.end", f"{what} of {sid} failed", session, step=session.step, status="error")
            self._end_event(end_scope, session, exc)
            raise
        self._lifecycle(
            "run.end", f"{what} of {sid} completed", session, step=session.step, status="completed"
        )
        self._end_event(end_scope, session, None)
        return session.state.copy()

    async def run_until_complete(self, session_id: str) -> VersionedState:
        """Step until the frontier is empty or only End; emits the stream-end event either way."""
        return await self._drive(self._get(session_id), "run", STREAM_END_SCOPE)

    # ------------------------------------------------------------ iterative sessions

    async def _resolve_entry(self, entry: NodeLike, state: VersionedState, session_id: str) -> list[NodeKind]:
        kind = NodeKind.coerce(entry)
        if kind.is_start:
            frontier = await self._start_frontier(state, session_id)
            if not frontier:
                raise InvalidIterativeEntry(kind.name, "Start leads nowhere")
            return frontier
        if kind.is_end:
            raise InvalidIterativeEntry(kind.name, "End cannot be an entry")
        if kind not in self.app._invokers:
            raise InvalidIterativeEntry(kind.name, "no such node in the graph")
        return [kind]

    async def create_iterative_session(
        self, session_id: str, state: VersionedState, entry: NodeLike = NodeKind.START
    ) -> SessionInit:
        """Create (or resume) a session driven by `invoke_next`; the entry is checked first."""
        await self._resolve_entry(entry, state, session_id)
        restored = await self._restore(session_id)
        if restored is not None:
            self._sessions[session_id] = restored
            return SessionInit(False, restored.step)
        session = Session(session_id, state.copy(), 0, [], {}, self.concurrency_limit)
        self._sessions[session_id] = session
        await self._save(session)
        return SessionInit(True, None)

    async def invoke_next(
        self, session_id: str, partial: NodePartial | None, entry: NodeLike = NodeKind.START
    ) -> VersionedState:
        """Merge `partial` at a barrier, run from `entry` to completion, emit the invocation-end event."""
        session = self._get(session_id)
        probe = session.state
        if partial is not None and (partial.messages or partial.extra):
            probe = session.state.copy()
            plan.apply_barrier(probe, plan.merge_partials([partial]), self.app._reducers)
        frontier = await self._resolve_entry(entry, probe, session_id)
        if partial is not None:
            plan.apply_barrier(session.state, plan.merge_partials([partial]), self.app._reducers)
        session.frontier = frontier
        session.versions_seen.clear()
        return await self._drive(session, "invocation", INVOCATION_END_SCOPE)

    async def finish_iterative_session(self, session_id: str) -> None:
        """Emit the stream-end event, which closes streams taken with `event_stream()`."""
        session = self._get(session_id)
        self._end_event(STREAM_END_SCOPE, session, None)


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
