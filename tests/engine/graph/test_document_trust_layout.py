"""Trust (callables named by a document, the TrustStore) and the layered layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.graph.document import (
    TrustStore,
    content_hash,
    default_trust_file,
    document_callables,
    layered_layout,
    parse_document,
)
from engine.graph.layout import layers


@pytest.fixture(autouse=True)
def _trust_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trust" / "trusted.json"
    monkeypatch.setenv("WEAVEGRAPH_TRUST_FILE", str(path))
    return path


def code_document() -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "nodes": [
            {"id": "A", "type": "python", "config": {"callable": "pkg.mod:node_a"}},
            {"id": "B", "type": "message", "config": {"content": "x"}},
        ],
        "edges": [{"from": "Start", "to": "A"}, {"from": "B", "to": "End"}],
        "conditional_edges": [
            {
                "from": "A",
                "router": {"type": "python", "config": {"callable": "pkg.routes:pick"}},
                "targets": ["B"],
            }
        ],
    }


def test_document_callables_lists_nodes_and_routers() -> None:
    doc = parse_document(code_document())
    assert document_callables(doc) == [
        ("$.nodes[0].config.callable", "pkg.mod:node_a"),
        ("$.conditional_edges[0].router.config.callable", "pkg.routes:pick"),
    ]


def test_trust_store_remembers_by_content_hash(_trust_file: Path) -> None:
    store = TrustStore()
    assert store.path == _trust_file == default_trust_file()
    doc = parse_document(code_document())
    assert not store.is_trusted(doc)
    key = store.trust(doc)
    assert key == content_hash(doc)
    assert TrustStore().is_trusted(doc)
    assert TrustStore().is_trusted(key)
    saved = json.loads(_trust_file.read_text())
    assert saved["version"] == 1 and key in saved["trusted"]
    changed = parse_document(code_document())
    changed.data["nodes"][0]["config"]["callable"] = "pkg.mod:other"
    assert not store.is_trusted(changed)
    assert store.revoke(doc) and not store.is_trusted(doc)
    assert not store.revoke(doc)


def test_trust_store_survives_a_corrupt_file(_trust_file: Path) -> None:
    _trust_file.parent.mkdir(parents=True)
    _trust_file.write_text("{not json")
    store = TrustStore()
    doc = parse_document(code_document())
    assert not store.is_trusted(doc)
    store.trust(doc)
    assert store.is_trusted(doc)


def test_config_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WEAVEGRAPH_TRUST_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_trust_file() == tmp_path / "cfg" / "weavegraph" / "trusted.json"
    assert TrustStore(tmp_path / "x.json").path == tmp_path / "x.json"


# ---------------------------------------------------------------- layout


def test_chain_is_one_row() -> None:
    pos = layered_layout(["A", "B"], [("Start", "A"), ("A", "B"), ("B", "End")])
    assert pos == {"Start": (0, 0), "A": (220, 0), "B": (440, 0), "End": (660, 0)}


def test_fan_out_is_spread_vertically_and_join_after() -> None:
    edges = [("Start", "A"), ("Start", "B"), ("Start", "C"), ("A", "J"), ("B", "J"), ("C", "J"), ("J", "End")]
    pos = layered_layout(["A", "B", "C", "J"], edges)
    assert [pos[n] for n in "ABC"] == [(220, -120), (220, 0), (220, 120)]
    assert pos["J"] == (440, 0)
    assert pos["End"] == (660, 0)


def test_longest_path_layering_and_back_edges() -> None:
    edges = [("Start", "A"), ("A", "B"), ("B", "C"), ("Start", "C"), ("C", "A"), ("C", "End")]
    assert layers(["A", "B", "C"], edges) == {"Start": 0, "A": 1, "B": 2, "C": 3, "End": 4}


def test_self_loop_and_disconnected_nodes() -> None:
    pos = layered_layout(["A", "Lonely"], [("Start", "A"), ("A", "A"), ("A", "End")])
    assert pos["A"][0] == 220
    assert pos["Lonely"][0] == 220, "nodes nobody reaches start in the first column after Start"
    assert pos["End"][0] == 440
    assert len({pos[n] for n in pos}) == len(pos), "no two nodes overlap"


def test_barycentre_ordering_reduces_crossings() -> None:
    # X feeds Q and Y feeds P: without reordering P (listed first) would sit opposite X and cross.
    edges = [("Start", "X"), ("Start", "Y"), ("X", "Q"), ("Y", "P"), ("P", "End"), ("Q", "End")]
    pos = layered_layout(["X", "Y", "P", "Q"], edges)
    assert pos["X"][1] < pos["Y"][1]
    assert pos["Q"][1] < pos["P"][1]


def test_custom_gaps_and_determinism() -> None:
    edges = [("Start", "A"), ("Start", "B")]
    first = layered_layout(["A", "B"], edges, x_gap=100, y_gap=50)
    assert first["B"] == (100, 25)
    assert layered_layout(["A", "B"], edges, x_gap=100, y_gap=50) == first


def test_layout_of_a_big_graph() -> None:
    # How fast is measured in bench/studio_bench.py, not here.
    nodes = [f"n{i}" for i in range(500)]
    edges = [("Start", "n0")] + [(f"n{i}", f"n{i + 1}") for i in range(499)] + [("n499", "End")]
    edges += [(f"n{i}", f"n{i + 7}") for i in range(0, 490, 3)] + [("n400", "n10")]
    pos = layered_layout(nodes, edges)
    assert pos["n499"][0] == 500 * 220


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(0, 12).flatmap(
        lambda n: st.tuples(
            st.just([f"n{i}" for i in range(n)]),
            st.lists(
                st.tuples(
                    st.sampled_from(["Start", *[f"n{i}" for i in range(n)]]),
                    st.sampled_from(["End", *[f"n{i}" for i in range(n)]]),
                ),
                max_size=30,
            ),
        )
    )
)
def test_layout_properties(graph: tuple[list[str], list[tuple[str, str]]]) -> None:
    nodes, edges = graph
    pos = layered_layout(nodes, edges)
    assert set(pos) == {"Start", "End", *nodes}
    assert len(set(pos.values())) == len(pos), "no two nodes share a position"
    assert pos["Start"][0] == 0
    assert all(pos["End"][0] > pos[n][0] for n in pos if n != "End"), "End is rightmost"
    assert all(pos[n][0] >= 220 for n in nodes), "custom nodes are right of Start"
    assert layered_layout(nodes, edges) == pos, "deterministic"
