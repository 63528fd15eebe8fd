"""`weavegraph records`, `events`, `fork` and `replay` in-process: outputs, --json, and the one-line errors
(existing id, pruned step, no records, undecodable record), each writing nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from engine.graph.document import example_path
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.persistence.runner_proc import counting_app

DOC = str(example_path("retry_loop"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trusted.json"))
    for var in ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _sessions(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM sessions")}


def test_records_fork_replay(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = "sqlite://runs.db"
    assert cli(capsys, "run", DOC, "--db", db, "--session", "r", "--json")[0] == 0
    code, out, _ = cli(capsys, "records", "r", "--db", db, "--json")
    records = json.loads(out)
    assert code == 0 and records and {r["status"] for r in records} == {"done"}
    last = max(r["step"] for r in records)
    code, out, _ = cli(capsys, "records", "r", "--db", db, "--step", "1")
    assert code == 0 and "step 1" in out and "node records of session r" in out

    code, out, _ = cli(
        capsys, "fork", DOC, "r", "1", "f", "--db", db, "--json", "--update", '{"extra": {"k": 1}}'
    )
    assert code == 0 and json.loads(out)["parent_step"] == 1
    code, out, _ = cli(capsys, "replay", DOC, "r", "re", "--db", db, "--json")
    result = json.loads(out)
    assert code == 0 and result["diverged_at"] is None and result["ran_live"] == []
    assert len(result["recorded"]) == len(records)

    before = _sessions(tmp_path / "runs.db")
    code, _, err = cli(capsys, "fork", DOC, "r", "1", "f", "--db", db)
    assert code == 1 and err.strip().endswith("session 'f' already exists; choose another id")
    assert len(err.strip().splitlines()) == 1
    asyncio.run(_prune(tmp_path / "runs.db"))
    code, _, err = cli(capsys, "fork", DOC, "r", "1", "g", "--db", db)
    assert code == 1 and "session 'r' has no stored checkpoint at step 1" in err
    assert _sessions(tmp_path / "runs.db") == before
    assert last >= 1


async def _prune(path: Path) -> None:
    from engine.persistence.base import PrunePolicy

    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        await cp.prune(PrunePolicy(keep_last=1, session_ids=["r"]))
    finally:
        await cp.aclose()


def test_replay_errors_write_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = "sqlite://runs.db"
    assert cli(capsys, "run", DOC, "--db", db, "--session", "r")[0] == 0
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        conn.execute("UPDATE wg_node_records SET output_json = '{\"nope\": 1}' WHERE step = 2")
    code, _, err = cli(capsys, "replay", DOC, "r", "re", "--db", db)
    assert code == 1 and "session 'r' step 2: the recorded output of node" in err
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        conn.execute("DELETE FROM wg_node_records")
    code, _, err = cli(capsys, "replay", DOC, "r", "re", "--db", db)
    assert code == 1 and "session 'r' has no node records after step 0" in err and "--live" in err
    assert _sessions(tmp_path / "runs.db") == {"r"}


def test_events_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    async def make() -> None:
        cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'ev.db'}")
        try:
            builder = AppRunner.builder().app(counting_app(2)).checkpointer_custom(cp)
            async with await builder.lifecycle_events(True).persist_events(True).build() as runner:
                await runner.create_session("s", VersionedState.new_with_user_message("go"))
                await runner.run_until_complete("s")
        finally:
            await cp.aclose()

    asyncio.run(make())
    code, out, _ = cli(
        capsys, "events", "s", "--db", "sqlite://ev.db", "--json", "--min-step", "1", "--max-step", "1"
    )
    events = json.loads(out)
    assert code == 0 and events and {e["metadata"]["step"] for e in events} == {1}
    code, out, _ = cli(capsys, "events", "s", "--db", "sqlite://ev.db", "--limit", "2")
    assert code == 0 and "2 stored events of session s" in out
