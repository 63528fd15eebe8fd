"""One small QUndoCommand per edit of a graph document. Each calls the model's public edit methods and keeps
the `Removed` records they return, addressing edges and conditional edges by their stable uids (never list
indices), so that undo restores the document exactly and redo replays it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from studio.document.model import VIRTUAL_NODES, GraphDocumentModel, JSONDict, Removed

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
        self._index = self._model.insert_node(self._node, self._index).index

    def undo(self) -> None:
        self._model.remove_node(str(self._node["id"]))


POLICY_FIELDS = ("retry", "timeout_s", "wait_for")
"""Node policy fields (engine/graph/schema, README "Node policies"): edited through `ChangeNodeCommand`."""


def _wait_for_rewrites(
    model: GraphDocumentModel, rewrite: Callable[[list[Any]], list[Any]], skip: set[str]
) -> list[tuple[str, JSONDict, JSONDict]]:
    """(node id, node before, node after) for every node (outside `skip`) whose `wait_for` changes under
    `rewrite`; an emptied list is dropped."""
    out: list[tuple[str, JSONDict, JSONDict]] = []
    for node in model.nodes():
        node_id = str(node.get("id"))
        wait_for = node.get("wait_for")
        if node_id in skip or not isinstance(wait_for, list):
            continue
        fresh = rewrite(wait_for)
        if fresh != wait_for:
            after = copy.deepcopy(node)
            if fresh:
                after["wait_for"] = fresh
            else:
                after.pop("wait_for", None)
            out.append((node_id, copy.deepcopy(node), after))
    return out


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
        self._edge_uids = [
            e.uid
            for e in model.edge_records()
            if (e.source, e.target) in edge_set or e.source in doomed or e.target in doomed
        ]
        cond = set(conditional_uids)
        self._cond_uids = [
            uid for uid, c in model.conditional_edges() if uid in cond or c.get("from") in doomed
        ]
        self._removed: list[tuple[str, Removed]] = []
        # joins that waited for a deleted node stop waiting for it
        self._waits = _wait_for_rewrites(model, lambda w: [x for x in w if x not in doomed], doomed)
        count = len(self._node_ids) + len(self._edge_uids) + len(self._cond_uids)
        super().__init__(f"Delete {count} item{'s' if count != 1 else ''}")

    def redo(self) -> None:
        m = self._model
        self._removed = [("cond", m.remove_conditional(uid)) for uid in self._cond_uids]
        self._removed += [("edge", m.remove_edge(uid)) for uid in self._edge_uids]
        self._removed += [("node", m.remove_node(node_id)) for node_id in self._node_ids]
        for node_id, _before, after in self._waits:
            m.update_node(node_id, after)

    def undo(self) -> None:
        m = self._model
        for node_id, before, _after in self._waits:
            m.update_node(node_id, before)
        restore = {"node": m.restore_node, "edge": m.restore_edge, "cond": m.restore_conditional}
        for kind, removed in reversed(self._removed):
            restore[kind](removed)


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
            self._model.set_position(node_id, new)

    def undo(self) -> None:
        for node_id, (old, _new) in self._moves.items():
            self._model.set_position(node_id, old)


class ConnectCommand(QUndoCommand):
    """Add the edge src -> dst (appended)."""

    def __init__(self, model: GraphDocumentModel, src: str, dst: str) -> None:
        super().__init__(f"Connect {src} -> {dst}")
        self._model = model
        self._edge = {"from": src, "to": dst}
        self._uid: int | None = None

    def redo(self) -> None:
        self._uid = self._model.insert_edge(self._edge, uid=self._uid).uid

    def undo(self) -> None:
        assert self._uid is not None
        self._model.remove_edge(self._uid)


class DisconnectCommand(QUndoCommand):
    """Remove the edge src -> dst."""

    def __init__(self, model: GraphDocumentModel, src: str, dst: str) -> None:
        super().__init__(f"Disconnect {src} -> {dst}")
        self._model = model
        self._uid = model.edge_uid(src, dst)
        self._removed: Removed | None = None

    def redo(self) -> None:
        self._removed = self._model.remove_edge(self._uid)

    def undo(self) -> None:
        assert self._removed is not None
        self._model.restore_edge(self._removed)


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
        new_fields: JSONDict | None = None,
        text: str = "",
    ) -> None:
        self._model = model
        self._old = copy.deepcopy(model.node(node_id))
        self._new = copy.deepcopy(self._old)
        for key, value in (new_fields or {}).items():  # policy fields; None removes one
            if value is None:
                self._new.pop(key, None)
            else:
                self._new[key] = copy.deepcopy(value)
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
            for e in model.edge_records():
                if old_id in (e.source, e.target):
                    edge = model.edge_data(e.uid)
                    renamed = dict(edge)
                    for key in ("from", "to"):
                        if renamed.get(key) == old_id:
                            renamed[key] = fresh_id
                    self._edge_renames.append((e.uid, copy.deepcopy(edge), renamed))
            for uid, cond in model.conditional_edges():
                renamed_cond = _rename_in_router_config(cond, old_id, fresh_id)
                if cond.get("from") == old_id:
                    renamed_cond["from"] = fresh_id
                if renamed_cond != cond:
                    self._cond_renames.append((uid, copy.deepcopy(cond), renamed_cond))
        # other nodes' wait_for lists follow a rename
        self._waits = (
            _wait_for_rewrites(model, lambda w: [fresh_id if x == old_id else x for x in w], {old_id})
            if old_id != fresh_id
            else []
        )

    def _apply(self, before: JSONDict, after: JSONDict, forward: bool) -> None:
        # Edges leave under the old name, the node is renamed, then edges come back under the new one: the
        # scene always finds both ends of every edge it is told about.
        m = self._model
        removed = [m.remove_edge(uid) for uid, _old_edge, _new_edge in reversed(self._edge_renames)]
        m.update_node(str(before["id"]), after)
        for gone, (uid, old_edge, new_edge) in zip(reversed(removed), self._edge_renames, strict=True):
            m.insert_edge(new_edge if forward else old_edge, uid=uid, index=gone.index)
        for uid, old_cond, new_cond in self._cond_renames:
            m.update_conditional(uid, new_cond if forward else old_cond)
        for node_id, old_node, new_node in self._waits:
            m.update_node(node_id, new_node if forward else old_node)

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
        self._model.insert_conditional(self._cond, uid=self.uid)

    def undo(self) -> None:
        self._model.remove_conditional(self.uid)


class ChangeConditionalEdgeCommand(QUndoCommand):
    """Replace a conditional edge's source, router or targets."""

    def __init__(self, model: GraphDocumentModel, uid: int, cond: JSONDict) -> None:
        super().__init__("Edit conditional edge")
        self._model = model
        self._uid = uid
        self._old = copy.deepcopy(model.conditional_edge(uid))
        self._new = copy.deepcopy(cond)

    def redo(self) -> None:
        self._model.update_conditional(self._uid, self._new)

    def undo(self) -> None:
        self._model.update_conditional(self._uid, self._old)


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
        self._edge_uids: list[int] = []
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
            m.insert_node(node)
        uids: list[int | None] = list(self._edge_uids) or [None] * len(self._edges)
        self._edge_uids = [
            m.insert_edge(edge, uid=uid).uid for edge, uid in zip(self._edges, uids, strict=True)
        ]
        for uid, cond in self._conds:
            m.insert_conditional(cond, uid=uid)

    def undo(self) -> None:
        m = self._model
        for uid, _cond in reversed(self._conds):
            m.remove_conditional(uid)
        for uid in reversed(self._edge_uids):
            m.remove_edge(uid)
        for node in reversed(self._nodes):
            m.remove_node(str(node["id"]))


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
        self._model.set_field(self._key, self._new)

    def undo(self) -> None:
        self._model.set_field(self._key, self._old if self._had else None)


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
