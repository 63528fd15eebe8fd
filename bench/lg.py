"""LangGraph's side of workloads 1-4, built to mirror `bench/ours.py` node for node.

Each workload has a "sync" variant (plain functions, `invoke`) and an "async" one (`async def` nodes,
`ainvoke`); the suite compares us with whichever LangGraph variant is faster. Needs the `bench` extra.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import sqlite3
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from bench.common import Timer

VARIANTS = ("sync", "async")


class Counter(TypedDict):
    i: int


class Loop(TypedDict):
    count: int


class Fan(TypedDict):
    items: Annotated[list[str], operator.add]
    joined: int


class Chat(TypedDict):
    messages: Annotated[list[dict[str, str]], operator.add]


def _node(fn: Callable[[Any], Any], variant: str) -> Any:
    """`fn` as is (sync variant) or wrapped in an `async def` (async variant)."""
    if variant == "sync":
        return fn

    async def node(state: Any) -> Any:
        return fn(state)

    return node


def _timed_invokes(
    graph: Any, variant: str, inputs: Callable[[int], Any], config: Any, count: int
) -> tuple[float, Any]:
    """Invoke `count` times (sync `invoke` outside any event loop, or `ainvoke` inside one); returns the
    seconds taken by the invocations alone and the last result."""
    if variant == "sync":
        with Timer() as t:
            for i in range(count):
                final = graph.invoke(inputs(i), config)
        return t.seconds, final

    async def run() -> tuple[float, Any]:
        with Timer() as t:
            for i in range(count):
                result = await graph.ainvoke(inputs(i), config)
        return t.seconds, result

    return asyncio.run(run())


# ---------------------------------------------------------------- 1. chain


def chain_graph(n: int, variant: str) -> Any:
    step = _node(lambda s: {"i": s["i"] + 1}, variant)
    g = StateGraph(Counter)
    names = [f"n{i}" for i in range(n)]
    for name in names:
        g.add_node(name, step)
    g.add_edge(START, names[0])
    for a, c in itertools.pairwise(names):
        g.add_edge(a, c)
    g.add_edge(names[-1], END)
    return g.compile()


def run_chain(graph: Any, variant: str, n: int, invocations: int) -> dict[str, Any]:
    seconds, final = _timed_invokes(
        graph, variant, lambda i: {"i": 0}, {"recursion_limit": n + 10}, invocations
    )
    assert final["i"] == n, final
    return {"us_per_node_step": seconds / (invocations * n) * 1e6}


# ---------------------------------------------------------------- 2. loop


def loop_graph(steps: int, variant: str, checkpointer: Any) -> Any:
    g = StateGraph(Loop)
    g.add_node("tick", _node(lambda s: {"count": s["count"] + 1}, variant))
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", lambda s: "tick" if s["count"] < steps else END, ["tick", END])
    return g.compile(checkpointer=checkpointer)


def run_loop(steps: int, variant: str) -> tuple[dict[str, Any], Any]:
    """One run on a fresh InMemorySaver; returns the figures and the saver (kept alive for memory)."""
    saver = InMemorySaver()
    graph = loop_graph(steps, variant, saver)
    config = {"configurable": {"thread_id": "bench"}, "recursion_limit": steps + 10}
    seconds, final = _timed_invokes(graph, variant, lambda i: {"count": 0}, config, 1)
    assert final["count"] == steps, final
    return {"steps_per_s": steps / seconds}, saver


# ---------------------------------------------------------------- 3. fan-out


def fanout_graph(width: int, variant: str) -> Any:
    g = StateGraph(Fan)
    g.add_node("join", _node(lambda s: {"joined": len(s["items"])}, variant))

    def leaf(name: str) -> Any:
        return _node(lambda s: {"items": [name]}, variant)

    for i in range(width):
        name = f"f{i}"
        g.add_node(name, leaf(name))
        g.add_edge(START, name)
        g.add_edge(name, "join")
    g.add_edge("join", END)
    return g.compile()


def run_fanout(graph: Any, variant: str, width: int, invocations: int) -> dict[str, Any]:
    seconds, final = _timed_invokes(graph, variant, lambda i: {"items": [], "joined": 0}, None, invocations)
    assert final["joined"] == width, final
    return {"ms_per_invocation": seconds / invocations * 1000.0}


# ---------------------------------------------------------------- 4. iterative turns on SQLite


def turns_graph(variant: str, checkpointer: Any) -> Any:
    def make(name: str) -> Any:
        return _node(
            lambda s: {
                "messages": [{"role": "assistant", "content": f"{name}: reply at {len(s['messages'])}"}]
            },
            variant,
        )

    g = StateGraph(Chat)
    for name in ("a", "b", "c"):
        g.add_node(name, make(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g.compile(checkpointer=checkpointer)


def _turn(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"user turn {i}"}]}


def run_turns(path: str, variant: str, turns: int) -> dict[str, Any]:
    """`turns` invokes on one thread with LangGraph's SQLite saver (SqliteSaver for sync, AsyncSqliteSaver
    for async), default durability: a checkpoint after every step."""
    config = {"configurable": {"thread_id": "bench"}}
    if variant == "sync":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(path, check_same_thread=False)
        try:
            seconds, final = _timed_invokes(
                turns_graph(variant, SqliteSaver(conn)), variant, _turn, config, turns
            )
        finally:
            conn.close()
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async def run() -> tuple[float, Any]:
            async with AsyncSqliteSaver.from_conn_string(path) as saver:
                graph = turns_graph(variant, saver)
                with Timer() as t:
                    for i in range(turns):
                        result = await graph.ainvoke(_turn(i), config)
            return t.seconds, result

        seconds, final = asyncio.run(run())
    assert len(final["messages"]) == 4 * turns, len(final["messages"])
    return {"seconds": seconds, "invocations_per_s": turns / seconds}


# ---------------------------------------------------------------- 5/10. turns on Postgres

POOL_SIZE = 10
"""Connections of the AsyncPostgresSaver's pool (workloads 5 and 10)."""


def _pool_kwargs() -> dict[str, Any]:
    from psycopg.rows import dict_row

    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


def run_pg_turns(url: str, variant: str, turns: int) -> dict[str, Any]:
    """`turns` invokes on one thread with LangGraph's Postgres saver: PostgresSaver on one connection (sync)
    or AsyncPostgresSaver on a psycopg pool (async); default durability, a checkpoint after every step."""
    config = {"configurable": {"thread_id": "bench"}}
    if variant == "sync":
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            seconds, final = _timed_invokes(turns_graph(variant, saver), variant, _turn, config, turns)
    else:

        async def run() -> tuple[float, Any]:
            async with PgPoolSaver(url) as saver:
                graph = turns_graph(variant, saver)
                with Timer() as t:
                    for i in range(turns):
                        result = await graph.ainvoke(_turn(i), config)
            return t.seconds, result

        seconds, final = asyncio.run(run())
    assert len(final["messages"]) == 4 * turns, len(final["messages"])
    return {"seconds": seconds, "invocations_per_s": turns / seconds}


class PgPoolSaver:
    """An AsyncPostgresSaver on a fresh psycopg pool of `POOL_SIZE` connections, tables set up."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self.url, self.size = url, size
        self._pool: Any = None

    async def __aenter__(self) -> Any:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(
            conninfo=self.url, min_size=1, max_size=self.size, kwargs=_pool_kwargs(), open=False
        )
        await self._pool.open(wait=True)
        saver = AsyncPostgresSaver(self._pool)
        await saver.setup()
        return saver

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.close()
