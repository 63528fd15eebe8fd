"""`weavegraph export`, then `weavegraph import`: the same steps in another storage mode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(tmp_path / "trust.json"))
    for var in ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME", "WEAVEGRAPH_STORAGE_MODE"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def storage_mode(path: Path) -> set[str]:
    """Whether the steps rows hold full states or deltas, read with plain sqlite3."""
    with sqlite3.connect(path) as conn:
        rows = [json.loads(r[0]) for r in conn.execute("SELECT state_json FROM steps")]
    return {"delta" if "weavegraph_delta" in r else "full" for r in rows}


def test_export_import_round_trip_converts_compact_to_full(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for tick in range(1, 5):
        code, _, err = cli(
            capsys,
            "step",
            "market_ticks",
            "--session",
            "s1",
            "--db",
            "sqlite://compact.db",
            "--input",
            json.dumps({"extra": {"tick": tick}}),
        )
        assert code == 0, err
    assert "delta" in storage_mode(tmp_path / "compact.db")
    code, _, err = cli(capsys, "export", "s1", "--db", "sqlite://compact.db", "-o", "s1.json")
    assert code == 0, err
    code, out, err = cli(capsys, "import", "s1.json", "--db", "sqlite://full.db?storage=full", "--json")
    assert code == 0, err
    assert json.loads(out) == {"imported_steps": 9, "sessions": ["s1"]}  # step 0 + 2 steps x 4 inputs
    assert storage_mode(tmp_path / "full.db") == {"full"}
    code, out_a, _ = cli(capsys, "export", "s1", "--db", "sqlite://compact.db")
    code, out_b, _ = cli(capsys, "export", "s1", "--db", "sqlite://full.db")
    assert json.loads(out_a)["steps"] == json.loads(out_b)["steps"]
    code, _, err = cli(capsys, "import", "s1.json", "--db", "sqlite://full.db")
    assert code == 2 and "already exists" in err
    code, _, err = cli(capsys, "import", "s1.json", "--db", "sqlite://full.db", "--session", "copy")
    assert code == 0, err
    code, out, _ = cli(capsys, "sessions", "--db", "sqlite://full.db", "--json")
    assert {s["session_id"] for s in json.loads(out)["sessions"]} == {"s1", "copy"}


def test_import_rejects_files_that_are_not_exports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "junk.json").write_text('{"format": "weavegraph.session", "steps": [{"step": 1}]}')
    code, _, err = cli(capsys, "import", "junk.json", "--db", "sqlite://x.db")
    assert code == 2 and "junk.json" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "import", "missing.json", "--db", "sqlite://x.db")
    assert code == 2 and "cannot read" in err
