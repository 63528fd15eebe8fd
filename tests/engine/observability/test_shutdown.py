"""Graceful shutdown: SIGTERM/SIGINT to a real `weavegraph run` on a SQLite file mid-step (exit 143/130, one
line; a second run resumes and ends with the reference state), the grace period cancelling a long step, and
`GracefulShutdown` in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from engine.events.event import STREAM_END_SCOPE
from engine.graph.builder import GraphBuilder
from engine.observability import GracefulShutdown, Stopped
from engine.partial import NodePartial
from engine.persistence.factory import open_checkpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from tests.engine.observability.conftest import cli_env, run_cli, slow_doc, start_cli, wait_for_event

HI = VersionedState.new_with_user_message


def reference_state(tmp_path: Path, doc: str) -> Any:
    done = run_cli(["run", doc, "--json", "--session", "ref"], tmp_path, cli_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["state"]


def first_run_start(events: Path) -> dict[str, Any]:
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["scope"] == "run.start":
            return dict(event)
    raise AssertionError(f"no run.start in {events}")


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_step_saves_stops_and_a_second_run_resumes(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=400, loops=4)
    expected = reference_state(tmp_path, doc)
    db = f"sqlite://{tmp_path / 'stop.db'}"
    events = tmp_path / "first.jsonl"
    proc = start_cli(["run", doc, "--db", db, "--session", "s", "--events", str(events)], tmp_path, cli_env())
    try:
        # Mid-step: the `wait` node of step 4 is sleeping.
        wait_for_event(events, "node.start", node="wait", min_step=4)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert err.splitlines() == [
        f"weavegraph: stopped by {sig.name}: the running step finished; session 's' is saved up to step 4; "
        "run it again to resume"
    ]
    assert out == ""
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert [e["metadata"]["step"] for e in lines if e["scope"] == "checkpoint.saved"] == [0, 1, 2, 3, 4]
    # The run ended and the stream-end event reached the file (sinks drained).
    assert [e["scope"] for e in lines[-2:]] == ["run.end", STREAM_END_SCOPE]
    assert lines[-1]["message"].startswith("session=s status=error step=4 error=stopped by")
    # The restart resumes at step 4 and ends like an uninterrupted run.
    again = tmp_path / "second.jsonl"
    done = run_cli(
        ["run", doc, "--db", db, "--session", "s", "--json", "--events", str(again)], tmp_path, cli_env()
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == expected
    assert result["step"] == 8
    assert first_run_start(again)["metadata"]["step"] == 4


@pytest.mark.slow
def test_a_step_longer_than_the_grace_period_is_cancelled(tmp_path: Path) -> None:
    doc = slow_doc(tmp_path / "long.wgraph.json", wait_ms=3000, loops=2)
    expected = reference_state(tmp_path, doc)
    db = f"sqlite://{tmp_path / 'grace.db'}"
    events = tmp_path / "first.jsonl"
    args = ["run", doc, "--db", db, "--session", "g", "--events", str(events), "--grace-s", "0.2"]
    proc = start_cli(args, tmp_path, cli_env())
    try:
        wait_for_event(events, "node.start", node="wait", min_step=2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert err.splitlines() == [
        "weavegraph: stopped by SIGTERM: the running step was cancelled after the 0.2 s grace period; "
        "session 'g' is saved up to step 1; run it again to resume"
    ]
    assert took < 2.6  # did not wait for the 3 s node (the margin is for process exit on a loaded machine)
    done = run_cli(["run", doc, "--db", db, "--session", "g", "--json"], tmp_path, cli_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == expected


@pytest.mark.slow
def test_step_stops_on_sigterm_too(tmp_path: Path) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=400, loops=3)
    db = f"sqlite://{tmp_path / 'step.db'}"
    events = tmp_path / "events.jsonl"
    args = ["step", doc, "--db", db, "--session", "it", "--input", "{}", "--events", str(events)]
    proc = start_cli(args, tmp_path, cli_env())
    try:
        wait_for_event(events, "node.start", node="wait", min_step=2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert err.startswith(
        "weavegraph: stopped by SIGTERM: the running step finished; session 'it' is saved up to"
    )


# ---------------------------------------------------------------- in-process


def three_steps(stop: GracefulShutdown, at: str, sig: signal.Signals) -> Any:
    """a -> b -> c, each 50 ms; node `at` asks `stop` to stop while it runs (as a signal would)."""

    def node(name: str) -> Any:
        async def run(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
            if name == at:
                stop.request(sig)
            await asyncio.sleep(0.05)
            return NodePartial(extra={"n": int(snapshot.extra.get("n", 0)) + 1})

        return run

    builder = GraphBuilder()
    for name in "abc":
        builder.add_node(name, node(name))
    return builder.add_edge("Start", "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", "End").compile()


async def test_a_request_stops_after_the_running_step(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'g.db'}"
    checkpointer = await open_checkpointer(url)
    stop = GracefulShutdown(grace_s=5)
    app = three_steps(stop, "b", signal.SIGTERM)  # during step 2
    try:
        async with await AppRunner.builder().app(app).checkpointer_custom(checkpointer).build() as runner:
            await runner.create_session("x", HI("go"))
            with pytest.raises(Stopped) as caught:
                await stop.run(runner.run_until_complete("x"), runner=runner, session_id="x")
            assert caught.value.code == 143
            assert caught.value.step == 2
            assert runner.checkpointer is checkpointer  # unwrapped again
            assert "run_step" not in vars(runner)
            latest = await checkpointer.load_latest("x")
            assert latest is not None and latest.step == 2 and latest.state.extra["n"] == 2
    finally:
        await checkpointer.aclose()


async def test_a_request_during_the_last_step_lets_the_run_finish() -> None:
    stop = GracefulShutdown(grace_s=5)
    async with await AppRunner.builder().app(three_steps(stop, "c", signal.SIGINT)).build() as runner:
        await runner.create_session("y", HI("go"))
        final = await stop.run(runner.run_until_complete("y"), runner=runner, session_id="y")
        assert final.extra["n"] == 3
        assert stop.requested is signal.SIGINT


async def test_a_second_request_cancels_at_once() -> None:
    async def forever(snapshot: StateSnapshot, ctx: Any) -> None:
        await asyncio.sleep(3600)

    app = GraphBuilder().add_node("f", forever).add_edge("Start", "f").add_edge("f", "End").compile()
    async with await AppRunner.builder().app(app).build() as runner:
        await runner.create_session("z", HI("go"))
        stop = GracefulShutdown(grace_s=3600)
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, stop.request, signal.SIGTERM)
        loop.call_later(0.1, stop.request, signal.SIGTERM)
        with pytest.raises(Stopped) as caught:
            await asyncio.wait_for(
                stop.run(runner.run_until_complete("z"), runner=runner, session_id="z"), 10
            )
        assert "cancelled" in caught.value.line and caught.value.step is None


def test_grace_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="grace_s must be zero or more seconds"):
        GracefulShutdown(grace_s=-1)


async def test_handlers_stay_installed_between_runs_for_a_worker_loop() -> None:
    """A worker keeps the handlers for its whole life: a signal between jobs only marks the stop."""
    stop = GracefulShutdown(grace_s=5)
    with stop:
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop, not fatal
        for _ in range(100):
            if stop.requested is not None:
                break
            await asyncio.sleep(0.01)
        assert stop.requested is signal.SIGTERM
        # The next job is not started: a run started now stops before its first step.
        async with await AppRunner.builder().app(three_steps(stop, "-", signal.SIGTERM)).build() as runner:
            await runner.create_session("w", HI("go"))
            with pytest.raises(Stopped) as caught:
                await stop.run(runner.run_until_complete("w"), runner=runner, session_id="w")
            assert caught.value.code == 143
            assert runner.get_session("w").step == 0
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
