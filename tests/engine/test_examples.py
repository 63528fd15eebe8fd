"""Every bundled example end to end: it validates, runs green (all but fails_on_purpose, which fails at its
`fail` node) through the command line and through `document_to_app`, and ships inside the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import NodeRunError
from engine.graph.document import (
    document_input_state,
    document_to_app,
    dumps_document,
    example_names,
    example_path,
    load_document,
    validate_document,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["fails_on_purpose", "fan_out_in", "market_ticks", "retry_loop", "streaming_chat"]
GREEN = [name for name in EXAMPLES if name != "fails_on_purpose"]
FINAL_STEP = {"fan_out_in": 3, "market_ticks": 2, "retry_loop": 7, "streaming_chat": 1}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trusted.json"))


def test_the_five_examples_are_bundled() -> None:
    assert example_names() == EXAMPLES
    shipped = sorted(p.name for p in (REPO / "resources" / "examples").glob("*.wgraph.json"))
    assert shipped == [f"{n}.wgraph.json" for n in EXAMPLES]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_validates(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    doc = load_document(example_path(name))
    assert validate_document(doc) == []
    assert doc.name and doc.description
    assert dumps_document(doc) == example_path(name).read_text(encoding="utf-8"), "canonical format"
    assert (REPO / "resources" / "examples" / f"{name}.wgraph.json").read_bytes() == example_path(
        name
    ).read_bytes()
    assert main(["validate", str(example_path(name))]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("name", GREEN)
async def test_example_runs_green_through_document_to_app(name: str) -> None:
    doc = load_document(example_path(name))
    final = await document_to_app(doc).invoke(document_input_state(doc))
    assert final.errors == []
    assert final.messages and final.messages[-1].role == "assistant"


@pytest.mark.parametrize("name", GREEN)
def test_example_runs_green_through_the_cli(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    code = main(["run", str(example_path(name)), "--json", "--events", str(events), "--db", "sqlite://ex.db"])
    out, err = capsys.readouterr()
    assert code == 0, err
    value = json.loads(out)
    assert value["step"] == FINAL_STEP[name]
    assert value["state"]["errors"]["items"] == []
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["scope"] == "__weavegraph_stream_end__" and "status=completed" in last["message"]


async def test_fails_on_purpose_through_document_to_app() -> None:
    doc = load_document(example_path("fails_on_purpose"))
    with pytest.raises(NodeRunError, match="node 'explode' failed at step 2: this graph fails on purpose"):
        await document_to_app(doc).invoke(document_input_state(doc))


def test_fails_on_purpose_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(example_path("fails_on_purpose")), "--db", "sqlite://fail.db", "--session", "f"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == "weavegraph: run failed: node 'explode' failed at step 2: this graph fails on purpose\n"
    main(["export", "f", "--db", "sqlite://fail.db"])
    exported = json.loads(capsys.readouterr().out)
    last = exported["steps"][-1]
    assert last["step"] == 2
    (error,) = last["state"]["errors"]["items"]
    assert error["scope"] == {"scope": "node", "kind": "Custom:explode", "step": 2}
    assert error["error"]["message"] == "this graph fails on purpose"
