"""Layered layout of a graph for drawing: columns by longest path from Start (back edges ignored), rows
ordered by the barycentre of each node's predecessors to limit crossings."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

START, END = "Start", "End"
X_GAP = 220
Y_GAP = 120


def _back_edges(graph: nx.DiGraph, roots: list[str]) -> set[tuple[str, str]]:
    """Edges closing a cycle in an iterative depth-first search from `roots`, then from every other node."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in [*roots, *graph.nodes]:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, list[str]]] = [(root, list(graph.successors(root)))]
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                continue
            nxt = pending.pop(0)
            mark = state.get(nxt)
            if mark == 1:
                back.add((node, nxt))
            elif mark is None:
                state[nxt] = 1
                stack.append((nxt, list(graph.successors(nxt))))
    return back


def layers(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Column of each node: Start 0, every node one past its furthest predecessor (longest path over the
    graph without its back edges, custom nodes at least 1), End one past everything."""
    graph = nx.DiGraph()
    graph.add_node(START)
    graph.add_nodes_from(n for n in nodes if n not in (START, END))
    graph.add_node(END)
    for src, dst in edges:
        if src in graph and dst in graph and src != END and dst != START:
            graph.add_edge(src, dst)
    dag = graph.copy()
    dag.remove_edges_from(_back_edges(graph, [START]))
    layer: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        preds = [layer[p] + 1 for p in dag.predecessors(node) if p != END]
        layer[node] = max(preds, default=0)
        if node not in (START, END):
            layer[node] = max(layer[node], 1)
    layer[START] = 0
    layer[END] = max((v for k, v in layer.items() if k != END), default=0) + 1
    return layer


def layered_layout(
    nodes: Iterable[str], edges: Iterable[tuple[str, str]], *, x_gap: float = X_GAP, y_gap: float = Y_GAP
) -> dict[str, tuple[float, float]]:
    """(x, y) for every node plus Start and End: x = column * `x_gap`, rows `y_gap` apart centred on y = 0.

    `edges` are (source, target) pairs: unconditional edges and declared conditional targets. Deterministic
    for the same input order.
    """
    node_list = list(dict.fromkeys(nodes))
    edge_list = [(s, d) for s, d in edges]
    layer = layers(node_list, edge_list)
    order = {n: i for i, n in enumerate([START, *node_list, END])}
    columns: dict[int, list[str]] = {}
    for node in sorted(layer, key=lambda n: order.get(n, len(order))):
        columns.setdefault(layer[node], []).append(node)
    preds: dict[str, list[str]] = {n: [] for n in layer}
    for src, dst in edge_list:
        if src in layer and dst in layer and layer[src] < layer[dst]:
            preds[dst].append(src)
    row: dict[str, float] = {}  # centred row index of placed nodes
    for col in sorted(columns):
        members = columns[col]
        middle = (len(members) - 1) / 2
        # barycentre of the predecessors in earlier columns; nodes without any keep their place
        keyed = [
            (sum(row[p] for p in preds[n]) / len(preds[n]) if preds[n] else i - middle, i, n)
            for i, n in enumerate(members)
        ]
        members[:] = [n for _, _, n in sorted(keyed)]
        for i, node in enumerate(members):
            row[node] = i - middle
    out: dict[str, tuple[float, float]] = {}
    for col, members in columns.items():
        middle = (len(members) - 1) / 2
        for i, node in enumerate(members):
            out[node] = (_tidy(col * x_gap), _tidy((i - middle) * y_gap))
    return out


def _tidy(value: float) -> float:
    """Whole numbers as int, so they are written as `220`, not `220.0`."""
    return int(value) if float(value).is_integer() else value
