"""The per-node-run series of the metrics sink, kept as plain numbers and turned into Prometheus samples
only when scraped (needs the `metrics` extra).

A `prometheus_client` counter takes a lock per `inc()` and a histogram walks its buckets in Python per
`observe()`: a few microseconds per node run, as much as running a trivial node. Here a node run costs a
`bisect` and three additions on the event loop's thread; a scrape (another thread) copies the numbers, so it
may see a run's count before its sum (never a counter going down).

    weavegraph_node_runs_total{node}             node runs that ended (successful or failed)
    weavegraph_node_duration_seconds{node}       histogram of successful node run time
    weavegraph_steps_total                       supersteps finished
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["HotSeries"]


class HotSeries(Collector):
    """Node runs, node durations and steps of one registry (shared by every metrics sink on it)."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(float(b) for b in buckets)
        self._les = [floatToGoString(b) for b in self.buckets] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.nodes: dict[str, list[float]] = {}
        """node -> [runs, timed runs, seconds, one count per bucket (the last one: +Inf)]"""
        self.steps = 0

    def _row(self, node: str) -> list[float]:
        row = self.nodes.get(node)
        if row is None:
            row = self.nodes[node] = [0, 0, 0.0] + [0] * (len(self.buckets) + 1)
        return row

    def node_done(self, node: str, seconds: float) -> None:
        """A node run that ended successfully after `seconds`."""
        row = self.nodes.get(node)
        if row is None:
            row = self._row(node)
        row[0] += 1
        row[1] += 1
        row[2] += seconds
        row[3 + bisect_left(self.buckets, seconds)] += 1

    def node_failed(self, node: str) -> None:
        """A node run that failed (counted, not timed)."""
        self._row(node)[0] += 1

    def collect(self) -> Iterator[Metric]:
        rows = [(node, list(row)) for node, row in list(self.nodes.items())]
        runs = CounterMetricFamily("weavegraph_node_runs", "Node runs that ended", labels=["node"])
        durations = HistogramMetricFamily(
            "weavegraph_node_duration_seconds", "Node run time", labels=["node"]
        )
        for node, row in sorted(rows):
            runs.add_metric([node], row[0])
            if row[1]:
                cumulative, total = [], 0.0
                for le, n in zip(self._les, row[3:], strict=True):
                    total += n
                    cumulative.append((le, total))
                durations.add_metric([node], cumulative, row[2])
        steps = CounterMetricFamily("weavegraph_steps", "Supersteps finished")
        steps.add_metric([], self.steps)
        yield runs
        yield durations
        yield steps

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("weavegraph_node_runs", "Node runs that ended", labels=["node"])
        yield HistogramMetricFamily("weavegraph_node_duration_seconds", "Node run time", labels=["node"])
        yield CounterMetricFamily("weavegraph_steps", "Supersteps finished")
