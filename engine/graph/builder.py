"""`GraphBuilder`: register nodes, edges, conditional edges and reducers, then compile to an `App`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.graph.validate import EdgeSpec, validate_graph
from engine.joins import PROGRESS_PREFIX, check_joins
from engine.node import NodeInvoker
from engine.policies import NodePolicy, RetryPolicy
from engine.reducers import CHANNELS, Reducer
from engine.runtime_config import RuntimeConfig
from engine.types import NodeKind, NodeLike

if TYPE_CHECKING:
    from engine.app import App

Predicate = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class ConditionalEdge:
    """A conditional edge: after `source` runs, `predicate(snapshot)` names the next nodes.
    `targets` declares every node it may return (None when undeclared)."""

    source: NodeKind
    predicate: Predicate
    targets: tuple[NodeKind, ...] | None = None

    @property
    def spec(self) -> EdgeSpec:
        return EdgeSpec(self.source, self.targets)


def _custom_kind(name: NodeLike) -> NodeKind:
    kind = NodeKind.coerce(name)
    if not kind.is_custom:
        raise ValueError(f"'{kind}' is a virtual node and cannot be registered; choose another name")
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
        """Register `node` as `name`. `retry` retries its failures, `timeout` (seconds) bounds each attempt,
        `wait_for` makes it a join that runs once every listed node has run since its own last run. Policy
        values are checked by `compile()`."""
        kind = _custom_kind(name)
        if kind in self._nodes:
            raise ValueError(f"node '{kind}' is already registered")
        if kind.name.startswith(PROGRESS_PREFIX):
            raise ValueError(f"names starting with '{PROGRESS_PREFIX}' are reserved; choose another name")
        NodeInvoker(node)  # fail now, naming the node, if it cannot be called
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
        if not callable(predicate):
            raise TypeError(f"the predicate of the conditional edge from '{src}' is not callable")
        declared = None if targets is None else tuple(NodeKind.coerce(t) for t in targets)
        self._conditional.append(ConditionalEdge(NodeKind.coerce(src), predicate, declared))
        return self

    def with_reducer(self, channel: str, reducer: Reducer) -> GraphBuilder:
        if channel not in self._reducers:
            raise ValueError(f"unknown channel '{channel}'; channels are {', '.join(CHANNELS)}")
        if not callable(getattr(reducer, "apply", None)):
            raise TypeError("a reducer needs an apply(state, merged) method")
        self._reducers[channel].append(reducer)
        return self

    def with_runtime_config(self, config: RuntimeConfig) -> GraphBuilder:
        self._runtime_config = config
        return self

    def compile(self) -> App:
        """Validate the graph (raising a `GraphCompileError`) and build the App."""
        from engine.app import App

        validate_graph(self._nodes, self._edges, [c.spec for c in self._conditional])
        for kind, policy in self._policies.items():
            policy.check(kind.name)
        check_joins(
            self._nodes,
            self._edges,
            [(c.source, c.targets) for c in self._conditional],
            {k.name: p.wait_for for k, p in self._policies.items() if p.wait_for},
        )
        return App(
            dict(self._nodes),
            list(self._edges),
            list(self._conditional),
            {c: list(r) for c, r in self._reducers.items()},
            self._runtime_config,
            policies=dict(self._policies),
        )
