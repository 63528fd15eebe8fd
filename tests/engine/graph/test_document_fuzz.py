"""Fuzzing the loader: random JSON and random mutations of the examples give a GraphDocument or a
DocumentError, nothing else; valid documents survive a save/load round trip byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.graph.document import (
    DocumentError,
    GraphDocument,
    dumps_document,
    example_names,
    example_path,
    graph_problems,
    parse_document,
    validate_document,
)

EXAMPLES = {name: json.loads(example_path(name).read_text("utf-8")) for name in example_names()}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
interesting_keys = st.sampled_from(
    [
        "format",
        "version",
        "nodes",
        "edges",
        "conditional_edges",
        "runtime",
        "input",
        "id",
        "type",
        "config",
        "from",
        "to",
        "router",
        "targets",
        "position",
        "callable",
        "content",
        "values",
        "ms",
        "key",
        "op",
        "then",
    ]
)
interesting_values: st.SearchStrategy[Any] = (
    st.sampled_from(
        [
            "Start",
            "End",
            "A",
            "",
            "python",
            "message",
            "route_if",
            "weavegraph.graph",
            1,
            0,
            -1,
            None,
            [],
            {},
            "{",
        ]
    )
    | json_values
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def parse_or_error(data: Any) -> GraphDocument | None:
    try:
        doc = parse_document(data if isinstance(data, str) else json.dumps(data))
    except DocumentError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.path.startswith("$") and problem.message
        if isinstance(data, dict):
            try:
                lenient = parse_document(data, strict=False)  # what the studio opens to fix
            except DocumentError:
                return None  # not JSON at all (infinity)
            assert validate_document(lenient), "a document with problems never validates"
        return None
    assert isinstance(doc, GraphDocument)
    graph_problems(doc)  # never raises either
    return doc


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def fresh(value: Any) -> Any:
    """A copy, so mutations never touch the strategy's own (shared) [] and {} values."""
    return json.loads(json.dumps(value))


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    doc = json.loads(json.dumps(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(doc)))
        if not where:
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[last] = fresh(draw(interesting_values))
        elif action == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(interesting_keys)] = fresh(draw(interesting_values))
        elif isinstance(parent[last], list):
            parent[last].append(fresh(draw(interesting_values)))
    return doc


@FUZZ
@given(json_values)
def test_random_json_never_crashes(data: Any) -> None:
    parse_or_error(data)


@FUZZ
@given(st.text(max_size=60))
def test_random_text_never_crashes(text: str) -> None:
    parse_or_error(text)


@FUZZ
@given(mutated_examples())
def test_mutated_examples_never_crash(data: Any) -> None:
    doc = parse_or_error(data)
    if doc is not None:
        text = dumps_document(doc)
        assert dumps_document(parse_document(text)) == text
