"""The metrics sink's per-node-run and per-save series, kept as plain numbers and turned into Prometheus
samples only when scraped (needs the `metrics` extra).

A `prometheus_client` counter takes a lock per `inc()` and a histogram walks its buckets in Python per
`observe()`: a few microseconds per node run, as much as running a trivial node. Here an observation costs a
`bisect` and a few additions on the event loop's thread; a scrape (another thread) copies the numbers, so it
may see a run's count before its sum (never a counter going down).

    weavegraph_node_runs_total{node}                       node runs that ended (successful or failed)
    weavegraph_node_duration_seconds{node}                 histogram of successful node run time
    weavegraph_checkpoint_saves_total{backend}             checkpoints saved
    weavegraph_checkpoint_save_duration_seconds{backend}   histogram of checkpoint save time
    weavegraph_checkpoint_save_bytes{backend}              histogram of saved bytes (when the backend tells)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["HotHistogram", "HotSeries"]


class HotHistogram:
    """A labelled histogram (and the counter of its label values) as plain numbers: per label value
    `[counted unobserved, observed, sum, one count per bucket (the last: +Inf)]` (its count: the first two
    added up)."""

    def __init__(self, name: str, doc: str, label: str, buckets: Sequence[float]) -> None:
        self.name, self.doc, self.label = name, doc, label
        self.buckets = tuple(float(b) for b in buckets)
        self._les = [floatToGoString(b) for b in self.buckets] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.rows: dict[str, list[float]] = {}

    def row(self, value: str) -> list[float]:
        """The numbers of `value` (made at zero the first time); the metrics sink updates them in place."""
        row = self.rows.get(value)
        if row is None:
            row = self.rows[value] = [0, 0, 0.0] + [0] * (len(self.buckets) + 1)
        return row

    def observe(self, value: str, x: float) -> None:
        """Count one for `value` and observe `x`."""
        row = self.rows.get(value)
        if row is None:
            row = self.row(value)
        row[1] += 1
        row[2] += x
        row[3 + bisect_left(self.buckets, x)] += 1

    def count(self, value: str) -> None:
        """Count one for `value` without an observation (a failed node run)."""
        self.row(value)[0] += 1

    def family(self) -> HistogramMetricFamily:
        out = HistogramMetricFamily(self.name, self.doc, labels=[self.label])
        for value, row in sorted((v, list(r)) for v, r in list(self.rows.items())):
            if row[1]:
                cumulative, total = [], 0.0
                for le, n in zip(self._les, row[3:], strict=True):
                    total += n
                    cumulative.append((le, total))
                out.add_metric([value], cumulative, row[2])
        return out

    def counts(self, name: str, doc: str) -> CounterMetricFamily:
        out = CounterMetricFamily(name, doc, labels=[self.label])
        for value, n in sorted((v, r[0] + r[1]) for v, r in list(self.rows.items())):
            out.add_metric([value], n)
        return out


class HotSeries(Collector):
    """The series above for one registry (shared by every metrics sink on it)."""

    def __init__(self, durations: Sequence[float], sizes: Sequence[float]) -> None:
        self.nodes = HotHistogram("weavegraph_node_duration_seconds", "Node run time", "node", durations)
        self.saves = HotHistogram(
            "weavegraph_checkpoint_save_duration_seconds", "Checkpoint save time", "backend", durations
        )
        self.save_bytes = HotHistogram(
            "weavegraph_checkpoint_save_bytes", "Checkpoint save size", "backend", sizes
        )

    def collect(self) -> Iterator[Metric]:
        yield self.nodes.counts("weavegraph_node_runs", "Node runs that ended")
        yield self.nodes.family()
        yield self.saves.counts("weavegraph_checkpoint_saves", "Checkpoints saved")
        yield self.saves.family()
        yield self.save_bytes.family()

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("weavegraph_node_runs", "Node runs that ended", labels=["node"])
        yield HistogramMetricFamily("weavegraph_node_duration_seconds", "Node run time", labels=["node"])
        yield CounterMetricFamily("weavegraph_checkpoint_saves", "Checkpoints saved", labels=["backend"])
        yield HistogramMetricFamily(
            "weavegraph_checkpoint_save_duration_seconds", "Checkpoint save time", labels=["backend"]
        )
        yield HistogramMetricFamily(
            "weavegraph_checkpoint_save_bytes", "Checkpoint save size", labels=["backend"]
        )
