"""Weavegraph's side of workloads 1-5: graphs built with `GraphBuilder`, run with `AppRunner`.

Each `run_*` coroutine performs one measured repetition and returns its raw figures; `bench.worker`
repeats them and takes medians. Node bodies mirror the LangGraph ones in `bench/lg.py` exactly.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from bench.common import Timer
from engine.app import App
from engine.graph.builder import GraphBuilder
from engine.node import NodeContext
from engine.partial import NodePartial
from engine.persistence.memory import InMemoryCheckpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.types import Message

SESSION = "bench"


# ---------------------------------------------------------------- 1. chain


def chain_app(n: int) -> App:
    """Start -> n0 -> n1 -> ... -> n{n-1} -> End; each node adds 1 to extra["i"]."""

    async def step(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        return NodePartial(extra={"i": snapshot.extra["i"] + 1})

    b = GraphBuilder()
    names = [f"n{i}" for i in range(n)]
    for name in names:
        b.add_node(name, step)
    b.add_edge("Start", names[0])
    for a, c in itertools.pairwise(names):
        b.add_edge(a, c)
    b.add_edge(names[-1], "End")
    return b.compile()


async def _run_once(
    app: App, state: VersionedState, *, autosave: bool, concurrency: int | None
) -> VersionedState:
    builder = AppRunner.builder().app(app).autosave(autosave)
    if concurrency is not None:
        builder.concurrency_limit(concurrency)
    async with await builder.build() as runner:
        await runner.create_session(SESSION, state)
        return await runner.run_until_complete(SESSION)


async def run_chain(app: App, n: int, invocations: int) -> dict[str, Any]:
    """`invocations` fresh runs (runner built, session created, run to End, runner closed), autosave off."""
    state = VersionedState(extra={"i": 0})
    with Timer() as t:
        for _ in range(invocations):
            final = await _run_once(app, state, autosave=False, concurrency=None)
    assert final.extra["i"] == n, final.extra
    return {"us_per_node_step": t.seconds / (invocations * n) * 1e6}


# ---------------------------------------------------------------- 2. loop


def loop_app(steps: int) -> App:
    """Start -> tick; tick routes back to itself through a conditional edge until count == steps."""

    async def tick(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        return NodePartial(extra={"count": snapshot.extra["count"] + 1})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["tick"] if snapshot.extra["count"] < steps else ["End"]

    b = GraphBuilder().add_node("tick", tick).add_edge("Start", "tick")
    b.add_conditional_edge("tick", again, targets=["tick", "End"])
    return b.compile()


async def run_loop(app: App, steps: int) -> tuple[dict[str, Any], InMemoryCheckpointer]:
    """One run of `steps` supersteps with the in-memory checkpointer saving after every step; returns the
    figures and the checkpointer (kept alive by the caller while it measures memory)."""
    checkpointer = InMemoryCheckpointer()
    builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer).max_steps(steps + 10)
    async with await builder.build() as runner:
        await runner.create_session(SESSION, VersionedState(extra={"count": 0}))
        with Timer() as t:
            final = await runner.run_until_complete(SESSION)
    assert final.extra["count"] == steps, final.extra
    return {"steps_per_s": steps / t.seconds}, checkpointer


# ---------------------------------------------------------------- 3. fan-out


def fanout_app(width: int) -> App:
    """Start -> f0..f{width-1} (each appends one message) -> join -> End; the join waits for all of them
    (`wait_for`), so it runs once per invocation as LangGraph's does."""

    async def leaf(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        return NodePartial(messages=[Message.assistant(ctx.node_id)])

    async def join(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        return NodePartial(extra={"joined": len(snapshot.messages)})

    b = GraphBuilder().add_node("join", join, wait_for=[f"f{i}" for i in range(width)])
    for i in range(width):
        name = f"f{i}"
        b.add_node(name, leaf).add_edge("Start", name).add_edge(name, "join")
    b.add_edge("join", "End")
    return b.compile()


async def run_fanout(app: App, width: int, invocations: int, *, concurrency: int | None) -> float:
    """Milliseconds per invocation (fresh runner and session each time, autosave off)."""
    state = VersionedState()
    with Timer() as t:
        for _ in range(invocations):
            final = await _run_once(app, state, autosave=False, concurrency=concurrency)
    assert final.extra["joined"] == width, final.extra
    return t.seconds / invocations * 1000.0


# ---------------------------------------------------------------- 4/5. iterative turns on storage


def turns_app() -> App:
    """Start -> a -> b -> c -> End; each node appends one assistant message naming itself and the length."""

    def make(name: str) -> Any:
        async def reply(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
            return NodePartial(messages=[Message.assistant(f"{name}: reply at {len(snapshot.messages)}")])

        return reply

    b = GraphBuilder()
    for name in ("a", "b", "c"):
        b.add_node(name, make(name))
    b.add_edge("Start", "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", "End")
    return b.compile()


async def run_turns(app: App, checkpointer: Any, turns: int) -> dict[str, Any]:
    """`turns` invoke_next calls on one iterative session; each adds a user message, a step-saved run of 3
    nodes follows. The checkpointer is the caller's (closed by the caller)."""
    builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer)
    runner = await builder.build()
    try:
        await runner.create_iterative_session(SESSION, VersionedState(), "Start")
        with Timer() as t:
            for i in range(turns):
                final = await runner.invoke_next(
                    SESSION, NodePartial(messages=[Message.user(f"user turn {i}")]), "Start"
                )
        await runner.finish_iterative_session(SESSION)
    finally:
        await runner.aclose()
    assert len(final.messages) == 4 * turns, len(final.messages)
    return {"seconds": t.seconds, "invocations_per_s": turns / t.seconds, "steps": 3 * turns}


class BreakdownCheckpointer:
    """A checkpointer that stores nothing: with `encode=True` it serialises each checkpoint the way the
    SQL backends do and throws the text away. It splits a storage run's time into engine, encoding and
    database shares."""

    def __init__(self, *, encode: bool) -> None:
        from engine.persistence.incremental import TextCache

        self.encode = encode
        self.saved = 0
        self.texts = TextCache()
        self.known: Any = None

    async def save(self, checkpoint: Any, expected_last_step: int | None = None) -> None:
        if self.encode:  # as compact storage does: a delta from the previous save, a snapshot every K
            from engine.persistence.compact import DEFAULT_SNAPSHOT_EVERY
            from engine.persistence.incremental import encode_save

            enc = encode_save(checkpoint, self.texts)
            if self.known is None or self.known.chain + 1 >= DEFAULT_SNAPSHOT_EVERY:
                enc.state_text()
                self.known = enc.known("", 0)
            else:
                enc.delta_text(self.known)
                self.known = enc.known("", self.known.chain + 1)
        self.saved += 1

    async def load_latest(self, session_id: str) -> None:
        return None

    async def list_sessions(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


async def turns_breakdown(app: App, turns: int) -> dict[str, float]:
    """Seconds of the same turns with no storage at all, and with JSON encoding but no database."""
    engine = await run_turns(app, BreakdownCheckpointer(encode=False), turns)
    encoding = await run_turns(app, BreakdownCheckpointer(encode=True), turns)
    return {"engine_seconds": engine["seconds"], "engine_encode_seconds": encoding["seconds"]}


def file_size(path: str) -> int:
    """Bytes of an SQLite database with its -wal and -shm files."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal", path + "-shm") if os.path.exists(p))
