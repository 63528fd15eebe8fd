"""Spans from real runs, captured with the OpenTelemetry SDK's in-memory exporter: the run > step > node /
checkpoint-save tree, timings from the events, errors on spans, trace context carried in a job dict, and the
`OTEL_*` switches."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from engine.errors import NodeRunError
from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import MemorySink
from engine.graph.builder import GraphBuilder
from engine.observability import instrument, tracing_wanted
from engine.observability.tracing import TracingSink, extract_trace_context, inject_trace_context
from engine.partial import NodePartial
from engine.persistence.factory import open_checkpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState

HI = VersionedState.new_with_user_message


async def slow(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    await asyncio.sleep(0.05)
    return NodePartial(extra={"slow": True})


async def quick(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    return NodePartial(extra={"quick": True})


async def broken(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    raise ValueError("bad input 42")


def chain_app() -> Any:
    return (
        GraphBuilder()
        .add_node("A", slow)
        .add_node("B", quick)
        .add_edge("Start", "A")
        .add_edge("A", "B")
        .add_edge("B", "End")
        .compile()
    )


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def run_traced(app: Any, provider: TracerProvider, url: str, session: str = "s1") -> Any:
    checkpointer = await open_checkpointer(url)
    builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer)
    found = instrument(builder, tracing=provider, graph_name="demo")
    assert found.active and found.tracing is not None and found.metrics is None
    try:
        async with await builder.build() as runner:
            await runner.create_session(session, HI("go"))
            return await runner.run_until_complete(session)
    finally:
        await checkpointer.aclose()


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_run_step_node_and_save_spans_form_one_tree(
    provider: TracerProvider, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    app = chain_app()
    final = await run_traced(app, provider, f"sqlite://{tmp_path / 'cp.db'}")
    assert final.extra["quick"] is True
    spans = exporter.get_finished_spans()
    (run,) = by_name(spans, "weavegraph.run demo")
    steps = by_name(spans, "weavegraph.step")
    saves = by_name(spans, "weavegraph.checkpoint.save")
    (node_a,) = by_name(spans, "weavegraph.node A")
    (node_b,) = by_name(spans, "weavegraph.node B")
    assert {s.context.trace_id for s in spans} == {run.context.trace_id}
    assert run.parent is None
    assert run.attributes is not None
    assert run.attributes["weavegraph.session.id"] == "s1"
    assert run.attributes["weavegraph.graph.name"] == "demo"
    assert run.attributes["weavegraph.graph.hash"] == app.graph_definition_hash()
    assert run.attributes["weavegraph.run.status"] == "completed"
    assert run.status.status_code is StatusCode.UNSET
    assert [s.attributes["weavegraph.step"] for s in steps if s.attributes] == [1, 2]
    assert all(parent_id(s) == run.context.span_id for s in steps)
    assert parent_id(node_a) == steps[0].context.span_id
    assert parent_id(node_b) == steps[1].context.span_id
    # The save of the new session (step 0) happens before run.start and is parented under the run; each
    # step's save under its step.
    assert [s.attributes["weavegraph.checkpoint.step"] for s in saves if s.attributes] == [0, 1, 2]
    assert parent_id(saves[0]) == run.context.span_id
    assert parent_id(saves[1]) == steps[0].context.span_id
    assert parent_id(saves[2]) == steps[1].context.span_id
    for save in saves:
        assert save.attributes is not None
        assert save.attributes["db.system"] == "sqlite"
        assert save.attributes["weavegraph.checkpoint.backend"] == "sqlite"
        assert save.kind is trace.SpanKind.CLIENT
        assert save.start_time is not None and save.end_time is not None
        assert save.start_time <= save.end_time
    assert run.start_time is not None and run.end_time is not None
    assert run.start_time <= saves[0].start_time  # type: ignore[operator]
    # Timings come from the events: A sleeps 50 ms.
    assert node_a.attributes is not None
    assert node_a.end_time is not None and node_a.start_time is not None
    assert 0.045 <= (node_a.end_time - node_a.start_time) / 1e9 < 1.0
    assert node_a.attributes["weavegraph.node.duration_ms"] >= 45  # type: ignore[operator]
    assert node_a.attributes["weavegraph.node.status"] == "ok"
    assert node_a.attributes["weavegraph.node.attempts"] == 1
    assert node_a.status.status_code is StatusCode.UNSET  # success leaves it unset (the spec)
    assert steps[0].start_time <= node_a.start_time and node_a.end_time <= steps[0].end_time  # type: ignore[operator]
    assert steps[0].attributes is not None
    assert list(steps[0].attributes["weavegraph.step.ran"]) == ["A"]  # type: ignore[arg-type]
    assert run.end_time >= steps[1].end_time  # type: ignore[operator]


async def test_a_failed_node_records_the_error_on_its_span_and_the_run(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = (
        GraphBuilder()
        .add_node("ok", quick)
        .add_node("bad", broken)
        .add_edge("Start", "ok")
        .add_edge("ok", "bad")
        .add_edge("bad", "End")
        .compile()
    )
    with pytest.raises(NodeRunError):
        await run_traced(app, provider, "memory:")
    spans = exporter.get_finished_spans()
    (bad,) = by_name(spans, "weavegraph.node bad")
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.status.description is not None and "bad input 42" in bad.status.description
    assert bad.attributes is not None and bad.attributes["weavegraph.node.status"] == "error"
    (exc_event,) = [e for e in bad.events if e.name == "exception"]
    assert exc_event.attributes is not None
    assert "bad input 42" in str(exc_event.attributes["exception.message"])
    assert exc_event.attributes["exception.type"] == "ValueError"  # node.error's error_type
    assert bad.attributes["error.type"] == "ValueError"
    (run,) = by_name(spans, "weavegraph.run demo")
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description is not None and "bad input 42" in run.status.description
    assert run.attributes is not None and run.attributes["weavegraph.run.status"] == "error"
    step2 = [
        s for s in by_name(spans, "weavegraph.step") if s.attributes and s.attributes["weavegraph.step"] == 2
    ]
    assert step2 and step2[0].status.status_code is StatusCode.ERROR
    # The in-memory backend is not a database: no db.system.
    saves = by_name(spans, "weavegraph.checkpoint.save")
    assert saves and all(s.attributes is not None and "db.system" not in s.attributes for s in saves)


async def test_a_run_continues_the_trace_a_job_carried(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    submitter = provider.get_tracer("submitter")
    with submitter.start_as_current_span("submit job") as submit:
        job: dict[str, str] = inject_trace_context({})
    assert job["traceparent"].split("-")[1] == f"{submit.get_span_context().trace_id:032x}"
    # The worker side: a fresh runner continues that trace for the job's session.
    app = chain_app()
    bus = EventBus()
    found = instrument(bus, app=app, tracing=provider)
    found.continue_trace("job-1", job)
    async with await AppRunner.builder().app(app).event_bus(bus).lifecycle_events(True).build() as runner:
        await runner.create_session("job-1", HI("go"))
        await runner.run_until_complete("job-1")
    (run,) = by_name(exporter.get_finished_spans(), "weavegraph.run")
    assert run.context.trace_id == submit.get_span_context().trace_id
    assert run.parent is not None and run.parent.span_id == submit.get_span_context().span_id
    assert (
        run.attributes is not None and run.attributes["weavegraph.graph.hash"] == app.graph_definition_hash()
    )


def test_trace_context_round_trips_through_a_dict(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer") as outer:
        carrier = inject_trace_context({"job": "x"})
    assert carrier["job"] == "x"
    ctx = extract_trace_context(carrier)
    assert trace.get_current_span(ctx).get_span_context().span_id == outer.get_span_context().span_id
    assert inject_trace_context({}) == {}  # no current span: nothing to carry
    empty = extract_trace_context({"traceparent": "garbage"})
    assert not trace.get_current_span(empty).get_span_context().is_valid


async def test_spans_left_open_end_when_the_bus_closes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = TracingSink(provider)
    bus = EventBus(sinks=[sink])
    meta = {"invocation_id": "cut"}
    bus.publish(Event.create("lifecycle", "run.start", "run of cut started", step=0, metadata=meta))
    bus.publish(Event.create("lifecycle", "step.start", "step 1", step=1, metadata=meta))
    bus.publish(Event.create("lifecycle", "node.start", "A started", step=1, node_id="A", metadata=meta))
    await bus.aclose()
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == ["weavegraph.node A", "weavegraph.run", "weavegraph.step"]
    run = by_name(spans, "weavegraph.run")[0]
    node = by_name(spans, "weavegraph.node A")[0]
    assert run.attributes is not None and run.attributes["weavegraph.run.status"] == "interrupted"
    assert node.attributes is not None and node.attributes["weavegraph.node.status"] == "cancelled"


async def test_save_bytes_and_retries_when_the_events_carry_them(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    bus = EventBus(sinks=[TracingSink(provider)])
    meta: dict[str, Any] = {"invocation_id": "r"}
    bus.publish(Event.create("lifecycle", "run.start", "run of r started", step=0, metadata=meta))
    bus.publish(Event.create("lifecycle", "step.start", "step 1", step=1, metadata=meta))
    bus.publish(Event.create("lifecycle", "node.start", "A started", step=1, node_id="A", metadata=meta))
    retry = {**meta, "attempt": 1, "error": "flaky"}
    bus.publish(Event.create("lifecycle", "node.retry", "A retried", step=1, node_id="A", metadata=retry))
    done = {**meta, "duration_ms": 1.5, "attempts": 2}
    bus.publish(Event.create("lifecycle", "node.finish", "A finished", step=1, node_id="A", metadata=done))
    saved = {**meta, "backend": "postgres", "duration_ms": 2.0, "bytes": 1234}
    bus.publish(Event.create("lifecycle", "checkpoint.saved", "saved", step=1, metadata=saved))
    bus.publish(Event.create("lifecycle", "step.end", "step 1", step=1, metadata=meta))
    bus.publish(
        Event.create("lifecycle", "run.end", "done", step=1, metadata={**meta, "status": "completed"})
    )
    await bus.aclose()
    spans = exporter.get_finished_spans()
    node = by_name(spans, "weavegraph.node A")[0]
    assert node.attributes is not None and node.attributes["weavegraph.node.attempts"] == 2
    assert [e.name for e in node.events] == ["retry"]
    save = by_name(spans, "weavegraph.checkpoint.save")[0]
    assert save.attributes is not None
    assert save.attributes["weavegraph.checkpoint.bytes"] == 1234
    assert save.attributes["db.system"] == "postgresql"
    assert save.end_time is not None and save.start_time is not None
    assert save.end_time - save.start_time == 2_000_000


def test_tracing_wanted_follows_the_standard_variables() -> None:
    assert not tracing_wanted({})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"})
    assert not tracing_wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


async def test_instrument_is_off_unless_asked(provider: TracerProvider) -> None:
    bus = EventBus()
    assert not instrument(bus, environ={}).active
    assert not instrument(bus, tracing=True, environ={"OTEL_SDK_DISABLED": "true"}).active
    assert not instrument(bus, tracing=False, environ={"OTEL_TRACES_EXPORTER": "console"}).active
    assert bus.sinks == ()
    # A builder that is not instrumented keeps its lifecycle setting and gets no bus.
    builder = AppRunner.builder().app(chain_app())
    assert not instrument(builder, environ={}).active
    sink = MemorySink()
    async with await builder.event_bus(EventBus(sinks=[sink])).build() as runner:
        await runner.create_session("quiet", HI("go"))
        await runner.run_until_complete("quiet")
        await runner.bus.flush()
    assert not [e for e in sink.snapshot() if e.type == "lifecycle"]
    await bus.aclose()
