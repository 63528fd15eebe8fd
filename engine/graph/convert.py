"""Graph documents to graphs and back: `document_to_builder` / `document_to_app` (nodes from the type
registry, trust enforced), `document_input_state`, `validate_document`, and `app_to_document` for code-first
graphs (layout computed)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import GraphCompileError
from engine.graph.builder import GraphBuilder
from engine.graph.doc_checks import declared_targets, document_problems, graph_problems
from engine.graph.doc_model import (
    FORMAT,
    VERSION,
    DocumentError,
    DocumentProblem,
    GraphDocument,
    UntrustedDocument,
)
from engine.graph.layout import layered_layout
from engine.graph.node_types import NodeTypeRegistry, default_registry
from engine.graph.trust import document_callables
from engine.policies import policy_from_document, policy_to_document
from engine.runtime_config import RuntimeConfig
from engine.state import VersionedState, json_copy
from engine.types import JSON, Message, NodeKind, Role

if TYPE_CHECKING:
    from engine.app import App


def _stub(kind: str, name: str) -> Any:
    """Stands in for an untrusted python node or router when only the graph's shape is checked."""
    if kind == "router":

        def predicate(snapshot: Any) -> list[str]:
            raise RuntimeError(f"router '{name}' is a validation stub")

        return predicate

    async def node(snapshot: Any, ctx: Any) -> None:
        raise RuntimeError(f"node '{name}' is a validation stub")

    return node


_ORIGIN = "__weavegraph_document_type__"


def _tag(fn: Any, type_name: str, config: Any) -> None:
    """Remember which document type built `fn`, so `app_to_document` can describe it again."""
    with contextlib.suppress(AttributeError, TypeError):
        setattr(fn, _ORIGIN, (type_name, json_copy(config)))


def _build(doc: GraphDocument, registry: NodeTypeRegistry, *, stub_code: bool) -> GraphBuilder:
    builder = GraphBuilder()
    problems: list[DocumentProblem] = []
    for i, node in enumerate(doc.data.get("nodes") or []):
        spec = registry.get(node["type"], "node")
        policies = policy_from_document(node)
        if stub_code and spec.imports_code:
            builder.add_node(node["id"], _stub("node", node["id"]), **policies)
            continue
        try:
            fn = spec.factory(node.get("config", {}))
        except Exception as exc:  # a factory's failure (bad import, plugin error) belongs to this node
            problems.append(
                DocumentProblem(f"$.nodes[{i}].config", f"cannot build node '{node['id']}': {exc}")
            )
            continue
        if not spec.imports_code:
            _tag(fn, node["type"], node.get("config", {}))
        builder.add_node(node["id"], fn, **policies)
    for edge in doc.data.get("edges") or []:
        builder.add_edge(edge["from"], edge["to"])
    for i, cond in enumerate(doc.data.get("conditional_edges") or []):
        router = cond["router"]
        spec = registry.get(router["type"], "router")
        targets = declared_targets(cond, registry)
        if stub_code and spec.imports_code:
            builder.add_conditional_edge(cond["from"], _stub("router", cond["from"]), targets=targets)
            continue
        try:
            predicate = spec.factory(router.get("config", {}))
        except Exception as exc:
            problems.append(
                DocumentProblem(f"$.conditional_edges[{i}].router.config", f"cannot build router: {exc}")
            )
            continue
        if not spec.imports_code:
            _tag(predicate, router["type"], router.get("config", {}))
        builder.add_conditional_edge(cond["from"], predicate, targets=targets)
    runtime = _runtime_config(doc)
    if runtime is not None:
        builder.with_runtime_config(runtime)
    if problems:
        raise DocumentError(problems, doc.source)
    return builder


def _runtime_config(doc: GraphDocument) -> RuntimeConfig | None:
    """`runtime.max_steps`, `runtime.concurrency_limit` and the document's name (kept as the sessions' graph
    name, which the inbox and `weavegraph records` show) as the RuntimeConfig (None when none is set)."""
    runtime = doc.runtime
    fields: dict[str, Any] = {
        k: runtime[k] for k in ("max_steps", "concurrency_limit") if isinstance(runtime.get(k), int)
    }
    if doc.name:
        fields["graph_name"] = doc.name
    return RuntimeConfig(**fields) if fields else None


def _checked(doc: GraphDocument, registry: NodeTypeRegistry) -> None:
    problems = document_problems(doc.data, registry)
    if problems:
        raise DocumentError(problems, doc.source)


def document_to_builder(
    doc: GraphDocument, *, trusted: bool = False, registry: NodeTypeRegistry | None = None
) -> GraphBuilder:
    """A `GraphBuilder` with the document's nodes (built by the registry), edges, conditional edges (with
    declared targets) and runtime settings. Raises `DocumentError` for an invalid document and
    `UntrustedDocument` (before importing anything) when it names Python callables and `trusted` is False."""
    registry = registry if registry is not None else default_registry()
    _checked(doc, registry)
    callables = document_callables(doc, registry)
    if callables and not trusted:
        raise UntrustedDocument(callables, doc.source)
    return _build(doc, registry, stub_code=False)


def _compile_problems(
    doc: GraphDocument, exc: GraphCompileError, registry: NodeTypeRegistry
) -> list[DocumentProblem]:
    problems = graph_problems(doc, registry)
    return problems or [DocumentProblem("$", str(exc))]


def document_to_app(
    doc: GraphDocument, *, trusted: bool = False, registry: NodeTypeRegistry | None = None
) -> App:
    """The compiled `App` of a document (see `document_to_builder`); compile errors become a `DocumentError`
    whose problems point at the offending nodes or edges (the `GraphCompileError` is the `__cause__`)."""
    registry = registry if registry is not None else default_registry()
    builder = document_to_builder(doc, trusted=trusted, registry=registry)
    try:
        return builder.compile()
    except GraphCompileError as exc:
        raise DocumentError(_compile_problems(doc, exc, registry), doc.source) from exc


def validate_document(doc: GraphDocument, registry: NodeTypeRegistry | None = None) -> list[DocumentProblem]:
    """Every problem that would stop the document from running, without importing any Python code: the
    document checks and the graph rules; when there are none, compile() with stand-ins for python nodes and
    routers confirms it."""
    registry = registry if registry is not None else default_registry()
    problems = document_problems(doc.data, registry)
    seen = {(p.path, p.message) for p in problems}
    problems += [p for p in graph_problems(doc, registry) if (p.path, p.message) not in seen]
    if problems:
        return problems
    try:
        builder = _build(doc, registry, stub_code=True)
        builder.compile()
    except DocumentError as exc:
        return exc.problems
    except GraphCompileError as exc:
        return [DocumentProblem("$", str(exc))]
    return []


def document_input_state(doc: GraphDocument | Mapping[str, JSON]) -> VersionedState:
    """The initial state from the document's `input` (`messages` and `extra`; both optional). Also accepts
    the `input` object itself (as `--input` gives it)."""
    value = doc.input if isinstance(doc, GraphDocument) else doc
    messages = []
    for item in value.get("messages") or []:
        if isinstance(item, Mapping):
            messages.append(Message(Role.parse(str(item.get("role", "user"))), str(item.get("content", ""))))
    extra = value.get("extra")
    return VersionedState(messages, json_copy(extra) if isinstance(extra, dict) else {})


# ---------------------------------------------------------------- code-first graphs


def callable_ref(obj: Any) -> str | None:
    """The "package.module:qualname" of an importable function or object (None for lambdas, closures)."""
    target = obj
    if not hasattr(target, "__qualname__") and hasattr(type(target), "__qualname__"):
        target = type(target)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def _name(kind: Any) -> str:
    return kind.name if isinstance(kind, NodeKind) else str(kind)


def app_to_document(app: App, name: str | None = None) -> GraphDocument:
    """A document describing a code-first `App`: python nodes (callable references where importable),
    edges, conditional edges with python routers and their declared targets, runtime settings and a layered
    layout. Only for display: functions defined inside other functions cannot be referenced."""
    nodes = app.nodes()
    node_ids = [_name(k) for k in nodes]
    edge_pairs = [(_name(s), _name(d)) for s, d in _app_edges(app)]
    cond_edges = _app_conditional_edges(app)
    flow = list(edge_pairs)
    for src, _pred, targets in cond_edges:
        flow.extend((src, t) for t in targets or [])
    positions = layered_layout(node_ids, flow)
    data: dict[str, JSON] = {"format": FORMAT, "version": VERSION}
    if name is not None:
        data["name"] = name
    doc_nodes: list[JSON] = []
    policies = app.node_policies()
    for kind, node_id in zip(nodes, node_ids, strict=True):
        type_name, config = _describe(nodes[kind])
        x, y = positions[node_id]
        doc_node = {"id": node_id, "type": type_name, "config": config, "position": [x, y]}
        doc_nodes.append({**doc_node, **policy_to_document(policies.get(kind))})
    data["nodes"] = doc_nodes
    data["edges"] = [{"from": s, "to": d} for s, d in edge_pairs]
    if cond_edges:
        conds: list[JSON] = []
        for src, pred, targets in cond_edges:
            type_name, config = _describe(pred)
            cond: dict[str, JSON] = {"from": src, "router": {"type": type_name, "config": config}}
            if targets is not None:
                cond["targets"] = list(targets)
            conds.append(cond)
        data["conditional_edges"] = conds
    runtime = _app_runtime(app)
    if runtime:
        data["runtime"] = runtime
    doc = GraphDocument(data, f"<app {name}>" if name else "<app>")
    doc.problems = document_problems(doc.data)
    return doc


def _describe(fn: Any) -> tuple[str, dict[str, JSON]]:
    """(type, config) of a node or predicate: its document type when a document built it, else a python
    reference ("module:qualname"; not importable for closures and lambdas, which the problems then say)."""
    origin = getattr(fn, _ORIGIN, None)
    if isinstance(origin, tuple) and len(origin) == 2:
        return str(origin[0]), json_copy(origin[1])
    return "python", {"callable": callable_ref(fn) or _raw_ref(fn)}


def _raw_ref(fn: Any) -> str:
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"


def _app_edges(app: App) -> list[tuple[Any, Any]]:
    edges = app.edges()
    if isinstance(edges, Mapping):
        return [(s, d) for s, targets in edges.items() for d in targets]
    return [tuple(e) for e in edges]


def _app_conditional_edges(app: App) -> list[tuple[str, Any, list[str] | None]]:
    out: list[tuple[str, Any, list[str] | None]] = []
    for cond in app.conditional_edges():
        src = getattr(cond, "source", None) or getattr(cond, "from_node", None)
        pred = getattr(cond, "predicate", None)
        targets = getattr(cond, "targets", None)
        out.append((_name(src), pred, [_name(t) for t in targets] if targets is not None else None))
    return out


def _app_runtime(app: App) -> dict[str, JSON]:
    config = app.runtime_config
    out: dict[str, JSON] = {}
    for key in ("max_steps", "concurrency_limit"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            out[key] = value
    return out
