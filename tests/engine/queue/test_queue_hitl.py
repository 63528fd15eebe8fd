"""Interrupted sessions as queue jobs (ENGINE.md 8.3 + 8.5) on the suite's real PostgreSQL server: a job that
hits an interrupt ends "interrupted", answers go through the queue (`submit(resume=...)`), a bad answer fails
only that job, and the session finishes; the same from the command line with a worker PROCESS (`submit
--wait` and `resume --queue` exit 3 while it waits)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine import QueueClient, Worker, open_checkpointer
from engine.cli import main
from tests.engine.queue.graphs import asking, chain
from tests.engine.queue.test_queue import queue_url, steps_of  # noqa: F401 (fixture)
from tests.engine.queue.test_workers import Workers, worker_ids

pytestmark = pytest.mark.postgres


@pytest.fixture
async def asked(queue_url: str) -> AsyncIterator[tuple[Worker, QueueClient]]:  # noqa: F811
    worker = Worker(queue_url, {"asking": asking, "chain": chain}, heartbeat_s=0.2, lease_timeout_s=5)
    task = asyncio.create_task(worker.run())
    client = await QueueClient.connect(queue_url)
    try:
        yield worker, client
    finally:
        await client.aclose()
        await asyncio.wait_for(worker.drain(), 20)
        await task


async def pending(url: str, session_id: str) -> list[Any]:
    cp: Any = await open_checkpointer(url)
    try:
        return [i for i in await cp.interrupt_store().session_interrupts(session_id, 0) if i.pending]
    finally:
        await cp.aclose()


async def final_messages(url: str, session_id: str) -> list[str]:
    cp = await open_checkpointer(url)
    try:
        latest = await cp.load_latest(session_id)
        assert latest is not None
        return [m.content for m in latest.state.messages]
    finally:
        await cp.aclose()


async def test_an_interrupted_job_is_answered_through_the_queue(
    asked: tuple[Worker, QueueClient],
    queue_url: str,  # noqa: F811
) -> None:
    _worker, client = asked
    first = await client.wait((await client.submit("asking", session_id="h1")).id, timeout=30)
    assert first.status == "interrupted" and first.step == 1
    (ship,) = await pending(queue_url, "h1")
    assert ship.payload == {"prompt": "Ship it?"} and ship.node == "ask"
    assert first.error == f"waiting for 1 answer(s): {ship.id} (ask)"
    # Submitting the waiting session again runs nothing: it stays interrupted.
    again = await client.wait((await client.submit("asking", session_id="h1")).id, timeout=30)
    assert again.status == "interrupted" and again.step == 1
    # A bad answer fails that job with one line and changes nothing.
    bad = await client.wait((await client.submit("asking", "h1", resume={ship.id: "yes"})).id, timeout=30)
    assert bad.status == "failed" and "\n" not in str(bad.error)
    assert f"answer to interrupt '{ship.id}' is invalid at $" in str(bad.error)
    assert [i.id for i in await pending(queue_url, "h1")] == [ship.id]
    # The answer: the node runs again and asks its second question (the next interrupt).
    second = await client.wait((await client.submit("asking", "h1", resume={ship.id: True})).id, timeout=30)
    assert second.status == "interrupted" and second.step == 1
    (sure,) = await pending(queue_url, "h1")
    assert sure.payload == {"prompt": "Sure?"} and sure.index == 1
    done = await client.wait((await client.submit("asking", "h1", resume={sure.id: True})).id, timeout=30)
    assert done.status == "completed" and done.step == 3 and done.error is None
    assert await steps_of(queue_url, "h1") == [0, 1, 2, 3]
    assert await final_messages(queue_url, "h1") == ["a1", "ship=True sure=True", "c2"]
    assert await pending(queue_url, "h1") == []
    # An answer for a session that does not exist, or for an interrupt answered already: failed, one line.
    ghost = await client.wait((await client.submit("asking", "nope", resume={"x": 1})).id, timeout=30)
    assert ghost.status == "failed" and "no such session to resume" in str(ghost.error)
    stale = await client.wait((await client.submit("asking", "h1", resume={"zzz": True})).id, timeout=30)
    assert stale.status == "failed" and "cannot answer interrupt 'zzz'" in str(stale.error)
    assert await steps_of(queue_url, "h1") == [0, 1, 2, 3]


async def test_submit_wait_and_resume_queue_with_a_worker_process(
    queue_url: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workers = Workers(queue_url, tmp_path, graph="tests.engine.queue.graphs:asking")
    try:
        procs = workers.start(1)
        async with await QueueClient.connect(queue_url) as client:
            await worker_ids(client, procs)

        def cli(*argv: str) -> Any:
            return asyncio.to_thread(main, list(argv))

        assert await cli("submit", "asking", "--db", queue_url, "--session", "c1", "--wait") == 3
        out = capsys.readouterr().out
        assert "job 1 (asking, session c1) interrupted at step 1" in out
        assert "session c1 is waiting for 1 answer(s):" in out and "Ship it?" in out
        # A bad answer is refused before anything is queued.
        args = ("resume", "asking", "--session", "c1", "--db", queue_url, "--queue")
        assert await cli(*args, "--answer", '"yes"') == 2
        assert "is invalid at $: 'yes' is not of type 'boolean'" in capsys.readouterr().err
        events = tmp_path / "events.jsonl"
        assert await cli(*args, "--answer", "true", "--events", str(events)) == 3
        assert "Sure?" in capsys.readouterr().out
        scopes = [json.loads(line)["scope"] for line in events.read_text().splitlines()]
        assert scopes[:2] == ["step.start", "node.start"], scopes  # the step run again, its node
        assert await cli(*args, "--answer", "true", "--json") == 0
        result = json.loads(capsys.readouterr().out)
        assert result["status"] == "completed" and result["step"] == 3
        assert await final_messages(queue_url, "c1") == ["a1", "ship=True sure=True", "c2"]
        assert await cli(*args, "--answer", "true") == 2
        assert "cannot resume session 'c1': nothing waits" in capsys.readouterr().err
    finally:
        workers.stop_all()


async def test_a_resume_taken_over_after_the_answers_were_recorded(
    asked: tuple[Worker, QueueClient],
    queue_url: str,  # noqa: F811
) -> None:
    """The state a worker leaves when it dies after recording the answers and before committing the step: the
    job run again (PgQueuer's takeover hands it the same payload) finishes the step with those answers."""
    import datetime as dt

    _worker, client = asked
    first = await client.wait((await client.submit("asking", session_id="h2")).id, timeout=30)
    assert first.status == "interrupted"
    (ship,) = await pending(queue_url, "h2")
    cp: Any = await open_checkpointer(queue_url)
    try:  # what the dead worker's `resume` wrote before its node ran again
        assert await cp.interrupt_store().answer("h2", {ship.id: False}, dt.datetime.now(dt.UTC)) == 1
    finally:
        await cp.aclose()
    assert await steps_of(queue_url, "h2") == [0, 1]
    again = await client.wait((await client.submit("asking", "h2", resume={ship.id: False})).id, timeout=30)
    assert again.status == "completed" and again.step == 3, again.error
    assert await final_messages(queue_url, "h2") == ["a1", "ship=False sure=False", "c2"]
    assert await steps_of(queue_url, "h2") == [0, 1, 2, 3]
    # A different answer for an interrupt answered already is refused, one line.
    other = await client.wait((await client.submit("asking", "h2", resume={ship.id: True})).id, timeout=30)
    assert other.status == "failed" and "already answered" in str(other.error)
