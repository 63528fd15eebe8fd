"""The `weavegraph` command line, called in-process through `main(argv)`: exit codes, output shapes, event
files, trust, iterative steps and the database commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.events.event import INVOCATION_END_SCOPE, STREAM_END_SCOPE, Event
from engine.graph.document import example_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary working directory (no stray weavegraph.db or .env) and trust file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trusted.json"))
    for var in ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def example(name: str) -> str:
    return str(example_path(name))


def write_doc(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


PYTHON_DOC: dict[str, Any] = {
    "format": "weavegraph.graph",
    "version": 1,
    "nodes": [
        {"id": "double", "type": "python", "config": {"callable": "tests.plugins.doc_callables:double"}}
    ],
    "edges": [{"from": "Start", "to": "double"}],
    "conditional_edges": [
        {
            "from": "double",
            "router": {"type": "python", "config": {"callable": "tests.plugins.doc_callables:big_enough"}},
            "targets": ["double", "End"],
        }
    ],
    "input": {"extra": {"n": 1}},
}


# ---------------------------------------------------------------- run


def test_run_json_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", example("market_ticks"), "--json", "--session", "s1")
    assert code == 0, err
    value = json.loads(out)
    assert set(value) == {"session_id", "step", "state"}
    assert value["session_id"] == "s1" and value["step"] == 2
    assert value["state"]["extra"] == {"version": 2, "map": {"tick": 1, "sum": 1}}
    assert value["state"]["messages"]["items"][-1] == {"role": "assistant", "content": "tick 1 sum 1"}
    assert value["state"]["errors"] == {"version": 1, "items": []}


def test_run_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", example("fan_out_in"))
    assert code == 0
    assert out.startswith("session run-") and "completed at step 3" in out
    assert "assistant: joined: 3 quotes, 2 news, 4 rates" in out


def test_run_input_replaces_the_documents_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "run", example("market_ticks"), "--json", "--input", '{"extra": {"tick": 4}}')
    assert code == 0
    value = json.loads(out)
    assert value["state"]["extra"]["map"] == {"tick": 4, "sum": 4}
    assert [m["role"] for m in value["state"]["messages"]["items"]] == ["assistant"], "messages replaced too"
    (tmp_path / "in.json").write_text(
        '{"messages": [{"role": "user", "content": "hey"}], "extra": {"tick": 2}}'
    )
    code, out, _ = cli(capsys, "run", example("market_ticks"), "--json", "--input", "@in.json")
    assert code == 0
    assert json.loads(out)["state"]["messages"]["items"][0] == {"role": "user", "content": "hey"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{nope", "--input: not valid JSON: "),
        ("[1]", "--input: $: expected object, got array"),
        ('{"messages": [{"role": "user"}]}', "--input: $.messages[0]: 'content' is a required property"),
        ('{"extra": 3}', "--input: $.extra: expected object, got number"),
        ('{"extras": {}}', "--input: unknown key(s) extras"),
        ("@missing.json", "--input missing.json: cannot read"),
    ],
)
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], value: str, expected: str) -> None:
    code, out, err = cli(capsys, "run", example("market_ticks"), "--input", value)
    assert code == 2 and out == ""
    assert err.startswith(expected), err
    assert "Traceback" not in err


def test_run_events_file_ends_with_stream_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    code, _, _ = cli(capsys, "run", example("streaming_chat"), "--events", str(events), "--session", "chat")
    assert code == 0
    parsed = [Event.from_json(line) for line in events.read_text().splitlines()]
    raw = json.loads(events.read_text().splitlines()[0])
    assert set(raw) == {"type", "scope", "message", "timestamp", "seq", "metadata"}
    assert parsed[-1].scope == STREAM_END_SCOPE
    assert parsed[-1].message == "session=chat status=completed step=1"
    assert [e.seq for e in parsed] == sorted(e.seq for e in parsed)
    chunks = [e for e in parsed if e.type == "llm" and e.scope == "chunk"]
    assert chunks and all(e.node_id == "assistant" for e in chunks)
    assert any(e.type == "lifecycle" and e.scope == "node.finish" for e in parsed)


def test_failed_run_exits_1_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    code, out, err = cli(capsys, "run", example("fails_on_purpose"), "--events", str(events), "--json")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "weavegraph: run failed: node 'explode' failed at step 2: this graph fails on purpose"
    ]
    last = Event.from_json(events.read_text().splitlines()[-1])
    assert last.scope == STREAM_END_SCOPE and "status=error" in last.message


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", example("fails_on_purpose"), "--debug")
    assert code == 1
    assert "Traceback" in err and err.rstrip().endswith("this graph fails on purpose")


def test_run_bad_document_exits_2_with_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = write_doc(
        tmp_path / "bad.wgraph.json",
        {"format": "weavegraph.graph", "version": 1, "nodes": [{"id": "A", "type": "zap"}], "edges": []},
    )
    code, out, err = cli(capsys, "run", doc)
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith("$.nodes[0].type: unknown node type 'zap'")


def test_run_uncompilable_document_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = write_doc(
        tmp_path / "cycle.wgraph.json",
        {"format": "weavegraph.graph", "version": 1, "nodes": [{"id": "A", "type": "fail"}], "edges": []},
    )
    code, _, err = cli(capsys, "run", doc)
    assert code == 2
    assert err.splitlines()[0].startswith("$.edges: nothing leaves Start")


def test_run_into_sqlite_and_resume(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "run", example("retry_loop"), "--db", "sqlite://runs.db", "--session", "r", "--json"
    )
    assert code == 0 and json.loads(out)["step"] == 7
    code, out, _ = cli(
        capsys, "run", example("retry_loop"), "--db", "sqlite://runs.db", "--session", "r", "--json"
    )
    assert code == 0 and json.loads(out)["step"] == 7, "a completed session is resumed, not rerun"


def test_run_progress_counts_steps(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", example("retry_loop"), "--progress", "--json")
    assert code == 0 and json.loads(out)["step"] == 7
    assert err.endswith("run: steps 7\n")


def test_bundled_examples_by_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "run", "market_ticks", "--json")
    assert code == 0 and json.loads(out)["step"] == 2
    assert cli(capsys, "validate", "retry_loop.wgraph.json")[0] == 0
    (tmp_path / "market_ticks").write_text("{}")
    code, _, err = cli(capsys, "run", "market_ticks")
    assert code == 2 and "'format' is a required property" in err, "an existing file wins"


def test_run_defaults_to_memory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli(capsys, "run", example("market_ticks"))[0] == 0
    assert not (tmp_path / "weavegraph.db").exists()


# ---------------------------------------------------------------- trust


def test_untrusted_run_lists_callables_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = write_doc(tmp_path / "code.wgraph.json", PYTHON_DOC)
    code, out, err = cli(capsys, "run", doc)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "$.nodes[0].config.callable: tests.plugins.doc_callables:double",
        "$.conditional_edges[0].router.config.callable: tests.plugins.doc_callables:big_enough",
    ]
    assert cli(capsys, "step", doc, "--session", "s", "--input", "{}", "--db", "memory:")[0] == 2


def test_trust_runs_and_is_remembered(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "code.wgraph.json", PYTHON_DOC)
    code, out, err = cli(capsys, "run", doc, "--trust", "--json")
    assert code == 0, err
    assert json.loads(out)["state"]["extra"]["map"] == {"n": 8}
    assert cli(capsys, "run", doc, "--json")[0] == 0, "trust remembered for this content"
    data = json.loads(json.dumps(PYTHON_DOC))
    data["input"]["extra"]["n"] = 2
    changed = write_doc(tmp_path / "changed.wgraph.json", data)
    assert cli(capsys, "run", changed)[0] == 2, "other content is not trusted"


# ---------------------------------------------------------------- step


def test_step_creates_then_continues_a_session(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["step", example("market_ticks"), "--session", "ticks", "--json"]
    code, out, err = cli(capsys, *args, "--input", '{"extra": {"tick": 5}}')
    assert code == 0, err
    first = json.loads(out)
    assert first["step"] == 2 and first["state"]["extra"]["map"] == {"tick": 5, "sum": 5}
    assert first["state"]["messages"]["items"][0]["content"] == "start the ticker", (
        "from the document's input"
    )
    events = tmp_path / "step.jsonl"
    code, out, _ = cli(capsys, *args, "--input", '{"extra": {"tick": 2}}', "--events", str(events))
    assert code == 0
    second = json.loads(out)
    assert second["step"] == 4 and second["state"]["extra"]["map"] == {"tick": 2, "sum": 7}
    assert (tmp_path / "weavegraph.db").exists(), "the default database is the SQLite resolution"
    last = Event.from_json(events.read_text().splitlines()[-1])
    assert last.scope == INVOCATION_END_SCOPE and last.message == "session=ticks status=completed step=4"


def test_step_warns_when_the_session_was_written_by_another_graph(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--session", "x", "--db", "sqlite://h.db", "--input", '{"extra": {"tick": 1}}']
    code, _, err = cli(capsys, "step", example("market_ticks"), *args)
    assert code == 0 and err == ""
    code, _, err = cli(capsys, "step", example("fan_out_in"), *args)
    assert code == 0
    assert err.startswith("weavegraph: warning: session 'x' was written by another graph (hash ")


def test_step_text_and_messages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys,
        "step",
        example("market_ticks"),
        "--session",
        "t",
        "--db",
        "sqlite://s.db",
        "--input",
        '{"messages": [{"role": "user", "content": "more"}]}',
    )
    assert code == 0
    assert "session t invoked at step 2" in out and "user: more" in out and "tick 1 sum 1" in out


def test_step_requires_session_and_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "step", example("market_ticks"), "--session", "x")
    assert code == 2 and "--input" in err


def test_step_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "step", example("fails_on_purpose"), "--session", "f", "--input", "{}")
    assert code == 1
    assert (
        err.strip() == "weavegraph: run failed: node 'explode' failed at step 2: this graph fails on purpose"
    )


# ---------------------------------------------------------------- validate


def test_validate_valid_documents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", example("retry_loop"))
    assert code == 0 and "valid (3 nodes, 3 edges, 1 conditional edges)" in out
    code, out, _ = cli(capsys, "validate", example("market_ticks"), "--json")
    assert code == 0 and json.loads(out) == {"valid": True, "problems": [], "callables": []}


def test_validate_reports_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": [{"id": "A", "type": "delay", "config": {"ms": "x"}}, {"id": "A", "type": "fail"}],
        "edges": [{"from": "Start", "to": "B"}],
    }
    code, out, _ = cli(capsys, "validate", write_doc(tmp_path / "bad.wgraph.json", data))
    assert code == 2
    assert out.splitlines() == [
        "$.nodes[0].config.ms: expected number, got string",
        "$.nodes[1].id: duplicate node id 'A' (first at $.nodes[0])",
        '$.edges[0].to: no node \'B\' (use a node id, "Start" or "End")',
        "$.nodes[0]: node 'A' is not reachable from Start",
        "$.nodes[0]: node 'A' has no path to End",
    ]


def test_validate_not_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.wgraph.json"
    path.write_text('{\n  "format": "weavegraph.graph",\n  "nodes": [}\n')
    code, out, _ = cli(capsys, "validate", str(path))
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith("$: not valid JSON: ") and line.endswith("at line 3 column 13")
    code, out, _ = cli(capsys, "validate", str(tmp_path / "missing.wgraph.json"), "--json")
    assert code == 2 and json.loads(out)["problems"][0]["path"] == "$"


def test_validate_lists_callables_without_importing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = json.loads(json.dumps(PYTHON_DOC).replace("doc_callables", "untrusted_nodes"))
    code, out, _ = cli(capsys, "validate", write_doc(tmp_path / "code.wgraph.json", data))
    assert code == 0
    assert "imports tests.plugins.untrusted_nodes:double" in out
    assert "tests.plugins.untrusted_nodes" not in sys.modules


# ---------------------------------------------------------------- databases


@pytest.fixture
def runs_db(capsys: pytest.CaptureFixture[str]) -> str:
    url = "sqlite://runs.db"
    assert cli(capsys, "run", example("retry_loop"), "--db", url, "--session", "loop")[0] == 0
    for tick in (1, 2, 3):
        payload = json.dumps({"extra": {"tick": tick}})
        assert (
            cli(
                capsys, "step", example("market_ticks"), "--db", url, "--session", "ticks", "--input", payload
            )[0]
            == 0
        )
    return url


def test_sessions(capsys: pytest.CaptureFixture[str], runs_db: str) -> None:
    code, out, _ = cli(capsys, "sessions", "--db", runs_db, "--json")
    assert code == 0
    value = json.loads(out)
    assert value["total_count"] == 2
    by_id = {s["session_id"]: s for s in value["sessions"]}
    assert by_id["loop"]["last_step"] == 7 and by_id["loop"]["steps"] == 8
    assert by_id["ticks"]["last_step"] == 6
    code, out, _ = cli(capsys, "sessions", "--db", runs_db, "--search", "TICK")
    assert code == 0 and "ticks" in out and "loop" not in out.splitlines()[1]
    assert out.splitlines()[0].split() == ["SESSION", "CREATED", "UPDATED", "LAST", "STEP", "STEPS", "BYTES"]


def test_sessions_uses_the_sqlite_resolution(
    capsys: pytest.CaptureFixture[str], runs_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEAVEGRAPH_SQLITE_URL", runs_db)
    code, out, _ = cli(capsys, "sessions")
    assert code == 0 and "2 of 2 sessions in sqlite://runs.db" in out


def test_sessions_of_a_missing_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "sessions", "--db", "sqlite://nowhere.db")
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "nowhere.db").exists(), "reading never creates a database"


def test_steps(capsys: pytest.CaptureFixture[str], runs_db: str) -> None:
    code, out, _ = cli(capsys, "steps", "loop", "--db", runs_db, "--json", "--limit", "3")
    assert code == 0
    value = json.loads(out)
    assert value["total_count"] == 8 and value["has_next_page"] is True
    assert [s["step"] for s in value["steps"]] == [7, 6, 5]
    assert value["steps"][0]["ran_nodes"] == ["Custom:done"]
    code, out, _ = cli(capsys, "steps", "loop", "--db", runs_db, "--node", "attempt", "--json")
    assert [s["step"] for s in json.loads(out)["steps"]] == [5, 3, 1]
    code, out, _ = cli(capsys, "steps", "loop", "--db", runs_db, "--offset", "6")
    assert code == 0 and out.splitlines()[-1] == "2 of 8 steps of session loop"
    code, _, err = cli(capsys, "steps", "nope", "--db", runs_db)
    assert code == 2 and "no session 'nope'" in err


def test_stats(capsys: pytest.CaptureFixture[str], runs_db: str) -> None:
    code, out, _ = cli(capsys, "stats", "--db", runs_db, "--json")
    assert code == 0
    value = json.loads(out)
    assert value["backend"] == "sqlite" and value["total_steps"] == 15 and len(value["sessions"]) == 2
    code, out, _ = cli(capsys, "stats", "--db", runs_db)
    assert code == 0 and "steps     15" in out and "largest sessions:" in out


def test_prune_dry_run_then_prune(capsys: pytest.CaptureFixture[str], runs_db: str) -> None:
    code, out, _ = cli(capsys, "prune", "--db", runs_db, "--keep-last", "2", "--dry-run", "--json")
    assert code == 0
    preview = json.loads(out)
    assert preview["steps"] == 6 + 5 and preview["dry_run"] is True and preview["bytes"] > 0
    code, out, _ = cli(capsys, "stats", "--db", runs_db, "--json")
    assert json.loads(out)["total_steps"] == 15, "a dry run deletes nothing"
    code, out, _ = cli(capsys, "prune", "--db", runs_db, "--keep-last", "2", "--session", "loop", "--vacuum")
    assert code == 0 and out.startswith("deleted 6 steps")
    code, out, _ = cli(capsys, "stats", "--db", runs_db, "--json")
    assert json.loads(out)["total_steps"] == 9
    code, out, _ = cli(
        capsys, "prune", "--db", runs_db, "--keep-last", "1", "--session", "loop", "ticks", "--json"
    )
    assert code == 0 and json.loads(out)["steps"] == 1 + 6


def test_prune_older_than_keeps_latest(capsys: pytest.CaptureFixture[str], runs_db: str) -> None:
    code, out, _ = cli(capsys, "prune", "--db", runs_db, "--older-than", "0", "--json")
    assert code == 0 and json.loads(out)["steps"] == 13
    code, out, _ = cli(capsys, "sessions", "--db", runs_db, "--json")
    assert sorted(s["steps"] for s in json.loads(out)["sessions"]) == [1, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "needs --keep-last"), (["--keep-last", "0"], "at least 1"), (["--older-than", "-1"], "negative")],
)
def test_prune_rejects_bad_policies(
    capsys: pytest.CaptureFixture[str], runs_db: str, args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "prune", "--db", runs_db, *args)
    assert code == 2 and message in err


def test_export(capsys: pytest.CaptureFixture[str], runs_db: str, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "export", "ticks", "--db", runs_db)
    assert code == 0
    value = json.loads(out)
    assert value["format"] == "weavegraph.session" and value["session_id"] == "ticks"
    assert [s["step"] for s in value["steps"]] == list(range(7))
    assert value["steps"][-1]["state"]["extra"]["map"] == {"tick": 3, "sum": 6}
    target = tmp_path / "ticks.json"
    code, out, err = cli(capsys, "export", "ticks", "--db", runs_db, "-o", str(target), "--progress")
    assert code == 0 and "exported 7 steps" in out
    assert json.loads(target.read_text()) == value
    assert "exporting [" in err and "7/7 100%" in err
    assert cli(capsys, "export", "nope", "--db", runs_db)[0] == 2


def test_migrate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from engine.persistence.schema import migrations

    code, out, _ = cli(capsys, "migrate", "--db", "sqlite://fresh.db", "--json")
    names = [m.name for m in migrations("sqlite")]
    assert names[0] == "0001_weavegraph_init" and len(names) >= 5
    assert code == 0 and json.loads(out) == {"database": "sqlite://fresh.db", "applied": names}
    code, out, _ = cli(capsys, "migrate", "--db", "sqlite://fresh.db")
    assert code == 0 and "up to date" in out


def test_password_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://bob:s3cret-pw@127.0.0.1:1/weavegraph"
    for argv in (["sessions", "--db", url], ["run", example("market_ticks"), "--db", url, "--debug"]):
        code, out, err = cli(capsys, *argv)
        assert code == 2
        assert "s3cret-pw" not in out + err
        assert "bob:***@127.0.0.1" in err


# ---------------------------------------------------------------- usage


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "frobnicate")[0] == 2
    assert cli(capsys)[0] == 2
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "run" in out and "prune" in out


def test_console_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WEAVEGRAPH_TRUST_FILE": str(tmp_path / "t.json")}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", example("market_ticks"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["step"] == 2


@pytest.mark.postgres
def test_postgres_database_commands(capsys: pytest.CaptureFixture[str], postgres_url: str) -> None:
    from engine.persistence.urls import url_password

    password = url_password(postgres_url)
    assert cli(capsys, "migrate", "--db", postgres_url)[0] == 0
    code, out, err = cli(
        capsys, "run", example("retry_loop"), "--db", postgres_url, "--session", "pg", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["step"] == 7
    payload = '{"extra": {"tick": 3}}'
    assert (
        cli(
            capsys,
            "step",
            example("market_ticks"),
            "--db",
            postgres_url,
            "--session",
            "t",
            "--input",
            payload,
        )[0]
        == 0
    )
    code, out, _ = cli(capsys, "sessions", "--db", postgres_url, "--json")
    assert code == 0 and {s["session_id"] for s in json.loads(out)["sessions"]} == {"pg", "t"}
    code, out, _ = cli(capsys, "steps", "pg", "--db", postgres_url, "--node", "attempt", "--json")
    assert [s["step"] for s in json.loads(out)["steps"]] == [5, 3, 1]
    code, out, _ = cli(capsys, "export", "pg", "--db", postgres_url)
    assert code == 0 and len(json.loads(out)["steps"]) == 8
    code, out, _ = cli(capsys, "prune", "--db", postgres_url, "--keep-last", "1", "--json")
    assert code == 0 and json.loads(out)["steps"] == 7 + 2
    code, out, err = cli(capsys, "stats", "--db", postgres_url)
    assert code == 0 and "postgres" in out
    if password:
        for argv in (["sessions", "--db", postgres_url], ["stats", "--db", postgres_url]):
            code, out, err = cli(capsys, *argv)
            assert password not in out + err
