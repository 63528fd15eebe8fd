"""Layered (Sugiyama-style, simplified) auto-layout of a graph document: rank by longest path from Start
over the acyclic part of the graph, order each rank by the barycentre of its parents."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

__all__ = ["layered_positions"]

X_GAP = 220.0
Y_GAP = 110.0


def layered_positions(
    node_ids: Iterable[str], edges: Iterable[tuple[str, str]], *, include_virtual: bool = True
) -> dict[str, tuple[float, float]]:
    """Positions for every node (and Start/End when `include_virtual`), left to right by layer.

    Back edges (loops through conditional edges) are found with a DFS from Start and ignored for ranking,
    so loops do not stretch the drawing.
    """
    graph = nx.DiGraph()
    ids = list(dict.fromkeys(node_ids))
    graph.add_nodes_from(["Start", *ids, "End"] if include_virtual else ids)
    for src, dst in edges:
        if src in graph and dst in graph and src != dst:
            graph.add_edge(src, dst)
    roots = ["Start"] if include_virtual else []
    roots += [n for n in graph if graph.in_degree(n) == 0 and n not in roots]
    dag = nx.DiGraph()
    dag.add_nodes_from(graph)
    state: dict[str, int] = {}
    for root in roots + list(graph):
        if root in state:
            continue
        stack = [(root, iter(graph.successors(root)))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(child) == 1:
                continue  # back edge: skip for ranking
            dag.add_edge(node, child)
            if child not in state:
                state[child] = 1
                stack.append((child, iter(graph.successors(child))))
    rank: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        preds = list(dag.predecessors(node))
        rank[node] = max((rank[p] + 1 for p in preds), default=0)
    if include_virtual:
        last = max((r for n, r in rank.items() if n != "End"), default=0)
        rank["End"] = max(rank.get("End", 0), last + 1)
        rank["Start"] = 0
    layers: dict[int, list[str]] = {}
    for node in graph:  # insertion order keeps documents stable
        layers.setdefault(rank[node], []).append(node)
    order: dict[str, float] = {}
    positions: dict[str, tuple[float, float]] = {}
    for r in sorted(layers):
        members = layers[r]
        if r > 0:

            def centre(n: str) -> float:
                ys = [order[p] for p in dag.predecessors(n) if p in order]
                return sum(ys) / len(ys) if ys else float("inf")

            members.sort(key=centre)
        count = len(members)
        for i, node in enumerate(members):
            y = (i - (count - 1) / 2.0) * Y_GAP
            order[node] = y
            positions[node] = (r * X_GAP, y)
    return positions
