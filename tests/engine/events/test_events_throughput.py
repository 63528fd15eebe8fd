"""Throughput floors from the events brief (measured ~10x higher; best of three runs to ride out noise)."""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable

from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import JsonLinesSink, MemorySink

N = 20_000


def events(n: int = N) -> list[Event]:
    return [
        Event.create(
            "node", "progress", "working", node_id="A", step=3, invocation_id="run-1", metadata={"i": i}
        )
        for i in range(n)
    ]


async def best_rate(measure: Callable[[], Awaitable[float]]) -> float:
    return max([await measure() for _ in range(3)])


async def test_publish_rate_with_a_memory_sink() -> None:
    async def measure() -> float:
        batch = events()
        bus = EventBus.with_sink(MemorySink())
        start = time.perf_counter()
        for event in batch:
            bus.publish(event)
        rate = N / (time.perf_counter() - start)
        await bus.aclose()
        return rate

    assert await best_rate(measure) >= 200_000


async def test_delivery_rate_to_a_memory_sink() -> None:
    async def measure() -> float:
        batch = events()
        sink = MemorySink()
        bus = EventBus.with_sink(sink)
        start = time.perf_counter()
        for i, event in enumerate(batch, 1):
            bus.publish(event)
            if i % 512 == 0:
                assert await bus.flush()
        assert await bus.flush()
        rate = N / (time.perf_counter() - start)
        assert len(sink) == N and bus.metrics().dropped == 0
        await bus.aclose()
        return rate

    assert await best_rate(measure) >= 100_000


async def test_json_lines_rate() -> None:
    async def measure() -> float:
        batch = events(5_000)
        out = io.StringIO()
        bus = EventBus(buffer_capacity=len(batch), sinks=[JsonLinesSink(out)])
        start = time.perf_counter()
        for event in batch:
            bus.publish(event)
        await bus.aclose()
        rate = len(batch) / (time.perf_counter() - start)
        assert out.getvalue().count("\n") == len(batch)
        return rate

    assert await best_rate(measure) >= 30_000
