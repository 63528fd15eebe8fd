"""`weavegraph sessions / stats / prune / export` on a LangGraph SQLite file written by real LangGraph
runs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from tests.engine.foreign.conftest import snapshot


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _checkpoints(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)  # leaves no -wal/-shm
    try:
        return int(conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def test_sessions_stats_and_dry_run_never_write(lg_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(lg_db)
    url = f"sqlite://{lg_db}"
    code, out, err = cli(capsys, "sessions", "--db", url)
    assert code == 0 and err == ""
    assert "chat-1" in out and "approve-waiting" in out and "child:" in out
    assert out.splitlines()[-1].startswith("7 of 7 threads in LangGraph database")
    code, out, _ = cli(capsys, "sessions", "--db", str(lg_db), "--search", "approve", "--json")
    value = json.loads(out)
    assert code == 0 and value["format"] == "langgraph" and value["total_count"] == 2
    assert sorted(t["thread_id"] for t in value["threads"]) == ["approve-done", "approve-waiting"]
    code, out, _ = cli(capsys, "stats", "--db", url)
    assert code == 0 and "LangGraph sqlite database" in out and "repeated blobs cost" in out
    assert "keep last 10: would remove" in out and "messages:" in out
    code, out, _ = cli(capsys, "stats", "--db", url, "--json")
    report = json.loads(out)
    assert code == 0 and report["backend"] == "sqlite" and report["checkpoints"] == _checkpoints(lg_db)
    assert {c["channel"] for c in report["channels"]} >= {"messages", "turns"}
    assert [s["keep_last"] for s in report["keep_last"]] == [1, 10, 100]
    assert report["free_bytes"] is not None and report["threads"][0]["bytes"] > 0
    code, out, _ = cli(capsys, "prune", "--db", url, "--keep-last", "2", "--dry-run", "--json")
    preview = json.loads(out)
    assert code == 0 and preview["dry_run"] and preview["checkpoints"] > 0
    code, out, _ = cli(capsys, "prune", "--db", url, "--keep-last", "2", "--dry-run")
    assert code == 0 and out.startswith("keep last 2: would remove") and "chat-1:" in out
    assert snapshot(lg_db) == before  # sha256 and directory listing unchanged


def test_prune_applies_what_the_dry_run_showed(lg_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite://{lg_db}"
    total = _checkpoints(lg_db)
    code, out, _ = cli(capsys, "prune", "--db", url, "--keep-last", "3", "--dry-run", "--json")
    preview = json.loads(out)
    code, out, _ = cli(capsys, "prune", "--db", url, "--keep-last", "3", "--vacuum", "--json")
    applied = json.loads(out)
    assert code == 0 and not applied["dry_run"] and applied["vacuumed"]
    fields = ("checkpoints", "writes", "bytes", "threads")
    assert [applied[f] for f in fields] == [preview[f] for f in fields]
    assert _checkpoints(lg_db) == total - preview["checkpoints"]
    code, out, _ = cli(capsys, "prune", "--db", url, "--keep-last", "3", "--dry-run")
    assert code == 0 and out.startswith("keep last 3: would remove 0 checkpoints")


def test_prune_options_that_do_not_apply(lg_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(lg_db)
    code, _, err = cli(capsys, "prune", "--db", str(lg_db), "--older-than", "3")
    assert code == 2 and err.strip() == ("weavegraph: prune of a LangGraph database needs --keep-last N")
    code, _, err = cli(capsys, "prune", "--db", str(lg_db), "--keep-last", "2", "--older-than", "3")
    assert code == 2 and "--older-than is not supported on a LangGraph database" in err
    assert snapshot(lg_db) == before


def test_export_a_thread_and_import_it(
    lg_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], lg_master: tuple[Path, dict[str, Any]]
) -> None:
    before = snapshot(lg_db)
    out_file = tmp_path / "chat.jsonl"
    code, out, err = cli(capsys, "export", "chat-2", "--db", str(lg_db), "-o", str(out_file))
    assert code == 0 and err == "" and "LangGraph thread chat-2" in out
    records = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in records] == list(range(len(records)))
    assert records[-1]["state"]["messages"]["items"][-1] == {"role": "assistant", "content": "echo: hi 0"}
    # the branch ending at the fork's parent (not the newest branch)
    parent = lg_master[1]["fork_parent"]["configurable"]["checkpoint_id"]
    code, out, _ = cli(capsys, "export", "chat-1", "--db", str(lg_db), "--checkpoint", parent)
    branch = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and branch and all(r["session_id"] == "chat-1" for r in branch)
    code, out, _ = cli(capsys, "export", "chat-1", "--db", str(lg_db))
    assert len(out.splitlines()) == len(branch) + 1  # the fork is one checkpoint on top of its parent
    target = tmp_path / "ours.db"
    code, out, err = cli(capsys, "import", str(out_file), "--db", f"sqlite://{target}")
    assert code == 0, err
    code, out, _ = cli(capsys, "steps", "chat-2", "--db", f"sqlite://{target}", "--json")
    assert code == 0 and json.loads(out)["total_count"] == len(records)
    assert snapshot(lg_db) == before


def test_export_refusals_are_one_line(
    lg_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "odd.jsonl"
    code, out, err = cli(capsys, "export", "odd", "--db", str(lg_db), "-o", str(out_file))
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "cannot become a Weavegraph session" in err and "odd" in err
    assert not out_file.exists()
    code, _, err = cli(capsys, "export", "nobody", "--db", str(lg_db))
    assert code == 2 and "thread 'nobody' has no checkpoints" in err
    code, _, err = cli(capsys, "export", "chat-1", "--db", str(lg_db), "--checkpoint", "nope")
    assert code == 2 and "checkpoint 'nope' not found" in err


def test_our_database_still_uses_our_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite://{tmp_path / 'ours.db'}"
    code, _, err = cli(capsys, "migrate", "--db", url)
    assert code == 0, err
    code, out, _ = cli(capsys, "sessions", "--db", url, "--json")
    assert code == 0 and "format" not in json.loads(out) and json.loads(out)["sessions"] == []
    code, _, err = cli(capsys, "export", "s1", "--db", url, "--ns", "x")
    assert code == 2 and "--ns and --checkpoint apply to LangGraph databases only" in err


@pytest.mark.postgres
def test_postgres_sessions_stats_and_dry_run_never_write(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from langgraph.checkpoint.postgres import PostgresSaver

    from tests.engine.foreign.lg_graphs import populate
    from tests.engine.foreign.test_langgraph_postgres import _fingerprint

    with PostgresSaver.from_conn_string(postgres_url) as saver:
        saver.setup()
        populate(saver)
    before = asyncio.run(_fingerprint(postgres_url))
    password = postgres_url.split("@")[0].split(":")[-1]
    code, out, err = cli(capsys, "sessions", "--db", postgres_url, "--json")
    value = json.loads(out)
    assert code == 0 and value["format"] == "langgraph" and value["total_count"] == 7, err
    assert password not in out and password not in value["database"]
    code, out, _ = cli(capsys, "stats", "--db", postgres_url)
    assert code == 0 and "LangGraph postgres database" in out and password not in out
    code, out, _ = cli(capsys, "prune", "--db", postgres_url, "--keep-last", "2", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["checkpoints"] > 0
    assert asyncio.run(_fingerprint(postgres_url)) == before
