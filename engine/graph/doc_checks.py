"""Checks of graph documents, each problem with its JSONPath: the JSON Schema, ids, edge endpoints, node and
router types and their configs (`document_problems`), and graph-level rules that compile() enforces
(`graph_problems`: entry, cycles, reachability, path to End); `parse_document` / `load_document` build a
checked document."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
from jsonschema import Draft202012Validator

from engine.graph.doc_limits import MAX_DOCUMENT_BYTES, too_large
from engine.graph.doc_model import (
    DocumentError,
    DocumentProblem,
    GraphDocument,
    canonical_json,
    check_limits,
    parse_json_text,
)
from engine.graph.node_types import (
    NodeTypeRegistry,
    default_registry,
    document_order,
    json_path_join,
    schema_message,
)
from engine.types import JSON

START, END = "Start", "End"


@lru_cache(maxsize=1)
def document_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of graph documents (`engine/graph/schema/wgraph.schema.json`)."""
    try:
        text = resources.files("engine.graph").joinpath("schema/wgraph.schema.json").read_text("utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):  # a frozen bundle without resource readers
        text = (Path(__file__).parent / "schema" / "wgraph.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local `{"$ref": "#/$defs/x"}` replaced by its definition (the document schema
    is not recursive); resolving references at every instance dominated validation time."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(defs[ref[len("#/$defs/") :]], defs), **_inline_refs(rest, defs)}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = document_schema()
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


def schema_problems(data: JSON, base: str = "$") -> list[DocumentProblem]:
    """Problems of `data` against the document schema, in document order."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: document_order(data, e.absolute_path))
    return [DocumentProblem(json_path_join(base, e.absolute_path), schema_message(e)) for e in errors]


class _Collector:
    def __init__(self) -> None:
        self.items: list[DocumentProblem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: str, message: str) -> None:
        if (path, message) not in self._seen:
            self._seen.add((path, message))
            self.items.append(DocumentProblem(path, message))

    def extend(self, problems: Iterable[DocumentProblem]) -> None:
        for p in problems:
            self.add(p.path, p.message)


def document_problems(
    data: Mapping[str, JSON], registry: NodeTypeRegistry | None = None
) -> list[DocumentProblem]:
    """Every problem of a document: schema, ids, endpoints, types and configs. Never raises on bad input."""
    registry = registry if registry is not None else default_registry()
    out = _Collector()
    out.extend(schema_problems(data))
    ids = _check_nodes(data.get("nodes"), registry, out)
    _check_wait_for(data.get("nodes"), ids, out)
    _check_edges(data.get("edges"), ids, out)
    _check_conditional_edges(data.get("conditional_edges"), ids, registry, out)
    return out.items


def _check_nodes(nodes: JSON, registry: NodeTypeRegistry, out: _Collector) -> dict[str, int]:
    ids: dict[str, int] = {}
    if not isinstance(nodes, list):
        return ids
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        base = f"$.nodes[{i}]"
        node_id = node.get("id")
        if isinstance(node_id, str) and node_id:
            if node_id in (START, END):
                out.add(
                    f"{base}.id", f"'{node_id}' is reserved for the virtual {node_id} node; choose another id"
                )
            elif node_id in ids:
                out.add(f"{base}.id", f"duplicate node id '{node_id}' (first at $.nodes[{ids[node_id]}])")
            else:
                ids[node_id] = i
        type_name = node.get("type")
        if isinstance(type_name, str) and type_name:
            if not registry.has(type_name, "node"):
                known = ", ".join(registry.names("node"))
                out.add(f"{base}.type", f"unknown node type '{type_name}' (known: {known})")
            else:
                config = node.get("config", {})
                if isinstance(config, dict):
                    for path, message in registry.validate_config(type_name, config, path=f"{base}.config"):
                        out.add(path, message)
    return ids


def _check_wait_for(nodes: JSON, ids: Mapping[str, int], out: _Collector) -> None:
    """Each name a join waits for is another node of the document."""
    if not isinstance(nodes, list):
        return
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("wait_for"), list):
            continue
        for j, name in enumerate(node["wait_for"]):
            path = f"$.nodes[{i}].wait_for[{j}]"
            if not isinstance(name, str) or not name:
                continue  # the schema reported it
            if name == node.get("id"):
                out.add(path, "a join cannot wait for itself")
            elif name in (START, END):
                out.add(path, f"'{name}' is not a node a join can wait for")
            elif name not in ids:
                out.add(path, f"no node '{name}'")


def _endpoint(value: JSON, ids: Mapping[str, int], path: str, role: str, out: _Collector) -> None:
    """Check one edge endpoint; `role` is "source" or "target"."""
    if not isinstance(value, str) or not value:
        return  # the schema reported it
    if value == END and role == "source":
        out.add(path, "an edge cannot leave End (End is terminal)")
    elif value == START and role == "target":
        out.add(path, "an edge cannot enter Start")
    elif value not in (START, END) and value not in ids:
        out.add(path, f'no node \'{value}\' (use a node id, "Start" or "End")')


def _check_edges(edges: JSON, ids: Mapping[str, int], out: _Collector) -> None:
    if not isinstance(edges, list):
        return
    seen: dict[tuple[str, str], int] = {}
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict):
            continue
        src, dst = edge.get("from"), edge.get("to")
        _endpoint(src, ids, f"$.edges[{i}].from", "source", out)
        _endpoint(dst, ids, f"$.edges[{i}].to", "target", out)
        if isinstance(src, str) and isinstance(dst, str):
            if (src, dst) in seen:
                out.add(
                    f"$.edges[{i}]", f"duplicate edge {src} -> {dst} (first at $.edges[{seen[(src, dst)]}])"
                )
            else:
                seen[(src, dst)] = i


def _check_conditional_edges(
    cond_edges: JSON, ids: Mapping[str, int], registry: NodeTypeRegistry, out: _Collector
) -> None:
    if not isinstance(cond_edges, list):
        return
    from engine.graph.builtin_routers import router_config_targets

    for i, cond in enumerate(cond_edges):
        if not isinstance(cond, dict):
            continue
        base = f"$.conditional_edges[{i}]"
        _endpoint(cond.get("from"), ids, f"{base}.from", "source", out)
        targets = cond.get("targets")
        declared: set[str] | None = None
        if isinstance(targets, list):
            declared = {t for t in targets if isinstance(t, str)}
            for j, target in enumerate(targets):
                _endpoint(target, ids, f"{base}.targets[{j}]", "target", out)
        router = cond.get("router")
        if not isinstance(router, dict):
            continue
        type_name = router.get("type")
        if not isinstance(type_name, str) or not type_name:
            continue
        if not registry.has(type_name, "router"):
            known = ", ".join(registry.names("router"))
            out.add(f"{base}.router.type", f"unknown router type '{type_name}' (known: {known})")
            continue
        config = router.get("config", {})
        if not isinstance(config, dict):
            continue
        config_path = f"{base}.router.config"
        problems = registry.validate_config(type_name, config, "router", path=config_path)
        for path, message in problems:
            out.add(path, message)
        if problems:
            continue
        for suffix, target in router_config_targets(config, type_name):
            path = config_path + suffix
            _endpoint(target, ids, path, "target", out)
            if declared is not None and target not in declared and (target in ids or target == END):
                out.add(path, f"'{target}' is not among the declared targets of this conditional edge")


# ---------------------------------------------------------------- graph-level rules


def declared_targets(cond: Mapping[str, JSON], registry: NodeTypeRegistry | None = None) -> list[str] | None:
    """The targets a conditional edge may route to: its `targets`, else what its router config names, else
    None (a python router without declared targets)."""
    targets = cond.get("targets")
    if isinstance(targets, list):
        return [t for t in targets if isinstance(t, str)]
    router = cond.get("router")
    if not isinstance(router, dict):
        return None
    registry = registry if registry is not None else default_registry()
    type_name = router.get("type")
    if not isinstance(type_name, str) or not registry.has(type_name, "router"):
        return None
    spec = registry.get(type_name, "router")
    config = router.get("config", {})
    if spec.targets is None or not isinstance(config, dict):
        return None
    if registry.validate_config(type_name, config, "router"):
        return None  # a config that does not fit cannot say where it routes
    return spec.targets(config)


def graph_problems(doc: GraphDocument, registry: NodeTypeRegistry | None = None) -> list[DocumentProblem]:
    """The rules compile() enforces: something leaves Start, no cycle of unconditional edges, every node
    reachable from Start and with a path to End (over unconditional edges and declared targets; skipped when a
    conditional edge declares none). Malformed parts are ignored here (`document_problems` reports them)."""
    out = _Collector()
    nodes = doc.data.get("nodes")
    index: dict[str, int] = {}  # node id -> first position
    for i, n in enumerate(nodes if isinstance(nodes, list) else []):
        if isinstance(n, dict) and isinstance(n.get("id"), str) and n["id"] not in (START, END):
            index.setdefault(n["id"], i)
    raw_edges = doc.data.get("edges")
    edges = [
        (e["from"], e["to"], i)
        for i, e in enumerate(raw_edges if isinstance(raw_edges, list) else [])
        if isinstance(e, dict) and isinstance(e.get("from"), str) and isinstance(e.get("to"), str)
    ]
    conds = doc.conditional_edges
    if not any(src == START for src, _, _ in edges) and not any(c.get("from") == START for c in conds):
        out.add("$.edges", 'nothing leaves Start: add an edge or a conditional edge from "Start"')
    plain = nx.DiGraph()
    plain.add_nodes_from(index)
    for src, dst, i in edges:
        if src in index and dst in index and not plain.has_edge(src, dst):
            plain.add_edge(src, dst, index=i)
    try:
        cycle = nx.find_cycle(plain)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        names = [str(u) for u, _ in cycle] + [str(cycle[0][0])]
        first = plain.edges[cycle[0][0], cycle[0][1]]["index"]
        out.add(
            f"$.edges[{first}]",
            f"cycle of unconditional edges {' -> '.join(names)} (loop through a conditional edge instead)",
        )
    flow = nx.DiGraph()
    flow.add_nodes_from([START, END, *index])
    flow.add_edges_from((s, d) for s, d, _ in edges)
    for cond in conds:
        targets = declared_targets(cond, registry)
        if targets is None:
            return out.items  # undeclared routing: reachability cannot be judged
        src = cond.get("from")
        if isinstance(src, str):
            flow.add_edges_from((src, t) for t in targets)
    reachable = nx.descendants(flow, START) if START in flow else set()
    ending = nx.ancestors(flow, END) if END in flow else set()
    for node_id, i in index.items():
        if node_id not in reachable:
            out.add(f"$.nodes[{i}]", f"node '{node_id}' is not reachable from Start")
        if node_id not in ending:
            out.add(f"$.nodes[{i}]", f"node '{node_id}' has no path to End")
    _joins_never_satisfied(nodes, index, flow, out)
    return out.items


def _joins_never_satisfied(nodes: JSON, index: Mapping[str, int], flow: nx.DiGraph, out: _Collector) -> None:
    """A join waiting for a node that no path of edges or declared targets leads from to the join."""
    for node_id, i in index.items():
        waits = nodes[i].get("wait_for") if isinstance(nodes, list) else None
        if not isinstance(waits, list):
            continue
        before = nx.ancestors(flow, node_id)
        for j, name in enumerate(waits):
            if isinstance(name, str) and name in index and name != node_id and name not in before:
                out.add(
                    f"$.nodes[{i}].wait_for[{j}]",
                    f"node '{name}' can never run before the join '{node_id}' (no path of edges or declared "
                    "targets leads from it to the join)",
                )


# ---------------------------------------------------------------- parsing


def parse_document(
    text_or_obj: str | bytes | Mapping[str, JSON],
    source: str = "<memory>",
    *,
    registry: NodeTypeRegistry | None = None,
    strict: bool = True,
) -> GraphDocument:
    """A document from JSON text or an already parsed object.

    Every problem (schema, ids, edges, types, configs) is collected; with `strict` (the default) any problem
    raises `DocumentError`. With `strict=False` only what cannot be opened raises (not a JSON object, over a
    size or nesting limit) and the other problems are left on `doc.problems` (the studio opens such
    documents to fix them).
    """
    if isinstance(text_or_obj, str | bytes):
        data = parse_json_text(text_or_obj, source)
    else:
        data = text_or_obj
        check_limits(data, source)
        try:  # an object from Python may hold what JSON cannot (NaN, sets, objects)
            canonical_json(data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise DocumentError([DocumentProblem("$", f"not a JSON value: {exc}")], source) from exc
    if not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else type(data).__name__
        raise DocumentError([DocumentProblem("$", f"a graph document is a JSON object, not {kind}")], source)
    doc = GraphDocument(data, source)
    doc.problems = document_problems(doc.data, registry)
    if strict and doc.problems:
        raise DocumentError(doc.problems, source)
    return doc


def load_document(
    path: str | os.PathLike[str], *, registry: NodeTypeRegistry | None = None, strict: bool = True
) -> GraphDocument:
    """Read and parse a `*.wgraph.json` file (see `parse_document`); an unreadable file is a DocumentError."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)  # never more: a huge file is refused, not loaded
            if len(raw) > MAX_DOCUMENT_BYTES:
                size = max(os.fstat(fh.fileno()).st_size, len(raw))
                raise DocumentError([DocumentProblem("$", too_large(size))], str(p))
    except OSError as exc:
        raise DocumentError(
            [DocumentProblem("$", f"cannot read {p}: {exc.strerror or exc}")], str(p)
        ) from exc
    return parse_document(raw, str(p), registry=registry, strict=strict)
