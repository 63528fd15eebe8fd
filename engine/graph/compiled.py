"""`CompiledGraph`: the frozen, validated graph the runner executes - nodes and their invokers, the edge map,
conditional edges by source, reducer chains, node policies and joins - plus its definition hash and metadata.
`compile_graph` builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import networkx as nx

from engine.graph.validate import EdgeSpec, validate_graph
from engine.hashing import fnv1a_parts
from engine.joins import Joins, check_joins
from engine.node import NodeInvoker
from engine.policies import NodePolicy
from engine.reducers import CHANNELS, DEFAULT_REDUCERS, Reducer
from engine.types import NodeKind
from engine.version import __version__ as ENGINE_VERSION

Predicate = Callable[[Any], Any]
T = TypeVar("T")


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


class GraphMetadata(dict[str, Any]):
    """Graph metadata; keys are also readable as attributes (`meta.graph_hash` or `meta["graph_hash"]`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _frozen_map(pairs: Iterable[tuple[NodeKind, NodeKind]]) -> Mapping[NodeKind, tuple[NodeKind, ...]]:
    grouped: dict[NodeKind, list[NodeKind]] = {}
    for src, dst in pairs:
        grouped.setdefault(src, []).append(dst)
    return MappingProxyType({k: tuple(v) for k, v in grouped.items()})


@dataclass(frozen=True, slots=True, eq=False)
class CompiledGraph:
    """A validated graph, read-only. Tables are built once for the hot path: `invokers` (node -> how to call
    it), `edge_map` (source -> unconditional targets in registration order), `conditional_by_source` and
    `reducers` (channel -> chain, the default reducer first). `policies` holds the policies given to
    `add_node` (retry, timeout, wait_for) for the nodes that have any, `guarded` those of them that run
    through `engine.policies.run_attempts` (a retry policy or a timeout), and `joins` the wait-for joins
    (None when the graph has none: the executor's fast path). Build it with `compile_graph`."""

    nodes: Mapping[NodeKind, Any]
    edges: tuple[tuple[NodeKind, NodeKind], ...]
    conditional: tuple[ConditionalEdge, ...]
    reducers: Mapping[str, tuple[Reducer, ...]]
    invokers: Mapping[NodeKind, NodeInvoker]
    edge_map: Mapping[NodeKind, tuple[NodeKind, ...]]
    conditional_by_source: Mapping[NodeKind, tuple[ConditionalEdge, ...]]
    definition_hash: str
    policies: Mapping[NodeKind, NodePolicy] = field(default_factory=lambda: MappingProxyType({}))
    guarded: Mapping[NodeKind, NodePolicy] = field(default_factory=lambda: MappingProxyType({}))
    joins: Joins | None = None

    def has_node(self, kind: NodeKind) -> bool:
        return kind in self.invokers

    def reducer_signature(self) -> list[str]:
        """Sorted `"<channel>:[0:<label>,1:<label>]"` entries (the hash's "reducer:" parts)."""
        return reducer_signature(self.reducers)

    def metadata(self) -> GraphMetadata:
        return GraphMetadata(
            engine_version=ENGINE_VERSION,
            graph_hash=self.definition_hash,
            node_count=len(self.nodes),
            edge_count=len(self.edges),
            conditional_edge_count=len(self.conditional),
            reducer_signature=self.reducer_signature(),
        )

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a DiGraph of plain names; edge attribute `kind` is "edge" or "conditional"."""
        g = nx.DiGraph()
        g.add_node("Start", kind="start")
        for k in self.nodes:
            g.add_node(k.name, kind="custom")
        g.add_node("End", kind="end")
        for src, dst in self.edges:
            g.add_edge(src.name, dst.name, kind="edge")
        for i, cond in enumerate(self.conditional):
            for t in cond.targets or ():
                if not g.has_edge(cond.source.name, t.name):
                    g.add_edge(cond.source.name, t.name, kind="conditional", conditional_index=i)
        return g


def reducer_signature(reducers: Mapping[str, Iterable[Reducer]]) -> list[str]:
    out = []
    for channel in CHANNELS:
        labels = ",".join(f"{i}:{r.definition_label()}" for i, r in enumerate(reducers[channel]))
        out.append(f"{channel}:[{labels}]")
    return sorted(out)


def _definition_hash(
    nodes: Iterable[NodeKind],
    edges: Iterable[tuple[NodeKind, NodeKind]],
    conditional: Iterable[ConditionalEdge],
    reducer_signature: list[str],
) -> str:
    parts = ["weavegraph-graph-v1"]
    parts += sorted(f"node:{k.encode()}" for k in nodes)
    parts += sorted(f"edge:{s.encode()}->{d.encode()}" for s, d in edges)
    sources = sorted(c.source.encode() for c in conditional)
    parts += [f"conditional:{i}:{src}" for i, src in enumerate(sources)]
    parts += [f"reducer:{sig}" for sig in reducer_signature]
    return fnv1a_parts(parts)


def compile_graph(
    nodes: Mapping[NodeKind, Any],
    edges: Iterable[tuple[NodeKind, NodeKind]],
    conditional: Iterable[ConditionalEdge],
    custom_reducers: Mapping[str, Iterable[Reducer]],
    *,
    policies: Mapping[NodeKind, NodePolicy] | None = None,
) -> CompiledGraph:
    """Validate the definition and the node policies (raising the first `GraphCompileError`) and freeze it."""
    edge_list = tuple(edges)
    conds = tuple(conditional)
    validate_graph(nodes, edge_list, [c.spec for c in conds])
    node_policies = dict(policies or {})
    for kind, policy in node_policies.items():
        policy.check(kind.name)
    wait_for = {k.name: p.wait_for for k, p in node_policies.items() if p.wait_for}
    check_joins(nodes, edge_list, [(c.source, c.targets) for c in conds], wait_for)
    by_source: dict[NodeKind, list[ConditionalEdge]] = {}
    for cond in conds:
        by_source.setdefault(cond.source, []).append(cond)
    reducers = MappingProxyType({c: (DEFAULT_REDUCERS[c], *custom_reducers.get(c, ())) for c in CHANNELS})
    return CompiledGraph(
        nodes=MappingProxyType(dict(nodes)),
        edges=edge_list,
        conditional=conds,
        reducers=reducers,
        invokers=MappingProxyType({k: NodeInvoker(n, k.name) for k, n in nodes.items()}),
        edge_map=_frozen_map(edge_list),
        conditional_by_source=MappingProxyType({k: tuple(v) for k, v in by_source.items()}),
        definition_hash=_definition_hash(nodes, edge_list, conds, reducer_signature(reducers)),
        policies=MappingProxyType(node_policies),
        guarded=MappingProxyType({k: p for k, p in node_policies.items() if p.runs_guarded}),
        joins=Joins.build(wait_for),
    )


_DERIVED: dict[int, tuple[CompiledGraph, dict[Callable[[CompiledGraph], Any], Any]]] = {}


def per_graph(graph: CompiledGraph, build: Callable[[CompiledGraph], T]) -> T:
    """`build(graph)`, made once per graph and kept for the last 16 graphs: hot-path tables derived from a
    graph (the executor's node table) are not rebuilt by a runner made per invocation. Callers never write
    to what they get."""
    hit = _DERIVED.get(id(graph))
    if hit is None or hit[0] is not graph:
        if len(_DERIVED) >= 16:
            del _DERIVED[next(iter(_DERIVED))]
        hit = _DERIVED[id(graph)] = (graph, {})
    made = hit[1].get(build)
    if made is None:
        made = hit[1][build] = build(graph)
    return made
