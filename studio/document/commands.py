"""One small QUndoCommand per edit of a graph document. Each records exactly what it changed (with list
indices) so that undo restores the document dict exactly, and redo replays it."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from studio.document.model import VIRTUAL_NODES, GraphDocumentModel, JSONDict

__all__ = [
    "AddConditionalEdgeCommand",
    "AddNodeCommand",
    "ChangeConditionalEdgeCommand",
    "ChangeNodeCommand",
    "ConnectCommand",
    "DisconnectCommand",
    "MoveNodesCommand",
    "PasteCommand",
    "RemoveItemsCommand",
    "SetDocumentFieldCommand",
    "macro",
]

Position = tuple[float, float]


@contextmanager
def macro(stack: QUndoStack, text: str) -> Iterator[None]:
    """Group the commands pushed inside into one undo step; the macro is always closed."""
    stack.beginMacro(text)
    try:
        yield
    finally:
        stack.endMacro()


class AddNodeCommand(QUndoCommand):
    """Add one node (appended, or at `index`)."""

    def __init__(self, model: GraphDocumentModel, node: JSONDict, index: int | None = None) -> None:
        super().__init__(f"Add node {node['id']}")
        self._model = model
        self._node = copy.deepcopy(node)
        self._index = index

    def redo(self) -> None:
        index = len(self._model.data["nodes"]) if self._index is None else self._index
        self._index = index
        self._model._insert_node(index, self._node)

    def undo(self) -> None:
        self._model._pop_node(str(self._node["id"]))


class RemoveItemsCommand(QUndoCommand):
    """Remove nodes, edges and conditional edges; edges and conditional edges of removed nodes go too."""

    def __init__(
        self,
        model: GraphDocumentModel,
        node_ids: Iterable[str] = (),
        edges: Iterable[tuple[str, str]] = (),
        conditional_uids: Iterable[int] = (),
    ) -> None:
        self._model = model
        self._node_ids = [n for n in dict.fromkeys(node_ids) if n not in VIRTUAL_NODES]
        doomed = set(self._node_ids)
        edge_set = set(edges)
        self._edge_indices = [
            i
            for i, (src, dst) in enumerate(model.edges())
            if (src, dst) in edge_set or src in doomed or dst in doomed
        ]
        cond = set(conditional_uids)
        self._cond_uids = [
            uid for uid, c in model.conditional_edges() if uid in cond or c.get("from") in doomed
        ]
        self._removed_nodes: list[tuple[int, JSONDict]] = []
        self._removed_edges: list[tuple[int, JSONDict]] = []
        self._removed_conds: list[tuple[int, int, JSONDict]] = []
        count = len(self._node_ids) + len(self._edge_indices) + len(self._cond_uids)
        super().__init__(f"Delete {count} item{'s' if count != 1 else ''}")

    def redo(self) -> None:
        m = self._model
        self._removed_conds = []
        for uid in self._cond_uids:
            index, cond = m._pop_conditional(uid)
            self._removed_conds.append((index, uid, cond))
        self._removed_edges = [(i, m._pop_edge(i)) for i in sorted(self._edge_indices, reverse=True)]
        self._removed_nodes = [m._pop_node(node_id) for node_id in self._node_ids]

    def undo(self) -> None:
        m = self._model
        for index, node in reversed(self._removed_nodes):
            m._insert_node(index, node)
        for index, edge in reversed(self._removed_edges):
            m._insert_edge(index, edge)
        for index, uid, cond in reversed(self._removed_conds):
            m._insert_conditional(index, uid, cond)


class MoveNodesCommand(QUndoCommand):
    """Move nodes: {id: (old position or None, new position)}."""

    def __init__(
        self, model: GraphDocumentModel, moves: Mapping[str, tuple[Position | None, Position]], text: str = ""
    ) -> None:
        super().__init__(text or f"Move {len(moves)} node{'s' if len(moves) != 1 else ''}")
        self._model = model
        self._moves = dict(moves)

    def redo(self) -> None:
        for node_id, (_old, new) in self._moves.items():
            self._model._set_position(node_id, new)

    def undo(self) -> None:
        for node_id, (old, _new) in self._moves.items():
            self._model._set_position(node_id, old)


class ConnectCommand(QUndoCommand):
    """Add the edge src -> dst (appended)."""

    def __init__(self, model: GraphDocumentModel, src: str, dst: str) -> None:
        super().__init__(f"Connect {src} -> {dst}")
        self._model = model
        self._edge = {"from": src, "to": dst}
        self._index = -1

    def redo(self) -> None:
        self._index = len(self._model.data["edges"])
        self._model._insert_edge(self._index, self._edge)

    def undo(self) -> None:
        self._model._pop_edge(self._index)


class DisconnectCommand(QUndoCommand):
    """Remove the edge src -> dst."""

    def __init__(self, model: GraphDocumentModel, src: str, dst: str) -> None:
        super().__init__(f"Disconnect {src} -> {dst}")
        self._model = model
        self._src, self._dst = src, dst
        self._removed: tuple[int, JSONDict] | None = None

    def redo(self) -> None:
        index = self._model._edge_index(self._src, self._dst)
        self._removed = (index, self._model._pop_edge(index))

    def undo(self) -> None:
        assert self._removed is not None
        self._model._insert_edge(*self._removed)


def _rename_in_router_config(value: Any, old: str, new: str) -> Any:
    """Replace the node name `old` by `new` in a router's target lists (then/else/cases/default)."""
    if isinstance(value, list):
        return [new if item == old else _rename_in_router_config(item, old, new) for item in value]
    if isinstance(value, dict):
        return {k: _rename_in_router_config(v, old, new) for k, v in value.items()}
    return value


class ChangeNodeCommand(QUndoCommand):
    """Change one node's id, type and/or config. A rename also renames it in edges, conditional-edge
    sources, declared targets and router target lists."""

    def __init__(
        self,
        model: GraphDocumentModel,
        node_id: str,
        *,
        new_id: str | None = None,
        new_type: str | None = None,
        new_config: JSONDict | None = None,
        text: str = "",
    ) -> None:
        self._model = model
        self._old = copy.deepcopy(model.node(node_id))
        self._new = copy.deepcopy(self._old)
        if new_id is not None:
            self._new["id"] = new_id
        if new_type is not None:
            self._new["type"] = new_type
        if new_config is not None:
            self._new["config"] = copy.deepcopy(new_config)
        what = "Rename" if new_id not in (None, node_id) else "Edit"
        super().__init__(text or f"{what} node {node_id}")
        self._edge_renames: list[tuple[int, JSONDict, JSONDict]] = []
        self._cond_renames: list[tuple[int, JSONDict, JSONDict]] = []
        old_id, fresh_id = str(self._old["id"]), str(self._new["id"])
        if old_id != fresh_id:
            for i, edge in enumerate(model.data["edges"]):
                if old_id in (edge.get("from"), edge.get("to")):
                    renamed = dict(edge)
                    for key in ("from", "to"):
                        if renamed.get(key) == old_id:
                            renamed[key] = fresh_id
                    self._edge_renames.append((i, copy.deepcopy(edge), renamed))
            for uid, cond in model.conditional_edges():
                renamed_cond = _rename_in_router_config(cond, old_id, fresh_id)
                if cond.get("from") == old_id:
                    renamed_cond["from"] = fresh_id
                if renamed_cond != cond:
                    self._cond_renames.append((uid, copy.deepcopy(cond), renamed_cond))

    def _apply(self, before: JSONDict, after: JSONDict, forward: bool) -> None:
        # Edges leave under the old name, the node is renamed, then edges come back under the new one: the
        # scene always finds both ends of every edge it is told about.
        m = self._model
        for i, _old_edge, _new_edge in reversed(self._edge_renames):
            m._pop_edge(i)
        m._replace_node(str(before["id"]), after)
        for i, old_edge, new_edge in self._edge_renames:
            m._insert_edge(i, new_edge if forward else old_edge)
        for uid, old_cond, new_cond in self._cond_renames:
            m._replace_conditional(uid, new_cond if forward else old_cond)

    def redo(self) -> None:
        self._apply(self._old, self._new, True)

    def undo(self) -> None:
        self._apply(self._new, self._old, False)


class AddConditionalEdgeCommand(QUndoCommand):
    """Add a conditional edge {"from", "router": {"type", "config"}, "targets"}."""

    def __init__(self, model: GraphDocumentModel, cond: JSONDict) -> None:
        super().__init__(f"Add conditional edge from {cond.get('from')}")
        self._model = model
        self._cond = copy.deepcopy(cond)
        self.uid = model.new_conditional_uid()

    def redo(self) -> None:
        self._model._insert_conditional(len(self._model.data["conditional_edges"]), self.uid, self._cond)

    def undo(self) -> None:
        self._model._pop_conditional(self.uid)


class ChangeConditionalEdgeCommand(QUndoCommand):
    """Replace a conditional edge's source, router or targets."""

    def __init__(self, model: GraphDocumentModel, uid: int, cond: JSONDict) -> None:
        super().__init__("Edit conditional edge")
        self._model = model
        self._uid = uid
        self._old = copy.deepcopy(model.conditional_edge(uid))
        self._new = copy.deepcopy(cond)

    def redo(self) -> None:
        self._model._replace_conditional(self._uid, self._new)

    def undo(self) -> None:
        self._model._replace_conditional(self._uid, self._old)


class PasteCommand(QUndoCommand):
    """Insert a fragment {"nodes", "edges", "conditional_edges"}: ids that clash get a fresh name, positions
    are shifted by `offset`, edges and conditional edges follow the renames."""

    def __init__(
        self, model: GraphDocumentModel, fragment: JSONDict, offset: Position = (40.0, 40.0)
    ) -> None:
        self._model = model
        nodes = [copy.deepcopy(n) for n in fragment.get("nodes", []) if isinstance(n, dict) and "id" in n]
        renames: dict[str, str] = {}
        taken = set(model.node_ids())
        for node in nodes:
            old = str(node["id"])
            new = old
            if new in taken or new in VIRTUAL_NODES:
                base, i = old, 1
                while f"{base}_{i}" in taken:
                    i += 1
                new = f"{base}_{i}"
            taken.add(new)
            renames[old] = new
            node["id"] = new
            pos = node.get("position")
            if isinstance(pos, list) and len(pos) >= 2:
                node["position"] = [float(pos[0]) + offset[0], float(pos[1]) + offset[1]]
        self._nodes = nodes
        existing = set(model.edges())
        self._edges: list[JSONDict] = []
        for edge in fragment.get("edges", []):
            src, dst = edge.get("from"), edge.get("to")
            src, dst = renames.get(src, src), renames.get(dst, dst)
            ok = all(x in renames.values() or x in VIRTUAL_NODES for x in (src, dst))
            if ok and (src, dst) not in existing:
                existing.add((src, dst))
                self._edges.append({**edge, "from": src, "to": dst})
        self._conds: list[tuple[int, JSONDict]] = []
        for cond in fragment.get("conditional_edges", []):
            if cond.get("from") not in renames:
                continue
            fixed = copy.deepcopy(cond)
            for old, new in renames.items():
                fixed = _rename_in_router_config(fixed, old, new)
            fixed["from"] = renames[cond["from"]]
            self._conds.append((model.new_conditional_uid(), fixed))
        self.pasted_ids = [str(n["id"]) for n in nodes]
        super().__init__(f"Paste {len(nodes)} node{'s' if len(nodes) != 1 else ''}")

    def redo(self) -> None:
        m = self._model
        for node in self._nodes:
            m._insert_node(len(m.data["nodes"]), node)
        for edge in self._edges:
            m._insert_edge(len(m.data["edges"]), edge)
        for uid, cond in self._conds:
            m._insert_conditional(len(m.data["conditional_edges"]), uid, cond)

    def undo(self) -> None:
        m = self._model
        for uid, _cond in reversed(self._conds):
            m._pop_conditional(uid)
        for _edge in self._edges:
            m._pop_edge(len(m.data["edges"]) - 1)
        for node in reversed(self._nodes):
            m._pop_node(str(node["id"]))


class SetDocumentFieldCommand(QUndoCommand):
    """Set a top-level field ("name", "description", "runtime", "input"); None removes it."""

    def __init__(self, model: GraphDocumentModel, key: str, value: Any) -> None:
        super().__init__(f"Set {key}")
        self._model = model
        self._key = key
        self._had = key in model.data
        self._old = copy.deepcopy(model.data.get(key))
        self._new = copy.deepcopy(value)

    def redo(self) -> None:
        self._model._set_field(self._key, self._new)

    def undo(self) -> None:
        self._model._set_field(self._key, self._old if self._had else None)


def fragment_of(model: GraphDocumentModel, node_ids: Sequence[str]) -> JSONDict:
    """The nodes, the edges between them and their conditional edges, as a pasteable JSON fragment."""
    chosen = [n for n in node_ids if n not in VIRTUAL_NODES and model.has_node(n)]
    keep = set(chosen)
    return {
        "format": "weavegraph.fragment",
        "nodes": [copy.deepcopy(model.node(n)) for n in chosen],
        "edges": [{"from": s, "to": d} for s, d in model.edges() if s in keep and d in keep],
        "conditional_edges": [
            copy.deepcopy(c) for _uid, c in model.conditional_edges() if c.get("from") in keep
        ],
    }
