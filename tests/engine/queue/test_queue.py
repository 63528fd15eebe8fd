"""Queue mode against the suite's real PostgreSQL server, in one process: a Worker and a QueueClient, jobs
that complete, a job whose session exists (resumed), bad input, a hash mismatch, an unserved graph, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine import Job, QueueClient, Worker, WorkerInfo, open_runner
from engine.cli import main
from engine.queue import QueueError
from tests.engine.queue.graphs import chain, other

pytestmark = pytest.mark.postgres


@pytest.fixture
def queue_url(postgres_url: str) -> str:
    assert main(["migrate", "--db", postgres_url]) == 0
    return postgres_url


@pytest.fixture
async def served(queue_url: str) -> AsyncIterator[tuple[Worker, QueueClient]]:
    worker = Worker(queue_url, {"chain": chain}, concurrency=4, heartbeat_s=0.2, lease_timeout_s=5)
    task = asyncio.create_task(worker.run())
    client = await QueueClient.connect(queue_url)
    try:
        yield worker, client
    finally:
        await client.aclose()
        await asyncio.wait_for(worker.drain(), 20)
        await task


async def steps_of(url: str, session_id: str) -> list[int]:
    """The stored steps of a session, straight from the table (a step saved twice would show twice)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT step FROM steps WHERE session_id = $1 ORDER BY step", session_id)
        return [int(r["step"]) for r in rows]
    finally:
        await conn.close()


async def test_jobs_complete_and_are_listed(served: tuple[Worker, QueueClient], queue_url: str) -> None:
    worker, client = served
    jobs = [await client.submit("chain", input={"extra": {"n": i}}) for i in range(6)]
    assert all(isinstance(j, Job) and j.status == "queued" for j in jobs)
    done = [await client.wait(j.id, timeout=30) for j in jobs]
    assert [j.status for j in done] == ["completed"] * 6
    assert all(j.step == 3 and j.worker == worker.id and j.error is None for j in done)
    assert all(j.finished_at is not None and j.started_at is not None for j in done)
    for job in done:
        assert await steps_of(queue_url, job.session_id) == [0, 1, 2, 3]
    listed = await client.jobs(status="completed")
    assert {j.id for j in listed} == {j.id for j in jobs}
    (info,) = await client.workers()
    assert isinstance(info, WorkerInfo) and info.id == worker.id and info.graphs == ("chain",)
    assert info.concurrency == 4
    await asyncio.sleep(0.5)  # a heartbeat carries jobs_done
    (info,) = await client.workers()
    assert info.jobs_done == 6 and info.last_heartbeat >= info.started_at


async def test_an_existing_session_resumes_from_its_latest_checkpoint(
    served: tuple[Worker, QueueClient], queue_url: str
) -> None:
    _worker, client = served
    async with await open_runner(chain, queue_url) as runner:  # steps 0 and 1 saved, then the process "dies"
        await runner.create_session("s-resume", chain_state())
        await runner.run_step("s-resume")
    job = await client.wait((await client.submit("chain", session_id="s-resume")).id, timeout=30)
    assert job.status == "completed" and job.step == 3
    assert await steps_of(queue_url, "s-resume") == [0, 1, 2, 3]
    async with await open_runner(chain, queue_url) as runner:
        await runner.create_session("s-resume", chain_state())
        final = runner.get_session("s-resume").state
    assert [m.content for m in final.messages] == ["a1", "b2", "c3"]


def chain_state() -> Any:
    from engine import VersionedState

    return VersionedState([], {})


async def test_bad_jobs_fail_with_one_line_and_the_worker_keeps_serving(
    served: tuple[Worker, QueueClient], queue_url: str
) -> None:
    _worker, client = served
    async with await open_runner(other, queue_url) as runner:  # a session of another graph
        await runner.run_until_complete((await runner.create_session("s-other", chain_state())) and "s-other")
    mismatch = await client.wait((await client.submit("chain", session_id="s-other")).id, timeout=30)
    assert mismatch.status == "failed"
    assert chain.graph_definition_hash() in str(mismatch.error)
    assert other.graph_definition_hash() in str(mismatch.error)
    bad = await client.wait((await client.submit("chain", input={"extra": [1], "oops": 2})).id, timeout=30)
    assert bad.status == "failed" and "unknown input key(s) oops" in str(bad.error)
    assert "\n" not in str(bad.error)
    good = await client.wait((await client.submit("chain")).id, timeout=30)
    assert good.status == "completed"
    assert await steps_of(queue_url, "s-other") == [0, 1, 2]  # nothing of chain's was written there


async def test_unserved_graph_waits_and_cancel(served: tuple[Worker, QueueClient], queue_url: str) -> None:
    _worker, client = served
    waiting = await client.submit("nobody-serves-this")
    with pytest.raises(TimeoutError):
        await client.wait(waiting.id, timeout=1.0)
    assert (await client.job(waiting.id)).status == "queued"
    cancelled = await client.cancel(waiting.id)
    assert cancelled.status == "cancelled" and cancelled.error == "cancelled before it ran"
    slow = await client.submit("chain", input={"extra": {"sleep": 3}})
    for _ in range(200):  # running, step 0 saved, the first node asleep
        if await steps_of(queue_url, slow.session_id) == [0]:
            break
        await asyncio.sleep(0.05)
    assert (await client.job(slow.id)).status == "running"
    await client.cancel(slow.id)
    final = await client.wait(slow.id, timeout=10)
    assert final.status == "cancelled" and final.error == "cancelled while running"
    assert final.step == 0  # the first node was running: only step 0 was saved


async def test_queue_mode_needs_postgres_and_migrate(tmp_path: Any, postgres_url: str) -> None:
    with pytest.raises(QueueError, match="needs a PostgreSQL database"):
        Worker(f"sqlite://{tmp_path}/x.db", {"chain": chain})
    with pytest.raises(QueueError, match="cannot connect to postgresql://"):
        await QueueClient.connect("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(QueueError, match="run `weavegraph migrate"):
        await QueueClient.connect(postgres_url)
    assert await asyncio.to_thread(main, ["migrate", "--db", postgres_url]) == 0
    async with await QueueClient.connect(postgres_url) as client:
        with pytest.raises(QueueError, match="resume= needs the session_id"):
            await client.submit("chain", resume={"q": "yes"})
        with pytest.raises(QueueError, match="resume must map interrupt ids to answers"):
            await client.submit("chain", session_id="s", resume={})
        assert await client.jobs() == []  # nothing was queued


async def test_runner_options_and_the_trace_context_reach_each_job(queue_url: str) -> None:
    from engine import EventBus, MemorySink

    sink = MemorySink()
    bus = EventBus(sinks=[sink])
    seen: list[tuple[str, str, dict[str, str]]] = []
    worker = Worker(
        queue_url,
        {"chain": chain},
        heartbeat_s=0.2,
        runner_options={"chain": {"event_bus": bus, "lifecycle_events": True}},
        before_job=lambda graph, sid, trace: seen.append((graph, sid, dict(trace))),
    )
    task = asyncio.create_task(worker.run())
    parent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    try:
        async with await QueueClient.connect(queue_url) as client:
            job = await client.submit("chain", session_id="traced", trace=parent)
            assert (await client.wait(job.id, timeout=30)).status == "completed"
            # The bus serves every job: the first job's runner must not have closed it.
            second = await client.submit("chain", session_id="traced-2")
            assert (await client.wait(second.id, timeout=30)).status == "completed"
    finally:
        await asyncio.wait_for(worker.drain(), 20)
        await task
    await bus.flush(2.0)
    await bus.aclose()
    assert seen == [("chain", "traced", parent), ("chain", "traced-2", {})]
    for session in ("traced", "traced-2"):
        scopes = [e.scope for e in sink.snapshot() if e.metadata.get("invocation_id") == session]
        assert scopes.count("step.end") == 3, session
