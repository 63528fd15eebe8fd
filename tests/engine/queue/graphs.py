"""Graphs the queue tests serve (imported by worker processes as `tests.engine.queue.graphs:chain`)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from engine import GraphBuilder, Message, NodePartial


def _node(name: str) -> Any:
    async def run(snapshot: Any, ctx: Any) -> NodePartial:
        await asyncio.sleep(float(snapshot.extra.get("sleep", 0)))
        count = int(snapshot.extra.get("count", 0)) + 1
        return NodePartial(messages=[Message.assistant(f"{name}{count}")], extra={"count": count})

    return run


def _chain(names: list[str]) -> Any:
    builder = GraphBuilder()
    for name in names:
        builder.add_node(name, _node(name))
    builder.add_edge("Start", names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], "End")
    return builder.compile()


chain = _chain(["a", "b", "c"])
"""Three nodes, one checkpoint per step: steps 0..3; `extra.sleep` slows every node down."""
other = _chain(["x", "y"])
"""Another graph (another hash), to write a session `chain` must refuse."""


async def _ask(snapshot: Any, ctx: Any) -> NodePartial:
    """Asks twice (two interrupts in a row); `extra.sleep` slows it down before asking."""
    await asyncio.sleep(float(snapshot.extra.get("sleep", 0)))
    ship = ctx.interrupt({"prompt": "Ship it?"}, schema={"type": "boolean"})
    sure = ctx.interrupt({"prompt": "Sure?"}, schema={"type": "boolean"}) if ship else False
    return NodePartial(
        messages=[Message.assistant(f"ship={ship} sure={sure}")], extra={"shipped": ship and sure}
    )


def _asking() -> Any:
    builder = GraphBuilder()
    builder.add_node("a", _node("a"))
    builder.add_node("ask", _ask)
    builder.add_node("c", _node("c"))
    builder.add_edge("Start", "a")
    builder.add_edge("a", "ask")
    builder.add_edge("ask", "c")
    builder.add_edge("c", "End")
    return builder.compile()


asking = _asking()
"""a, then `ask` (interrupts for two boolean answers), then c: steps 0..3 once answered."""
