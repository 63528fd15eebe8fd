"""The graph of the interrupt tests (importable by their subprocess): Start -> A, B, C -> End in one step.
A asks once (async), B asks twice (a thread node), C never asks; each counts its calls."""

from __future__ import annotations

from typing import Any

from engine import App, GraphBuilder, NodePartial
from engine.node import NodeContext
from engine.state import StateSnapshot

APPROVAL = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


class Calls:
    def __init__(self) -> None:
        self.a = self.b = self.c = 0


def build(calls: Calls, a_schema: Any = APPROVAL) -> App:
    async def a(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        calls.a += 1
        answer = ctx.interrupt({"prompt": "approve?"}, a_schema)
        return NodePartial(extra={"a": answer})

    def b(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        calls.b += 1
        first = ctx.interrupt({"prompt": "first"})
        second = ctx.interrupt({"prompt": "second", "after": first})
        return NodePartial(extra={"b": [first, second]})

    async def c(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        calls.c += 1
        return NodePartial(extra={"c": calls.c})

    builder = GraphBuilder().add_node("A", a).add_node("B", b).add_node("C", c)
    for name in ("A", "B", "C"):
        builder.add_edge("Start", name).add_edge(name, "End")
    return builder.compile()
