"""Sinks that block, raise or are flooded, on real runs (C8): the run takes as long as without them, a healthy
sink still sees every event in order, every event is accounted for (handled + failed + dropped = published),
`aclose(timeout=...)` gives up on a stuck sink in time, and a process whose sink is stuck forever still
exits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import JsonLinesSink, MemorySink
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from tests.faults.helpers import ROOT, SESSION, app_of, cli_env, loop_document

pytestmark = pytest.mark.slow


class Blocking:
    """Sleeps `seconds` in every handle: 121 steps of lifecycle events would take minutes."""

    def __init__(self, seconds: float) -> None:
        self.name = "blocking"
        self.seconds = seconds
        self.calls = 0
        self.threads: set[int] = set()

    def handle(self, event: Event) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)


class Raising:
    name = "raising"

    def __init__(self) -> None:
        self.raised = 0

    def handle(self, event: Event) -> None:
        if event.seq % 2:
            self.raised += 1
            raise RuntimeError(f"refused event {event.seq}")


async def _run(sinks: list[Any], tmp_path: Path, capacity: int = 1024) -> tuple[float, EventBus, int]:
    app, state = app_of(loop_document())
    bus = EventBus(buffer_capacity=capacity, sinks=sinks, close_timeout=0.5)
    storage = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'sinks.db'}")
    try:
        runner = await (
            AppRunner.builder()
            .app(app)
            .checkpointer_custom(storage)
            .event_bus(bus)
            .lifecycle_events(True)
            .build()
        )
        start = time.perf_counter()
        await runner.create_session(SESSION, state)
        await runner.run_until_complete(SESSION)
        took = time.perf_counter() - start
        published = bus.metrics().published
        await runner.aclose()
    finally:
        await storage.aclose()
    return took, bus, published


def test_blocking_and_raising_sinks_cost_a_run_nothing(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    baseline, _, _ = asyncio.run(_run([MemorySink()], tmp_path / "a"))
    blocking, raising, memory = Blocking(0.05), Raising(), MemorySink()
    jsonl = JsonLinesSink.to_file(tmp_path / "events.jsonl")
    start = time.perf_counter()
    took, bus, published = asyncio.run(_run([blocking, raising, memory, jsonl], tmp_path / "b"))
    closed_after = time.perf_counter() - start
    assert took < baseline + 2.0, f"the run took {took:.2f} s with the sinks, {baseline:.2f} s without"
    assert closed_after < took + 3.0, "closing gave up on the blocking sink late"
    assert threading.get_ident() not in blocking.threads
    events = memory.snapshot()
    assert len(events) == published and [e.seq for e in events] == list(range(published))
    lines = (tmp_path / "events.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == published
    health = {h.sink: h for h in bus.sink_health()}
    for name, h in health.items():
        assert h.handled + h.error_count + h.dropped >= published, (name, h)
    assert health["raising"].error_count == raising.raised == published // 2
    assert health["raising"].handled == published - raising.raised
    assert health["blocking"].dropped > 0 and health["blocking"].handled <= blocking.calls
    assert "did not drain within 0.5s" in (health["blocking"].last_error or "")


def test_a_flood_is_bounded_and_counted() -> None:
    async def flood() -> None:
        slow, memory = Blocking(0.001), MemorySink()
        bus = EventBus(buffer_capacity=256, sinks=[slow, memory])
        sub = bus.subscribe(capacity=64)
        start = time.perf_counter()
        total = 100_000
        for i in range(total):
            bus.publish(Event.create("node", "flood", str(i)))
            if i % 10_000 == 0:
                await asyncio.sleep(0)
                # queued plus the batch a sink's thread holds: never more than twice the capacity
                assert all(h.queue_depth <= 2 * 256 for h in bus.sink_health())
        publish_time = time.perf_counter() - start
        assert publish_time < 10.0, f"publishing {total} events took {publish_time:.1f} s"
        await bus.aclose(timeout=1.0)
        received = [e async for e in sub]
        health = {h.sink: h for h in bus.sink_health()}
        for h in health.values():
            assert h.handled + h.error_count + h.dropped == total, h
        assert health["blocking"].dropped > total // 2
        assert len(received) <= 64 + 1 and received[-1].message == str(total - 1)
        assert memory.snapshot()[-1].message == str(total - 1)
        metrics = bus.metrics()
        assert metrics.published == total and metrics.subscriber_dropped == total - len(received)

    asyncio.run(flood())


def test_a_process_whose_sink_is_stuck_forever_still_exits(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, threading
        from engine.events.bus import EventBus
        from engine.runner import AppRunner
        from tests.faults.helpers import SESSION, app_of, loop_document

        class Stuck:
            name = "stuck"
            def handle(self, event):
                threading.Event().wait()

        async def main():
            app, state = app_of(loop_document(limit=5))
            bus = EventBus(sinks=[Stuck()], close_timeout=0.3)
            async with await AppRunner.builder().app(app).event_bus(bus).lifecycle_events(True).build() as r:
                await r.create_session(SESSION, state)
                final = await r.run_until_complete(SESSION)
            print("count", final.extra["count"], flush=True)

        asyncio.run(main())
        """
    )
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["count", "5"]
    assert time.monotonic() - start < 20
