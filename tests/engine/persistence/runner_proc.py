"""A counting loop graph, and a process that steps one of its sessions through a durable checkpointer.

Usage: runner_proc.py NAME SESSION TARGET [DELAY_SECONDS]; the URL comes from WEAVEGRAPH_SQLITE_URL or
WEAVEGRAPH_POSTGRES_URL (CheckpointerType.POSTGRES when the latter is set). Prints "won <step>" after each
committed step, "conflict <step>" when another process got there first (then resumes from storage), "done".
"""

from __future__ import annotations

import asyncio
import os
import random
import sys

from engine.app import App
from engine.clock import MockClock
from engine.errors import CheckpointConflict
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.base import CheckpointerType
from engine.runner import AppRunner, StepReport
from engine.state import StateSnapshot, VersionedState
from engine.types import Message


def counting_app(target: int, tag: str = "", delay: float = 0.0) -> App:
    """Start -> count, which adds 1 to extra["count"] and appends a message, looping until `target`."""

    async def count(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        if delay:
            await asyncio.sleep(random.uniform(0, delay))
        n = int(snapshot.extra.get("count", 0)) + 1
        text = f"{tag}:{n}" if tag else f"count {n}"
        return NodePartial(messages=[Message.assistant(text)], extra={"count": n})

    def again(snapshot: StateSnapshot) -> list[str]:
        return ["count"] if int(snapshot.extra.get("count", 0)) < target else ["End"]

    return (
        GraphBuilder()
        .add_node("count", count)
        .add_edge("Start", "count")
        .add_conditional_edge("count", again, targets=["count", "End"])
        .compile()
    )


def initial_state() -> VersionedState:
    return VersionedState.new_with_user_message("go")


async def main(name: str, session: str, target: int, delay: float) -> None:
    kind = CheckpointerType.POSTGRES if os.environ.get("WEAVEGRAPH_POSTGRES_URL") else CheckpointerType.SQLITE
    app = counting_app(target, name, delay)
    while True:
        builder = AppRunner.builder().app(app).checkpointer(kind).clock(MockClock(1_000.0))
        async with await builder.build() as runner:
            await runner.create_session(session, initial_state())
            try:
                while True:
                    report = await runner.run_step(session)
                    assert isinstance(report, StepReport)
                    if report.completed and not report.ran_nodes:
                        print("done", flush=True)
                        return
                    print("won", report.step, flush=True)
                    if report.completed:
                        print("done", flush=True)
                        return
            except CheckpointConflict as exc:
                print("conflict", exc.expected, flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], int(args[2]), float(args[3]) if len(args) > 3 else 0.0))
