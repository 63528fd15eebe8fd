"""Helpers for the observability tests: a slow graph document and `weavegraph` subprocesses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest


def slow_doc(path: Path, *, wait_ms: int = 300, loops: int = 5) -> str:
    """A loop: `tick` (count += 1), then `wait` (sleeps `wait_ms`), until count is `loops`."""
    doc = {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "Slow loop",
        "nodes": [
            {"id": "tick", "type": "accumulate", "config": {"key": "increment", "into": "count"}},
            {"id": "wait", "type": "delay", "config": {"ms": wait_ms}},
        ],
        "edges": [{"from": "Start", "to": "tick"}, {"from": "tick", "to": "wait"}],
        "conditional_edges": [
            {
                "from": "wait",
                "router": {
                    "type": "route_if",
                    "config": {"key": "count", "op": "<", "value": loops, "then": ["tick"], "else": ["End"]},
                },
                "targets": ["tick", "End"],
            }
        ],
        "runtime": {"max_steps": 1000},
        "input": {"extra": {"count": 0, "increment": 1}},
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `weavegraph` subprocess: no OTEL_* or database settings from the outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WEAVEGRAPH_"))}
    env.update(extra)
    return env


def start_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_event(
    path: Path, scope: str, node: str | None = None, min_step: int = 0, timeout: float = 60
) -> dict[str, Any]:
    """Poll a JSON Lines events file until an event of `scope` (at node, at step >= min_step) appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line being written
                meta = event["metadata"]
                if event["scope"] == scope and (node is None or meta.get("node_id") == node):
                    if int(meta.get("step", 0)) >= min_step:
                        return dict(event)
        time.sleep(0.02)
    raise AssertionError(f"no {scope} event for {node} at step >= {min_step} in {path} within {timeout}s")


@pytest.fixture
def doc(tmp_path: Path) -> str:
    return slow_doc(tmp_path / "slow.wgraph.json")
