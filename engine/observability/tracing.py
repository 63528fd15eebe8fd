"""OpenTelemetry spans from the runner's lifecycle records (needs the `otel` extra).

`TracingSink` is a run observer (`engine.events.observer`: the runner calls it directly, no events) and
also works as an event-bus sink over lifecycle events. Per session (the events' `invocation_id`) it builds a
tree of spans with explicit start and end times (the records' times, taken by the runner):

    weavegraph.run                      run.start .. run.end (session id, graph name and hash, status)
      weavegraph.step                   step.start .. step.end (step number, frontier, ran/skipped)
        weavegraph.node <name>          node start .. finish | node.error (status, attempts, duration)
        weavegraph.checkpoint.save      checkpoint.saved, ending then, lasting its duration_ms (and bytes)

A failed node's span has status ERROR and an "exception" span event (semantic conventions); a failed run
gets status ERROR with the runner's error text. The save done when a session is created (before its run
starts) is parented under that run. `continue_trace(session_id, carrier)` makes a session's next run a child
of a W3C trace context (a queue job's `traceparent`); `inject_trace_context` / `extract_trace_context` put
it into and take it out of such a dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from engine.events.event import INVOCATION_END_SCOPE, STREAM_END_SCOPE, Event
from engine.events.records import (
    CheckpointSaved,
    LifecycleRecord,
    NodeFailed,
    NodeFinish,
    NodeRetry,
    NodeSkip,
    NodeStart,
    RunEnd,
    RunStart,
    StepEnd,
    StepStart,
    lifecycle_record,
)
from engine.observability.otel import extract_trace_context, inject_trace_context, shared_env_provider
from engine.observability.span_state import SessionSpans, ns_of, save_attributes, save_ns
from engine.observability.warn import Warn

__all__ = ["TracingSink", "extract_trace_context", "inject_trace_context", "tracing_sink_for"]

TRACER_NAME = "weavegraph"
_END_SCOPES = (STREAM_END_SCOPE, INVOCATION_END_SCOPE)


def tracing_sink_for(
    provider: Any, *, app: Any, graph_name: str | None, environ: Mapping[str, str], warn: Warn
) -> TracingSink:
    """A `TracingSink` over `provider` (None: `shared_env_provider`), labelled with `app`'s graph hash."""
    if provider is None:
        provider = shared_env_provider(environ, warn)
    graph_hash = app.graph_definition_hash() if app is not None else None
    return TracingSink(provider, graph_name=graph_name, graph_hash=graph_hash)


# ---------------------------------------------------------------- the sink


class TracingSink:
    """Builds spans from lifecycle records (see the module docstring). `instrument()` attaches it to a bus as
    a run observer: the runner calls it directly with each record and a node's start and end (no events are
    published for it). It also works as an ordinary event-bus sink (`handle(event)`) over lifecycle events.
    Each record costs a dictionary lookup and at most one span start or end; spans leave through the
    provider's processor."""

    non_blocking = True  # never in a thread: the sink only touches its own dicts and the span processor
    blocking = False
    wants_edges = False  # edge.routed records make no span: the runner need not build them for us

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
        self._sessions: dict[str, SessionSpans] = {}
        self._run_name = f"weavegraph.run {graph_name}" if graph_name else "weavegraph.run"
        self._node_names: dict[str, str] = {}  # node name -> its span name (formatted once per node)

    def continue_trace(self, session_id: str, carrier: Mapping[str, str]) -> None:
        """The next run of `session_id` becomes a child of the trace context in `carrier`."""
        self._session(session_id).parent = extract_trace_context(carrier)

    def _session(self, sid: str) -> SessionSpans:
        found = self._sessions.get(sid)
        if found is None:
            found = self._sessions[sid] = SessionSpans()
        return found

    # ------------------------------------------------------------ inputs

    def handle(self, event: Event) -> None:
        """As an event-bus sink: the lifecycle events (and the end event of a failed run, for its error)."""
        sid = event.metadata.get("invocation_id")
        if not isinstance(sid, str):
            return
        if event.type == "lifecycle":
            record = lifecycle_record(event)
            if record is not None:
                self.observe(sid, record, ns_of(event.timestamp), None)
        elif event.type == "diagnostic" and event.scope in _END_SCOPES:
            self._end_event(sid, event)

    def observe(self, session_id: str, record: LifecycleRecord, t_ns: int, error: str | None) -> None:
        """As a run observer: one lifecycle record at `t_ns` (`error`: a failed run's error text)."""
        handler = _HANDLERS.get(type(record))
        if handler is not None:
            handler(self, session_id, record, t_ns, error)

    def node_started(self, session_id: str, step: int, node: str, t_ns: int) -> None:
        s = self._sessions.get(session_id)
        if s is None:
            s = self._session(session_id)
        if not s.muted:
            s.nodes[node] = (t_ns, step)

    def node_finished(
        self, session_id: str, step: int, node: str, t_ns: int, duration_ms: float, attempts: int | None
    ) -> None:
        s = self._sessions.get(session_id)
        pending = s.nodes.pop(node, None) if s is not None else None
        if s is None or pending is None:
            return
        attrs: dict[str, Any] = {
            "weavegraph.node.status": "ok",
            "weavegraph.node.attempts": attempts if attempts is not None else 1,
            "weavegraph.node.duration_ms": float(duration_ms),
            "weavegraph.node.name": node,
        }
        if pending[1] is not None:
            attrs["weavegraph.step"] = pending[1]
        self._node_span(s, node, pending[0], t_ns, attrs)

    def step_finished(self, session_id: str, step: int, t_ns: int) -> None:
        """Nothing: the step's span ends with its `StepEnd` record (after the save)."""

    # ------------------------------------------------------------ runs

    def _run_start(self, sid: str, record: RunStart, t: int, error: str | None) -> None:
        s = self._session(sid)
        self._finish_failed(s)
        start = t
        early = s.early_saves
        if early:
            start = min(start, min(at - save_ns(save) for save, at in early))
        attrs: dict[str, Any] = {
            "weavegraph.session.id": sid,
            "weavegraph.run.kind": record.what,
            "weavegraph.run.start_step": record.step,
        }
        if self.graph_name:
            attrs["weavegraph.graph.name"] = self.graph_name
        if self.graph_hash:
            attrs["weavegraph.graph.hash"] = self.graph_hash
        span = self._tracer.start_span(self._run_name, context=s.parent, attributes=attrs, start_time=start)
        s.parent = None
        s.run, s.run_ctx = span, trace.set_span_in_context(span)
        s.muted = not span.is_recording()  # sampled out: its steps, nodes and saves would be too
        s.early_saves = []
        for save, at in early:
            self._save_span(save, at, s.run_ctx)

    def _run_end(self, sid: str, record: RunEnd, t: int, error: str | None) -> None:
        s = self._sessions.get(sid)
        if s is None or s.run is None:
            return
        status = record.status
        self._close_step(s, t, StatusCode.ERROR if status == "error" else None)
        span, s.run, s.run_ctx, s.muted = s.run, None, None, False
        span.set_attributes({"weavegraph.run.status": status, "weavegraph.run.end_step": record.step})
        if status != "error":
            span.end(end_time=t)
        elif error is not None:  # a run observer is told the error at once
            span.set_status(Status(StatusCode.ERROR, error))
            span.end(end_time=t)
        else:
            s.failed_run = (span, t)  # the end event that follows carries the error text

    def _end_event(self, sid: str, event: Event) -> None:
        s = self._sessions.get(sid)
        if s is None or s.failed_run is None:
            return
        _, _, error = event.message.partition(" error=")
        self._finish_failed(s, error or "run failed")

    @staticmethod
    def _finish_failed(s: SessionSpans, error: str = "run failed") -> None:
        if s.failed_run is not None:
            span, end = s.failed_run
            s.failed_run = None
            span.set_status(Status(StatusCode.ERROR, error))
            span.end(end_time=end)

    # ------------------------------------------------------------ steps

    def _step_start(self, sid: str, record: StepStart, t: int, error: str | None) -> None:
        s = self._sessions.get(sid)
        if s is None:
            s = self._session(sid)
        if s.step is not None or s.next_step is not None or s.nodes:
            self._close_step(s, t, None)
        if not s.muted:
            s.next_step = (t, record.step, record.frontier)

    def _open_step(self, s: SessionSpans) -> None:
        """Start the pending step's span (its frontier minus the skipped nodes ran)."""
        t, step, frontier = s.next_step  # type: ignore[misc]
        s.next_step = None
        attrs: dict[str, Any] = {"weavegraph.step": step, "weavegraph.step.frontier": frontier}
        ran = frontier
        if s.skips:
            skipped = tuple(skip.node for skip, _ in s.skips)
            attrs["weavegraph.step.skipped"] = skipped
            ran = tuple(name for name in frontier if name not in skipped)
        if ran:
            attrs["weavegraph.step.ran"] = ran
        s.step_ran = ran
        span = self._tracer.start_span("weavegraph.step", context=s.run_ctx, attributes=attrs, start_time=t)
        for skip, at in s.skips:
            span.add_event(
                "node.skip", {"weavegraph.node.name": skip.node, "reason": skip.reason}, timestamp=at
            )
        if s.skips:
            s.skips = []
        s.step, s.step_ctx = span, trace.set_span_in_context(span, s.run_ctx)

    def _step_end(self, sid: str, record: StepEnd, t: int, error: str | None) -> None:
        s = self._sessions.get(sid)
        if s is None:
            return
        if s.next_step is not None:
            self._open_step(s)
        if s.step is None:
            return
        if record.ran != s.step_ran:  # (not seen: what ran is the frontier less its skips)
            s.step.set_attributes(
                {"weavegraph.step.ran": record.ran, "weavegraph.step.skipped": record.skipped}
            )
        self._close_step(s, t, None)

    def _close_step(self, s: SessionSpans, end: int, status: StatusCode | None) -> None:
        if s.next_step is not None:
            self._open_step(s)
        if s.nodes:
            for node, (start, step) in s.nodes.items():  # nodes cut short (a sibling failed, or a stop)
                attrs: dict[str, Any] = {"weavegraph.node.status": "cancelled", "weavegraph.node.name": node}
                if step is not None:
                    attrs["weavegraph.step"] = step
                self._node_span(s, node, start, end, attrs)
            s.nodes.clear()
            s.retries.clear()
        if s.step is not None:
            if status is StatusCode.ERROR:
                s.step.set_status(Status(StatusCode.ERROR))
            s.step.end(end_time=end)
            s.step, s.step_ctx = None, None

    # ------------------------------------------------------------ nodes
    # A node's span is made when its outcome is known (start time from its start, every attribute in the
    # dict it starts with): one start_span and one end per node run, no context attached or detached.

    def _node_span(
        self,
        s: SessionSpans,
        node: str,
        start: int,
        end: int,
        attrs: dict[str, Any],
        failure: tuple[str, str] | None = None,
    ) -> None:
        """The span of a node run from `start` to `end` (its attributes: `attrs`, name and step included);
        `failure`: (error type, message)."""
        if s.next_step is not None:
            self._open_step(s)
        name = self._node_names.get(node)
        if name is None:
            name = self._node_names[node] = f"weavegraph.node {node}"
        parent = s.step_ctx if s.step_ctx is not None else s.run_ctx
        span = self._tracer.start_span(name, context=parent, attributes=attrs, start_time=start)
        retries = s.retries.pop(node, None) if s.retries else None
        for retry, at in retries or ():
            found: dict[str, Any] = {"attempt": retry.attempt, "error": retry.error, "delay_s": retry.delay_s}
            span.add_event("retry", found, timestamp=at)
        if failure is not None:
            kind, message = failure
            span.add_event("exception", {"exception.type": kind, "exception.message": message}, timestamp=end)
            span.set_status(Status(StatusCode.ERROR, message))
        span.end(end_time=end)

    def _node_start(self, sid: str, record: NodeStart, t: int, error: str | None) -> None:
        self.node_started(sid, record.step, record.node, t)

    def _node_finish(self, sid: str, record: NodeFinish, t: int, error: str | None) -> None:
        self.node_finished(sid, record.step, record.node, t, record.duration_ms, record.attempts)

    def _node_error(self, sid: str, record: NodeFailed, t: int, error: str | None) -> None:
        s = self._session(sid)
        if s.muted:
            return
        node = record.node or "?"
        start, step = s.nodes.pop(node, (t, record.step))  # no start seen: it failed before it ran
        message = record.error or f"{node} failed"
        error_type = record.error_type or "NodeError"
        attrs: dict[str, Any] = {
            "weavegraph.node.status": "error",
            "weavegraph.node.attempts": record.attempts if record.attempts is not None else 1,
            "weavegraph.node.duration_ms": (t - start) / 1e6,
            "error.type": error_type,
            "weavegraph.node.name": node,
        }
        if step is not None:
            attrs["weavegraph.step"] = step
        self._node_span(s, node, start, t, attrs, (error_type, message))

    def _node_retry(self, sid: str, record: NodeRetry, t: int, error: str | None) -> None:
        s = self._sessions.get(sid)
        if s is not None and record.node in s.nodes:
            s.retries.setdefault(record.node, []).append((record, t))

    def _node_skip(self, sid: str, record: NodeSkip, t: int, error: str | None) -> None:
        s = self._sessions.get(sid)
        if s is not None and s.next_step is not None:
            s.skips.append((record, t))
        elif s is not None and s.step is not None:
            attrs = {"weavegraph.node.name": record.node, "reason": record.reason}
            s.step.add_event("node.skip", attrs, timestamp=t)

    # ------------------------------------------------------------ checkpoints

    def _checkpoint_saved(self, sid: str, record: CheckpointSaved, t: int, error: str | None) -> None:
        s = self._session(sid)
        if s.muted:
            return
        if s.next_step is not None:
            self._open_step(s)
        parent = s.step_ctx if s.step_ctx is not None else s.run_ctx
        if parent is None:
            s.early_saves.append((record, t))  # the save of a new session: parented under its coming run
            return
        self._save_span(record, t, parent)

    def _save_span(self, record: CheckpointSaved, end: int, parent: otel_context.Context | None) -> None:
        span = self._tracer.start_span(
            "weavegraph.checkpoint.save",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=save_attributes(record),
            start_time=end - save_ns(record),
        )
        span.end(end_time=end)

    # ------------------------------------------------------------ closing

    def end_open_spans(self) -> None:
        """End every span still open (a run cut short: its status says "interrupted")."""
        now = time.time_ns()
        for sid, s in list(self._sessions.items()):
            for save, at in s.early_saves:
                self._save_span(save, at, s.parent)
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


_HANDLERS: dict[type[LifecycleRecord], Callable[[TracingSink, str, Any, int, str | None], None]] = {
    RunStart: TracingSink._run_start,
    RunEnd: TracingSink._run_end,
    StepStart: TracingSink._step_start,
    StepEnd: TracingSink._step_end,
    NodeStart: TracingSink._node_start,
    NodeFinish: TracingSink._node_finish,
    NodeFailed: TracingSink._node_error,
    NodeRetry: TracingSink._node_retry,
    NodeSkip: TracingSink._node_skip,
    CheckpointSaved: TracingSink._checkpoint_saved,
}
