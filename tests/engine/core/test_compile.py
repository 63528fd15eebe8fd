"""GraphBuilder.compile(): each error, in the documented order, and App structure."""

from __future__ import annotations

import itertools

import pytest

from engine.errors import (
    CycleDetected,
    DuplicateEdge,
    EdgeFromEnd,
    GraphCompileError,
    MissingEntry,
    NoPathToEnd,
    UnknownNode,
    UnreachableNodes,
)
from engine.graph.builder import GraphBuilder
from engine.types import NodeKind
from tests.engine.nodes import nothing


def chain(*names: str) -> GraphBuilder:
    b = GraphBuilder()
    for n in names:
        b.add_node(n, nothing)
    path = ["Start", *names, "End"]
    for src, dst in itertools.pairwise(path):
        b.add_edge(src, dst)
    return b


def test_valid_chain_compiles() -> None:
    app = chain("A", "B").compile()
    assert list(app.nodes()) == [NodeKind.custom("A"), NodeKind.custom("B")]
    assert app.edges()[NodeKind.START] == [NodeKind.custom("A")]
    g = app.to_networkx()
    assert set(g.nodes) == {"Start", "A", "B", "End"} and g.has_edge("A", "B")


@pytest.mark.parametrize("name", ["Start", "End", NodeKind.START, NodeKind.END])
def test_registering_virtual_nodes_is_refused(name: object) -> None:
    with pytest.raises(ValueError, match="virtual"):
        GraphBuilder().add_node(name, nothing)  # type: ignore[arg-type]


def test_non_callable_node_is_refused_naming_the_type() -> None:
    with pytest.raises(TypeError, match="int"):
        GraphBuilder().add_node("A", 3)


def test_missing_entry_and_empty_graph() -> None:
    with pytest.raises(MissingEntry):
        GraphBuilder().compile()
    with pytest.raises(MissingEntry):
        GraphBuilder().add_node("A", nothing).add_edge("A", "End").compile()


def test_cycle_detected_before_everything_else() -> None:
    b = chain("A", "B").add_edge("B", "A").add_node("Lonely", nothing)
    with pytest.raises(CycleDetected) as info:
        b.compile()
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and set(cycle) == {"A", "B"}


def test_unreachable_then_no_path_to_end() -> None:
    b = chain("A").add_node("Z", nothing).add_node("Y", nothing).add_edge("Z", "End").add_edge("Y", "End")
    with pytest.raises(UnreachableNodes) as info:
        b.compile()
    assert info.value.nodes == ["Y", "Z"]
    b2 = GraphBuilder().add_node("A", nothing).add_node("B", nothing).add_edge("Start", "A")
    b2.add_edge("A", "End").add_edge("Start", "B")
    with pytest.raises(NoPathToEnd) as info2:
        b2.compile()
    assert info2.value.nodes == ["B"]


def test_reachability_skipped_when_a_conditional_edge_has_no_declared_targets() -> None:
    b = chain("A").add_node("Other", nothing).add_conditional_edge("A", lambda s: ["Other"])
    b.compile()  # Other is only reachable through the undeclared predicate
    declared = chain("A").add_node("Other", nothing).add_conditional_edge("A", lambda s: ["Other"], ["Other"])
    with pytest.raises(NoPathToEnd):
        declared.compile()


def test_duplicate_edge_from_end_and_unknown_node_in_order() -> None:
    with pytest.raises(DuplicateEdge) as info:
        chain("A").add_edge("A", "End").compile()
    assert (info.value.src, info.value.dst) == ("A", "End")
    with pytest.raises(EdgeFromEnd):
        chain("A").add_edge("End", "A").add_edge("End", "End").compile()
    with pytest.raises(UnknownNode) as info2:
        chain("A").add_edge("A", "Ghost").add_edge("Ghost", "End").compile()
    assert info2.value.kind == "Ghost"
    with pytest.raises(UnknownNode):
        chain("A").add_conditional_edge("A", lambda s: [], ["Nope"]).compile()
    with pytest.raises(UnknownNode):
        chain("A").add_conditional_edge("Nope", lambda s: []).compile()
    assert issubclass(UnknownNode, GraphCompileError)


def test_conditional_edge_from_start_is_an_entry() -> None:
    GraphBuilder().add_node("A", nothing).add_conditional_edge("Start", lambda s: ["A"], ["A"]).add_edge(
        "A", "End"
    ).compile()


def test_node_tables_are_made_once_per_graph_and_never_mixed_up() -> None:
    from engine.graph.compiled import per_graph
    from engine.node_exec import node_table

    graphs = [chain(*(f"n{i}_{j}" for j in range(i + 1))).compile().graph for i in range(20)]
    for g in graphs:  # more graphs than are kept: an evicted graph's table is made again, never another's
        table = per_graph(g, node_table)
        assert {k: e[0] for k, e in table.items()} == dict(g.invokers)
        assert {k: tuple(r.target for r in e[1]) for k, e in table.items()} == {
            k: g.edge_map.get(k, ()) for k in g.invokers
        }
        assert all(r.source == k and not r.conditional for k, e in table.items() for r in e[1])
    again = per_graph(graphs[-1], node_table)
    assert per_graph(graphs[-1], node_table) is again  # a runner per invocation does not build it again
