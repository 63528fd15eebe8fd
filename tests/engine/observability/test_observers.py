"""Tracing and metrics as run observers: the runner hands them its records directly, so no lifecycle events
are published for them; a checkpointer that tells its encoded size puts `bytes` on the save spans."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from engine.events.bus import EventBus
from engine.events.records import EdgeRouted, LifecycleRecord, RunEnd
from engine.events.sinks import MemorySink
from engine.graph.builder import GraphBuilder
from engine.observability import instrument
from engine.partial import NodePartial
from engine.persistence.base import Checkpoint
from engine.persistence.memory import InMemoryCheckpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState

HI = VersionedState.new_with_user_message


async def bump(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    return NodePartial(extra={"n": int(snapshot.extra.get("n", 0)) + 1})


async def broken(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    raise KeyError("no such thing")


def app_of(*nodes: tuple[str, Any]) -> Any:
    b = GraphBuilder()
    names = [name for name, _ in nodes]
    for name, fn in nodes:
        b.add_node(name, fn)
    b.add_edge("Start", names[0])
    for a, c in itertools.pairwise(names):
        b.add_edge(a, c)
    b.add_edge(names[-1], "End")
    return b.compile()


class SizedCheckpointer(InMemoryCheckpointer):
    """The in-memory checkpointer telling the size of what it saved, as the SQL backends can
    (`last_save_bytes`: the encoded checkpoint's length)."""

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        await super().save(checkpoint, expected_last_step)
        self.last_save_bytes = len(repr(checkpoint.state).encode())


async def test_tracing_and_metrics_observe_the_runner_without_lifecycle_events() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    memory = MemorySink()
    checkpointer = SizedCheckpointer()
    builder = AppRunner.builder().app(app_of(("a", bump), ("b", bump))).checkpointer_custom(checkpointer)
    builder.event_bus(EventBus(sinks=[memory]))
    found = instrument(builder, tracing=provider, metrics=registry, environ={})
    assert found.tracing in builder._bus.observers and found.metrics in builder._bus.observers
    async with await builder.build() as runner:
        await runner.create_session("obs", HI("go"))
        final = await runner.run_until_complete("obs")
        await runner.bus.flush()
    assert final.extra["n"] == 2
    assert not [e for e in memory.snapshot() if e.type == "lifecycle"]  # nobody asked for events
    spans = exporter.get_finished_spans()
    names = sorted(s.name for s in spans)
    assert (
        names.count("weavegraph.step") == 2 and "weavegraph.node a" in names and "weavegraph.node b" in names
    )
    saves = [s for s in spans if s.name == "weavegraph.checkpoint.save"]
    assert len(saves) == 3
    for save in saves:
        assert save.attributes is not None
        size = save.attributes["weavegraph.checkpoint.bytes"]
        assert isinstance(size, int) and size > 10
    assert registry.get_sample_value("weavegraph_node_runs_total", {"node": "a"}) == 1
    assert registry.get_sample_value("weavegraph_steps_total") == 2
    backend = saves[0].attributes["weavegraph.checkpoint.backend"]  # type: ignore[index]
    assert registry.get_sample_value("weavegraph_checkpoint_save_bytes_count", {"backend": str(backend)}) == 3
    lifecycle = registry.get_sample_value("weavegraph_events_total", {"type": "lifecycle"})
    assert lifecycle is not None and lifecycle >= 10  # records counted once, as lifecycle events


async def test_with_lifecycle_events_on_too_nothing_is_counted_twice() -> None:
    registry = CollectorRegistry()
    memory = MemorySink()
    builder = AppRunner.builder().app(app_of(("a", bump))).lifecycle_events(True)
    builder.event_bus(EventBus(sinks=[memory]))
    instrument(builder, metrics=registry, environ={})
    async with await builder.build() as runner:
        await runner.create_session("twice", HI("go"))
        await runner.run_until_complete("twice")
        await runner.bus.flush()
    published = [e for e in memory.snapshot() if e.type == "lifecycle"]
    assert registry.get_sample_value("weavegraph_node_runs_total", {"node": "a"}) == 1
    assert registry.get_sample_value("weavegraph_steps_total") == 1
    assert registry.get_sample_value("weavegraph_events_total", {"type": "lifecycle"}) == len(published)


class Recorder:
    """A run observer keeping what it is told; declares it needs no edge records."""

    wants_edges = False

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def observe(self, session_id: str, record: LifecycleRecord, t_ns: int, error: str | None) -> None:
        self.seen.append((type(record).__name__, error))

    def node_started(self, session_id: str, step: int, node: str, t_ns: int) -> None:
        self.seen.append(("node_started", node))

    def node_finished(
        self, session_id: str, step: int, node: str, t_ns: int, duration_ms: float, attempts: int | None
    ) -> None:
        self.seen.append(("node_finished", node))


async def test_an_observer_gets_records_node_hooks_and_the_run_error() -> None:
    observer = Recorder()
    bus = EventBus().add_observer(observer)
    bus.add_observer(observer)  # once only
    assert bus.observers == (observer,)
    app = app_of(("ok", bump), ("bad", broken))
    async with await AppRunner.builder().app(app).event_bus(bus).build() as runner:
        await runner.create_session("err", HI("go"))
        try:
            await runner.run_until_complete("err")
        except Exception:
            pass
    kinds = [k for k, _ in observer.seen]
    assert kinds[0] == "CheckpointSaved" and kinds[1] == "RunStart" and kinds[-1] == "RunEnd"  # step 0 first
    assert ("node_started", "ok") in observer.seen and ("node_finished", "ok") in observer.seen
    assert ("node_started", "bad") in observer.seen and ("node_finished", "bad") not in observer.seen
    assert "NodeFailed" in kinds and EdgeRouted.__name__ not in kinds
    (error,) = [e for k, e in observer.seen if k == RunEnd.__name__]
    assert error is not None and "no such thing" in error


def test_hot_histograms_scrape_like_prometheus_histograms() -> None:
    """The plain-number series give the very samples a prometheus_client Histogram gives for the same
    observations (bucket edges inclusive, cumulative buckets, +Inf, count and sum)."""
    from prometheus_client import Histogram

    from engine.observability.hot_series import HotSeries

    buckets = (0.001, 0.01, 0.1, 1.0)
    values = [0.0, 0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 0.01]
    reference = CollectorRegistry()
    histogram = Histogram("weavegraph_node_duration_seconds", "Node run time", ["node"], buckets=buckets)
    reference.register(histogram)
    ours = CollectorRegistry()
    hot = HotSeries(buckets, (1,))
    ours.register(hot)
    for v in values:
        histogram.labels("n").observe(v)
        hot.nodes.observe("n", v)
    hot.nodes.count("n")  # a failed run: counted, not timed
    for suffix in ("_count", "_sum"):
        name = "weavegraph_node_duration_seconds" + suffix
        assert ours.get_sample_value(name, {"node": "n"}) == reference.get_sample_value(name, {"node": "n"})
    for le in ("0.001", "0.01", "0.1", "1.0", "+Inf"):
        labels = {"node": "n", "le": le}
        name = "weavegraph_node_duration_seconds_bucket"
        assert ours.get_sample_value(name, labels) == reference.get_sample_value(name, labels), le
    assert ours.get_sample_value("weavegraph_node_runs_total", {"node": "n"}) == len(values) + 1


async def test_a_step_span_carries_its_skips_and_what_ran() -> None:
    """The step span starts when its first child needs it: with the skipped nodes (attribute and one
    `node.skip` span event each) and what ran (the frontier less the skipped) already set."""
    from engine.events.records import NodeFinish, NodeSkip, NodeStart, RunStart, StepEnd, StepStart
    from engine.observability.tracing import TracingSink

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = TracingSink(provider)
    t = 1_000_000_000
    sink.observe("s", RunStart(0, "run", "s"), t, None)
    sink.observe("s", StepStart(1, ("A", "J")), t + 10, None)
    sink.observe("s", NodeSkip(1, "J", "waiting"), t + 20, None)
    sink.observe("s", NodeStart(1, "A"), t + 30, None)
    sink.observe("s", NodeFinish(1, "A", 0.001), t + 40, None)
    sink.observe("s", StepEnd(1, ("A",), ("J",), (), ("End",)), t + 50, None)
    sink.observe("s", RunEnd(1, "run", "s", "completed"), t + 60, None)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    step = spans["weavegraph.step"]
    assert step.attributes is not None
    assert list(step.attributes["weavegraph.step.ran"]) == ["A"]  # type: ignore[arg-type]
    assert list(step.attributes["weavegraph.step.skipped"]) == ["J"]  # type: ignore[arg-type]
    assert [(e.name, e.timestamp) for e in step.events] == [("node.skip", t + 20)]
    assert (step.start_time, step.end_time) == (t + 10, t + 50)
    node = spans["weavegraph.node A"]
    assert node.parent is not None and node.parent.span_id == step.context.span_id
    assert (node.start_time, node.end_time) == (t + 30, t + 40)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_sql_backends_tell_the_size_of_each_save(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """SQLite and Postgres set `last_save_bytes` after each save, so save spans carry `bytes`, and the
    figure grows with the state (it is the encoded checkpoint, not a constant)."""
    from engine.persistence.postgres import PostgresCheckpointer
    from engine.persistence.sqlite import SQLiteCheckpointer

    cp: Any
    if backend == "sqlite":
        cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'b.db'}")
    else:
        cp = await PostgresCheckpointer.connect(request.getfixturevalue("postgres_url"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    builder = AppRunner.builder().app(app_of(("a", bump), ("b", bump))).checkpointer_custom(cp)
    instrument(builder, tracing=provider, environ={})
    try:
        async with await builder.build() as runner:
            await runner.create_session("small", HI("go"))
            await runner.run_until_complete("small")
            await runner.create_session("big", HI("go " * 2000))
            await runner.run_until_complete("big")
    finally:
        await cp.aclose()
    flat: list[int] = []
    for span in exporter.get_finished_spans():
        if span.name == "weavegraph.checkpoint.save":
            assert span.attributes is not None
            size = span.attributes["weavegraph.checkpoint.bytes"]
            assert isinstance(size, int)
            flat.append(size)
    flat.sort()
    assert len(flat) == 6 and flat[0] > 50 and flat[-1] > 6000 > flat[2]
