"""Prometheus metrics from the runner's records and events (needs the `metrics` extra, prometheus-client).

`MetricsSink` is a run observer (the runner calls it directly; `engine.events.observer`) and an event-bus
sink (the other events, by type). It updates these series of a `CollectorRegistry` (default: the process's
global one); the per-node-run ones are plain numbers read at scrape time (`hot_series`):

    weavegraph_events_total{type}                          every event the bus delivered, by event type
    weavegraph_runs_total{status}                          finished runs and invocations (completed/error)
    weavegraph_runs_active                                 runs started and not yet ended
    weavegraph_steps_total                                 supersteps finished
    weavegraph_node_runs_total{node}                       node runs finished (successful or failed)
    weavegraph_node_failures_total{node}                   node runs that failed
    weavegraph_node_retries_total{node}                    retries (node.retry events)
    weavegraph_node_duration_seconds{node}                 histogram of node run time
    weavegraph_checkpoint_saves_total{backend}             checkpoints saved
    weavegraph_checkpoint_save_duration_seconds{backend}   histogram of checkpoint save time
    weavegraph_checkpoint_save_bytes{backend}              histogram of saved bytes (when events carry it)
    weavegraph_sink_dropped_events_total{sink}             events a bus dropped for a sink (read at scrape)
    weavegraph_sink_errors_total{sink}                     sink failures (read at scrape)

`serve_metrics(port)` exposes a registry over HTTP (`/metrics`); a port in use costs one warning line.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from engine.events.event import Event
from engine.events.records import (
    CheckpointSaved,
    LifecycleRecord,
    NodeFailed,
    NodeFinish,
    NodeRetry,
    NodeStart,
    RunEnd,
    RunStart,
    StepEnd,
    lifecycle_record,
)
from engine.observability.hot_series import HotSeries
from engine.observability.warn import Warn

__all__ = ["MetricsSink", "WeavegraphMetrics", "metrics_for", "serve_metrics"]

_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BYTES_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)


class _BusCollector(Collector):
    """Read when scraped: the sink drops and errors of the watched buses, and the event and step counts of
    the metrics sinks (plain per-sink numbers the loop updates without a lock: a scrape copies them). What
    closed buses and sinks counted is kept in `retire` (a counter never goes down)."""

    def __init__(self) -> None:
        self._buses: weakref.WeakSet[Any] = weakref.WeakSet()
        self._sinks: list[MetricsSink] = []
        self._retired: dict[str, tuple[int, int]] = {}
        self._retired_counts: dict[str, int] = {}
        self._retired_steps = 0
        self._lock = threading.Lock()

    def watch(self, bus: Any, sink: MetricsSink) -> None:
        with self._lock:
            if bus is not None:
                self._buses.add(bus)
            self._sinks.append(sink)

    def retire(self, bus: Any, sink: MetricsSink) -> None:
        with self._lock:
            if bus is not None and bus in self._buses:
                self._buses.discard(bus)
                for name, (dropped, errors) in _health(bus).items():
                    old = self._retired.get(name, (0, 0))
                    self._retired[name] = (old[0] + dropped, old[1] + errors)
            if any(s is sink for s in self._sinks):
                self._sinks = [s for s in self._sinks if s is not sink]
                for kind, n in sink.event_counts().items():
                    self._retired_counts[kind] = self._retired_counts.get(kind, 0) + n
                self._retired_steps += sink.steps

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            totals = dict(self._retired)
            for bus in list(self._buses):
                for name, (dropped, errors) in _health(bus).items():
                    old = totals.get(name, (0, 0))
                    totals[name] = (old[0] + dropped, old[1] + errors)
            events = dict(self._retired_counts)
            steps = self._retired_steps
            for sink in self._sinks:
                for kind, n in sink.event_counts().items():
                    events[kind] = events.get(kind, 0) + n
                steps += sink.steps
        stepped = CounterMetricFamily("weavegraph_steps", "Supersteps finished")
        stepped.add_metric([], steps)
        yield stepped
        counted = CounterMetricFamily(
            "weavegraph_events", "Events delivered to the metrics sink", labels=["type"]
        )
        for kind, n in sorted(events.items()):
            counted.add_metric([kind], n)
        yield counted
        drops = CounterMetricFamily(
            "weavegraph_sink_dropped_events", "Events an event bus dropped for a sink", labels=["sink"]
        )
        failures = CounterMetricFamily("weavegraph_sink_errors", "Failures of an event sink", labels=["sink"])
        for name, (dropped, failed) in sorted(totals.items()):
            drops.add_metric([name], dropped)
            failures.add_metric([name], failed)
        yield drops
        yield failures

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("weavegraph_steps", "Supersteps finished")
        yield CounterMetricFamily(
            "weavegraph_events", "Events delivered to the metrics sink", labels=["type"]
        )
        yield CounterMetricFamily(
            "weavegraph_sink_dropped_events", "Events an event bus dropped for a sink", labels=["sink"]
        )
        yield CounterMetricFamily("weavegraph_sink_errors", "Failures of an event sink", labels=["sink"])


def _health(bus: Any) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for row in bus.sink_health():
        old = out.get(row.sink, (0, 0))
        out[row.sink] = (old[0] + row.dropped, old[1] + row.error_count)
    return out


class WeavegraphMetrics:
    """The metric objects of one registry (created once per registry by `metrics_for`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.runs = Counter("weavegraph_runs", "Runs and invocations that ended", ["status"], registry=r)
        self.runs_active = Gauge("weavegraph_runs_active", "Runs started and not yet ended", registry=r)
        self.node_failures = Counter(
            "weavegraph_node_failures", "Node runs that failed", ["node"], registry=r
        )
        self.node_retries = Counter("weavegraph_node_retries", "Node retries", ["node"], registry=r)
        self.buses = _BusCollector()
        r.register(self.buses)
        self.hot = HotSeries(_DURATION_BUCKETS, _BYTES_BUCKETS)  # node runs, steps, saves: plain numbers
        r.register(self.hot)


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, WeavegraphMetrics] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry | None = None) -> WeavegraphMetrics:
    """The metric objects registered in `registry` (default: the global one), created the first time."""
    reg = REGISTRY if registry is None else registry
    with _by_registry_lock:
        found = _by_registry.get(reg)
        if found is None:
            found = _by_registry[reg] = WeavegraphMetrics(reg)
        return found


class MetricsSink:
    """Updates the `weavegraph_*` series from events (see the module docstring). `bus`: the bus whose sink
    drops and errors are reported (the one this sink is attached to)."""

    non_blocking = True  # counter updates are quick and thread-safe: stay on the loop
    blocking = False
    wants_edges = False  # no series from edge.routed: the runner need not build those records for us
    wants_steps = False  # nor step.start/step.end/node.skip: steps are counted by `step_finished`
    wants_node_starts = False  # a node run is counted when it ends

    def __init__(
        self, registry: CollectorRegistry | None = None, *, bus: Any = None, name: str = "prometheus"
    ) -> None:
        self.name = name
        self.metrics = metrics_for(registry)
        self._bus = bus
        self._counts: dict[str, int] = {}  # events by type (the bus's, and the records')
        # The run observer's hooks stand for lifecycle events (a node run's start and finish, a step's
        # end) and count them here; `event_counts()` adds them up at scrape time.
        self._hook_events = 0
        self.steps = 0  # supersteps finished (weavegraph_steps_total, summed over the sinks at scrape)
        self._hot = self.metrics.hot
        nodes = self._hot.nodes
        self._node_rows, self._node_row, self._node_buckets = nodes.rows, nodes.row, nodes.buckets
        self._observing = False  # set once the runner calls it as a run observer
        self._starts_seen = False
        self.metrics.buses.watch(bus, self)

    def event_counts(self) -> dict[str, int]:
        """Events counted by type (read at scrape time, from another thread: a copy)."""
        counts = dict(self._counts)
        if self._hook_events:
            counts["lifecycle"] = counts.get("lifecycle", 0) + self._hook_events
        return counts

    def handle(self, event: Event) -> None:
        """As an event-bus sink: count the event by type; a lifecycle event updates the series too, unless
        this sink observes the runner directly (then its records did, see `observe`)."""
        kind = event.type
        if kind == "lifecycle":
            if self._observing:
                return  # counted from the record the runner handed this sink
            record = lifecycle_record(event)
            if record is not None:
                self._record(record)
                return
        counts = self._counts
        counts[kind] = counts.get(kind, 0) + 1  # read at scrape time: no lock per event

    # ------------------------------------------------------------ as a run observer

    def observe(self, session_id: str, record: LifecycleRecord, t_ns: int, error: str | None) -> None:
        self._observing = True
        if type(record) is not StepEnd:  # steps (and their end) are counted by step_finished
            self._record(record)

    def node_started(self, session_id: str, step: int, node: str, t_ns: int) -> None:
        """Not called (`wants_node_starts = False`): `node_finished` counts both events."""

    def node_finished(
        self, session_id: str, step: int, node: str, t_ns: int, duration_ms: float, attempts: int | None
    ) -> None:
        # Called once per node run: `HotHistogram.observe` inlined, and node.start and node.finish
        # counted as one number (`event_counts` adds it to the lifecycle events).
        self._hook_events += 2
        row = self._node_rows.get(node)
        if row is None:
            row = self._node_row(node)
        seconds = duration_ms / 1000.0
        row[1] += 1
        row[2] += seconds
        row[3 + bisect_left(self._node_buckets, seconds)] += 1

    def step_finished(self, session_id: str, step: int, t_ns: int) -> None:
        self._hook_events += 1  # the lifecycle event it stands for (step.end)
        self.steps += 1

    def _record(self, record: LifecycleRecord) -> None:
        counts = self._counts
        counts["lifecycle"] = counts.get("lifecycle", 0) + 1
        m = self.metrics
        kind = type(record)
        if kind is NodeStart:
            self._starts_seen = True  # lifecycle events are on: node starts come as records
        elif kind is StepEnd:
            self.steps += 1
        elif isinstance(record, NodeFinish):
            self._hot.nodes.observe(record.node, record.duration_ms / 1000.0)
        elif isinstance(record, CheckpointSaved):
            backend = record.backend or "unknown"
            self._hot.saves.observe(backend, record.duration_ms / 1000.0)
            if record.bytes is not None:
                self._hot.save_bytes.observe(backend, record.bytes)
        elif isinstance(record, NodeFailed):
            if not self._starts_seen:  # its node.start was not observed (see node_finished)
                counts["lifecycle"] += 1
            self._hot.nodes.count(record.node)
            m.node_failures.labels(record.node).inc()
        elif isinstance(record, NodeRetry):
            m.node_retries.labels(record.node or "?").inc()
        elif kind is RunStart:
            m.runs_active.inc()
        elif isinstance(record, RunEnd):
            m.runs_active.dec()
            m.runs.labels(record.status or "unknown").inc()

    def close(self) -> None:
        self.metrics.buses.retire(self._bus, self)

    def __repr__(self) -> str:
        return f"MetricsSink(name={self.name!r})"


class MetricsServer:
    """A running `/metrics` HTTP endpoint; `close()` stops it."""

    def __init__(self, server: Any, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    port: int, *, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None, warn: Warn
) -> MetricsServer | None:
    """Serve `registry` (default: the global one) on `addr:port`; None and one warning line when the port
    cannot be bound (in use, no permission), so the run goes on without it."""
    reg = REGISTRY if registry is None else registry
    metrics_for(reg)  # the series exist (at zero) from the first scrape
    try:
        server, thread = start_http_server(port, addr=addr, registry=reg)
    except OSError as exc:
        warn(
            f"weavegraph: warning: metrics are not served: cannot listen on {addr}:{port} "
            f"({exc.strerror or exc})"
        )
        return None
    return MetricsServer(server, thread, server.server_address[1])
