"""Two processes racing: on a brand-new SQLite file (C6: both open it and save; schema creation is safe under
concurrent first opens, never a raw traceback) and on one session (each step is saved with
`expected_last_step`: exactly one process wins it, the other gets `CheckpointConflict`, no step is saved twice
and the chain of stored steps is unbroken), on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.persistence.base import Checkpoint, StepQuery
from engine.persistence.factory import open_checkpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from tests.faults.helpers import cli_env
from tests.faults.race_proc import GAP

pytestmark = pytest.mark.slow

PROC = Path(__file__).with_name("race_proc.py")
ROUNDS = 24
STEPS = 40


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROC), *args],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]], timeout: float) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=timeout)
        out.append((proc.returncode, stdout, stderr))
    return out


def test_two_processes_creating_a_new_file_at_the_same_moment_both_succeed(tmp_path: Path) -> None:
    start = time.time() + 3.0  # both have imported everything by then, even on a busy machine
    procs = [_spawn("open", str(tmp_path), str(start), name, str(ROUNDS)) for name in ("p1", "p2")]
    results = _finish(procs, timeout=60 + ROUNDS * GAP)
    problems = [
        f"{name}: exit {code}: {out.strip()} {err.strip()[-800:]}"
        for name, (code, out, err) in zip(("p1", "p2"), results, strict=True)
        if code != 0 or err.strip()
    ]
    assert not problems, "\n".join(problems)
    for _, out, _ in results:
        assert out.split() == [w for i in range(ROUNDS) for w in ("ok", str(i))]

    async def check() -> None:
        for i in range(ROUNDS):
            storage = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / f'new-{i}.db'}", create=False)
            try:
                assert await storage.integrity_check() == "ok"
                assert sorted(await storage.list_sessions()) == ["p1", "p2"]
            finally:
                await storage.aclose()

    asyncio.run(check())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def _create_shared(url: str) -> None:
    import datetime as dt

    storage = await open_checkpointer(url)
    try:
        state = VersionedState.new_with_user_message("go")
        await storage.save(Checkpoint("shared", 0, state, [], {}, 1, dt.datetime.now(dt.UTC)), None)
    finally:
        await storage.aclose()


async def _stored_chain(url: str) -> list[Checkpoint]:
    storage = await open_checkpointer(url)
    try:
        return (await storage.query_steps("shared", StepQuery(limit=1000))).checkpoints[::-1]
    finally:
        await storage.aclose()


def test_two_processes_on_one_session_never_save_a_step_twice(shared_url: str) -> None:
    asyncio.run(_create_shared(shared_url))
    start = time.time() + 3.0
    procs = [_spawn("session", shared_url, str(start), name, str(STEPS)) for name in ("p1", "p2")]
    results = _finish(procs, timeout=120)
    for name, (code, out, err) in zip(("p1", "p2"), results, strict=True):
        assert code == 0 and not err.strip(), (
            f"{name}: exit {code}: {out.strip()[-500:]} {err.strip()[-800:]}"
        )
    wins: Counter[int] = Counter()
    conflicts = 0
    for _, out, _ in results:
        for line in out.splitlines():
            word, *rest = line.split()
            if word == "won":
                wins[int(rest[0])] += 1
            elif word == "conflict":
                conflicts += 1
                assert int(rest[1]) >= int(rest[0]), line  # the other writer was already there
    assert sorted(wins) == list(range(1, STEPS + 1)) and set(wins.values()) == {1}, wins
    rows = asyncio.run(_stored_chain(shared_url))
    assert [c.step for c in rows] == list(range(STEPS + 1))
    for parent, child in itertools.pairwise(rows):
        # every saved step extends exactly the stored step before it: one message more, by its writer
        assert child.state.messages[:-1] == parent.state.messages
        assert child.state.messages[-1].content == f"{child.state.extra['writer']}:{child.step}"
    writers = Counter(c.state.extra["writer"] for c in rows[1:])
    print(f"\nsession race: {dict(writers)} steps won, {conflicts} conflicts")
