"""Issue 21 item 4: processes opening the same brand-new SQLite file at the same instant all succeed. The
file is built under a temporary name and hard-linked into place, and migrations run under BEGIN IMMEDIATE
with retries, so even a short busy timeout (50 ms, as a responsive UI would use) never fails the open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HELPER = Path(__file__).with_name("first_open_proc.py")
ROUNDS = 10
PROCESSES = 3


@pytest.mark.slow
def test_processes_create_one_new_file_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_no in range(ROUNDS):
        path = tmp_path / f"new-{round_no}.db"
        at = time.time() + 1.5  # every process is imported and waiting by then
        procs = [
            subprocess.Popen(
                [sys.executable, str(HELPER), f"sqlite://{path}", str(at), "0.05"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(PROCESSES)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0 and out.strip() == "ok", f"round {round_no}: {err}"
        assert sorted(p.name for p in tmp_path.iterdir() if ".creating" in p.name) == []
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " print(c.execute('SELECT version FROM weavegraph_schema_version').fetchone()[0])",
            str(tmp_path / "new-0.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    from engine.persistence.schema import latest

    assert int(check.stdout) == latest("sqlite")
