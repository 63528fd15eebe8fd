"""C7: when the PostgreSQL server dies in the middle of `weavegraph run`, the CLI prints exactly one line on
stderr, exits 1 and closes its pool; `--debug` adds the traceback. A real server, stopped mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from tests.pgserver import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]

LOOP_DOC = {
    "format": "weavegraph.graph",
    "version": 1,
    "name": "Slow loop",
    "nodes": [
        {"id": "attempt", "type": "accumulate", "config": {"key": "increment", "into": "count"}},
        {"id": "wait", "type": "delay", "config": {"ms": 40}},
        {"id": "done", "type": "message", "config": {"role": "assistant", "content": "done"}},
    ],
    "edges": [
        {"from": "Start", "to": "attempt"},
        {"from": "attempt", "to": "wait"},
        {"from": "done", "to": "End"},
    ],
    "conditional_edges": [
        {
            "from": "wait",
            "router": {
                "type": "route_if",
                "config": {"key": "count", "op": "<", "value": 100000, "then": ["attempt"], "else": ["done"]},
            },
            "targets": ["attempt", "done"],
        }
    ],
    "runtime": {"max_steps": 1000000},
    "input": {"extra": {"count": 0, "increment": 1}},
}


async def _saved_steps(url: str, session: str) -> int:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        found = await conn.fetchval("SELECT last_step FROM sessions WHERE id = $1", session)
        return int(found or 0)
    except asyncpg.PostgresError:
        return 0
    finally:
        await conn.close()


def _run_until_server_dies(
    server: PostgresServer, url: str, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    doc = tmp_path / "loop.wgraph.json"
    doc.write_text(json.dumps(LOOP_DOC), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", str(doc), "--db", url, "--session", "s", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(_saved_steps(url, "s")) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never saved a step"
            time.sleep(0.1)
        server.stop("immediate")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if not server.running:
            server.restart_later()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_server_dying_mid_run_prints_one_line(postgres_server: PostgresServer, tmp_path: Path) -> None:
    if postgres_server.external_url:
        pytest.skip("cannot stop an external server")
    url = postgres_server.create_database()
    try:
        done = _run_until_server_dies(postgres_server, url, tmp_path)
    finally:
        postgres_server.drop_database(url)
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    target = re.escape(f"127.0.0.1:{postgres_server.port}/") if postgres_server.port else ""
    assert re.fullmatch(
        rf"weavegraph: error: connection to PostgreSQL at {target}\S+ was lost while saving session 's'.*",
        lines[0],
    ), lines[0]
    assert postgres_server.password not in done.stderr


def test_server_dying_mid_run_with_debug_shows_the_traceback(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    if postgres_server.external_url:
        pytest.skip("cannot stop an external server")
    url = postgres_server.create_database()
    try:
        done = _run_until_server_dies(postgres_server, url, tmp_path, "--debug")
    finally:
        postgres_server.drop_database(url)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "was lost while saving session 's'" in done.stderr
    assert postgres_server.password not in done.stderr
