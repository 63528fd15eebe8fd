"""Typed lifecycle records: `edge.routed` per taken edge (contract C1), the unchanged JSON shape of every
lifecycle event, and reading records back from events."""

from __future__ import annotations

import json
from typing import Any

from engine import (
    AppRunner,
    EdgeRouted,
    Event,
    GraphBuilder,
    LifecycleRecord,
    MemorySink,
    MockClock,
    NodePartial,
    NodeRetry,
    RetryPolicy,
    VersionedState,
    lifecycle_record,
)
from engine.events.event import STREAM_END_SCOPE
from engine.events.records import LIFECYCLE_SCOPES, StepEnd
from engine.state import StateSnapshot

HI = VersionedState.new_with_user_message


async def noop(s: StateSnapshot, ctx: object) -> None:
    return None


async def bump(s: StateSnapshot, ctx: object) -> NodePartial:
    return NodePartial(extra={"n": s.extra.get("n", 0) + 1})


async def run_events(builder: GraphBuilder, clock: MockClock | None = None) -> list[Event]:
    runner_builder = AppRunner.builder().app(builder.compile()).lifecycle_events(True)
    if clock is not None:
        runner_builder.clock(clock)
    sink = MemorySink()
    async with await runner_builder.build() as runner:
        runner.bus.add_sink(sink)
        await runner.create_session("s", HI("hi"))
        await runner.run_until_complete("s")
    return sink.snapshot()


def routed(events: list[Event]) -> list[tuple[int, str, str, bool]]:
    out = []
    for e in events:
        if e.scope == "edge.routed":
            m = e.metadata
            out.append((m["step"], m["source"], m["target"], m["conditional"]))
    return out


async def test_two_nodes_routing_in_one_step_light_only_their_own_edges() -> None:
    # A -> C and B -> D run in one step; "ran x next_frontier" would also light A -> D and B -> C.
    b = GraphBuilder().add_node("A", noop).add_node("B", noop).add_node("C", noop).add_node("D", noop)
    b.add_edge("Start", "A").add_edge("Start", "B").add_edge("A", "C").add_edge("B", "D")
    b.add_edge("C", "End").add_edge("D", "End")
    events = await run_events(b)
    assert routed(events) == [
        (0, "Start", "A", False),
        (0, "Start", "B", False),
        (1, "A", "C", False),
        (1, "B", "D", False),
        (2, "C", "End", False),
        (2, "D", "End", False),
    ]
    first = next(e for e in events if e.scope == "edge.routed" and e.metadata["step"] == 1)
    assert first.type == "lifecycle" and first.message == "A -> C"
    assert first.metadata == {
        "source": "A",
        "target": "C",
        "conditional": False,
        "node_id": "A",
        "step": 1,
        "invocation_id": "s",
    }


async def test_a_shared_target_is_lit_from_both_sources_and_dropped_targets_are_not_routed() -> None:
    b = GraphBuilder().add_node("A", noop).add_node("B", noop).add_node("C", noop)
    b.add_edge("Start", "A").add_edge("Start", "B").add_edge("A", "C").add_edge("B", "C").add_edge("C", "End")
    b.add_conditional_edge("A", lambda s: ["Ghost", "C"])
    events = await run_events(b)
    assert [r for r in routed(events) if r[0] == 1] == [(1, "A", "C", False), (1, "B", "C", False)]
    dropped = [e for e in events if e.scope == "route.dropped"]
    assert [(e.node_id, e.metadata["target"]) for e in dropped] == [("A", "Ghost")]


async def test_predicates_and_frontier_commands_route_conditionally() -> None:
    async def hop(s: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(extra={"n": s.extra.get("n", 0) + 1}).with_frontier_replace(["B"])

    b = GraphBuilder().add_node("A", hop).add_node("B", bump).add_edge("Start", "A")
    b.add_conditional_edge("Start", lambda s: ["A"]).add_edge("A", "End")
    b.add_conditional_edge("B", lambda s: ["End"], targets=["End"])
    events = await run_events(b)
    assert routed(events) == [
        (0, "Start", "A", False),  # the edge; the predicate names A again, already in the frontier
        (1, "A", "B", True),  # Replace instead of A's edge to End
        (2, "B", "End", True),
    ]


async def test_edge_routed_comes_after_routing_and_before_step_end() -> None:
    b = GraphBuilder().add_node("A", bump).add_edge("Start", "A").add_edge("A", "End")
    scopes = [e.scope for e in await run_events(b)]
    step1 = scopes[scopes.index("step.start") : scopes.index("step.end") + 1]
    assert step1 == [
        "step.start",
        "node.start",
        "node.finish",
        "edge.routed",
        "checkpoint.saved",
        "step.end",
    ]
    assert scopes[-1] == STREAM_END_SCOPE


async def test_lifecycle_json_shape_is_unchanged() -> None:
    """Each lifecycle event's metadata keys, in order, as sinks and files have always seen them."""
    b = GraphBuilder().add_node("A", bump).add_edge("Start", "A").add_edge("A", "End")
    b.add_conditional_edge("A", lambda s: ["Ghost"])
    events = await run_events(b.add_edge("Start", "End"), MockClock(1_700_000_000))
    keys = {e.scope: list(e.metadata) for e in events if e.type == "lifecycle"}
    tail = ["step", "invocation_id", "now_unix_ms"]
    assert keys == {
        "edge.routed": ["source", "target", "conditional", "node_id", *tail],
        "checkpoint.saved": ["backend", "duration_ms", *tail],
        "run.start": tail,
        "step.start": ["frontier", *tail],
        "node.skip": ["reason", "node_id", *tail],
        "node.start": ["node_id", *tail],
        "node.finish": ["duration_ms", "node_id", *tail],
        "route.dropped": ["target", "node_id", *tail],
        "step.end": ["ran", "skipped", "updated_channels", "next_frontier", *tail],
        "run.end": ["status", *tail],
    }
    end = next(e for e in events if e.scope == "step.end")
    assert end.message == "step 1 ran 1, skipped 1"
    assert json.loads(end.to_json_string()) == {
        "type": "lifecycle",
        "scope": "step.end",
        "message": "step 1 ran 1, skipped 1",
        "timestamp": "2023-11-14T22:13:20Z",
        "seq": end.seq,
        "metadata": {
            "ran": ["A"],
            "skipped": ["End"],
            "updated_channels": ["extra"],
            "next_frontier": ["End"],
            "step": 1,
            "invocation_id": "s",
            "now_unix_ms": 1_700_000_000_000,
        },
    }
    messages = {e.scope: e.message for e in events if e.type == "lifecycle"}
    assert messages["run.start"] == "run of s started" and messages["run.end"] == "run of s completed"
    assert messages["node.skip"] == "End skipped (virtual)"
    assert messages["route.dropped"] == "unknown target 'Ghost' from 'A' dropped"
    assert messages["step.start"] == "step 1: A, End"


async def test_every_lifecycle_event_reads_back_as_its_record() -> None:
    calls: list[int] = []

    async def flaky(s: StateSnapshot, ctx: object) -> NodePartial:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("reset")
        return await bump(s, ctx)

    retry = RetryPolicy(max_attempts=2, initial_delay=0.0)
    b = GraphBuilder().add_node("A", flaky, retry=retry).add_edge("Start", "A").add_edge("A", "End")
    b.add_conditional_edge("A", lambda s: ["Ghost"]).add_edge("Start", "End")  # End skipped at step 1
    events = await run_events(b, MockClock(5))
    seen = set()
    for event in events:
        record = lifecycle_record(event)
        if event.type != "lifecycle":
            assert record is None
            continue
        assert isinstance(record, LifecycleRecord) and record.scope == event.scope
        seen.add(event.scope)
        again = record.to_event("s", event.now_unix_ms)
        assert (again.message, again.metadata, again.node_id, again.step) == (
            event.message,
            event.metadata,
            event.node_id,
            event.step,
        )
    assert seen == set(LIFECYCLE_SCOPES) - {"node.error"}
    edge = lifecycle_record(next(e for e in events if e.scope == "edge.routed"))
    assert edge == EdgeRouted(0, "Start", "A", False)
    step_end: Any = lifecycle_record(next(e for e in events if e.scope == "step.end"))
    assert isinstance(step_end, StepEnd) and step_end.ran == ("A",) and step_end.next_frontier == ("End",)
    retried = lifecycle_record(next(e for e in events if e.scope == "node.retry"))
    assert retried == NodeRetry(1, "A", 1, 2, 0.0, "ConnectionError: reset", 5000)
    finish: Any = lifecycle_record(next(e for e in events if e.scope == "node.finish"))
    assert finish.attempts == 2
    # records survive the JSON round trip of a file sink
    text = next(e for e in events if e.scope == "edge.routed").to_json_string()
    assert lifecycle_record(Event.from_json(text)) == edge
