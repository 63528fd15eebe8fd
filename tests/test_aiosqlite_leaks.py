"""The suite's leak net (tests/aiosqlite_leaks.py): a run that leaves an aiosqlite connection open ends (no
hang) but fails, naming the test; a run that closes its connections passes untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TESTS = """
import asyncio

import aiosqlite

KEPT = []


def test_closes_its_connection():
    async def go():
        async with aiosqlite.connect(":memory:") as db:
            await db.execute("SELECT 1")

    asyncio.run(go())


def test_forgets_its_connection():
    async def go():
        KEPT.append(await aiosqlite.connect(":memory:"))

    asyncio.run(go())

"""


def run_pytest(tmp_path: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(TESTS, encoding="utf-8")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.aiosqlite_leaks"]
    cmd += ["-W", "error"]  # as the suite runs: a connection's ResourceWarning raises
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    targets = [f"test_sample.py::{name}" for name in selection]
    return subprocess.run(
        [*cmd, *targets], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_leaked_connection_fails_the_run_and_names_the_test(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "test_closes_its_connection", "test_forgets_its_connection")
    assert "2 passed" in proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 aiosqlite connection(s) never closed" in proc.stderr
    assert "running since test_sample.py::test_forgets_its_connection" in proc.stderr


def test_a_run_that_closes_its_connections_passes(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "test_closes_its_connection")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "aiosqlite_leaks" not in proc.stderr
