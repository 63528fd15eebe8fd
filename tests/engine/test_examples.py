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
EXAMPLES = ["approval", "fails_on_purpose", "fan_out_in", "market_ticks", "retry_loop", "streaming_chat"]
GREEN = [name for name in EXAMPLES if name not in ("fails_on_purpose", "approval")]  # approval waits (exit 3)
FINAL_STEP = {"fan_out_in": 3, "market_ticks": 2, "retry_loop": 7, "streaming_chat": 1}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trusted.json"))


def test_the_six_examples_are_bundled() -> None:
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


def test_approval_waits_then_resumes_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """`run` stops at the ask node (exit 3, the interrupt printed); the inbox lists it; bad answers are one
    line each and change nothing; `resume` with a fitting answer runs on to the end (exit 0)."""
    db = ["--db", "sqlite://approval.db"]
    assert main(["run", "approval", *db, "--session", "a", "--json"]) == 3
    stopped = json.loads(capsys.readouterr().out)
    (waiting,) = stopped["interrupts"]
    assert stopped["status"] == "interrupted" and waiting["node"] == "approve" and waiting["step"] == 2
    assert waiting["payload"] == {"prompt": "Publish the post about Weavegraph 1.0?"}
    assert main(["inbox", *db, "--json"]) == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)["interrupts"]] == [waiting["id"]]
    resume = ["resume", "approval", "--session", "a", *db]
    assert main([*resume, "--answer", "yes"]) == 2
    assert capsys.readouterr().err == "--answer is not JSON: Expecting value at line 1 column 1\n"
    assert main([*resume, "--answer", '"yes"']) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and waiting["id"] in err
        and "is invalid at $: 'yes' is not of type 'boolean'" in err
    )
    assert main([*resume, "--answer", "true", "--interrupt", "nope"]) == 2
    assert "no such interrupt" in capsys.readouterr().err
    assert main(["run", "approval", *db, "--session", "b"]) == 3
    capsys.readouterr()
    assert main([*resume, "--answer", "true", "--interrupt", waiting["id"], "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["step"] == 3 and done["state"]["extra"]["map"]["approved"] is True
    assert main([*resume, "--answer", "true"]) == 2
    assert "no interrupt is waiting" in capsys.readouterr().err
    b_id = next(i["id"] for i in json.loads(_inbox(capsys))["interrupts"] if i["session_id"] == "b")
    assert main([*resume, "--answer", "true", "--interrupt", b_id]) == 2
    assert "belongs to session 'b'" in capsys.readouterr().err
    assert main(["resume", "approval", "--session", "b", *db, "--answer", "false"]) == 0
    assert "discarded the post" in capsys.readouterr().out
    assert main(["resume", "approval", "--session", "b", *db, "--answer", "true", "--interrupt", b_id]) == 2
    assert "already answered" in capsys.readouterr().err


def _inbox(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["inbox", "--db", "sqlite://approval.db", "--json"]) == 0
    return capsys.readouterr().out
