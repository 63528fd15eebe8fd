"""The editor's document model: a QObject over the engine's `GraphDocument` (unknown fields kept), with
past-tense signals, typed records (`Node`, `Edge`) and stable uids for edges and conditional edges.

Only undo commands (studio.document.commands) call the edit methods (`insert_node`, `remove_edge`, ...);
everything else reads, or edits through `DocumentEditor`, which pushes commands.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine.graph.document import GraphDocument

__all__ = ["VIRTUAL_NODES", "Edge", "GraphDocumentModel", "Node", "Removed", "empty_document"]

VIRTUAL_NODES = ("Start", "End")
_STUDIO_KEY = "studio"  # unknown-to-the-engine field holding UI-only state (virtual node positions)

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the document: id, type, config and position (None: not placed yet)."""

    id: str
    type: str
    config: JSONDict
    position: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, data: JSONDict) -> Node:
        pos = data.get("position")
        where = (float(pos[0]), float(pos[1])) if isinstance(pos, list | tuple) and len(pos) >= 2 else None
        config = data.get("config")
        return cls(str(data.get("id")), str(data.get("type")), copy.deepcopy(config or {}), where)


@dataclass(frozen=True, slots=True)
class Edge:
    """A plain edge with its stable uid (list positions move; the uid does not)."""

    uid: int
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Removed:
    """What a removal took out and where from, so that undo puts it back exactly (`key`: node id or uid)."""

    index: int
    key: str | int
    data: JSONDict


def empty_document(name: str = "untitled") -> JSONDict:
    """A new, valid-shaped document: Start -> End with no nodes yet."""
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "name": name,
        "nodes": [],
        "edges": [],
        "conditional_edges": [],
        "input": {"messages": [{"role": "user", "content": "hi"}], "extra": {}},
    }


class GraphDocumentModel(QObject):
    """Holds one graph document (its JSON dict, unknown fields kept) plus the QUndoStack that edits it.

    Conditional edges are addressed by a stable integer uid (their list index moves when others are
    removed). Positions of the virtual Start/End nodes are kept under the document's "studio" key.
    """

    node_added = Signal(str)
    node_removed = Signal(str)
    node_moved = Signal(str)
    node_changed = Signal(str, str)  # old id, new id (equal unless renamed); type/config may have changed
    edge_added = Signal(str, str)
    edge_removed = Signal(str, str)
    conditional_edge_added = Signal(int)
    conditional_edge_removed = Signal(int)
    conditional_edge_changed = Signal(int)
    document_reset = Signal()
    dirty_changed = Signal(bool)
    path_changed = Signal(str)
    read_only_changed = Signal(bool)
    edited = Signal()  # any change to the content (for validation debouncing)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_undo_stack_clean_changed)
        self._data: JSONDict = empty_document()
        self.document = GraphDocument(self._data)
        """The engine's graph document this model edits (its `.data` is the live dict)."""
        self._node_index: dict[str, int] | None = None
        self._uids = itertools.count(1)
        self._edge_uids: list[int] = []
        self._cond_uids: list[int] = []
        self._path = ""
        self._read_only = False
        self._read_only_reason = ""
        self.reset(empty_document())

    # ------------------------------------------------------------------ whole document

    def reset(self, data: JSONDict, *, path: str = "", read_only: bool = False, reason: str = "") -> None:
        """Replace the document (clears undo history, marks clean)."""
        data = copy.deepcopy(data)
        for key in ("nodes", "edges", "conditional_edges"):
            if not isinstance(data.get(key), list):
                data[key] = []
        self.document = GraphDocument(data, path or "<editor>")
        self._data = data
        self._node_index = None
        self._edge_uids = [next(self._uids) for _ in data["edges"]]
        self._cond_uids = [next(self._uids) for _ in data["conditional_edges"]]
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._path = path
        self._read_only = read_only
        self._read_only_reason = reason
        self.document_reset.emit()
        self.path_changed.emit(path)
        self.read_only_changed.emit(read_only)
        self.dirty_changed.emit(False)
        self.edited.emit()

    def to_dict(self) -> JSONDict:
        """A deep copy of the document as JSON data (what gets saved)."""
        return copy.deepcopy(self._data)

    @property
    def data(self) -> JSONDict:
        """The live document dict (read it, never mutate it: edits go through commands)."""
        return self._data

    @property
    def path(self) -> str:
        return self._path

    def set_path(self, path: str) -> None:
        self._path = path
        self.document.source = path or "<editor>"
        self.path_changed.emit(path)

    @property
    def name(self) -> str:
        name = self._data.get("name")
        return name if isinstance(name, str) and name else "untitled"

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def read_only_reason(self) -> str:
        return self._read_only_reason

    def set_read_only(self, read_only: bool, reason: str = "") -> None:
        self._read_only = read_only
        self._read_only_reason = reason
        self.read_only_changed.emit(read_only)

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str) -> None:
        self.undo_stack.setClean()
        if path != self._path:
            self.set_path(path)

    # ------------------------------------------------------------------ reading

    def node_ids(self) -> list[str]:
        return [str(n.get("id")) for n in self._data["nodes"]]

    def nodes(self) -> list[JSONDict]:
        return list(self._data["nodes"])

    def has_node(self, node_id: str) -> bool:
        return node_id in VIRTUAL_NODES or self._index_of_node(node_id) is not None

    def node(self, node_id: str) -> JSONDict:
        index = self._index_of_node(node_id)
        if index is None:
            raise KeyError(f"no node '{node_id}' in the document")
        node: JSONDict = self._data["nodes"][index]
        return node

    def node_index(self, node_id: str) -> int:
        index = self._index_of_node(node_id)
        if index is None:
            raise KeyError(f"no node '{node_id}' in the document")
        return index

    def edges(self) -> list[tuple[str, str]]:
        return [(str(e.get("from")), str(e.get("to"))) for e in self._data["edges"]]

    def edge_records(self) -> list[Edge]:
        """Every edge as a typed record with its stable uid."""
        return [
            Edge(uid, str(e.get("from")), str(e.get("to")))
            for uid, e in zip(self._edge_uids, self._data["edges"], strict=True)
        ]

    def edge_uid(self, src: str, dst: str) -> int:
        """The uid of the edge src -> dst (KeyError when there is none)."""
        for edge in self.edge_records():
            if (edge.source, edge.target) == (src, dst):
                return edge.uid
        raise KeyError(f"no edge {src} -> {dst} in the document")

    def edge_data(self, uid: int) -> JSONDict:
        edge: JSONDict = self._data["edges"][self._edge_uids.index(uid)]
        return edge

    def node_record(self, node_id: str) -> Node:
        """A node as a typed record (a copy: edit through the undo commands)."""
        return Node.from_json(self.node(node_id))

    def has_edge(self, src: str, dst: str) -> bool:
        return (src, dst) in self.edges()

    def conditional_edges(self) -> list[tuple[int, JSONDict]]:
        return list(zip(self._cond_uids, self._data["conditional_edges"], strict=True))

    def conditional_edge(self, uid: int) -> JSONDict:
        cond: JSONDict = self._data["conditional_edges"][self._cond_uids.index(uid)]
        return cond

    def conditional_index(self, uid: int) -> int:
        return self._cond_uids.index(uid)

    def position(self, node_id: str) -> tuple[float, float] | None:
        if node_id in VIRTUAL_NODES:
            pos = self._data.get(_STUDIO_KEY, {}).get("positions", {}).get(node_id)
        else:
            pos = self.node(node_id).get("position")
        if isinstance(pos, list | tuple) and len(pos) >= 2:
            return float(pos[0]), float(pos[1])
        return None

    def unique_id(self, base: str) -> str:
        """A node id not used yet, derived from `base` ("message" -> "message_1", "A" -> "A_2")."""
        taken = set(self.node_ids()) | set(VIRTUAL_NODES)
        clean = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in base) or "node"
        if clean not in taken:
            return clean
        for i in itertools.count(1):
            candidate = f"{clean}_{i}"
            if candidate not in taken:
                return candidate
        raise AssertionError("unreachable")

    def new_conditional_uid(self) -> int:
        return next(self._uids)

    # ------------------------------------------------------------------ edits (called by undo commands)

    def _index_of_node(self, node_id: str) -> int | None:
        index = self._node_index
        if index is None:  # rebuilt after structural changes only: lookups stay O(1) on big documents
            index = self._node_index = {}
            for i, node in enumerate(self._data["nodes"]):
                index.setdefault(str(node.get("id")), i)
        return index.get(node_id)

    def _changed(self) -> None:
        self.edited.emit()

    def insert_node(self, node: JSONDict, index: int | None = None) -> Removed:
        """Add a node (appended, or at `index` to undo a removal); returns where it went."""
        at = len(self._data["nodes"]) if index is None else index
        self._data["nodes"].insert(at, copy.deepcopy(node))
        self._node_index = None
        self.node_added.emit(str(node["id"]))
        self._changed()
        return Removed(at, str(node["id"]), copy.deepcopy(node))

    def remove_node(self, node_id: str) -> Removed:
        """Remove a node (its edges are the caller's business); the record puts it back exactly."""
        index = self.node_index(node_id)
        node = self._data["nodes"].pop(index)
        self._node_index = None
        self.node_removed.emit(node_id)
        self._changed()
        return Removed(index, node_id, node)

    def restore_node(self, removed: Removed) -> None:
        self.insert_node(removed.data, removed.index)

    def set_position(self, node_id: str, pos: tuple[float, float] | None) -> None:
        value = None if pos is None else [round(pos[0], 2), round(pos[1], 2)]
        if node_id in VIRTUAL_NODES:
            studio = self._data.setdefault(_STUDIO_KEY, {})
            positions = studio.setdefault("positions", {})
            if value is None:
                positions.pop(node_id, None)
                if not positions:
                    studio.pop("positions")
                if not studio:
                    self._data.pop(_STUDIO_KEY)
            else:
                positions[node_id] = value
        else:
            node = self.node(node_id)
            if value is None:
                node.pop("position", None)
            else:
                node["position"] = value
        self.node_moved.emit(node_id)
        self._changed()

    def update_node(self, old_id: str, node: JSONDict) -> None:
        """Replace the node `old_id` by `node` in place; a renamed id does not touch the edges."""
        index = self.node_index(old_id)
        self._data["nodes"][index] = copy.deepcopy(node)
        self._node_index = None
        self.node_changed.emit(old_id, str(node["id"]))
        self._changed()

    def insert_edge(self, edge: JSONDict, *, uid: int | None = None, index: int | None = None) -> Edge:
        """Add an edge {"from", "to", ...} (appended, or at `index` with its old `uid` to undo a removal)."""
        at = len(self._data["edges"]) if index is None else index
        uid = next(self._uids) if uid is None else uid
        self._data["edges"].insert(at, copy.deepcopy(edge))
        self._edge_uids.insert(at, uid)
        self.edge_added.emit(str(edge["from"]), str(edge["to"]))
        self._changed()
        return Edge(uid, str(edge["from"]), str(edge["to"]))

    def remove_edge(self, uid: int) -> Removed:
        index = self._edge_uids.index(uid)
        edge: JSONDict = self._data["edges"].pop(index)
        self._edge_uids.pop(index)
        self.edge_removed.emit(str(edge["from"]), str(edge["to"]))
        self._changed()
        return Removed(index, uid, edge)

    def restore_edge(self, removed: Removed) -> None:
        self.insert_edge(removed.data, uid=int(removed.key), index=removed.index)

    def update_edge(self, uid: int, edge: JSONDict) -> None:
        """Replace an edge (a rename of one of its ends): it leaves under its old ends and comes back."""
        removed = self.remove_edge(uid)
        self.insert_edge(edge, uid=uid, index=removed.index)

    def insert_conditional(self, cond: JSONDict, *, uid: int | None = None, index: int | None = None) -> int:
        at = len(self._data["conditional_edges"]) if index is None else index
        uid = next(self._uids) if uid is None else uid
        self._data["conditional_edges"].insert(at, copy.deepcopy(cond))
        self._cond_uids.insert(at, uid)
        self.conditional_edge_added.emit(uid)
        self._changed()
        return uid

    def remove_conditional(self, uid: int) -> Removed:
        index = self._cond_uids.index(uid)
        cond = self._data["conditional_edges"].pop(index)
        self._cond_uids.pop(index)
        self.conditional_edge_removed.emit(uid)
        self._changed()
        return Removed(index, uid, cond)

    def restore_conditional(self, removed: Removed) -> None:
        self.insert_conditional(removed.data, uid=int(removed.key), index=removed.index)

    def update_conditional(self, uid: int, cond: JSONDict) -> None:
        index = self._cond_uids.index(uid)
        self._data["conditional_edges"][index] = copy.deepcopy(cond)
        self.conditional_edge_changed.emit(uid)
        self._changed()

    def set_field(self, key: str, value: Any) -> None:
        """Set (or, with None, remove) a top-level field such as "name", "runtime" or "input"."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = copy.deepcopy(value)
        self._changed()

    def iter_edges_touching(self, node_id: str) -> Iterator[tuple[int, JSONDict]]:
        for i, edge in enumerate(self._data["edges"]):
            if edge.get("from") == node_id or edge.get("to") == node_id:
                yield i, edge

    # ------------------------------------------------------------------ slots

    def _on_undo_stack_clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean)
