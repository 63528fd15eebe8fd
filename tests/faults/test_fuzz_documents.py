"""Fuzzed graph documents (hypothesis): the bundled examples with values swapped for wrong types, nested up to
thousands of levels deep, strings and arrays beyond the loader's limits, and random bytes. Every one goes
through the loader (strict and lenient), `validate_document`, the trust scan, the studio's `open_file` and
`weavegraph validate` (in process: exit 0 or 2, problems as `$.path: message` lines, never a traceback);
a handful of the worst also through a real `weavegraph validate` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.graph.doc_limits import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS
from engine.graph.document import (
    DocumentError,
    document_callables,
    example_names,
    example_path,
    load_document,
    parse_document,
    validate_document,
)
from studio.document.io import open_file
from tests.faults.helpers import run_cli

EXAMPLES = {name: json.loads(example_path(name).read_text("utf-8")) for name in example_names()}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
small_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested 1 to 300 levels deep, in arrays, objects or both (deeper ones, which `json.dumps` and
    hypothesis's own printer cannot handle, are written as text by `test_the_worst_documents_...`)."""
    levels = draw(st.sampled_from([1, MAX_DEPTH - 8, MAX_DEPTH, MAX_DEPTH + 1, 200, 300]))
    value: Any = draw(scalars)
    shape = draw(st.sampled_from(["list", "dict", "mixed"]))
    for i in range(levels):
        if shape == "list" or (shape == "mixed" and i % 2):
            value = [value]
        else:
            value = {"k": value}
    return value


@st.composite
def huge(draw: st.DrawFn) -> Any:
    """A string, key or array at and beyond the limits."""
    n = draw(st.sampled_from([0, 1_000, MAX_STRING_CHARS, MAX_STRING_CHARS + 1, 3 * MAX_STRING_CHARS]))
    kind = draw(st.sampled_from(["string", "key", "array", "unicode"]))
    if kind == "string":
        return "x" * n
    if kind == "unicode":
        return "\u00e9\U0001f600" * (n // 2)
    if kind == "key":
        return {"k" * n: 1}
    return [0] * min(n, MAX_ITEMS + 1)


wrong = small_json | deep() | huge()


def _paths(value: Any, depth: int = 8) -> list[tuple[Any, ...]]:
    """Where a value can be swapped: every path down to `depth` levels (iterative: values may be deep)."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        prefix, item = stack.pop()
        out.append(prefix)
        if len(prefix) >= depth:
            continue
        if isinstance(item, dict):
            stack.extend(((*prefix, k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(((*prefix, i), v) for i, v in enumerate(item))
    return out


@st.composite
def broken_examples(draw: st.DrawFn) -> Any:
    """An example with 1-4 values anywhere (top-level fields, ids, configs, positions...) replaced by wrong
    types, deep values or huge ones, or with such values added under new keys."""
    doc = json.loads(json.dumps(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(_paths(doc)))
        if not where:
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        value = draw(wrong)
        if isinstance(parent[where[-1]], dict) and draw(st.booleans()):
            parent[where[-1]][draw(st.text(max_size=8))] = value
        else:
            parent[where[-1]] = value
    return doc


def _never_crashes(data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    for strict in (True, False):
        try:
            doc = parse_document(text, strict=strict)
        except DocumentError as exc:
            assert exc.problems and all(p.path.startswith("$") and p.message for p in exc.problems)
        else:
            validate_document(doc)
            document_callables(doc)
    if isinstance(data, dict):
        try:
            parse_document(data, strict=False)
        except DocumentError as exc:
            assert exc.problems
    path = tmp_path / "fuzz.wgraph.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    try:
        open_file(path)  # the studio's loader: a DocumentError, never anything else
    except DocumentError:
        pass
    try:
        load_document(path, strict=False)
    except DocumentError:
        pass
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, out[-500:], err[-500:])
    assert "Traceback" not in out + err and "RecursionError" not in out + err
    if code == 2:
        assert all(line.startswith("$") for line in out.strip().splitlines()), out[-500:]


@FUZZ
@given(data=broken_examples())
def test_broken_examples_never_crash(data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _never_crashes(data, tmp_path, capsys)


@FUZZ
@given(data=deep() | huge() | small_json)
def test_any_json_as_a_document_never_crashes(
    data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _never_crashes(data, tmp_path, capsys)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_and_text_never_crash(
    data: bytes | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _never_crashes(data, tmp_path, capsys)


WORST = {
    "600 deep in a router": lambda: {
        **EXAMPLES["retry_loop"],
        "conditional_edges": [
            {
                **EXAMPLES["retry_loop"]["conditional_edges"][0],
                "router": {"type": "route_if", "config": _deep(600)},
            }
        ],
    },
    "100000 deep text": lambda: '{"nodes": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "3000 deep objects in input": lambda: (
        json.dumps(EXAMPLES["retry_loop"])[:-1] + ', "x": ' + '{"k": ' * 3000 + "1" + "}" * 3000 + "}"
    ),
    "nodes is a string": lambda: {**EXAMPLES["fan_out_in"], "nodes": "x" * (MAX_STRING_CHARS + 1)},
    "every field a number": lambda: {k: 7 for k in EXAMPLES["market_ticks"]},
    "not utf-8": lambda: b"\xff\xfe{\x00",
}


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return {"value": value}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORST))
def test_the_worst_documents_through_a_real_validate_process(name: str, tmp_path: Path) -> None:
    data = WORST[name]()
    path = tmp_path / "worst.wgraph.json"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    result = run_cli("validate", str(path), cwd=tmp_path, timeout=60)
    assert result.code == 2, result
    assert "Traceback" not in result.out + result.err and result.err == ""
    lines = result.out.strip().splitlines()
    assert lines and all(line.startswith("$") for line in lines), result.out[-800:]
