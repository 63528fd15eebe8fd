"""Validation while editing: the engine's document and graph checks (no Python code imported), mapped from
JSON paths to the node, edge or conditional edge they concern."""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.document.model import GraphDocumentModel

__all__ = ["Problem", "ValidationInput", "snapshot", "validate_model", "validate_snapshot"]

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
    """A copy of what validation needs, taken in the GUI thread (validation itself may run in a worker)."""

    data: dict[str, object]
    source: str
    node_ids: list[str]
    edges: list[tuple[str, str]]
    conditional_uids: list[int]


def snapshot(model: GraphDocumentModel) -> ValidationInput:
    return ValidationInput(
        model.to_dict(),
        model.path or "<editor>",
        model.node_ids(),
        model.edges(),
        [uid for uid, _c in model.conditional_edges()],
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
