"""kill -9 of a `weavegraph run` process at random points, in both storage modes: afterwards the database
opens and passes `PRAGMA integrity_check`, every saved step loads and equals the reference run's state at that
step, and the session resumes and completes with the reference final state. `--fault-trials=N` sets the trials
per mode (10 in CI); the figures of a 100-trial run are in the README's "Reliability" section."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from tests.faults.helpers import (
    SAVES,
    SESSION,
    cli_command,
    cli_env,
    loop_document,
    reference_states,
    resume_to_end,
    saved_states,
    write_document,
)

pytestmark = pytest.mark.slow
SCALES_WITH_TRIALS = True  # conftest.py: the time limit grows with --fault-trials

MODES = {"compact": "?storage=compact&snapshot_every=7", "full": "?storage=full"}


def kill_at_random_point(
    doc: Path, url: str, events: Path, cwd: Path, rng: random.Random
) -> tuple[int, float, bool]:
    """Start `weavegraph run`, wait until `k` steps are saved (its events file says so; k random, 0 = still
    starting), wait a random 0-4 ms more, SIGKILL it. Returns (k, the extra wait, whether it had finished)."""
    k = rng.randrange(0, SAVES)
    extra = rng.uniform(0.0, 0.004)
    proc = subprocess.Popen(
        cli_command("run", str(doc), "--db", url, "--session", SESSION, "--events", str(events)),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        saved = 0
        seen = 0
        deadline = time.monotonic() + 60
        while saved < k and proc.poll() is None and time.monotonic() < deadline:
            try:
                text = events.read_bytes()
            except FileNotFoundError:
                text = b""
            if len(text) > seen:
                saved = text.count(b'"checkpoint.saved"')
                seen = len(text)
            time.sleep(0.0005)
        if k == 0:
            extra = rng.uniform(0.0, 0.6)  # somewhere in start-up: imports, opening the database, step 0
        time.sleep(extra)
        finished = proc.poll() is not None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
    if finished:
        assert proc.returncode == 0, err.decode(errors="replace")
    else:
        assert proc.returncode == -signal.SIGKILL
    return k, extra, finished


async def check_after_kill(url: str, reference: list[VersionedState], data: dict[str, object]) -> int:
    """The checks after one kill; returns how many steps had been saved."""
    storage = await SQLiteCheckpointer.connect(url)
    try:
        assert await storage.integrity_check() == "ok"
        states = await saved_states(storage, SESSION)
        for step, state in enumerate(states):
            assert state == reference[step], f"saved step {step} differs from the reference run"
        final = await resume_to_end(storage, data)
        assert final == reference[-1]
        after = await saved_states(storage, SESSION)
        assert after == reference, "the resumed session's steps differ from the reference run"
    finally:
        await storage.aclose()
    return len(states)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_kill_9_at_random_points_loses_nothing(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    trials: int = request.config.getoption("--fault-trials")
    seed = int(os.environ.get("WEAVEGRAPH_FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data = loop_document()
    doc = write_document(tmp_path / "loop.wgraph.json", data)
    reference = asyncio.run(reference_states(data, tmp_path))
    assert len(reference) == SAVES
    outcomes: Counter[str] = Counter()
    saved_counts: list[int] = []
    started = time.monotonic()
    for trial in range(trials):
        folder = tmp_path / f"trial-{trial}"
        folder.mkdir()
        url = f"sqlite://{folder / 'kill.db'}{MODES[mode]}"
        k, extra, finished = kill_at_random_point(doc, url, folder / "events.jsonl", tmp_path, rng)
        try:
            saved = asyncio.run(check_after_kill(url, reference, data))
        except BaseException as exc:
            exc.add_note(f"seed {seed} trial {trial}: killed after {k} saved steps + {extra * 1000:.1f} ms")
            raise
        saved_counts.append(saved)
        outcomes["finished before the kill" if finished else "killed"] += 1
        outcomes["killed before step 0 was saved" if saved == 0 else "killed with steps saved"] += (
            0 if finished else 1
        )
    took = time.monotonic() - started
    median = sorted(saved_counts)[len(saved_counts) // 2]
    print(
        f"\nkill -9 [{mode}] seed {seed}: {trials} trials in {took:.1f} s; {dict(outcomes)}; "
        f"steps saved at the kill: min {min(saved_counts)}, median {median}, max {max(saved_counts)} of "
        f"{SAVES}; every database opened, passed integrity_check, every saved step matched the reference, "
        "and every session resumed to the reference final state"
    )
