"""Size and nesting limits of the document loader (issue 21, item 3): a value nested 600 levels deep, a huge
string, a huge array or a huge file is one problem with its JSONPath (`weavegraph validate` exits 2), never a
RecursionError or a crash; a document at the limits still loads, validates, builds and saves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.graph.doc_limits import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ITEMS, MAX_STRING_CHARS
from engine.graph.document import (
    DocumentError,
    GraphDocument,
    document_to_app,
    dumps_document,
    example_path,
    load_document,
    parse_document,
    validate_document,
)

ROUTER_VALUE = "$.conditional_edges[0].router.config.value"


def retry_loop() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example_path("retry_loop").read_text("utf-8"))
    return data


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def deep_router_doc(levels: int) -> dict[str, Any]:
    """The issue's reproduction: a route_if router whose `value` is nested `levels` arrays deep."""
    data = retry_loop()
    data["conditional_edges"][0]["router"]["config"]["value"] = nested(levels)
    return data


def test_a_value_nested_600_deep_is_a_problem_with_its_path_in_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.wgraph.json"
    path.write_text(json.dumps(deep_router_doc(600)), encoding="utf-8")
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "RecursionError" not in out + err and "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    # the value sits at document level 5 (doc, conditional_edges, [0], router, config); the deepest
    # array allowed is level MAX_DEPTH, so the first one refused is MAX_DEPTH + 1
    assert lines[0] == ROUTER_VALUE + "[0]" * (
        MAX_DEPTH - 5
    ) + ": nested too deeply: more than 64 levels " + ("of arrays and objects")


def test_validate_json_reports_the_depth_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.wgraph.json"
    path.write_text(json.dumps(deep_router_doc(600)), encoding="utf-8")
    assert main(["validate", "--json", str(path)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    [problem] = report["problems"]
    assert problem["path"].startswith(ROUTER_VALUE + "[0][0]")
    assert "nested too deeply" in problem["message"]


@pytest.mark.parametrize("strict", [True, False])
def test_every_entry_point_refuses_deep_values(tmp_path: Path, strict: bool) -> None:
    data = deep_router_doc(600)
    text = json.dumps(data)
    path = tmp_path / "deep.wgraph.json"
    path.write_text(text, encoding="utf-8")
    for load in (
        lambda: parse_document(text, strict=strict),
        lambda: parse_document(text.encode(), strict=strict),
        lambda: parse_document(data, strict=strict),  # an object from Python (the studio's model)
        lambda: load_document(path, strict=strict),
    ):
        with pytest.raises(DocumentError) as info:
            load()
        [problem] = info.value.problems
        assert problem.path.startswith(ROUTER_VALUE) and "nested too deeply" in problem.message


def test_deeper_than_the_json_parser_itself_is_still_a_problem() -> None:
    text = '{"format": "weavegraph.graph", "version": 1, "input": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(DocumentError) as info:
        parse_document(text)
    [problem] = info.value.problems  # the parser's own guard or the loader's limit, never a crash
    assert problem.path.startswith("$") and "nested too deeply" in problem.message


def test_a_python_object_that_contains_itself_is_a_problem() -> None:
    data = retry_loop()
    loop: list[Any] = []
    loop.append(loop)
    data["input"]["extra"]["loop"] = loop
    with pytest.raises(DocumentError) as info:
        parse_document(data, strict=False)
    assert info.value.problems[0].path.startswith("$.input.extra.loop[0][0]")


def test_huge_strings_keys_and_arrays_are_problems_with_their_paths() -> None:
    data = retry_loop()
    data["nodes"][2]["config"]["content"] = "x" * (MAX_STRING_CHARS + 1)
    with pytest.raises(DocumentError) as info:
        parse_document(json.dumps(data))
    assert str(info.value.problems[0]) == (
        "$.nodes[2].config.content: string of 1,000,001 characters; at most 1,000,000 allowed"
    )

    data = retry_loop()
    data["input"]["extra"]["k" * (MAX_STRING_CHARS + 1)] = 1
    with pytest.raises(DocumentError) as info:
        parse_document(data)
    assert info.value.problems[0].path == "$.input.extra"
    assert "object key of 1,000,001 characters" in info.value.problems[0].message

    data = retry_loop()
    data["input"]["extra"]["many"] = [0] * (MAX_ITEMS + 1)
    with pytest.raises(DocumentError) as info:
        parse_document(json.dumps(data), strict=False)
    assert str(info.value.problems[0]) == (
        "$.input.extra.many: array of 100,001 members; at most 100,000 allowed"
    )


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.wgraph.json"
    with path.open("wb") as fh:
        fh.truncate(MAX_DOCUMENT_BYTES * 4)  # sparse: 64 MiB of zero bytes
    with pytest.raises(DocumentError) as info:
        load_document(path)
    assert str(info.value.problems[0]) == (
        f"$: the document is {MAX_DOCUMENT_BYTES * 4:,} bytes; at most {MAX_DOCUMENT_BYTES:,} allowed"
    )
    with pytest.raises(DocumentError, match="at most 16,777,216 allowed"):
        parse_document(" " * (MAX_DOCUMENT_BYTES + 1))


def deep_everywhere(levels: int) -> dict[str, Any]:
    """A valid document with values `levels` deep (counted from the document) wherever free JSON may go."""
    data = retry_loop()
    data["conditional_edges"][0]["router"]["config"]["value"] = nested(levels - 5)
    data["input"]["extra"]["deep"] = nested(levels - 3)
    data["x-tool"] = nested(levels - 1)
    return data


def test_a_document_at_the_limits_loads_validates_builds_and_saves() -> None:
    data = deep_everywhere(MAX_DEPTH)
    data["description"] = "d" * MAX_STRING_CHARS
    doc = parse_document(json.dumps(data), strict=False)
    assert isinstance(doc, GraphDocument)
    assert doc.problems == [] and validate_document(doc) == []
    document_to_app(doc)
    again = parse_document(dumps_document(doc), strict=False)
    assert again == doc
    with pytest.raises(DocumentError, match="nested too deeply"):
        parse_document(json.dumps(deep_everywhere(MAX_DEPTH + 1)), strict=False)


def test_a_path_with_line_breaking_keys_stays_one_line() -> None:
    """Keys holding record separators or newlines are escaped, so each problem is one `$...` line (found by
    the fuzzer: str.splitlines() also splits on \\x1e)."""
    from engine.graph.doc_limits import quoted_key
    from engine.graph.type_spec import json_path_join

    for key in ("\x1e", "a\nb", "\u2028", "tab\there"):
        path = json_path_join("$.nodes[0]", ["position", key, 0])
        assert len(path.splitlines()) == 1 and path.startswith("$.nodes[0].position['")
        assert len(quoted_key(key).splitlines()) == 1
    assert json_path_join("$", ["it's"]) == "$['it\\'s']"


def test_a_problem_quoting_an_odd_value_stays_one_line() -> None:
    from engine.graph.doc_model import DocumentProblem

    line = str(DocumentProblem("$.conditional_edges[0].router.config.else[0]", "no node '\x1e' or 'a\nb'"))
    assert len(line.splitlines()) == 1 and line.startswith("$.conditional_edges[0]")
