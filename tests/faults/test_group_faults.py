"""Group commit under faults (issue 20): kill -9 of a process saving many sessions at once loses no save that
returned, and a group whose transaction fails on a really full disk (a small tmpfs) fails every caller of
that group with the same error while the next group, once there is room, commits cleanly."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.persistence.errors import StorageFull
from engine.persistence.sqlite import SQLiteCheckpointer
from tests.faults.helpers import ROOT, cli_env
from tests.faults.test_disk_full import _mount

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("group_kill_proc.py")
SESSIONS = 20


def _kill_after(url: str, lines_wanted: int) -> list[tuple[str, int]]:
    """Run the child until it reported `lines_wanted` returned saves, SIGKILL it, and return every save it
    reported (including those still in the pipe when it died)."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(SESSIONS)],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    reported: list[tuple[str, int]] = []
    try:
        assert proc.stdout.readline().strip() == "ready"
        while len(reported) < lines_wanted:
            line = proc.stdout.readline()
            assert line, f"the child ended early (code {proc.poll()})"
            session, step = line.split()
            reported.append((session, int(step)))
        os.kill(proc.pid, signal.SIGKILL)
        for line in proc.stdout:  # printed before the kill: those saves had returned too
            parts = line.split()
            if len(parts) == 2:
                reported.append((parts[0], int(parts[1])))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return reported


async def _check(url: str, reported: list[tuple[str, int]]) -> None:
    cp = await SQLiteCheckpointer.connect(url)
    try:
        assert await cp.integrity_check() == "ok"
        highest: dict[str, int] = {}
        for session, step in reported:
            highest[session] = max(step, highest.get(session, -1))
        for session, top in highest.items():
            latest = await cp.load_latest(session)
            assert latest is not None and latest.step >= top, (session, top, latest and latest.step)
            page = await cp.query_steps(session)
            assert [c.step for c in page.checkpoints] == list(range(latest.step, -1, -1))
        for session, step in reported:
            loaded = await cp.load_step(session, step)
            assert loaded is not None, (session, step)
            assert loaded.state.extra == {"session": session, "step": step}
            assert len(loaded.state.messages) == step + 1
    finally:
        await cp.aclose()


@pytest.mark.parametrize("storage", ["compact", "full"])
def test_kill9_with_group_commit_loses_no_returned_save(tmp_path: Path, storage: str) -> None:
    rng = random.Random(20)
    for trial in range(3):
        url = f"sqlite://{tmp_path / f'{storage}{trial}.db'}?storage={storage}&snapshot_every=5"
        reported = _kill_after(url, rng.randrange(40, 400))
        assert len({s for s, _ in reported}) > 1  # many sessions were saving at once
        asyncio.run(_check(url, reported))


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "disk"
    target.mkdir()
    reason = _mount(target, "1m")
    if reason:
        pytest.skip(f"cannot test a full disk here: {reason}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


async def _full_group(disk: Path) -> None:
    from tests.engine.persistence.test_group_sqlite import tagged

    cp = await SQLiteCheckpointer.connect(f"sqlite://{disk / 'g.db'}?storage=full")
    filler = disk / "filler"
    try:
        await cp.save(tagged("before", 0, "b"))
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # take every free byte (unbuffered writes)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        first = asyncio.create_task(cp.save(tagged("first", 0, "f", messages=300)))
        await asyncio.sleep(0)
        group = [asyncio.create_task(cp.save(tagged(f"s{i}", 0, "x", messages=300))) for i in range(8)]
        results = await asyncio.gather(first, *group, return_exceptions=True)
        errors = results[1:]
        assert all(isinstance(e, StorageFull) for e in errors), errors
        assert len({id(e.__cause__) for e in errors}) == 1  # one failed transaction, the same error for all
        assert all(f"session 's{i}'" in str(e) for i, e in enumerate(errors)), [str(e) for e in errors]
        assert cp.committer.groups <= 3  # they were written together
        filler.unlink()  # room again: the next group starts clean
        again = [asyncio.create_task(cp.save(tagged(f"s{i}", 0, "y", messages=5))) for i in range(8)]
        assert await asyncio.gather(*again) == [None] * 8
        for i in range(8):
            loaded = await cp.load_latest(f"s{i}")
            assert loaded is not None and loaded.state.extra["tag"] == "y"
        before = await cp.load_latest("before")
        assert before is not None and before.state.extra["tag"] == "b"
        assert await cp.integrity_check() == "ok"
    finally:
        await cp.aclose()


def test_a_group_failing_on_a_full_disk_fails_every_caller_alike(tiny_disk: Path) -> None:
    asyncio.run(_full_group(tiny_disk))
