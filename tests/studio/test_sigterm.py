"""SIGTERM to a real studio process (offscreen Qt): no unsaved-changes dialog, the running step finishes
and is saved, the next never starts, the process exits 143."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.persistence.factory import open_checkpointer

DRIVER = Path(__file__).with_name("sigterm_driver.py")


def slow_graph(path: Path) -> None:
    doc = {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "two slow steps",
        "nodes": [
            {"id": "first", "type": "delay", "config": {"ms": 1500}, "position": [200, 0]},
            {"id": "second", "type": "delay", "config": {"ms": 1500}, "position": [400, 0]},
        ],
        "edges": [
            {"from": "Start", "to": "first"},
            {"from": "first", "to": "second"},
            {"from": "second", "to": "End"},
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")


async def saved_steps(url: str) -> list[tuple[int, list[str]]]:
    cp = await open_checkpointer(url, create=False)
    try:
        latest = await cp.load_latest("sigterm")
        assert latest is not None
        return [(latest.step, [n.name for n in latest.ran_nodes])]
    finally:
        await cp.aclose()


@pytest.mark.slow
def test_sigterm_mid_run_finishes_the_step_and_exits_143(tmp_path: Path) -> None:
    graph = tmp_path / "slow.wgraph.json"
    slow_graph(graph)
    url = f"sqlite://{(tmp_path / 'runs.db').as_posix()}"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "WEAVEGRAPH_TRUST_FILE": str(tmp_path / "trust.json"),
    }
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(graph), url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "RUNNING first":
                break
        assert "DIRTY True" in lines and "RUNNING first" in lines, (
            lines,
            proc.stderr.read() if proc.stderr else "",
        )
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - signalled
    assert proc.returncode == 143, (proc.returncode, out, err)
    assert "EXIT 143" in out
    assert "RUNNING second" not in out  # the next step never started
    assert took < 10, took  # no dialog waited for an answer
    assert "Traceback" not in err, err
    # the step that was running when the signal came finished and is saved; nothing after it
    assert asyncio.run(saved_steps(url)) == [(1, ["first"])]
