"""A code-first graph for the studio tests (`tests.studio.code_first_graph:build`)."""

from __future__ import annotations

from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.types import Message


def hello(snapshot: object, ctx: object) -> NodePartial:
    return NodePartial().with_messages([Message.assistant("hello from code")])


def build() -> GraphBuilder:
    return GraphBuilder().add_node("hello", hello).add_edge("Start", "hello").add_edge("hello", "End")
