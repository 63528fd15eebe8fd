"""Graph documents: parsing with every problem and its JSONPath, the stable saver, examples on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.graph.document import (
    DocumentError,
    DocumentProblem,
    GraphDocument,
    content_hash,
    document_schema,
    dumps_document,
    example_names,
    example_path,
    graph_problems,
    load_document,
    parse_document,
    save_document,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = ["approval", "fails_on_purpose", "fan_out_in", "market_ticks", "retry_loop", "streaming_chat"]


def minimal(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": [{"id": "A", "type": "message", "config": {"content": "hi"}}],
        "edges": [{"from": "Start", "to": "A"}, {"from": "A", "to": "End"}],
    }
    doc.update(extra)
    return doc


def problems_of(data: Any) -> list[str]:
    with pytest.raises(DocumentError) as info:
        parse_document(data if isinstance(data, str) else json.dumps(data))
    assert info.value.problems, "a DocumentError always carries problems"
    return [str(p) for p in info.value.problems]


def test_minimal_document_parses_with_views() -> None:
    doc = parse_document(json.dumps(minimal(name="n")))
    assert doc.name == "n"
    assert doc.node_ids() == ["A"]
    assert doc.edges[0] == {"from": "Start", "to": "A"}
    assert doc.conditional_edges == [] and doc.runtime == {} and doc.input == {}
    assert doc.node("A") is not None and doc.node("B") is None
    assert doc.problems == []
    doc.nodes.append({"id": "B", "type": "fail"})
    assert doc.node_ids() == ["A", "B"], "views of well-formed parts are live"


def test_only_format_version_nodes_are_required() -> None:
    parse_document({"format": "weavegraph.graph", "version": 1, "nodes": []})
    assert problems_of({"nodes": []}) == [
        "$: 'format' is a required property",
        "$: 'version' is a required property",
    ]


def test_not_json_reports_line_and_column() -> None:
    lines = problems_of('{\n  "format": "weavegraph.graph",\n  "nodes": [,]\n}')
    assert len(lines) == 1
    assert lines[0].startswith("$: not valid JSON: ")
    assert "line 3 column 13" in lines[0]


@pytest.mark.parametrize("text", ["[]", "3", "null", '"x"'])
def test_top_level_must_be_an_object(text: str) -> None:
    assert problems_of(text)[0].startswith("$: a graph document is a JSON object")


def test_nan_is_not_json() -> None:
    assert problems_of('{"format": NaN}')[0].startswith("$: not valid JSON")
    for bad in (minimal(x=float("nan")), minimal(x={1, 2})):
        with pytest.raises(DocumentError) as info:
            parse_document(bad)
        assert str(info.value.problems[0]).startswith("$: not a JSON value: ")


def test_every_problem_is_reported_with_its_path() -> None:
    data = {
        "format": "weavegraph.graph",
        "version": 2,
        "nodes": [
            {"id": "A", "type": "message", "config": {"content": "x"}},
            {"id": "A", "type": "delay", "config": {"ms": "slow"}},
            {"id": "Start", "type": "set", "config": {"values": {}}},
            {"id": "B", "type": "nope"},
            {"id": 3, "type": "fail"},
            {"id": "C", "type": "delay", "config": {"ms": 1, "extra_key": 1}},
        ],
        "edges": [
            {"from": "Start", "to": "A"},
            {"from": "A", "to": "Missing"},
            {"from": "Ghost", "to": "End"},
            {"from": "End", "to": "A"},
            {"from": "A", "to": "Start"},
            {"from": "Start", "to": "A"},
            {"to": "A"},
        ],
        "conditional_edges": [
            {"from": "A", "router": {"type": "route_if", "config": {"key": "k", "op": "~", "then": []}}},
            {"from": "A", "router": {"type": "teleport"}, "targets": ["Nowhere"]},
            {
                "from": "A",
                "router": {"type": "route_by", "config": {"key": "m", "cases": {"x": ["Lost"]}}},
                "targets": ["End"],
            },
        ],
        "runtime": {"max_steps": 0},
        "input": {"messages": [{"role": "user"}]},
    }
    lines = problems_of(data)
    expected = [
        "$.version: must be 1, got 2",
        "$.nodes[4].id: expected string, got number",
        "$.edges[6]: 'from' is a required property",
        "$.runtime.max_steps: must be at least 1, got 0",
        "$.input.messages[0]: 'content' is a required property",
        "$.nodes[1].id: duplicate node id 'A' (first at $.nodes[0])",
        "$.nodes[1].config.ms: expected number, got string",
        "$.nodes[2].id: 'Start' is reserved for the virtual Start node; choose another id",
        "$.nodes[3].type: unknown node type 'nope' (known: accumulate, ask, delay, emit, fail, message, "
        "python, scripted_llm, set)",
        "$.nodes[5].config: unknown field(s) are not allowed ('extra_key' was unexpected)",
        '$.edges[1].to: no node \'Missing\' (use a node id, "Start" or "End")',
        '$.edges[2].from: no node \'Ghost\' (use a node id, "Start" or "End")',
        "$.edges[3].from: an edge cannot leave End (End is terminal)",
        "$.edges[4].to: an edge cannot enter Start",
        "$.edges[5]: duplicate edge Start -> A (first at $.edges[0])",
        '$.conditional_edges[0].router.config.op: must be one of "==", "!=", "<", "<=", ">", '
        '">=", "exists"; got "~"',
        '$.conditional_edges[1].targets[0]: no node \'Nowhere\' (use a node id, "Start" or "End")',
        "$.conditional_edges[1].router.type: unknown router type 'teleport' "
        "(known: python, route_by, route_if)",
        '$.conditional_edges[2].router.config.cases.x[0]: no node \'Lost\' (use a node id, "Start" or "End")',
    ]
    assert lines == expected, "\n".join(lines)


def test_router_config_targets_outside_declared_targets() -> None:
    data = minimal(
        conditional_edges=[
            {
                "from": "A",
                "router": {"type": "route_if", "config": {"key": "k", "op": "exists", "then": ["End"]}},
                "targets": ["A"],
            }
        ]
    )
    data["conditional_edges"][0]["router"]["config"]["else"] = ["A"]
    assert problems_of(data) == [
        "$.conditional_edges[0].router.config.then[0]: 'End' is not among the declared targets of this "
        "conditional edge"
    ]


def test_message_template_problems_are_config_problems() -> None:
    data = minimal()
    data["nodes"][0]["config"]["content"] = "a {extra.__class__} {oops} {"
    (line,) = problems_of(data)
    assert line.startswith("$.nodes[0].config.content: ")
    data["nodes"][0]["config"]["content"] = "x {extra.__class__}"
    assert problems_of(data) == [
        "$.nodes[0].config.content: attribute access '.__class__' is not allowed (use {extra[key]})"
    ]
    data["nodes"][0]["config"]["content"] = "{who}"
    assert "unknown field 'who'" in problems_of(data)[0]


def test_python_callable_must_look_like_an_import_path() -> None:
    data = minimal()
    data["nodes"][0] = {"id": "A", "type": "python", "config": {"callable": "os.system"}}
    assert problems_of(data) == [
        "$.nodes[0].config.callable: \"os.system\" is not of the form 'package.module:function'"
    ]


def test_position_must_be_two_numbers() -> None:
    data = minimal()
    data["nodes"][0]["position"] = [1, "2"]
    assert problems_of(data) == ["$.nodes[0].position[1]: expected number, got string"]
    data["nodes"][0]["position"] = [1, 2, 3]
    assert problems_of(data)[0].startswith("$.nodes[0].position: ")


def test_odd_keys_are_quoted_in_paths() -> None:
    data = minimal()
    data["nodes"][0] = {"id": "A", "type": "route_by"}
    data["conditional_edges"] = [
        {"from": "A", "router": {"type": "route_by", "config": {"key": "k", "cases": {"a b": ["X"]}}}}
    ]
    lines = problems_of(data)
    assert "$.conditional_edges[0].router.config.cases['a b'][0]: no node 'X'" in lines[1]


def test_non_strict_parse_keeps_problems() -> None:
    data = minimal()
    data["edges"].append({"from": "A", "to": "Nope"})
    doc = parse_document(data, strict=False)
    assert doc.problems == [
        DocumentProblem("$.edges[2].to", 'no node \'Nope\' (use a node id, "Start" or "End")')
    ]
    assert not doc.is_valid


def test_error_message_names_source_and_first_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.wgraph.json"
    path.write_text('{"format": "weavegraph.graph", "version": 1, "nodes": [{"id": "", "type": "x"}]}')
    with pytest.raises(DocumentError) as info:
        load_document(path)
    assert str(info.value).startswith(f"{path}: $.nodes[0].id: must not be empty (and 1 more)")
    assert info.value.source == str(path)


def test_unreadable_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as info:
        load_document(tmp_path / "missing.wgraph.json")
    assert info.value.problems[0].path == "$"


def test_save_keeps_unknown_fields_and_is_byte_stable(tmp_path: Path) -> None:
    text = (
        "{\n"
        '  "format": "weavegraph.graph",\n'
        '  "version": 1,\n'
        '  "x-editor": {"zoom": 1.5, "theme": "dark"},\n'
        '  "nodes": [\n'
        "    {\n"
        '      "id": "A",\n'
        '      "type": "message",\n'
        '      "config": {"content": "héllo {step}"},\n'
        '      "position": [0.5, -120],\n'
        '      "color": "#ff0000"\n'
        "    }\n"
        "  ],\n"
        '  "edges": [\n'
        '    {"from": "Start", "to": "A", "label": "go"},\n'
        '    {"from": "A", "to": "End"}\n'
        "  ]\n"
        "}\n"
    )
    src = tmp_path / "in.wgraph.json"
    src.write_text(text, encoding="utf-8")
    doc = load_document(src)
    assert doc.data["x-editor"] == {"zoom": 1.5, "theme": "dark"}
    assert dumps_document(doc) == text
    out = tmp_path / "out.wgraph.json"
    save_document(doc, out)
    assert out.read_bytes() == src.read_bytes()
    assert doc.source == str(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wgraph.json", "out.wgraph.json"]


def test_save_wraps_long_lines_and_round_trips() -> None:
    data = minimal()
    data["input"] = {"extra": {f"key{i}": "v" * 10 for i in range(12)}, "messages": []}
    doc = parse_document(data)
    text = dumps_document(doc)
    assert max(len(line) for line in text.splitlines()) <= 100
    again = parse_document(text)
    assert again.data == doc.data
    assert dumps_document(again) == text


def test_content_hash_ignores_formatting_but_not_content() -> None:
    a = parse_document(json.dumps(minimal()))
    b = parse_document(json.dumps(minimal(), indent=4))
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 64
    c = parse_document(json.dumps(minimal(name="other")))
    assert content_hash(a) != content_hash(c)


def test_new_document_and_copy() -> None:
    doc = GraphDocument.new("fresh")
    parse_document(doc.data)
    clone = doc.copy()
    clone.data["nodes"].append({"id": "X", "type": "fail"})
    assert doc.nodes == [] and clone != doc


def test_schema_is_draft_2020_12() -> None:
    schema = document_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["format", "version", "nodes"]


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_validate_and_are_canonical(name: str) -> None:
    path = example_path(name)
    doc = load_document(path)
    assert graph_problems(doc) == []
    assert dumps_document(doc) == path.read_text(encoding="utf-8")
    resource = REPO / "resources" / "examples" / f"{name}.wgraph.json"
    assert resource.read_bytes() == path.read_bytes(), "engine/examples must be a copy of resources/examples"


def test_example_lookup() -> None:
    assert example_names() == EXAMPLES
    assert example_path("market_ticks.wgraph.json") == example_path("market_ticks")
    with pytest.raises(FileNotFoundError, match="available: approval, fails_on_purpose"):
        example_path("nope")
    assert sorted(p.name for p in (REPO / "resources" / "examples").glob("*.wgraph.json")) == [
        f"{n}.wgraph.json" for n in EXAMPLES
    ]


def big_document(count: int) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": "set", "config": {"values": {"i": i}}} for i in range(count)]
    edges = [{"from": "Start", "to": "n0"}]
    edges += [{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(count - 1)]
    edges += [{"from": f"n{count - 1}", "to": "End"}]
    return {"format": "weavegraph.graph", "version": 1, "nodes": nodes, "edges": edges}


def test_500_node_document_parses_and_checks_clean() -> None:
    # How fast is measured in bench/studio_bench.py, not here.
    doc = parse_document(json.dumps(big_document(500)))
    assert len(doc.nodes) == 500
    assert graph_problems(doc) == []
