"""The runner on durable storage: resume after a killed process, two runner processes on one session."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.clock import MockClock
from engine.persistence.base import StepQuery
from engine.persistence.factory import open_checkpointer
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from tests.aiosqlite_leaks import Closing
from tests.engine.persistence.runner_proc import counting_app, initial_state

ROOT = Path(__file__).resolve().parents[3]
PROC = Path(__file__).with_name("runner_proc.py")
TARGET = 40


def _spawn(
    env_extra: dict[str, str], name: str, session: str, target: int, delay: float
) -> subprocess.Popen[str]:
    urls = ("WEAVEGRAPH_POSTGRES_URL", "WEAVEGRAPH_SQLITE_URL")
    env = {k: v for k, v in os.environ.items() if k not in urls}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    return subprocess.Popen(
        [sys.executable, str(PROC), name, session, str(target), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


async def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = await asyncio.to_thread(proc.communicate, None, 60)
    return out, err


async def test_resume_after_the_process_dies(tmp_path: Path, closing: Closing[Any]) -> None:
    url = f"sqlite://{tmp_path / 'resume.db'}"
    async with (
        await AppRunner.builder()
        .app(counting_app(TARGET, "w"))
        .checkpointer_custom(InMemoryCheckpointer())
        .clock(MockClock(1_000.0))
        .build() as reference
    ):
        await reference.create_session("job", initial_state())
        expected = await reference.run_until_complete("job")

    proc = _spawn({"WEAVEGRAPH_SQLITE_URL": url}, "w", "job", TARGET, 0.02)
    last_won = 0
    try:
        assert proc.stdout is not None
        while last_won < 10:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, proc.stderr.read() if proc.stderr else "runner process exited"
            if line.startswith("won"):
                last_won = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        await _finish(proc)
    assert proc.returncode == -signal.SIGKILL

    storage = await closing(SQLiteCheckpointer.connect(url))
    assert await storage.integrity_check() == "ok"
    async with (
        await AppRunner.builder()
        .app(counting_app(TARGET, "w"))
        .checkpointer_custom(storage)
        .clock(MockClock(1_000.0))
        .build() as runner
    ):
        init = await runner.create_session("job", initial_state())
        assert init.fresh is False and init.checkpoint_step is not None
        assert last_won <= init.checkpoint_step < TARGET
        final = await runner.run_until_complete("job")
    assert final == expected
    assert final.extra["count"] == TARGET and len(final.messages) == TARGET + 1
    steps = await storage.query_steps("job", StepQuery(limit=1000))
    assert [c.step for c in steps.checkpoints] == list(range(TARGET, -1, -1))
    await storage.aclose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_two_runner_processes_never_interleave_lineages(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = 30
    if backend == "sqlite":
        url = f"sqlite://{tmp_path / 'shared.db'}"
        env = {"WEAVEGRAPH_SQLITE_URL": url}
    else:
        url = request.getfixturevalue("postgres_url")
        env = {"WEAVEGRAPH_POSTGRES_URL": url}
    procs = [_spawn(env, name, "shared", target, 0.01) for name in ("p1", "p2")]
    outputs = [await _finish(p) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    won = [int(line.split()[1]) for out, _ in outputs for line in out.splitlines() if line.startswith("won")]
    assert sorted(won) == list(range(1, target + 1))  # each step committed by exactly one process

    storage: Any = await open_checkpointer(url)
    try:
        rows = (await storage.query_steps("shared", StepQuery(limit=1000))).checkpoints[::-1]
    finally:
        await storage.aclose()
    assert [c.step for c in rows] == list(range(target + 1))
    for parent, child in itertools.pairwise(rows):
        # Each step extends exactly the stored previous step: one more message, count + 1.
        assert child.state.messages[:-1] == parent.state.messages
        assert child.state.extra["count"] == parent.state.extra.get("count", 0) + 1
    texts = [m.content for m in rows[-1].state.messages[1:]]
    assert [int(t.split(":")[1]) for t in texts] == list(range(1, target + 1))
