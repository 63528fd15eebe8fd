"""Node policies (ENGINE.md 8.4): retries with backoff, timeouts per attempt on async and thread nodes, retry
of timeouts, never-retried exceptions, `node.retry` events, and the compile errors of bad policies."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from engine import (
    AppRunner,
    EventBus,
    GraphBuilder,
    InvalidNodePolicy,
    MemorySink,
    MockClock,
    NodeError,
    NodePartial,
    NodeRunError,
    NodeTimeout,
    RetryPolicy,
    VersionedState,
)
from engine.events.event import Event
from engine.policies import attempts_of, run_attempts
from engine.state import StateSnapshot
from engine.types import Message

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, backoff=2.0, max_delay=1.0)


class Flaky:
    """Fails its first `failures` calls with `error`, then appends a message; counts its calls."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self, snapshot: StateSnapshot, ctx: object) -> NodePartial:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"call {self.calls} failed")
        return NodePartial(messages=[Message.assistant(f"ok after {self.calls}")])


async def run_one(node: Any, *, clock: MockClock | None = None, **policy: Any) -> tuple[Any, list[Event]]:
    """Start -> N -> End with lifecycle events; returns (final state or the raised error, events)."""
    app = GraphBuilder().add_node("N", node, **policy).add_edge("Start", "N").add_edge("N", "End").compile()
    sink = MemorySink()
    builder = AppRunner.builder().app(app).event_bus(EventBus.with_sink(sink)).lifecycle_events(True)
    if clock is not None:
        builder.clock(clock)
    async with await builder.build() as runner:
        await runner.create_session("s", VersionedState.new_with_user_message("hi"))
        try:
            outcome: Any = await runner.run_until_complete("s")
        except NodeRunError as exc:
            outcome = exc
    return outcome, sink.snapshot()


def scoped(events: list[Event], scope: str) -> list[Event]:
    return [e for e in events if e.scope == scope]


async def test_a_retry_succeeds_on_the_third_attempt() -> None:
    node = Flaky(2)
    final, events = await run_one(node, retry=FAST)
    assert node.calls == 3
    assert final.messages[-1].content == "ok after 3"
    assert final.errors == []
    retries = scoped(events, "node.retry")
    assert [e.metadata["attempt"] for e in retries] == [1, 2]
    assert [e.metadata["delay_s"] for e in retries] == [0.01, 0.02]
    assert all(e.metadata["max_attempts"] == 3 and e.node_id == "N" and e.step == 1 for e in retries)
    assert retries[0].metadata["error"] == "ConnectionError: call 1 failed"
    assert retries[0].type == "lifecycle"
    (finish,) = scoped(events, "node.finish")
    assert finish.metadata["attempts"] == 3


async def test_retries_exhaust_and_only_the_last_failure_is_the_node_failure() -> None:
    node = Flaky(10)
    error, events = await run_one(node, retry=FAST)
    assert node.calls == 3
    assert isinstance(error, NodeRunError)
    assert "call 3 failed" in str(error), "the last failure, not the first"
    assert len(scoped(events, "node.retry")) == 2
    (failed,) = scoped(events, "node.error")
    assert failed.metadata["attempts"] == 3
    assert "call 3 failed" in failed.metadata["error"]


async def test_the_backoff_waits_in_real_time_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay=0.05, backoff=3.0, max_delay=0.08)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.05, 0.08, 0.08]
    assert RetryPolicy(max_attempts=5000, backoff=10.0).delay(4000) == 30.0, "no overflow"
    node = Flaky(3)
    started = time.monotonic()
    final, events = await run_one(node, retry=policy)
    assert time.monotonic() - started >= 0.05 + 0.08 + 0.08
    assert [e.metadata["delay_s"] for e in scoped(events, "node.retry")] == [0.05, 0.08, 0.08]
    assert final.messages[-1].content == "ok after 4"


async def test_only_errors_in_retry_on_are_retried() -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay=0.0, retry_on=(ConnectionError,))
    node = Flaky(1, error=ValueError)
    error, events = await run_one(node, retry=policy)
    assert node.calls == 1 and isinstance(error, NodeRunError)
    assert scoped(events, "node.retry") == []
    assert scoped(events, "node.error")[0].metadata["attempts"] == 1


async def test_never_retry_wins_over_retry_on() -> None:
    """The hook NodeInterrupted (ENGINE.md 8.3) will use: listed types are never retried."""

    class Interrupted(Exception):
        pass

    node = Flaky(1, error=Interrupted)
    error, _ = await run_one(node, retry=RetryPolicy(initial_delay=0.0, never_retry=(Interrupted,)))
    assert node.calls == 1 and isinstance(error.__cause__.__cause__, Interrupted)


async def test_retry_metadata_carries_the_retry_time_from_the_injected_clock() -> None:
    _, events = await run_one(Flaky(1), retry=FAST, clock=MockClock(100.0))
    (retry,) = scoped(events, "node.retry")
    assert retry.metadata["retry_at_unix_ms"] == 100_010
    assert retry.metadata["now_unix_ms"] == 100_000


async def test_a_slow_async_node_times_out_and_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def slow(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return NodePartial()

    started = time.monotonic()
    error, events = await run_one(slow, timeout=0.05)
    assert time.monotonic() - started < 2
    assert cancelled.is_set()
    assert isinstance(error, NodeRunError)
    assert isinstance(error.error, NodeTimeout) and isinstance(error.error, NodeError)
    assert (error.error.node, error.error.step, error.error.seconds) == ("N", 1, 0.05)
    assert str(error.error) == "node 'N' timed out after 0.05 s at step 1"
    assert scoped(events, "node.error")[0].metadata["attempts"] == 1


async def test_a_slow_thread_node_times_out_and_its_late_result_is_discarded() -> None:
    done = threading.Event()

    def slow(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        time.sleep(1.0)
        done.set()
        return NodePartial(messages=[Message.assistant("too late")])

    error, _ = await run_one(slow, timeout=0.05)
    assert isinstance(error.error, NodeTimeout)
    assert not done.is_set(), "the step failed without waiting for the thread"
    await asyncio.to_thread(done.wait, 5)  # the abandoned thread finishes on its own


async def test_timeouts_are_retried() -> None:
    calls = 0

    async def slow_then_fast(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.sleep(5)
        return NodePartial(messages=[Message.assistant(f"attempt {calls}")])

    final, events = await run_one(slow_then_fast, retry=FAST, timeout=0.05)
    assert final.messages[-1].content == "attempt 3"
    errors = [e.metadata["error"] for e in scoped(events, "node.retry")]
    assert errors == ["node 'N' timed out after 0.05 s at step 1"] * 2


async def test_thread_timeouts_are_retried() -> None:
    calls = 0

    def sometimes_slow(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(0.3)
        return NodePartial(messages=[Message.assistant(f"attempt {calls}")])

    final, _ = await run_one(sometimes_slow, retry=FAST, timeout=0.1)
    assert final.messages[-1].content == "attempt 2"
    assert [m.content for m in final.messages] == ["hi", "attempt 2"], "the late first result is discarded"
    await asyncio.sleep(0.3)


async def test_a_timeout_error_the_node_raises_itself_is_not_a_node_timeout() -> None:
    async def raises(snapshot: StateSnapshot, ctx: object) -> None:
        raise TimeoutError("the service timed out")

    error, _ = await run_one(raises, timeout=5)
    assert not isinstance(error.error, NodeTimeout)
    assert "TimeoutError: the service timed out" in str(error)


async def test_run_attempts_returns_the_attempt_count_and_marks_failures() -> None:
    node = Flaky(1)
    result, attempts = await run_attempts(
        lambda: node(None, None),  # type: ignore[arg-type]
        node="N",
        step=4,
        retry=FAST,
        timeout=None,
    )
    assert attempts == 2 and result is not None
    failing = Flaky(9)
    with pytest.raises(ConnectionError) as info:
        await run_attempts(lambda: failing(None, None), node="N", step=4, retry=FAST, timeout=None)  # type: ignore[arg-type]
    assert attempts_of(info.value) == 3
    assert attempts_of(ValueError()) == 1


async def test_cancelling_a_run_during_the_backoff_is_not_swallowed() -> None:
    node = Flaky(10)
    task = asyncio.ensure_future(
        run_attempts(
            lambda: node(None, None),  # type: ignore[arg-type]
            node="N",
            step=1,
            retry=RetryPolicy(initial_delay=10.0),
            timeout=None,
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert node.calls == 1


async def test_retry_holds_the_other_nodes_of_the_step_and_they_merge_once() -> None:
    """A retried node and a healthy one in the same step: one barrier, frontier order kept."""
    flaky = Flaky(1)

    async def steady(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        return NodePartial(messages=[Message.assistant("steady")])

    app = (
        GraphBuilder()
        .add_node("F", flaky, retry=FAST)
        .add_node("S", steady)
        .add_edge("Start", "F")
        .add_edge("Start", "S")
        .add_edge("F", "End")
        .add_edge("S", "End")
        .compile()
    )
    final = await app.invoke(VersionedState.new_with_user_message("hi"))
    assert [m.content for m in final.messages] == ["hi", "ok after 2", "steady"]
    assert final.messages_version == 2


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"retry": RetryPolicy(max_attempts=0)}, "retry max_attempts must be at least 1, got 0"),
        ({"retry": RetryPolicy(max_attempts=2.5)}, "max_attempts must be an integer"),  # type: ignore[arg-type]
        ({"retry": RetryPolicy(initial_delay=-1)}, "initial_delay must be a finite number of seconds >= 0"),
        ({"retry": RetryPolicy(backoff=0.5)}, "backoff must be a finite number >= 1"),
        ({"retry": RetryPolicy(max_delay=float("nan"))}, "max_delay must be a finite number"),
        ({"retry": RetryPolicy(retry_on=(int,))}, "retry_on must be exception classes"),  # type: ignore[arg-type]
        ({"retry": 3}, "retry must be a RetryPolicy, got int"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0, got 0"),
        ({"timeout": -2.5}, "timeout must be a number of seconds > 0, got -2.5"),
        ({"timeout": float("inf")}, "timeout must be a number of seconds > 0"),
    ],
)
def test_bad_policies_fail_compile_naming_the_node(policy: dict[str, Any], fragment: str) -> None:
    b = (
        GraphBuilder()
        .add_node("fetch", Flaky(0), **policy)
        .add_edge("Start", "fetch")
        .add_edge("fetch", "End")
    )
    with pytest.raises(InvalidNodePolicy) as info:
        b.compile()
    assert info.value.node == "fetch"
    assert str(info.value).startswith("node 'fetch': ")
    assert fragment in str(info.value)


def test_policies_are_kept_on_the_app() -> None:
    app = (
        GraphBuilder()
        .add_node("N", Flaky(0), retry=FAST, timeout=2.0)
        .add_node("P", Flaky(0))
        .add_edge("Start", "N")
        .add_edge("N", "P")
        .add_edge("P", "End")
        .compile()
    )
    (policy,) = app.node_policies().values()
    assert (policy.retry, policy.timeout, policy.wait_for) == (FAST, 2.0, ())
    assert RetryPolicy(retry_on=ValueError).retry_on == (ValueError,)
    assert RetryPolicy.from_json(FAST.to_json()) == FAST
    assert FAST.to_json() == {"max_attempts": 3, "initial_delay_s": 0.01, "backoff": 2.0, "max_delay_s": 1.0}
