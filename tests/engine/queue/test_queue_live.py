"""Worker PROCESSES on the suite's real PostgreSQL server: a job's session events streamed live while the
worker writes them (in order, each once, ending with the job), and the heartbeat-expiry sweep (a worker killed
with -9 or frozen past its lease never leaves our job row "running")."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine import QueueClient, open_checkpointer
from engine.cli import main
from tests.engine.queue.test_queue import steps_of
from tests.engine.queue.test_workers import LEASE_S, Workers, until, with_cont, worker_ids

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


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


async def stored(url: str, session_id: str) -> list[Any]:
    cp: Any = await open_checkpointer(url)
    try:
        return list(await cp.events(session_id))
    finally:
        await cp.aclose()


async def test_a_jobs_events_stream_live_in_order_once(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    await worker_ids(client, workers.start(1))
    job = await client.submit("chain", session_id="live", input={"extra": {"sleep": 0.4}})
    seen: list[Any] = []
    status_at_first_node_end = None
    async for event in client.events(job.id):
        seen.append(event)
        if event.scope == "node.finish" and status_at_first_node_end is None:
            status_at_first_node_end = (await client.job(job.id)).status
    # Live: node a finished while b and c (0.8 s of work) were still to run.
    assert status_at_first_node_end == "running"
    # The stream ended with the job, and holds exactly the stored events, in order, each once.
    assert (await client.job(job.id)).status == "completed"
    assert [e.to_json_string() for e in seen] == [
        e.to_json_string() for e in await stored(workers.url, "live")
    ]
    scopes = [e.scope for e in seen]
    assert scopes.count("node.start") == 3 and scopes.count("step.end") == 3
    # A second job of the session streams only its own events (from the mark), none again.
    mark = await client.event_mark("live")
    again = await client.submit("chain", session_id="live")
    more = [e async for e in client.events(again.id, after=mark)]
    assert (await client.job(again.id)).status == "completed"
    assert len(await stored(workers.url, "live")) == len(seen) + len(more)
    assert "node.start" not in [e.scope for e in more]  # complete already: nothing ran


async def test_a_killed_workers_job_does_not_stay_running(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    (victim,) = workers.start(1)
    ids = await worker_ids(client, [victim])
    slow = {"extra": {"sleep": 1.0}}
    jobs = [await client.submit("chain", input=slow) for _ in range(2)]

    async def both_running() -> bool:
        return [j.status for j in await client.jobs()] == ["running", "running"]

    await until(both_running)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    async def requeued() -> list[Any]:  # no live worker: `jobs` itself sweeps
        listed = await client.jobs()
        return listed if all(j.status == "queued" for j in listed) else []

    listed = await until(requeued, limit_s=LEASE_S + 20)
    for job in listed:
        assert f"worker {ids[victim.pid]} sent no heartbeat since" in str(job.error)
        assert "waiting for another worker to take it over" in str(job.error)
    # One is cancelled, the other taken over by a new worker and finished from its latest checkpoint.
    assert (await client.cancel(jobs[0].id)).status == "cancelled"
    (second,) = workers.start(1)
    done = await client.wait(jobs[1].id, timeout=60)
    assert done.status == "completed" and done.error is None
    assert done.worker == (await worker_ids(client, [second]))[second.pid]
    assert await steps_of(workers.url, done.session_id) == [0, 1, 2, 3]
    assert (await client.job(jobs[0].id)).status == "cancelled"


async def test_a_frozen_worker_past_its_lease_and_back(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    (frozen,) = workers.start(1)
    ids = await worker_ids(client, [frozen])
    job = await client.submit("chain", input={"extra": {"sleep": 0.8}})
    await until(lambda: _running(client, job.id))
    frozen.send_signal(signal.SIGSTOP)
    # A live worker that does not serve `chain` cannot take the job over, but its heartbeat sweeps it.
    (other,) = workers.start(1, "tests.engine.queue.graphs:other")
    await worker_ids(client, [other])

    async def swept() -> Any:
        current = await client.job(job.id)
        return current if current.status == "queued" else None

    current = await until(swept, limit_s=LEASE_S + 20)
    assert f"worker {ids[frozen.pid]} sent no heartbeat" in str(current.error)
    with_cont(frozen)  # back: it finishes the job it never lost and marks it
    done = await client.wait(job.id, timeout=30)
    assert done.status == "completed" and done.worker == ids[frozen.pid] and done.error is None
    assert await steps_of(workers.url, job.session_id) == [0, 1, 2, 3]


async def _running(client: QueueClient, job_id: int) -> bool:
    return (await client.job(job_id)).status == "running"


async def test_a_graph_that_fails_to_import_marks_its_jobs_and_the_rest_is_served(
    setup: tuple[Workers, QueueClient],
) -> None:
    workers, client = setup
    (proc,) = workers.start(1, "tests.engine.queue.graphs:chain", "no_such_module_xyz:broken")
    ids = await worker_ids(client, [proc])
    waiting = await client.submit("broken")

    async def marked() -> Any:
        job = await client.job(waiting.id)
        return job if job.error else None

    job = await until(marked)
    assert job.status == "queued" and "\n" not in str(job.error)
    assert str(job.error).startswith(f"worker {ids[proc.pid]} cannot serve graph 'broken': graph ")
    assert "ModuleNotFoundError" in str(job.error) and "waiting for a worker that can" in str(job.error)
    good = await client.wait((await client.submit("chain")).id, timeout=30)
    assert good.status == "completed"
    assert "skipping no_such_module_xyz:broken" in workers.stderr(proc)


async def test_the_event_stream_follows_a_job_across_a_takeover(setup: tuple[Workers, QueueClient]) -> None:
    workers, client = setup
    (victim,) = workers.start(1)
    ids = await worker_ids(client, [victim])
    job = await client.submit("chain", session_id="moved", input={"extra": {"sleep": 1.0}})
    seen: list[Any] = []

    async def stream() -> None:
        async for event in client.events(job.id):
            seen.append(event)

    reader = asyncio.create_task(stream())
    await until(lambda: _has_step_end(seen))  # stored with the victim's save of step 2: it runs step 3
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    (heir,) = workers.start(1)
    await asyncio.wait_for(reader, 60)  # the stream ends when the job does, on the other worker
    done = await client.job(job.id)
    assert done.status == "completed" and done.worker == (await worker_ids(client, [heir]))[heir.pid]
    assert done.worker != ids[victim.pid]
    want = [e.to_json_string() for e in await stored(workers.url, "moved")]
    assert [e.to_json_string() for e in seen] == want  # each stored event once, in order
    assert await steps_of(workers.url, "moved") == [0, 1, 2, 3]
    # The victim's events after its last save were never stored (events go with the next save): the
    # heir's run of that step is the only one streamed. No node's start shows twice.
    assert [e.step for e in seen if e.scope == "step.start"] == [1, 2, 3]
    assert [e.node_id for e in seen if e.scope == "node.start"] == ["a", "b", "c"]
    assert [e.scope for e in seen].count("run.start") == 2  # the victim's run, then the heir's


async def _has_step_end(seen: list[Any]) -> bool:
    return any(e.scope == "step.end" for e in seen)
