"""OpenTelemetry spans from the runner's lifecycle events (needs the `otel` extra).

`TracingSink` is an event-bus sink. It turns the lifecycle events of each session (keyed by the events'
`invocation_id`) into a tree of spans, timed by the events' own timestamps:

    weavegraph.run                      run.start .. run.end (session id, graph name and hash, status)
      weavegraph.step                   step.start .. step.end (step number, frontier, ran/skipped)
        weavegraph.node <name>          node.start .. node.finish | node.error (status, attempts, duration)
        weavegraph.checkpoint.save      checkpoint.saved, ending at the event, lasting its duration_ms

A failed node's span has status ERROR and an "exception" span event (semantic conventions); a run that
failed gets status ERROR with the error of the runner's end event. The save done when a session is created
(before its run starts) is parented under that run. `continue_trace(session_id, carrier)` makes a
session's next run a child of a W3C trace context, e.g. the `traceparent` a queue job carried;
`inject_trace_context` / `extract_trace_context` put it into and take it out of such a dict.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from engine.events.event import INVOCATION_END_SCOPE, STREAM_END_SCOPE, Event
from engine.observability.otel import extract_trace_context, inject_trace_context, shared_env_provider
from engine.observability.warn import Warn

__all__ = [
    "TracingSink",
    "extract_trace_context",
    "inject_trace_context",
    "tracing_sink_for",
]

TRACER_NAME = "weavegraph"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_US = _dt.timedelta(microseconds=1)
_DB_SYSTEMS = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql"}
_END_SCOPES = (STREAM_END_SCOPE, INVOCATION_END_SCOPE)


def _ns(stamp: _dt.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly (microsecond resolution)."""
    return ((stamp - _EPOCH) // _US) * 1000


def tracing_sink_for(
    provider: Any, *, app: Any, graph_name: str | None, environ: Mapping[str, str], warn: Warn
) -> TracingSink:
    """A `TracingSink` over `provider` (None: `shared_env_provider`), labelled with `app`'s graph hash."""
    if provider is None:
        provider = shared_env_provider(environ, warn)
    graph_hash = app.graph_definition_hash() if app is not None else None
    return TracingSink(provider, graph_name=graph_name, graph_hash=graph_hash)


# ---------------------------------------------------------------- the sink


@dataclass(slots=True)
class _PendingNode:
    """A node that started and has not ended: its span is made when it ends."""

    start: int
    step: int | None
    retries: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class _Session:
    """Open spans of one session."""

    run: Span | None = None
    run_ctx: otel_context.Context | None = None
    failed_run: tuple[Span, int] | None = None  # ended at the end event, which carries the error text
    step: Span | None = None
    step_ctx: otel_context.Context | None = None
    nodes: dict[str, _PendingNode] = field(default_factory=dict)  # running nodes by name
    muted: bool = False  # the run span was not sampled: no child spans either
    early_saves: list[Event] = field(default_factory=list)  # saves before the run started
    parent: otel_context.Context | None = None  # continue_trace


class TracingSink:
    """Builds spans from lifecycle events (see the module docstring). Handled on the loop: each event costs
    a dictionary lookup and at most one span start or end; spans leave through the provider's processor."""

    non_blocking = True  # never in a thread: the sink only touches its own dicts and the span processor
    blocking = False

    def __init__(
        self,
        provider: Any = None,
        *,
        graph_name: str | None = None,
        graph_hash: str | None = None,
        name: str = "otel-tracing",
    ) -> None:
        self.name = name
        self.provider = provider if provider is not None else trace.get_tracer_provider()
        self._tracer = self.provider.get_tracer(TRACER_NAME)
        self.graph_name = graph_name
        self.graph_hash = graph_hash
        self._sessions: dict[str, _Session] = {}

    def continue_trace(self, session_id: str, carrier: Mapping[str, str]) -> None:
        """The next run of `session_id` becomes a child of the trace context in `carrier`."""
        self._session(session_id).parent = extract_trace_context(carrier)

    def _session(self, sid: str) -> _Session:
        found = self._sessions.get(sid)
        if found is None:
            found = self._sessions[sid] = _Session()
        return found

    def handle(self, event: Event) -> None:
        sid = event.metadata.get("invocation_id")
        if not isinstance(sid, str):
            return
        if event.type == "lifecycle":
            handler = _HANDLERS.get(event.scope)
            if handler is not None:
                handler(self, sid, event)
        elif event.type == "diagnostic" and event.scope in _END_SCOPES:
            self._end_event(sid, event)

    # ------------------------------------------------------------ runs

    def _run_start(self, sid: str, event: Event) -> None:
        s = self._session(sid)
        self._finish_failed(s)
        start = _ns(event.timestamp)
        early = s.early_saves
        if early:
            start = min(start, min(_ns(e.timestamp) - _save_ns(e) for e in early))
        attrs: dict[str, Any] = {
            "weavegraph.session.id": sid,
            "weavegraph.run.kind": event.message.split(" ")[0],
        }
        if self.graph_name:
            attrs["weavegraph.graph.name"] = self.graph_name
        if self.graph_hash:
            attrs["weavegraph.graph.hash"] = self.graph_hash
        if event.step is not None:
            attrs["weavegraph.run.start_step"] = event.step
        name = f"weavegraph.run {self.graph_name}" if self.graph_name else "weavegraph.run"
        span = self._tracer.start_span(name, context=s.parent, attributes=attrs, start_time=start)
        s.parent = None
        s.run, s.run_ctx = span, trace.set_span_in_context(span)
        s.muted = not span.is_recording()  # sampled out: its steps, nodes and saves would be too
        s.early_saves = []
        for save in early:
            self._save_span(save, s.run_ctx)

    def _run_end(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        if s is None or s.run is None:
            return
        end = _ns(event.timestamp)
        self._close_step(s, end, StatusCode.ERROR if event.metadata.get("status") == "error" else None)
        span, s.run, s.run_ctx, s.muted = s.run, None, None, False
        status = event.metadata.get("status")
        span.set_attribute("weavegraph.run.status", str(status))
        if event.step is not None:
            span.set_attribute("weavegraph.run.end_step", event.step)
        if status == "error":
            s.failed_run = (span, end)  # the end event that follows carries the error text
        else:
            span.end(end_time=end)

    def _end_event(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        if s is None or s.failed_run is None:
            return
        _, _, error = event.message.partition(" error=")
        self._finish_failed(s, error or "run failed")

    @staticmethod
    def _finish_failed(s: _Session, error: str = "run failed") -> None:
        if s.failed_run is not None:
            span, end = s.failed_run
            s.failed_run = None
            span.set_status(Status(StatusCode.ERROR, error))
            span.end(end_time=end)

    # ------------------------------------------------------------ steps

    def _step_start(self, sid: str, event: Event) -> None:
        s = self._session(sid)
        start = _ns(event.timestamp)
        self._close_step(s, start, None)
        if s.muted:
            return
        attrs: dict[str, Any] = {}
        if event.step is not None:
            attrs["weavegraph.step"] = event.step
        frontier = event.metadata.get("frontier")
        if isinstance(frontier, list):
            attrs["weavegraph.step.frontier"] = [str(f) for f in frontier]
        span = self._tracer.start_span(
            "weavegraph.step", context=s.run_ctx, attributes=attrs, start_time=start
        )
        s.step, s.step_ctx = span, trace.set_span_in_context(span)

    def _step_end(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        if s is None or s.step is None:
            return
        attrs = {}
        for key in ("ran", "skipped"):
            value = event.metadata.get(key)
            if isinstance(value, list) and value:
                attrs[f"weavegraph.step.{key}"] = [str(v) for v in value]
        if attrs:
            s.step.set_attributes(attrs)
        self._close_step(s, _ns(event.timestamp), None)

    def _close_step(self, s: _Session, end: int, status: StatusCode | None) -> None:
        for node, pending in s.nodes.items():  # nodes cut short (a sibling failed, or a stop)
            self._node_span(s, node, pending, end, {"weavegraph.node.status": "cancelled"})
        s.nodes.clear()
        if s.step is not None:
            if status is StatusCode.ERROR:
                s.step.set_status(Status(StatusCode.ERROR))
            s.step.end(end_time=end)
            s.step, s.step_ctx = None, None

    # ------------------------------------------------------------ nodes
    # A node's span is made when its outcome is known (start time from node.start), with every attribute
    # at once: one attribute pass per span instead of one per attribute.

    def _node_start(self, sid: str, event: Event) -> None:
        s = self._session(sid)
        if not s.muted:
            s.nodes[event.node_id or "?"] = _PendingNode(_ns(event.timestamp), event.step)

    def _node_span(
        self,
        s: _Session,
        node: str,
        pending: _PendingNode,
        end: int,
        attrs: dict[str, Any],
        failure: tuple[str, str] | None = None,
    ) -> None:
        """The span of a node run that ended at `end`; `failure`: (error type, message)."""
        attrs["weavegraph.node.name"] = node
        if pending.step is not None:
            attrs["weavegraph.step"] = pending.step
        parent = s.step_ctx if s.step_ctx is not None else s.run_ctx
        span = self._tracer.start_span(
            f"weavegraph.node {node}", context=parent, attributes=attrs, start_time=pending.start
        )
        for retry in pending.retries:
            found = {k: v for k, v in retry.metadata.items() if k in ("attempt", "error", "delay_ms")}
            span.add_event("retry", found, timestamp=_ns(retry.timestamp))
        if failure is not None:
            kind, message = failure
            span.add_event("exception", {"exception.type": kind, "exception.message": message}, timestamp=end)
            span.set_status(Status(StatusCode.ERROR, message))
        span.end(end_time=end)

    def _node_finish(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        node = event.node_id or "?"
        pending = s.nodes.pop(node, None) if s is not None else None
        if s is None or pending is None:
            return
        meta = event.metadata
        attempts = meta.get("attempts")
        attrs: dict[str, Any] = {
            "weavegraph.node.status": "ok",
            "weavegraph.node.attempts": attempts if isinstance(attempts, int) else 1,
        }
        duration = meta.get("duration_ms")
        if isinstance(duration, int | float):
            attrs["weavegraph.node.duration_ms"] = float(duration)
        self._node_span(s, node, pending, _ns(event.timestamp), attrs)

    def _node_error(self, sid: str, event: Event) -> None:
        s = self._session(sid)
        if s.muted:
            return
        node = event.node_id or "?"
        end = _ns(event.timestamp)
        pending = s.nodes.pop(node, None)
        if pending is None:  # no node.start seen (e.g. the failure happened before the node ran)
            pending = _PendingNode(end, event.step)
        meta = event.metadata
        message = str(meta.get("error") or event.message)
        error_type = str(meta.get("error_type") or "NodeError")
        attempts = meta.get("attempts")
        attrs: dict[str, Any] = {
            "weavegraph.node.status": "error",
            "weavegraph.node.attempts": attempts if isinstance(attempts, int) else 1,
            "weavegraph.node.duration_ms": (end - pending.start) / 1e6,
            "error.type": error_type,
        }
        self._node_span(s, node, pending, end, attrs, (error_type, message))

    def _node_retry(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        pending = s.nodes.get(event.node_id or "?") if s is not None else None
        if pending is not None:
            pending.retries.append(event)

    def _node_skip(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        if s is not None and s.step is not None:
            reason = str(event.metadata.get("reason", ""))
            attrs = {"weavegraph.node.name": event.node_id or "?", "reason": reason}
            s.step.add_event("node.skip", attrs, timestamp=_ns(event.timestamp))

    # ------------------------------------------------------------ checkpoints

    def _checkpoint_saved(self, sid: str, event: Event) -> None:
        s = self._session(sid)
        if s.muted:
            return
        parent = s.step_ctx if s.step_ctx is not None else s.run_ctx
        if parent is None:
            s.early_saves.append(event)  # the save of a new session: parented under its coming run
            return
        self._save_span(event, parent)

    def _save_span(self, event: Event, parent: otel_context.Context | None) -> None:
        meta = event.metadata
        end = _ns(event.timestamp)
        backend = str(meta.get("backend", "unknown"))
        attrs: dict[str, Any] = {"weavegraph.checkpoint.backend": backend, "db.operation.name": "save"}
        system = _DB_SYSTEMS.get(backend)
        if system is not None:
            attrs["db.system"] = system
            attrs["db.system.name"] = system
        if event.step is not None:
            attrs["weavegraph.checkpoint.step"] = event.step
        size = meta.get("bytes")
        if isinstance(size, int):
            attrs["weavegraph.checkpoint.bytes"] = size
        span = self._tracer.start_span(
            "weavegraph.checkpoint.save",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=end - _save_ns(event),
        )
        span.end(end_time=end)

    # ------------------------------------------------------------ closing

    def end_open_spans(self) -> None:
        """End every span still open (a run cut short: its status says "interrupted")."""
        now = time.time_ns()
        for sid, s in list(self._sessions.items()):
            for save in s.early_saves:
                self._save_span(save, s.parent)
            s.early_saves = []
            self._finish_failed(s)
            self._close_step(s, now, None)
            if s.run is not None:
                s.run.set_attribute("weavegraph.run.status", "interrupted")
                s.run.end(end_time=now)
                s.run = None
            del self._sessions[sid]

    def close(self) -> None:
        """End the open spans. Exporting is the provider's business: its batch processor sends them on its
        schedule and at exit (`TracerProvider` shuts down at interpreter exit), so closing the many short
        buses of a busy process never waits on the network."""
        self.end_open_spans()

    def __repr__(self) -> str:
        return f"TracingSink(name={self.name!r}, open_sessions={len(self._sessions)})"


def _save_ns(event: Event) -> int:
    ms = event.metadata.get("duration_ms")
    return int(float(ms) * 1e6) if isinstance(ms, int | float) else 0


_HANDLERS = {
    "run.start": TracingSink._run_start,
    "run.end": TracingSink._run_end,
    "step.start": TracingSink._step_start,
    "step.end": TracingSink._step_end,
    "node.start": TracingSink._node_start,
    "node.finish": TracingSink._node_finish,
    "node.error": TracingSink._node_error,
    "node.retry": TracingSink._node_retry,
    "node.skip": TracingSink._node_skip,
    "checkpoint.saved": TracingSink._checkpoint_saved,
}
