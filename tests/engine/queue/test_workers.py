"""Queue mode with several worker PROCESSES (`weavegraph worker`) on the suite's real PostgreSQL server: many
jobs, a worker killed with SIGKILL mid-run (its jobs are taken over and every job completes exactly once with
contiguous steps and the state a single-process run gives), a worker cut off (SIGSTOP) whose late save is
refused by `expected_last_step`, and SIGTERM draining a worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from engine import QueueClient, VersionedState
from engine.cli import main
from tests.engine.queue.graphs import chain
from tests.engine.queue.test_queue import steps_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
LEASE_S = 2.0


class Workers:
    def __init__(self, url: str, tmp: Path, graph: str = "tests.engine.queue.graphs:chain") -> None:
        self.url = url
        self.tmp = tmp
        self.graph = graph
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *graphs: str) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            err = open(self.tmp / f"worker-{len(self.procs)}.err", "wb")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "engine.cli",
                    "worker",
                    *(graphs or [self.graph]),
                    "--db",
                    self.url,
                    "--concurrency",
                    "4",
                    "--heartbeat-s",
                    "0.3",
                    "--lease-timeout-s",
                    str(LEASE_S),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            err.close()
            self.procs.append(proc)
            started.append(proc)
        return started

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"worker-{self.procs.index(proc)}.err").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with_cont(proc)
                proc.kill()
            proc.wait(10)


def with_cont(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGCONT)


@pytest.fixture
async def setup(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Workers, QueueClient]]:
    assert await asyncio.to_thread(main, ["migrate", "--db", postgres_url]) == 0
    workers = Workers(postgres_url, tmp_path)
    client = await QueueClient.connect(postgres_url)
    try:
        yield workers, client
    finally:
        await client.aclose()
        workers.stop_all()


async def until(check: Callable[[], Any], limit_s: float = 30.0) -> Any:
    """Poll `check` (a database query or a file: nothing to wait on) until it is truthy."""
    async with asyncio.timeout(limit_s):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def worker_ids(client: QueueClient, procs: list[subprocess.Popen[bytes]]) -> dict[int, str]:
    async def registered() -> dict[int, str] | None:
        found = {w.pid: w.id for w in await client.workers()}
        return found if all(p.pid in found for p in procs) else None

    ids: dict[int, str] = await until(registered)
    return ids


async def expected_final(extra: dict[str, Any]) -> VersionedState:
    final: VersionedState = await chain.invoke(VersionedState([], dict(extra)))
    return final


async def final_state(url: str, session_id: str) -> VersionedState:
    from engine import open_checkpointer

    cp = await open_checkpointer(url)
    try:
        latest = await cp.load_latest(session_id)
        assert latest is not None
        return latest.state
    finally:
        await cp.aclose()


async def test_kill_9_mid_run_every_job_completes_once(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    procs = workers.start(3)
    ids = await worker_ids(client, procs)
    extra = {"sleep": 0.15}
    jobs = [await client.submit("chain", input={"extra": extra}) for _ in range(24)]
    victim = procs[0]

    async def victim_running() -> list[int]:
        return [j.id for j in await client.jobs(status="running") if j.worker == ids[victim.pid]]

    orphaned = await until(victim_running)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    done = await asyncio.gather(*(client.wait(j.id, timeout=60) for j in jobs))
    assert [j.status for j in done] == ["completed"] * len(jobs)
    for job in done:
        if job.id in orphaned:  # taken over after the lease ran out, by a live worker
            assert job.worker != ids[victim.pid]
    want = await expected_final(extra)
    for job in done:
        assert await steps_of(workers.url, job.session_id) == [0, 1, 2, 3], job
        got = await final_state(workers.url, job.session_id)
        assert [m.content for m in got.messages] == [m.content for m in want.messages] == ["a1", "b2", "c3"]
        assert got.extra == want.extra
    assert sum(1 for j in await client.jobs(limit=1000) if j.status == "completed") == len(jobs)
    # SIGTERM: the live workers drain and exit 143, leaving the registry.
    for proc in procs[1:]:
        proc.send_signal(signal.SIGTERM)
    assert [p.wait(30) for p in procs[1:]] == [143, 143]
    assert {w.pid for w in await client.workers()} == {victim.pid}  # only the killed one's row stays


async def test_a_cut_off_worker_cannot_save_late(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    first = workers.start(1)[0]
    ids = await worker_ids(client, [first])
    job = await client.submit("chain", input={"extra": {"sleep": 1.0}})
    await until(lambda: _has_steps(workers.url, job.session_id, [0]))
    assert (await client.job(job.id)).worker == ids[first.pid]
    first.send_signal(signal.SIGSTOP)  # cut off: no heartbeats, its node "still running"
    second = workers.start(1)[0]
    ids.update(await worker_ids(client, [second]))
    done = await client.wait(job.id, timeout=40)
    assert done.status == "completed" and done.worker == ids[second.pid]
    first.send_signal(signal.SIGCONT)  # back: its node finishes, its save of step 1 must be refused
    await until(lambda: _said(workers, first, "taken over"), limit_s=20)
    assert await steps_of(workers.url, job.session_id) == [0, 1, 2, 3]
    got = await final_state(workers.url, job.session_id)
    assert [m.content for m in got.messages] == ["a1", "b2", "c3"]
    assert (await client.job(job.id)).status == "completed"


async def _has_steps(url: str, session_id: str, steps: list[int]) -> bool:
    return await steps_of(url, session_id) == steps


async def _said(workers: Workers, proc: subprocess.Popen[bytes], text: str) -> bool:
    return text in workers.stderr(proc)
