"""`SessionKeeper`, the bookkeeping half of `AppRunner`: live sessions, checkpoint saves and restores (a fresh
session always saves step 0), lifecycle records, run metadata and closing."""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import time
from typing import Any, Protocol

from engine.clock import Clock
from engine.errors import SessionNotFound
from engine.event_log import EventLog, LoggingBus
from engine.events.event import utc_from_unix_ms
from engine.events.records import CheckpointSaved, EdgeRouted, LifecycleRecord, RouteDropped, RunEnd
from engine.executor import StepEnv
from engine.graph.compiled import CompiledGraph
from engine.node_records import NodeRecorder
from engine.persistence.base import Checkpoint, Checkpointer
from engine.plan import RoutedEdge, Session
from engine.reports import RunMetadata, SessionState, UntilStreamEnd
from engine.runtime_config import RuntimeConfig
from engine.types import ErrorEvent, ErrorScope, NodeKind, WeaveError

log = logging.getLogger("engine.runner")
_UTC = _dt.UTC


class RunnableApp(Protocol):
    """What a runner needs of an `App`: the compiled graph and the runtime configuration."""

    @property
    def graph(self) -> CompiledGraph: ...

    @property
    def runtime_config(self) -> RuntimeConfig: ...


class SessionKeeper:
    """The runner's bookkeeping: its live sessions, their saves and restores, lifecycle events, metadata and
    closing. `AppRunner` adds the stepping on top."""

    def __init__(
        self,
        app: RunnableApp,
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
        record_nodes: bool = True,
        persist_events: bool = False,
    ) -> None:
        self.app = app
        self.graph = app.graph
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
        # Run observers (tracing, metrics) attached to the bus get the records directly, no events; the
        # runner builds its records when either wants them.
        observers: tuple[Any, ...] = tuple(getattr(bus, "observers", ()))
        self.lifecycle = lifecycle or any(getattr(o, "wants_steps", True) for o in observers)
        self.start_listener = start_listener
        self._sessions: dict[str, Session] = {}
        self._event_log: EventLog | None = None
        self._fork_parents: dict[str, tuple[str, int]] = {}  # session info (issue 15): a fork's source
        if persist_events and checkpointer is not None:  # stored events (issue 15)
            self._event_log = EventLog(bus.publish)
            self.bus = bus = LoggingBus(bus, self._event_log)
        self._env = StepEnv(self.graph, bus.publish, clock, lifecycle, observers)
        if record_nodes and checkpointer is not None and autosave:  # node records (issue 15)
            # (with autosave off no step is saved, so its records would be dropped unread: none are built;
            # a replay brings its own recorder)
            self._env.recorder = NodeRecorder(clock)
        # node records (issue 15): a checkpointer that keeps only the latest step's records takes them
        # unbuilt (`InMemoryCheckpointer.takes_unbuilt_records`): most are never read
        self._unbuilt_records = bool(getattr(checkpointer, "takes_unbuilt_records", False))
        self._closed = False

    async def aclose(self) -> None:
        """Drain the event bus's sinks and close storage this runner opened. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._event_log is not None:  # stored events (issue 15): nothing left unstored
                for sid in self._event_log.sessions():
                    await self._flush_events(sid)
            await self.bus.aclose()
        finally:
            close = getattr(self.checkpointer, "aclose", None)  # a custom Checkpointer need not have one
            if self._owns_checkpointer and close is not None:
                await close()

    # ------------------------------------------------------------ events, copies, saves

    def _now_dt(self) -> _dt.datetime:
        if self.clock is not None:
            return utc_from_unix_ms(self.clock.now_unix_ms())
        return _dt.datetime.now(_dt.UTC)

    def _emit(self, record: LifecycleRecord, session: Session) -> None:
        if self._env.watching:
            error = None
            if self._env.observers and isinstance(record, RunEnd) and record.status == "error":
                # Emitted while the runner handles the run's failure: the observers get its text, the one
                # the end event carries (`sys.exc_info()` holds that failure).
                exc = sys.exc_info()[1]
                error = (str(exc) or type(exc).__name__) if exc is not None else None
            self._env.emit(record, session.session_id, error)

    def _routed(
        self, session: Session, step: int, routed: list[RoutedEdge], dropped: list[RoutedEdge]
    ) -> None:
        """Log dropped targets (always) and publish `route.dropped` / `edge.routed` (with lifecycle on)."""
        for edge in dropped:
            log.warning(
                "session %s step %d: dropped unknown routing target '%s' (from '%s')",
                session.session_id,
                step,
                edge.target,
                edge.source,
            )
            self._emit(RouteDropped(step, edge.source.name, edge.target.name), session)
        if self._env.lifecycle or any(getattr(o, "wants_edges", True) for o in self._env.observers):
            for edge in routed:
                self._emit(EdgeRouted(step, edge.source.name, edge.target.name, edge.conditional), session)

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
        *,
        force: bool = False,
    ) -> None:
        """Save the session's checkpoint when autosave is on (or `force`: a fresh session's step 0)."""
        recorder = self._env.recorder
        if (not self.autosave and not force) or self.checkpointer is None:
            if recorder is not None:  # node records (issue 15): nothing keeps them (dropped unbuilt)
                recorder.take_unbuilt(session.session_id, session.step, ())
            return
        sid = session.session_id
        records = recorder.take_unbuilt(sid, session.step, ran or ()) if recorder is not None else None
        cp = Checkpoint(
            sid,
            session.step,
            session.state,
            list(session.frontier),
            {k: dict(v) for k, v in session.versions_seen.items()},
            session.concurrency_limit,
            utc_from_unix_ms(self.clock.now_unix_ms()) if self.clock is not None else _dt.datetime.now(_UTC),
            list(ran) if ran else [],
            list(skipped) if skipped else [],
            list(updated) if updated else [],
            self.graph.definition_hash,
            # node records (issue 15): saved with the step (or handed over right after it, unbuilt)
            records if records is None or self._unbuilt_records else records.records(),
            None,
            self._fork_parents.pop(sid, None) if self._fork_parents else None,  # session info (issue 15)
            self.app.runtime_config.graph_name,
        )
        if self._event_log is not None:  # stored events (issue 15): saved with the step
            cp.events = self._event_log.take(sid)
        watching = self._env.watching
        started = time.perf_counter() if watching else 0.0
        try:
            await self.checkpointer.save(cp, expected_last_step=session.last_saved_step)
        except BaseException:
            if cp.events and self._event_log is not None:  # stored events (issue 15): kept for the next try
                self._event_log.put_back(sid, cp.events)
            raise
        session.last_saved_step = session.step
        if watching:
            ms = round((time.perf_counter() - started) * 1000.0, 3)
            size = getattr(self.checkpointer, "last_save_bytes", None)  # the encoded size, if it tells
            size = size if type(size) is int else None
            self._emit(CheckpointSaved(session.step, self._storage_name, ms, size), session)

    async def _flush_events(self, session_id: str) -> None:
        """Store the session's events published since its last save (stored events, issue 15)."""
        append = getattr(self.checkpointer, "append_events", None)  # a custom checkpointer may lack it
        if self._event_log is None or append is None:
            return
        events = self._event_log.take(session_id)
        if events:
            await append(session_id, events)

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

    @staticmethod
    def _log_dropped(session_id: str, dropped: list[RoutedEdge]) -> None:
        for edge in dropped:
            log.warning("session %s: dropped unknown routing target '%s' from Start", session_id, edge.target)

    def get_session(self, session_id: str) -> SessionState:
        return self._copy_of(self._get(session_id))

    async def list_sessions(self) -> list[str]:
        lister = getattr(self.checkpointer, "list_sessions", None)  # not part of the minimal Checkpointer
        ids = list(await lister()) if lister is not None else []
        known = set(ids)
        ids.extend(s for s in self._sessions if s not in known)
        return ids

    def event_stream(self) -> UntilStreamEnd:
        """A new subscription to this runner's events; it ends after the next stream-end event."""
        return UntilStreamEnd(self.bus.subscribe())

    def run_metadata(self) -> RunMetadata:
        meta = self.graph.metadata()
        return RunMetadata(
            engine_version=meta["engine_version"],
            graph_hash=meta["graph_hash"],
            runtime_config_hash=self.app.runtime_config.config_hash(),
            checkpointer_backend=self._backend,
            clock_mode="configured" if self.clock is not None else "unset",
        )
