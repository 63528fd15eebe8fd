"""Validation while editing: the engine's document and graph checks (no Python code imported), mapped from
JSON paths to the node, edge or conditional edge they concern."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from studio.document.model import GraphDocumentModel

__all__ = [
    "Problem",
    "ValidationInput",
    "empty_required_fields",
    "snapshot",
    "unimportable_callables",
    "validate_model",
    "validate_snapshot",
]

_NODE = re.compile(r"^\$\.nodes\[(\d+)\]")
_EDGE = re.compile(r"^\$\.edges\[(\d+)\]")
_COND = re.compile(r"^\$\.conditional_edges\[(\d+)\]")
_NAMED = re.compile(r"node '([^']+)'")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: its JSON path, the message, and what on the canvas it belongs to (when known)."""

    path: str
    message: str
    node_id: str | None = None
    edge: tuple[str, str] | None = None
    conditional_uid: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationInput:
    """A copy of what validation needs, taken in the GUI thread (validation itself may run in a worker).
    `trusted`: the document's Python callables may be imported (to check that they can be)."""

    data: dict[str, object]
    source: str
    node_ids: list[str]
    edges: list[tuple[str, str]]
    conditional_uids: list[int]
    trusted: bool = False


def snapshot(model: GraphDocumentModel) -> ValidationInput:
    return ValidationInput(
        model.to_dict(),
        model.path or "<editor>",
        model.node_ids(),
        model.edges(),
        [uid for uid, _c in model.conditional_edges()],
        trusted=not model.read_only,
    )


def validate_model(model: GraphDocumentModel, registry: object | None = None) -> list[Problem]:
    """Every problem that would stop the document from running, each attached to its canvas item."""
    return validate_snapshot(snapshot(model), registry)


def validate_snapshot(snap: ValidationInput, registry: object | None = None) -> list[Problem]:
    """`validate_model` on a snapshot; pure, safe to call from a worker thread."""
    from engine.graph.document import GraphDocument, validate_document

    doc = GraphDocument(snap.data, snap.source)
    try:
        found = validate_document(doc, registry)  # type: ignore[arg-type]
        found += empty_required_fields(doc, registry)
        if not found and snap.trusted:
            found += unimportable_callables(doc, registry)
    except Exception as exc:  # a checker bug must not break editing; show it as a problem instead
        return [Problem("$", f"validation failed: {exc}")]
    nodes, edges, conds = snap.node_ids, snap.edges, snap.conditional_uids
    out: list[Problem] = []
    for p in found:
        node_id = edge = uid = None
        if m := _NODE.match(p.path):
            i = int(m.group(1))
            node_id = nodes[i] if i < len(nodes) else None
        elif m := _EDGE.match(p.path):
            i = int(m.group(1))
            edge = edges[i] if i < len(edges) else None
        elif m := _COND.match(p.path):
            i = int(m.group(1))
            uid = conds[i] if i < len(conds) else None
        if node_id is None and (named := _NAMED.search(p.message)) and named.group(1) in nodes:
            node_id = named.group(1)
        out.append(Problem(p.path, p.message, node_id, edge, uid))
    return out


def empty_required_fields(doc: Any, registry: Any = None) -> list[Any]:
    """Required text settings left empty ("" or blanks): the schema accepts them, the node cannot do its
    job (an emit node with no message)."""
    from engine.graph.document import DocumentProblem
    from engine.graph.node_types import default_registry

    registry = registry if registry is not None else default_registry()
    out = []
    for i, node in enumerate(doc.nodes):
        type_name, config = node.get("type"), node.get("config")
        if not isinstance(type_name, str) or not registry.has(type_name) or not isinstance(config, dict):
            continue
        schema = registry.get(type_name).config_schema
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            sub = props.get(key) if isinstance(props, dict) else None
            value = config.get(key)
            if (
                isinstance(sub, dict)
                and sub.get("type") == "string"
                and isinstance(value, str)
                and not value.strip()
            ):
                title = sub.get("title") or key
                out.append(DocumentProblem(f"$.nodes[{i}].config.{key}", f"{title} is required and empty"))
    return out


def unimportable_callables(doc: Any, registry: Any = None) -> list[Any]:
    """Python callables of a trusted document that cannot be imported (found before a run, not during it).
    The document's folder is importable while checking, as it is when the document runs."""
    from engine.graph.builtin_types import resolve_callable
    from engine.graph.document import DocumentProblem
    from engine.graph.trust import document_callables
    from studio.document.io import document_folder_importable

    out = []
    with document_folder_importable(doc.source):
        for path, ref in document_callables(doc, registry):
            try:
                resolve_callable(ref)
            except Exception as exc:  # the user's module may raise anything while importing
                out.append(DocumentProblem(path, f"cannot import {ref}: {exc}"))
    return out
