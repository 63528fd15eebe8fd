"""Many sessions at once in one process (workloads 9 and 10): `sessions` iterative sessions, each doing
`invocations` turns of the workload-4 graph (Start -> a -> b -> c -> End, a checkpoint per step), all sessions
running concurrently on one checkpointer. Backend-agnostic: the caller opens the checkpointer (ours) or the
saver (LangGraph's) and closes it.

The raw ceiling is the very `steps` rows our checkpointer wrote, re-inserted `batch` rows per transaction
with bare asyncpg (Postgres; see `postgres_batched_ceiling`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.common import Timer
from bench.ours import turns_app
from engine.partial import NodePartial
from engine.runner import AppRunner
from engine.state import VersionedState
from engine.types import Message


def session_name(i: int) -> str:
    return f"bench-{i:03d}"


async def run_concurrent(
    checkpointer: Any, sessions: int, invocations: int, app: Any = None
) -> dict[str, Any]:
    """Ours (workloads 9 and 10): one runner of `app` (the turns graph by default), `sessions` iterative
    sessions, each doing `invocations` invoke_next calls, all at once. Returns seconds, invocations/s, steps,
    and the checkpointer's group counts when it has them (SQLite's `committer`, Postgres's `_group`)."""
    app = app if app is not None else turns_app()
    runner = await AppRunner.builder().app(app).checkpointer_custom(checkpointer).build()
    names = [session_name(i) for i in range(sessions)]
    try:
        for name in names:
            await runner.create_iterative_session(name, VersionedState(), "Start")
        committer = getattr(checkpointer, "committer", None) or getattr(checkpointer, "_group", None)
        groups0 = getattr(committer, "groups", 0)
        items0 = getattr(committer, "items", 0)

        async def one(name: str) -> int:
            final = None
            for i in range(invocations):
                final = await runner.invoke_next(
                    name, NodePartial(messages=[Message.user(f"user turn {i}")]), "Start"
                )
            assert final is not None
            return len(final.messages)

        with Timer() as t:
            lengths = await asyncio.gather(*(one(name) for name in names))
        for name in names:
            await runner.finish_iterative_session(name)
    finally:
        await runner.aclose()
    assert lengths == [4 * invocations] * sessions, lengths
    total = sessions * invocations
    out: dict[str, Any] = {
        "seconds": t.seconds,
        "invocations_per_s": total / t.seconds,
        "steps": 3 * total,
    }
    if committer is not None:
        groups = committer.groups - groups0
        out["groups"] = groups
        out["saves_per_group"] = (committer.items - items0) / groups if groups else 0.0
    return out


async def lg_concurrent(saver: Any, sessions: int, invocations: int) -> dict[str, Any]:
    """LangGraph's async side: one compiled graph on `saver`, one thread per session, all `ainvoke` at once
    (default durability: a checkpoint after every step)."""
    from bench.lg import turns_graph

    graph = turns_graph("async", saver)

    async def one(i: int) -> int:
        config = {"configurable": {"thread_id": session_name(i)}}
        result: Any = None
        for k in range(invocations):
            result = await graph.ainvoke(
                {"messages": [{"role": "user", "content": f"user turn {k}"}]}, config
            )
        return len(result["messages"])

    with Timer() as t:
        lengths = await asyncio.gather(*(one(i) for i in range(sessions)))
    assert lengths == [4 * invocations] * sessions, lengths
    total = sessions * invocations
    return {"seconds": t.seconds, "invocations_per_s": total / t.seconds}


async def postgres_batched_ceiling(url: str, batch: int) -> tuple[float, int]:
    """Copy every `steps` row into a new table shaped like `steps` (same types, primary key), `batch` rows
    per transaction (one pipelined executemany each), in the order they were written. Returns (seconds,
    rows)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        records = await conn.fetch("SELECT * FROM steps ORDER BY created_at, session_id, step")
        columns = list(records[0].keys())
        await conn.execute("DROP TABLE IF EXISTS steps_ceiling")
        await conn.execute("CREATE TABLE steps_ceiling (LIKE steps INCLUDING DEFAULTS INCLUDING INDEXES)")
        insert = (
            f"INSERT INTO steps_ceiling ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
        )
        rows = [tuple(r.values()) for r in records]
        with Timer() as t:
            for start in range(0, len(rows), batch):
                await conn.executemany(insert, rows[start : start + batch])  # one transaction
        await conn.execute("DROP TABLE steps_ceiling")
    finally:
        await conn.close()
    return t.seconds, len(rows)
