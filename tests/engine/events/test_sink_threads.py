"""C8 (issue 21, item 5): a synchronous sink never runs on the event loop thread unless it declares
`non_blocking = True`; a sink that blocks never freezes the loop or a run; after `aclose(timeout=...)` gives
up on a sink, its thread calls `handle()` no more and never keeps the process alive."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import FunctionSink, MemorySink
from tests.engine.nodes import appender

pytestmark = pytest.mark.usefixtures("debug_loop")

REPO = Path(__file__).resolve().parents[3]


def ev(i: int) -> Event:
    return Event.create("node", "progress", f"message {i}", node_id="A", step=1, metadata={"i": i})


class Gate:
    """A sync sink that blocks in `handle` until released (or `limit` seconds), recording what it handled."""

    def __init__(self, name: str = "gate", limit: float = 5.0) -> None:
        self.name = name
        self.limit = limit
        self.entered = threading.Event()
        self.release = threading.Event()
        self.handled: list[int] = []
        self.threads: set[int] = set()

    def handle(self, event: Event) -> None:
        self.threads.add(threading.get_ident())
        self.entered.set()
        self.release.wait(self.limit)
        self.handled.append(event.seq)


async def test_a_blocking_sync_sink_never_freezes_the_loop() -> None:
    gate = Gate(limit=5.0)
    bus = EventBus.with_sinks([gate, MemorySink()])
    start = time.perf_counter()
    bus.publish(ev(0))
    while not gate.entered.is_set():  # the sink is now blocked in handle(), on its first event
        await asyncio.sleep(0.005)
        assert time.perf_counter() - start < 3.0
    ticks = 0
    tick_start = time.perf_counter()
    while ticks < 10:
        await asyncio.sleep(0.001)
        ticks += 1
    assert time.perf_counter() - tick_start < 1.0, "the loop was frozen by a blocking sync sink"
    assert threading.get_ident() not in gate.threads
    gate.release.set()
    await bus.aclose()
    assert gate.handled == [0]


async def test_a_run_is_not_slowed_by_a_sink_that_blocks_on_its_first_event() -> None:
    """The issue's reproduction: a sink sleeping 3 s on its first call made a 0.01 s run take 3.01 s."""
    from engine.graph.builder import GraphBuilder
    from engine.runner import AppRunner
    from engine.state import VersionedState

    gate = Gate("sleepy", limit=3.0)
    app = (
        GraphBuilder()
        .add_node("A", appender("a", delay=0.01))  # a 10 ms node: the loop turns while it sleeps
        .add_edge("Start", "A")
        .add_edge("A", "End")
        .compile()
    )
    bus = EventBus.with_sink(gate)
    runner = await AppRunner.builder().app(app).event_bus(bus).lifecycle_events(True).build()
    start = time.perf_counter()
    await runner.create_session("s", VersionedState.new_with_user_message("go"))
    await runner.run_until_complete("s")
    elapsed = time.perf_counter() - start
    assert await asyncio.to_thread(gate.entered.wait, 3.0)
    gate.release.set()
    await runner.aclose()
    assert elapsed < 1.5, f"the run took {elapsed:.2f} s behind a blocking sink"
    assert len(gate.handled) >= 1


async def test_after_aclose_gives_up_the_thread_calls_handle_no_more_and_is_a_daemon() -> None:
    gate = Gate("stuck", limit=30.0)
    memory = MemorySink()
    bus = EventBus.with_sinks([gate, memory])
    for i in range(5):
        bus.publish(ev(i))
    assert await asyncio.to_thread(gate.entered.wait, 3.0)
    start = time.perf_counter()
    await bus.aclose(timeout=0.2)
    assert time.perf_counter() - start < 2.0
    [thread] = [t for t in threading.enumerate() if t.name == "weavegraph-sink-stuck"]
    assert thread.daemon
    gate.release.set()
    await asyncio.to_thread(thread.join, 5.0)
    assert not thread.is_alive()
    assert gate.handled == [0], "the thread went on calling handle() after aclose gave up on the sink"
    health = {h.sink: h for h in bus.sink_health()}
    assert health["stuck"].dropped == 5 and health["stuck"].handled == 0
    assert "did not drain within 0.2s" in (health["stuck"].last_error or "")
    assert len(memory.snapshot()) == 5


async def test_a_sync_handle_that_returns_an_awaitable_is_awaited_on_the_loop_in_order() -> None:
    seen: list[tuple[str, int]] = []

    class Mixed:
        name = "mixed"

        def handle(self, event: Event) -> object:
            i = event.metadata["i"]
            if i % 2:
                return self._later(i)
            seen.append(("sync", i))
            return None

        async def _later(self, i: int) -> None:
            await asyncio.sleep(0)
            seen.append(("async", i))

    bus = EventBus.with_sink(Mixed())
    for i in range(6):
        bus.publish(ev(i))
    await bus.aclose()
    assert [i for _, i in seen] == list(range(6))
    assert bus.sink_health()[0].handled == 6


async def test_function_sinks_run_in_a_thread_unless_async_or_declared() -> None:
    threads: dict[str, set[int]] = {"sync": set(), "declared": set(), "async": set()}

    async def in_async(event: Event) -> None:
        threads["async"].add(threading.get_ident())

    bus = EventBus.with_sinks(
        [
            FunctionSink(lambda e: threads["sync"].add(threading.get_ident()), name="sync"),
            FunctionSink(
                lambda e: threads["declared"].add(threading.get_ident()), name="d", non_blocking=True
            ),
            FunctionSink(in_async, name="async"),
        ]
    )
    bus.publish(ev(0))
    await bus.aclose()
    loop = threading.get_ident()
    assert threads["sync"] and loop not in threads["sync"]
    assert threads["declared"] == {loop} and threads["async"] == {loop}


def test_a_sink_stuck_forever_never_keeps_the_process_alive(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, threading, time
        from engine.events.bus import EventBus
        from engine.events.event import Event

        class Stuck:
            name = "stuck"
            def handle(self, event):
                print("in handle", flush=True)
                threading.Event().wait()  # forever

        async def main():
            bus = EventBus.with_sink(Stuck())
            for i in range(3):
                bus.publish(Event.create("node", "progress", str(i)))
            await asyncio.sleep(0.1)
            await bus.aclose(timeout=0.2)
            print("closed", flush=True)

        asyncio.run(main())
        """
    )
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=15
    )
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["in", "handle", "closed"]
    assert took < 20, f"the process took {took:.1f} s to exit"
