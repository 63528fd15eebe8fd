"""`GraphBuilder`: register nodes, edges, conditional edges and reducers, then compile to an `App`.

It sits above `engine.app` (compile() returns an App, whose helpers run it); the frozen graph itself is
`engine.graph.compiled.CompiledGraph`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.app import App
from engine.errors import DuplicateNode, InvalidPredicate, InvalidReducer, ReservedNodeName, UnknownChannel
from engine.graph.compiled import ConditionalEdge, Predicate, compile_graph
from engine.joins import PROGRESS_PREFIX
from engine.node import NodeInvoker
from engine.policies import NodePolicy, RetryPolicy
from engine.reducers import CHANNELS, Reducer
from engine.runtime_config import RuntimeConfig
from engine.types import NodeKind, NodeLike

__all__ = ["ConditionalEdge", "GraphBuilder", "Predicate"]


def _custom_kind(name: NodeLike) -> NodeKind:
    kind = NodeKind.coerce(name)
    if not kind.is_custom:
        raise ReservedNodeName(kind.name)
    return kind


def _names(wait_for: Iterable[NodeLike] | NodeLike | None) -> tuple[str, ...]:
    """A join's sources as plain names, first occurrence kept (one name alone is accepted too)."""
    if wait_for is None:
        return ()
    items = [wait_for] if isinstance(wait_for, str | NodeKind) else list(wait_for)
    return tuple(dict.fromkeys(NodeKind.coerce(item).name for item in items))


class GraphBuilder:
    """Chainable graph definition. `compile()` validates it and returns an `App`."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKind, Any] = {}
        self._policies: dict[NodeKind, NodePolicy] = {}
        self._edges: list[tuple[NodeKind, NodeKind]] = []
        self._conditional: list[ConditionalEdge] = []
        self._reducers: dict[str, list[Reducer]] = {c: [] for c in CHANNELS}
        self._runtime_config = RuntimeConfig()

    def add_node(
        self,
        name: NodeLike,
        node: Any,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        wait_for: Iterable[NodeLike] | NodeLike | None = None,
    ) -> GraphBuilder:
        """Register `node` under `name` (raises `ReservedNodeName`, `DuplicateNode` or `InvalidNode`).
        `retry` retries its failures, `timeout` (seconds) bounds each attempt, `wait_for` makes it a join
        that runs once every listed node has run since its own last run. Policy values are checked by
        `compile()`."""
        kind = _custom_kind(name)
        if kind in self._nodes:
            raise DuplicateNode(kind.name)
        if kind.name.startswith(PROGRESS_PREFIX):
            reason = f"uses a reserved prefix (names starting with '{PROGRESS_PREFIX}' are reserved)"
            raise ReservedNodeName(kind.name, reason)
        NodeInvoker(node, kind.name)  # fail now, naming the node, if it cannot be called
        self._nodes[kind] = node
        sources = _names(wait_for)
        if retry is not None or timeout is not None or sources:
            self._policies[kind] = NodePolicy(retry, timeout, sources)
        return self

    def add_edge(self, src: NodeLike, dst: NodeLike) -> GraphBuilder:
        self._edges.append((NodeKind.coerce(src), NodeKind.coerce(dst)))
        return self

    def add_conditional_edge(
        self, src: NodeLike, predicate: Predicate, targets: Iterable[NodeLike] | None = None
    ) -> GraphBuilder:
        source = NodeKind.coerce(src)
        if not callable(predicate):
            raise InvalidPredicate(source.name, type(predicate).__name__)
        declared = None if targets is None else tuple(NodeKind.coerce(t) for t in targets)
        self._conditional.append(ConditionalEdge(source, predicate, declared))
        return self

    def with_reducer(self, channel: str, reducer: Reducer) -> GraphBuilder:
        """Append `reducer` after the channel's default reducer."""
        if channel not in self._reducers:
            raise UnknownChannel(channel, CHANNELS)
        if not callable(getattr(reducer, "apply", None)):
            raise InvalidReducer(channel, type(reducer).__name__)
        self._reducers[channel].append(reducer)
        return self

    def with_runtime_config(self, config: RuntimeConfig) -> GraphBuilder:
        self._runtime_config = config
        return self

    def compile(self) -> App:
        """Validate the graph (raising a `GraphCompileError`) and build the App."""
        graph = compile_graph(
            self._nodes, self._edges, self._conditional, self._reducers, policies=self._policies
        )
        return App(graph, self._runtime_config)
