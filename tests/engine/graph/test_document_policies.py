"""Node policies in documents: `retry`, `timeout_s` and `wait_for` validated with JSON paths, kept by the
stable saver, applied by `document_to_app`, and written by `app_to_document` for code-first graphs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine import AppRunner, EventBus, MemorySink, NodeRunError, RetryPolicy, VersionedState
from engine.graph.builder import GraphBuilder
from engine.graph.document import (
    DocumentError,
    app_to_document,
    document_input_state,
    document_to_app,
    dumps_document,
    example_path,
    load_document,
    parse_document,
    save_document,
    validate_document,
)
from tests.engine.nodes import appender


def node(node_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "set", "config": {"values": {node_id: 1}}, **fields}


def document(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": nodes,
        "edges": [{"from": s, "to": d} for s, d in edges],
    }


CHAIN = [("Start", "a"), ("a", "b"), ("b", "End")]


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"retry": {"max_attempts": 0}}, ["$.nodes[1].retry.max_attempts: must be at least 1, got 0"]),
        ({"retry": {"max_attempts": 2.5}}, ["$.nodes[1].retry.max_attempts: expected integer, got number"]),
        (
            {"retry": {"initial_delay_s": -1}},
            ["$.nodes[1].retry.initial_delay_s: must be at least 0, got -1"],
        ),
        ({"retry": {"backoff": 0.5}}, ["$.nodes[1].retry.backoff: must be at least 1, got 0.5"]),
        ({"retry": {"max_delay_s": "1"}}, ["$.nodes[1].retry.max_delay_s: expected number, got string"]),
        (
            {"retry": {"max_attempt": 3}},
            ["$.nodes[1].retry: unknown field(s) are not allowed ('max_attempt' was unexpected)"],
        ),
        ({"retry": 3}, ["$.nodes[1].retry: expected object, got number"]),
        ({"timeout_s": 0}, ["$.nodes[1].timeout_s: must be greater than 0, got 0"]),
        ({"timeout_s": -2}, ["$.nodes[1].timeout_s: must be greater than 0, got -2"]),
        ({"timeout_s": True}, ["$.nodes[1].timeout_s: expected number, got boolean"]),
        ({"wait_for": "a"}, ["$.nodes[1].wait_for: expected array, got string"]),
        ({"wait_for": ["a", "a"]}, ["$.nodes[1].wait_for: must not list the same item twice"]),
        ({"wait_for": ["a", ""]}, ["$.nodes[1].wait_for[1]: must not be empty"]),
        ({"wait_for": ["nope"]}, ["$.nodes[1].wait_for[0]: no node 'nope'"]),
        ({"wait_for": ["b"]}, ["$.nodes[1].wait_for[0]: a join cannot wait for itself"]),
        ({"wait_for": ["Start"]}, ["$.nodes[1].wait_for[0]: 'Start' is not a node a join can wait for"]),
    ],
)
def test_bad_policy_fields_are_reported_with_json_paths(fields: dict[str, Any], problems: list[str]) -> None:
    doc = parse_document(document([node("a"), node("b", **fields)], CHAIN), strict=False)
    assert [str(p) for p in doc.problems] == problems
    assert [str(p) for p in validate_document(doc)] == problems
    with pytest.raises(DocumentError):
        document_to_app(doc)


def test_a_join_waiting_for_a_node_after_it_is_reported_at_that_name() -> None:
    data = document([node("a"), node("b", wait_for=["c"]), node("c")], [*CHAIN[:2], ("b", "c"), ("c", "End")])
    doc = parse_document(data)
    problems = [str(p) for p in validate_document(doc)]
    assert problems == [
        "$.nodes[1].wait_for[0]: node 'c' can never run before the join 'b' (no path of edges or declared "
        "targets leads from it to the join)"
    ]
    with pytest.raises(DocumentError) as info:
        document_to_app(doc)
    assert [str(p) for p in info.value.problems] == problems
    assert "join 'b' waits for c" in str(info.value.__cause__)


def test_policy_fields_are_kept_by_the_stable_saver(tmp_path: Path) -> None:
    fields = {
        "retry": {"max_attempts": 4, "initial_delay_s": 0.25, "backoff": 3, "max_delay_s": 5},
        "timeout_s": 2.5,
        "wait_for": ["a"],
    }
    doc = parse_document(document([node("a"), node("b", **fields)], CHAIN))
    path = tmp_path / "g.wgraph.json"
    save_document(doc, path)
    text = path.read_text(encoding="utf-8")
    again = load_document(path)
    assert again.nodes[1]["retry"] == fields["retry"]
    assert again.nodes[1]["timeout_s"] == 2.5 and again.nodes[1]["wait_for"] == ["a"]
    assert dumps_document(again) == text, "byte-stable"
    assert '"retry": {"max_attempts": 4, "initial_delay_s": 0.25, "backoff": 3, "max_delay_s": 5}' in text


def test_document_policies_reach_the_graph() -> None:
    fields = {"retry": {"max_attempts": 4, "initial_delay_s": 0.25}, "timeout_s": 2.5, "wait_for": ["a"]}
    app = document_to_app(parse_document(document([node("a"), node("b", **fields)], CHAIN)))
    ((kind, policy),) = app.node_policies().items()
    assert kind.name == "b"
    assert policy.retry == RetryPolicy(max_attempts=4, initial_delay=0.25, backoff=2.0, max_delay=30.0)
    assert (policy.timeout, policy.wait_for) == (2.5, ("a",))


async def test_a_document_timeout_and_retry_run(tmp_path: Path) -> None:
    """A `delay` node slower than its timeout fails after its retries, with node.retry events."""
    data = document(
        [
            {
                "id": "slow",
                "type": "delay",
                "config": {"ms": 400},
                "timeout_s": 0.02,
                "retry": {"max_attempts": 2, "initial_delay_s": 0.01},
            }
        ],
        [("Start", "slow"), ("slow", "End")],
    )
    app = document_to_app(parse_document(data))
    sink = MemorySink()
    async with (
        await AppRunner.builder()
        .app(app)
        .event_bus(EventBus.with_sink(sink))
        .lifecycle_events(True)
        .build() as runner
    ):
        await runner.create_session("s", VersionedState())
        with pytest.raises(NodeRunError, match=re.escape("node 'slow' timed out after 0.02 s at step 1")):
            await runner.run_until_complete("s")
    retries = [e for e in sink.snapshot() if e.scope == "node.retry"]
    assert [(e.node_id, e.metadata["attempt"], e.metadata["delay_s"]) for e in retries] == [("slow", 1, 0.01)]


async def test_the_fan_out_example_joins_once_after_its_long_branch() -> None:
    doc = load_document(example_path("fan_out_in"))
    sink = MemorySink()
    app = document_to_app(doc)
    async with (
        await AppRunner.builder()
        .app(app)
        .event_bus(EventBus.with_sink(sink))
        .lifecycle_events(True)
        .build() as runner
    ):
        await runner.create_session("s", document_input_state(doc))
        final = await runner.run_until_complete("s")
        assert runner.get_session("s").step == 3
    assert [m.content for m in final.messages] == ["gather", "joined: 3 quotes, 2 news, 4 rates"]
    waiting = [e for e in sink.snapshot() if e.scope == "node.skip" and e.metadata["reason"] == "waiting"]
    assert [(e.node_id, e.step) for e in waiting] == [("join", 2)]
    without = load_document(example_path("fan_out_in"))
    del without.nodes[-1]["wait_for"]
    with pytest.raises(NodeRunError, match="join"):  # the join would run before the rates arrive
        await document_to_app(without).invoke(document_input_state(without))


def test_code_first_policies_are_written_to_the_document() -> None:
    app = (
        GraphBuilder()
        .add_node("a", appender("a"), retry=RetryPolicy(max_attempts=5), timeout=1.5)
        .add_node("b", appender("b"), wait_for=["a"])
        .add_edge("Start", "a")
        .add_edge("a", "b")
        .add_edge("b", "End")
        .compile()
    )
    doc = app_to_document(app, "code")
    a, b = doc.nodes
    assert a["retry"] == {"max_attempts": 5, "initial_delay_s": 0.5, "backoff": 2.0, "max_delay_s": 30.0}
    assert a["timeout_s"] == 1.5 and "wait_for" not in a
    assert b["wait_for"] == ["a"] and "retry" not in b and "timeout_s" not in b
