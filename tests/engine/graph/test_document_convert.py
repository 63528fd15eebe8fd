"""Documents to graphs and back: document_to_builder/app (trust enforced), input state, validation without
imports, app_to_document for code-first graphs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from engine.app import App
from engine.errors import NodeRunError, StepLimitExceeded
from engine.events.sinks import MemorySink
from engine.graph.builder import GraphBuilder
from engine.graph.document import (
    DocumentError,
    UntrustedDocument,
    app_to_document,
    document_input_state,
    document_to_app,
    document_to_builder,
    dumps_document,
    example_path,
    load_document,
    parse_document,
    validate_document,
)
from engine.partial import NodePartial
from engine.runner import AppRunner
from engine.types import Message


@pytest.fixture(autouse=True)
def _trust_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trusted.json"))


def python_document(module: str = "tests.plugins.doc_callables") -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": [{"id": "double", "type": "python", "config": {"callable": f"{module}:double"}}],
        "edges": [{"from": "Start", "to": "double"}],
        "conditional_edges": [
            {
                "from": "double",
                "router": {"type": "python", "config": {"callable": f"{module}:big_enough"}},
                "targets": ["double", "End"],
            }
        ],
        "runtime": {"max_steps": 20, "concurrency_limit": 2},
        "input": {"extra": {"n": 1}},
    }


# ---------------------------------------------------------------- examples end to end


async def test_market_ticks_runs() -> None:
    doc = load_document(example_path("market_ticks"))
    final = await document_to_app(doc).invoke(document_input_state(doc))
    assert final.extra == {"tick": 1, "sum": 1}
    assert final.messages[-1] == Message.assistant("tick 1 sum 1")


async def test_market_ticks_iterative_session() -> None:
    doc = load_document(example_path("market_ticks"))
    app = document_to_app(doc)
    async with await AppRunner.builder().app(app).build() as runner:
        await runner.create_iterative_session("ticks", document_input_state(doc), "Start")
        await runner.invoke_next("ticks", NodePartial(extra={"tick": 5}), "Start")
        final = await runner.invoke_next("ticks", NodePartial(extra={"tick": 2}), "Start")
        assert runner.get_session("ticks").step == 4
    assert final.extra["sum"] == 7
    assert [m.content for m in final.messages[1:]] == ["tick 5 sum 5", "tick 2 sum 7"]


async def test_fan_out_in_joins_once() -> None:
    doc = load_document(example_path("fan_out_in"))
    sink = MemorySink()
    final = await document_to_app(doc).invoke_with_sinks(document_input_state(doc), [sink])
    assert final.messages[-1].content == "joined: 3 quotes, 2 news, 4 rates"
    assert len(final.messages) == 2, "the join ran once"
    assert document_to_app(doc).runtime_config.concurrency_limit == 4


async def test_retry_loop_counts_to_the_limit() -> None:
    doc = load_document(example_path("retry_loop"))
    app = document_to_app(doc)
    assert app.runtime_config.max_steps == 50
    sink = MemorySink()
    final = await app.invoke_with_sinks(document_input_state(doc), [sink])
    assert final.extra["count"] == 3
    assert final.messages[-1].content == "done after 3 attempts"
    progress = [e.message for e in sink.snapshot() if e.scope == "progress"]
    assert progress == ["attempt 1 of 3", "attempt 2 of 3", "attempt 3 of 3"]


async def test_retry_loop_hits_max_steps_when_the_limit_is_too_high() -> None:
    doc = load_document(example_path("retry_loop"))
    doc.data["runtime"]["max_steps"] = 4
    with pytest.raises(StepLimitExceeded):
        await document_to_app(doc).invoke(document_input_state(doc))


async def test_streaming_chat_streams_chunks() -> None:
    doc = load_document(example_path("streaming_chat"))
    sink = MemorySink()
    final = await document_to_app(doc).invoke_with_sinks(document_input_state(doc), [sink])
    reply = doc.nodes[0]["config"]["reply"]
    chunks = [e.message for e in sink.snapshot() if e.type == "llm" and e.scope == "chunk"]
    finals = [e for e in sink.snapshot() if e.type == "llm" and e.scope == "final"]
    assert "".join(chunks) == reply and len(chunks) == -(-len(reply) // 8)
    assert len(finals) == 1 and finals[0].message == reply
    assert final.messages[-1] == Message.assistant(reply)


async def test_fails_on_purpose_fails_at_its_fail_node() -> None:
    doc = load_document(example_path("fails_on_purpose"))
    with pytest.raises(NodeRunError) as info:
        await document_to_app(doc).invoke(document_input_state(doc))
    assert str(info.value.kind) == "explode"
    assert info.value.step == 2
    assert "this graph fails on purpose" in str(info.value)


async def test_message_with_missing_key_fails_the_run_not_the_process() -> None:
    doc = load_document(example_path("market_ticks"))
    doc.data["input"]["extra"] = {"sum": 0}
    doc.data["nodes"][1]["config"]["content"] = "price {extra[price]}"
    with pytest.raises(NodeRunError, match="names missing key 'price'"):
        await document_to_app(doc).invoke(document_input_state(doc))


# ---------------------------------------------------------------- trust


def test_untrusted_document_names_every_callable_and_imports_nothing() -> None:
    doc = parse_document(python_document("tests.plugins.untrusted_nodes"))
    with pytest.raises(UntrustedDocument) as info:
        document_to_builder(doc)
    assert info.value.callables == [
        ("$.nodes[0].config.callable", "tests.plugins.untrusted_nodes:double"),
        ("$.conditional_edges[0].router.config.callable", "tests.plugins.untrusted_nodes:big_enough"),
    ]
    assert [p.path for p in info.value.problems] == [
        "$.nodes[0].config.callable",
        "$.conditional_edges[0].router.config.callable",
    ]
    assert isinstance(info.value, DocumentError)
    assert "tests.plugins.untrusted_nodes" not in sys.modules


async def test_trusted_python_nodes_and_routers_run() -> None:
    doc = parse_document(python_document())
    app = document_to_app(doc, trusted=True)
    assert app.runtime_config.max_steps == 20
    final = await app.invoke(document_input_state(doc))
    assert final.extra == {"n": 8}


def test_missing_callable_is_a_problem_at_its_path() -> None:
    data = python_document()
    data["nodes"][0]["config"]["callable"] = "tests.plugins.doc_callables:nope"
    with pytest.raises(DocumentError) as info:
        document_to_builder(parse_document(data), trusted=True)
    (problem,) = info.value.problems
    assert problem.path == "$.nodes[0].config"
    assert "has no attribute 'nope'" in problem.message


def test_validate_document_checks_the_graph_without_importing() -> None:
    doc = parse_document(python_document("tests.plugins.untrusted_nodes"))
    assert validate_document(doc) == []
    assert "tests.plugins.untrusted_nodes" not in sys.modules


def test_compile_errors_point_at_nodes_and_edges() -> None:
    data: dict[str, Any] = {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": [
            {"id": "A", "type": "fail"},
            {"id": "B", "type": "fail"},
            {"id": "C", "type": "fail"},
        ],
        "edges": [{"from": "Start", "to": "A"}, {"from": "A", "to": "B"}, {"from": "B", "to": "A"}],
    }
    doc = parse_document(data)
    problems = [str(p) for p in validate_document(doc)]
    assert problems == [
        "$.edges[1]: cycle of unconditional edges A -> B -> A (loop through a conditional edge instead)",
        "$.nodes[0]: node 'A' has no path to End",
        "$.nodes[1]: node 'B' has no path to End",
        "$.nodes[2]: node 'C' is not reachable from Start",
        "$.nodes[2]: node 'C' has no path to End",
    ]
    with pytest.raises(DocumentError) as info:
        document_to_app(doc)
    assert [str(p) for p in info.value.problems] == problems
    assert info.value.__cause__ is not None


def test_missing_entry() -> None:
    doc = parse_document({"format": "weavegraph.graph", "version": 1, "nodes": []})
    assert [p.path for p in validate_document(doc)] == ["$.edges"]


def test_document_to_builder_rechecks_an_edited_document() -> None:
    doc = load_document(example_path("market_ticks"))
    doc.data["edges"].append({"from": "report", "to": "ghost"})
    with pytest.raises(DocumentError, match="no node 'ghost'"):
        document_to_builder(doc)


def test_input_state() -> None:
    doc = load_document(example_path("streaming_chat"))
    state = document_input_state(doc)
    assert [m.role for m in state.messages] == ["system", "user"]
    assert state.messages_version == 1 and state.extra == {}
    assert document_input_state({"extra": {"a": [1]}}).extra == {"a": [1]}
    custom = document_input_state({"messages": [{"role": "critic", "content": "x"}]})
    assert custom.messages == [Message("critic", "x")]


# ---------------------------------------------------------------- app -> document


def test_document_built_app_describes_itself_again() -> None:
    doc = load_document(example_path("retry_loop"))
    again = app_to_document(document_to_app(doc), name="Retry loop")
    assert again.problems == []
    assert [(n["id"], n["type"], n["config"]) for n in again.nodes] == [
        (n["id"], n["type"], n["config"]) for n in doc.nodes
    ]
    assert again.edges == doc.edges
    assert again.conditional_edges == doc.conditional_edges
    assert again.runtime == {"max_steps": 50}
    assert [n["position"] for n in again.nodes] == [n["position"] for n in doc.nodes]


async def node_a(snapshot: Any, ctx: Any) -> NodePartial:
    return NodePartial(messages=[Message.assistant("a")])


def route_a(snapshot: Any) -> list[str]:
    return ["End"]


async def test_code_first_app_to_document() -> None:
    def inner(snapshot: Any, ctx: Any) -> None:
        return None

    app: App = (
        GraphBuilder()
        .add_node("A", node_a)
        .add_node("B", inner)
        .add_edge("Start", "A")
        .add_edge("Start", "B")
        .add_edge("B", "End")
        .add_conditional_edge("A", route_a, targets=["End"])
        .compile()
    )
    doc = app_to_document(app, name="code")
    assert doc.name == "code"
    assert doc.nodes[0]["config"] == {"callable": f"{__name__}:node_a"}
    assert doc.nodes[1]["config"]["callable"].endswith("<locals>.inner")
    assert doc.conditional_edges == [
        {
            "from": "A",
            "router": {"type": "python", "config": {"callable": f"{__name__}:route_a"}},
            "targets": ["End"],
        }
    ]
    assert doc.nodes[0]["position"] == [220, -60] and doc.nodes[1]["position"] == [220, 60]
    assert [p.path for p in doc.problems] == ["$.nodes[1].config.callable"], "the closure cannot be imported"
    parse_document(dumps_document(doc), strict=False)


def test_graph_hash_follows_the_graph_not_the_layout() -> None:
    doc = load_document(example_path("market_ticks"))
    first = document_to_app(doc).graph_definition_hash()
    assert document_to_app(load_document(example_path("market_ticks"))).graph_definition_hash() == first
    doc.data["nodes"][0]["position"] = [999, 999]
    doc.data["description"] = "moved"
    assert document_to_app(doc).graph_definition_hash() == first
    doc.data["edges"].append({"from": "accumulate", "to": "End"})
    assert document_to_app(doc).graph_definition_hash() != first


async def test_a_documents_name_is_its_sessions_graph_name(tmp_path: Path) -> None:
    """A CLI or API run of a document records the document's name with the session (the inbox and
    `weavegraph records` show it); a document without a name records none."""
    from engine.persistence.sqlite import SQLiteCheckpointer

    doc = load_document(example_path("approval"))
    app = document_to_app(doc)
    assert doc.name and app.runtime_config.graph_name == doc.name
    unnamed = parse_document(dumps_document(doc).replace(f'"name": "{doc.name}"', '"name": ""'))
    assert not unnamed.name and document_to_app(unnamed).runtime_config.graph_name is None
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'n.db'}")
    try:
        runner = await AppRunner.builder().app(app).checkpointer_custom(cp).build()
        await runner.create_session("s1", document_input_state(doc))
        info = await cp.session_info("s1")
        assert info is not None and info.graph_name == doc.name
    finally:
        await cp.aclose()
