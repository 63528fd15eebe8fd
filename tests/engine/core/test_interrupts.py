"""Interrupts from inside a node (ENGINE.md 8.3) on the three checkpointers: parallel interrupts in one step,
two interrupts in one node, resume without re-running finished nodes, bad answers changing nothing, the inbox
across sessions, prune, iterative sessions, never-retried interrupts, and resume from another process."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from engine import (
    AppRunner,
    EventBus,
    GraphBuilder,
    MemorySink,
    NodePartial,
    NodeRunError,
    PausedReport,
    RetryPolicy,
    StepReport,
    VersionedState,
)
from engine.events.event import STREAM_END_SCOPE
from engine.hitl_types import InvalidAnswer, InvalidInterruptSchema, SessionInterrupted, UnknownInterrupt
from engine.persistence.base import PrunePolicy
from engine.persistence.factory import open_checkpointer
from tests.aiosqlite_leaks import Closing
from tests.engine.core.hitl_graph import Calls, build

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """Opens (another) checkpointer on the same storage; the in-memory one is shared."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    elif request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'hitl.db'}"
    else:
        url = "memory:"
    opened: list[Any] = []
    shared: list[Any] = []

    async def open_one() -> Any:
        if url == "memory:" and shared:
            return shared[0]
        cp = await open_checkpointer(url)
        opened.append(cp)
        shared.append(cp)
        return cp

    yield open_one
    for cp in opened:
        await cp.aclose()


async def runner_on(app: Any, cp: Any, sink: MemorySink | None = None) -> AppRunner:
    builder = AppRunner.builder().app(app).checkpointer_custom(cp)
    if sink is not None:
        builder.event_bus(EventBus.with_sink(sink))
    return await builder.build()


async def test_parallel_and_repeated_interrupts_resume_only_the_interrupted(opener: Any) -> None:
    calls = Calls()
    cp = await opener()
    runner = await runner_on(build(calls), cp)
    await runner.create_session("s", VersionedState.new_with_user_message("hi"))
    paused = await runner.run_step("s")
    assert isinstance(paused, PausedReport)
    assert (paused.reason, paused.node and paused.node.name, paused.step) == ("interrupt", "A", 1)
    assert [(i.node, i.index, i.step, i.payload) for i in paused.interrupts] == [
        ("A", 0, 1, {"prompt": "approve?"}),
        ("B", 0, 1, {"prompt": "first"}),
    ]
    assert runner.get_session("s").step == 0  # the step did not commit
    assert (await cp.load_latest("s")).step == 0
    assert (calls.a, calls.b, calls.c) == (1, 1, 1)
    ids = {i.node: i.id for i in paused.interrupts}
    inbox = await cp.list_interrupts()
    assert {i.id for i in inbox} == set(ids.values())

    again = await runner.resume("s", {ids["A"]: {"ok": True}, ids["B"]: "one"})
    assert isinstance(again, PausedReport) and again.node is not None and again.node.name == "B"
    [second] = again.interrupts
    assert (second.node, second.index, second.payload) == ("B", 1, {"prompt": "second", "after": "one"})
    assert (calls.a, calls.b, calls.c) == (2, 2, 1)  # C's function is not run again

    report = await runner.resume("s", "two")  # a bare value answers the only pending interrupt
    assert isinstance(report, StepReport) and report.step == 1 and report.completed
    assert [k.name for k in report.ran_nodes] == ["A", "B", "C"]
    assert (calls.a, calls.b, calls.c) == (2, 3, 1)
    state = runner.get_session("s").state
    assert state.extra == {"a": {"ok": True}, "b": ["one", "two"], "c": 1}
    assert (await cp.load_latest("s")).step == 1
    assert await cp.list_interrupts() == []
    answered = await cp.list_interrupts(pending=False)
    assert [(i.node, i.index, i.answer) for i in answered] == [
        ("B", 1, "two"),
        ("B", 0, "one"),
        ("A", 0, {"ok": True}),
    ]
    assert all(i.answered_at is not None for i in answered)
    assert await runner.pending_interrupts("s") == []
    await runner.aclose()


async def test_run_until_complete_raises_and_stream_end_says_interrupted(opener: Any) -> None:
    calls, sink = Calls(), MemorySink()
    runner = await runner_on(build(calls), await opener(), sink)
    await runner.create_session("s", VersionedState.new_with_user_message("hi"))
    with pytest.raises(SessionInterrupted) as caught:
        await runner.run_until_complete("s")
    assert caught.value.session_id == "s" and len(caught.value.interrupts) == 2
    await runner.bus.flush()
    ends = [e for e in sink.snapshot() if e.scope == STREAM_END_SCOPE]
    assert len(ends) == 1 and "status=interrupted" in ends[0].message and "step=0" in ends[0].message
    await runner.aclose()


async def test_bad_answers_change_nothing(opener: Any) -> None:
    calls = Calls()
    cp = await opener()
    runner = await runner_on(build(calls), cp)
    for sid in ("s", "t"):
        await runner.create_session(sid, VersionedState.new_with_user_message("hi"))
        await runner.run_step(sid)
    pending = await runner.pending_interrupts("s")
    ids = {i.node: i.id for i in pending}
    with pytest.raises(InvalidAnswer) as bad:
        await runner.resume("s", {ids["A"]: {"ok": "yes"}, ids["B"]: "one"})
    assert bad.value.interrupt_id == ids["A"] and bad.value.path == "$.ok"
    assert ids["A"] in str(bad.value) and "$.ok" in str(bad.value)
    with pytest.raises(InvalidAnswer, match=r"at \$: 'ok' is a required property"):
        await runner.resume("s", {ids["A"]: {}})
    with pytest.raises(InvalidAnswer, match="not JSON"):
        await runner.resume("s", {ids["B"]: object()})
    other = (await runner.pending_interrupts("t"))[0].id
    with pytest.raises(UnknownInterrupt, match="belongs to session 't'"):
        await runner.resume("s", {other: {"ok": True}})
    assert await runner.pending_interrupts("s") == pending  # nothing was answered
    assert (calls.a, calls.b, calls.c) == (2, 2, 2)  # and nothing ran
    assert (await cp.load_latest("s")).step == 0
    await runner.resume("s", {ids["B"]: "one"})  # partial answers: B runs again, A still waits
    with pytest.raises(UnknownInterrupt, match="already answered"):
        await runner.resume("s", {ids["B"]: "again"})
    await runner.aclose()


async def test_prune_keeps_the_step_a_pending_interrupt_needs(opener: Any) -> None:
    calls = Calls()
    cp = await opener()
    app = (
        GraphBuilder()
        .add_node("pre", lambda s, c: NodePartial(extra={"pre": 1}))
        .add_node("ask", lambda s, c: NodePartial(extra={"ans": c.interrupt({"q": 1})}))
        .add_edge("Start", "pre")
        .add_edge("pre", "ask")
        .add_edge("ask", "End")
        .compile()
    )
    runner = await runner_on(app, cp)
    await runner.create_session("p", VersionedState.new_with_user_message("hi"))
    with pytest.raises(SessionInterrupted):
        await runner.run_until_complete("p")
    await cp.prune(PrunePolicy(keep_last=1))
    await runner.aclose()
    fresh = await runner_on(app, cp)  # a new runner restores from what prune left
    report = await fresh.resume("p", 42)
    assert isinstance(report, StepReport) and report.step == 2
    assert fresh.get_session("p").state.extra == {"pre": 1, "ans": 42}
    assert calls.a == 0
    await fresh.aclose()


async def test_iterative_session_interrupts_and_resumes_on_a_new_runner(opener: Any) -> None:
    cp = await opener()
    app = (
        GraphBuilder()
        .add_node("ask", lambda s, c: NodePartial(extra={"got": c.interrupt(s.extra.get("q"))}))
        .add_edge("Start", "ask")
        .add_edge("ask", "End")
        .compile()
    )
    runner = await runner_on(app, cp)
    await runner.create_iterative_session("it", VersionedState.new_with_user_message("hi"))
    with pytest.raises(SessionInterrupted):
        await runner.invoke_next("it", NodePartial(extra={"q": "name?"}))
    await runner.aclose()
    other = await runner_on(app, cp)
    [waiting] = await other.pending_interrupts("it")
    assert waiting.payload == "name?"
    report = await other.resume("it", {waiting.id: "Ada"})
    assert isinstance(report, StepReport) and report.completed
    assert other.get_session("it").state.extra == {"q": "name?", "got": "Ada"}
    await other.aclose()


async def test_interrupts_are_never_retried_and_bad_schemas_fail_at_the_node() -> None:
    asked = []

    async def ask(snapshot: Any, ctx: Any) -> NodePartial:
        asked.append(1)
        return NodePartial(extra={"x": ctx.interrupt("q")})

    app = (
        GraphBuilder()
        .add_node("N", ask, retry=RetryPolicy(max_attempts=3, initial_delay=0.01))
        .add_edge("Start", "N")
        .add_edge("N", "End")
        .compile()
    )
    async with await AppRunner.builder().app(app).build() as runner:
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        paused = await runner.run_step("s")
        assert isinstance(paused, PausedReport) and len(asked) == 1
    async with await AppRunner.builder().app(build(Calls(), {"type": "nope"})).build() as runner:
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        with pytest.raises(NodeRunError) as failed:
            await runner.run_step("s")
        assert isinstance(failed.value.__cause__, InvalidInterruptSchema)
        assert "node 'A'" in str(failed.value.__cause__)


RESUME_SCRIPT = """
import asyncio, sys
from engine import AppRunner
from engine.persistence.factory import open_checkpointer
from tests.engine.core.hitl_graph import Calls, build

async def main():
    calls = Calls()
    cp = await open_checkpointer(sys.argv[1])
    async with await AppRunner.builder().app(build(calls)).checkpointer_custom(cp).build() as runner:
        pending = {i.node: i.id for i in await runner.pending_interrupts("s")}
        await runner.resume("s", {pending["A"]: {"ok": False}, pending["B"]: "x"})
        await runner.resume("s", "y")
        await runner.run_until_complete("s")
        print(calls.a, calls.b, calls.c)
    await cp.aclose()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_resume_from_another_process(tmp_path: Path, closing: Closing[Any]) -> None:
    url = f"sqlite://{tmp_path / 'shared.db'}"
    calls = Calls()
    cp = await closing(open_checkpointer(url))
    runner = await runner_on(build(calls), cp)
    await runner.create_session("s", VersionedState.new_with_user_message("hi"))
    with pytest.raises(SessionInterrupted):
        await runner.run_until_complete("s")
    await runner.aclose()
    await cp.aclose()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RESUME_SCRIPT, url, cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["1", "2", "0"]  # C ran only in the first process
    cp = await closing(open_checkpointer(url))
    latest = await cp.load_latest("s")
    assert latest is not None and latest.step == 1
    assert latest.state.extra == {"a": {"ok": False}, "b": ["x", "y"], "c": 1}
    await cp.aclose()


async def test_running_a_waiting_session_again_neither_reruns_nor_asks_twice(opener: Any) -> None:
    calls = Calls()
    cp = await opener()
    runner = await runner_on(build(calls), cp)
    await runner.create_session("s", VersionedState.new_with_user_message("hi"))
    with pytest.raises(SessionInterrupted):
        await runner.run_until_complete("s")
    with pytest.raises(SessionInterrupted) as again:  # same runner: the paused step, nothing run
        await runner.run_until_complete("s")
    assert len(again.value.interrupts) == 2 and (calls.a, calls.b, calls.c) == (1, 1, 1)
    await runner.aclose()
    other = await runner_on(build(calls), cp)  # another runner that does not know: the same two questions
    await other.create_session("s", VersionedState.new_with_user_message("ignored"))
    paused = await other.run_step("s")
    assert isinstance(paused, PausedReport) and len(paused.interrupts) == 2
    assert len(await cp.list_interrupts()) == 2
    ids = {i.node: i.id for i in paused.interrupts}
    await other.resume("s", {ids["A"]: {"ok": True}, ids["B"]: "one"})
    assert isinstance(await other.resume("s", "two"), StepReport)
    assert other.get_session("s").state.extra == {"a": {"ok": True}, "b": ["one", "two"], "c": 2}
    await other.aclose()
