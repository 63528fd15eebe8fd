"""Workload 6: event throughput of the EventBus - publishing, and delivery through a MemorySink and a
JsonLinesSink writing to a temporary file.

Issue 13 A/B (2026-12-02, 2-core VM under load; CPU time, best of 7 x 100,000 events, three alternating
rounds; one MemorySink): before events became immutable 590-660k created+published/s and 2.2-2.3M ready-made
published/s; with the stamped copy (`with_seq`) 550-590k and 1.35-1.37M; now, with a fresh event stamped in
place (its one write) 610-735k and 2.5-2.85M."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

from bench.common import Timer
from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import JsonLinesSink, MemorySink

CHUNK = 512
"""Events published between two yields to the loop, well under the bus's default queue of 1024."""


def _event(i: int) -> Event:
    return Event.create("node", "bench", "tick", node_id="A", step=i, invocation_id="bench")


async def publish_rates(n: int) -> dict[str, float]:
    """Publishing alone, one MemorySink attached (it drops what its 1024-event queue cannot hold: publish
    never waits). `create_publish_per_s` builds each event as `ctx.emit` does; `publish_per_s` publishes
    ready-made ones."""
    bus = EventBus(sinks=[MemorySink(capacity=1024)])
    with Timer() as t_create:
        for i in range(n):
            bus.publish(_event(i))
    ready = [_event(i) for i in range(n)]
    publish = bus.publish
    with Timer() as t_publish:
        for event in ready:
            publish(event)
    await bus.aclose()
    return {"create_publish_per_s": n / t_create.seconds, "publish_per_s": n / t_publish.seconds}


async def delivery_rate(n: int, sink: Any) -> float:
    """Events per second from the first publish until the sink has handled the last one (the publisher
    yields every CHUNK events, so nothing is dropped); checks the sink handled all `n`."""
    bus = EventBus(sinks=[sink])
    ready = [_event(i) for i in range(n)]
    publish = bus.publish
    start = time.perf_counter()
    for i in range(0, n, CHUNK):
        for event in ready[i : i + CHUNK]:
            publish(event)
        await asyncio.sleep(0)
    await bus.aclose()
    seconds = time.perf_counter() - start
    health = bus.sink_health()[0]
    if health.handled != n or health.dropped:
        raise RuntimeError(f"sink {health.sink} handled {health.handled} of {n}, dropped {health.dropped}")
    return n / seconds


def _count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


async def run_events(n: int, jsonl_n: int) -> dict[str, float]:
    out = await publish_rates(n)
    out["memory_delivered_per_s"] = await delivery_rate(n, MemorySink(capacity=1024))
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    try:
        out["jsonl_delivered_per_s"] = await delivery_rate(jsonl_n, JsonLinesSink.to_file(path))
        lines = _count_lines(path)
        if lines != jsonl_n:
            raise RuntimeError(f"JsonLinesSink wrote {lines} lines, expected {jsonl_n}")
    finally:
        os.unlink(path)
    return out
