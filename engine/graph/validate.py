"""Pure compile-time checks of a graph definition, in the documented order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from engine.errors import (
    CycleDetected,
    DuplicateEdge,
    EdgeFromEnd,
    MissingEntry,
    NoPathToEnd,
    UnknownNode,
    UnreachableNodes,
)
from engine.types import NodeKind

START, END = NodeKind.START, NodeKind.END


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """What validation needs of a conditional edge: its source and declared targets (None = undeclared)."""

    source: NodeKind
    targets: tuple[NodeKind, ...] | None


def validate_graph(
    nodes: Mapping[NodeKind, object],
    edges: Sequence[tuple[NodeKind, NodeKind]],
    conditional: Sequence[EdgeSpec],
) -> None:
    """Raise the first `GraphCompileError` that applies, checked in ENGINE.md's order."""
    if not any(src == START for src, _ in edges) and not any(c.source == START for c in conditional):
        raise MissingEntry()

    plain = nx.DiGraph()
    plain.add_edges_from((s.name, d.name) for s, d in edges if not s.is_end)  # EdgeFromEnd reports those
    try:
        cycle = nx.find_cycle(plain)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = [cycle[0][0], *(dst for _, dst in cycle)]
        raise CycleDetected(path)

    if all(c.targets is not None for c in conditional):
        flow = nx.DiGraph()
        flow.add_nodes_from([START, END, *nodes])
        flow.add_edges_from(edges)
        for c in conditional:
            flow.add_edges_from((c.source, t) for t in c.targets or ())
        reachable = nx.descendants(flow, START)
        unreachable = [k.name for k in nodes if k not in reachable]
        if unreachable:
            raise UnreachableNodes(unreachable)
        reaches_end = nx.ancestors(flow, END)
        stuck = [k.name for k in nodes if k not in reaches_end]
        if stuck:
            raise NoPathToEnd(stuck)

    seen: set[tuple[NodeKind, NodeKind]] = set()
    for edge in edges:
        if edge in seen:
            raise DuplicateEdge(str(edge[0]), str(edge[1]))
        seen.add(edge)

    for src, dst in edges:
        if src == END:
            raise EdgeFromEnd(str(dst))
    for c in conditional:
        if c.source == END:
            raise EdgeFromEnd()

    def known(kind: NodeKind) -> bool:
        return not kind.is_custom or kind in nodes

    for src, dst in edges:
        for kind in (src, dst):
            if not known(kind):
                raise UnknownNode(kind.name, f"edge {src} -> {dst}")
    for c in conditional:
        if not known(c.source):
            raise UnknownNode(c.source.name, "conditional edge source")
        for t in c.targets or ():
            if not known(t):
                raise UnknownNode(t.name, f"declared target of the conditional edge from {c.source}")
