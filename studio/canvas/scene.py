"""The graph scene: mirrors a GraphDocumentModel through its signals (nodes, edges, conditional edges),
and carries run highlighting, problem marks and breakpoint badges. It never edits the document."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QPointF, QRect, QRectF, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from engine.graph.layout import layered_layout
from studio.canvas.items.edge import EdgeItem
from studio.canvas.items.node import NodeItem, RunStatus
from studio.document.editor import router_targets
from studio.document.model import VIRTUAL_NODES, GraphDocumentModel
from studio.document.validation import Problem
from studio.theme import canvas_colors

__all__ = ["GraphScene"]

GRID = 24


class GraphScene(QGraphicsScene):
    """Scene over one document model. `breakpoint_clicked(node_id, "before"|"after")` is emitted when a
    node's breakpoint badge is clicked (the run console owns the breakpoints)."""

    breakpoint_clicked = Signal(str, str)

    def __init__(self, model: GraphDocumentModel, parent: object | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.model = model
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[tuple[str, str], EdgeItem] = {}
        self.conditional: dict[int, list[EdgeItem]] = {}
        self._fallback: dict[str, tuple[float, float]] = {}
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self._rect_timer = QTimer(self)  # coalesces scene-rect growth: one O(n) pass per burst of edits
        self._rect_timer.setSingleShot(True)
        self._rect_timer.setInterval(0)
        self._rect_timer.timeout.connect(self._grow_scene_rect)
        model.document_reset.connect(self._on_model_document_reset)
        model.node_added.connect(self._on_model_node_added)
        model.node_removed.connect(self._on_model_node_removed)
        model.node_moved.connect(self._on_model_node_moved)
        model.node_changed.connect(self._on_model_node_changed)
        model.edge_added.connect(self._on_model_edge_added)
        model.edge_removed.connect(self._on_model_edge_removed)
        model.conditional_edge_added.connect(self._on_model_conditional_edge_added)
        model.conditional_edge_removed.connect(self._on_model_conditional_edge_removed)
        model.conditional_edge_changed.connect(self._on_model_conditional_edge_changed)
        self._on_model_document_reset()

    # ------------------------------------------------------------------ queries

    def node_item(self, node_id: str) -> NodeItem:
        return self.nodes[node_id]

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[tuple[str, str]]:
        return [i.key for i in self.selectedItems() if isinstance(i, EdgeItem) and i.conditional_uid is None]

    def selected_conditional_uids(self) -> list[int]:
        uids = [i.conditional_uid for i in self.selectedItems() if isinstance(i, EdgeItem)]
        return list(dict.fromkeys(u for u in uids if u is not None))

    def items_rect(self) -> QRectF:
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def select_nodes(self, node_ids: Iterable[str]) -> None:
        wanted = set(node_ids)
        self.clearSelection()
        for node_id in wanted:
            if node_id in self.nodes:
                self.nodes[node_id].setSelected(True)

    # ------------------------------------------------------------------ run state, problems, breakpoints

    def set_node_status(self, node_id: str, status: str, step: int | None = None, message: str = "") -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_status(status, step, message)

    def reset_run_state(self) -> None:
        for item in self.nodes.values():
            item.set_status(RunStatus.IDLE)
        for edge in self.edges.values():
            edge.set_active(False)
        for items in self.conditional.values():
            for edge in items:
                edge.set_active(False)

    def mark_edges_taken(self, pairs: list[tuple[str, str]]) -> None:
        """Highlight edges a run routed along (plain and conditional); pairs that are no edge are ignored."""
        wanted = set(pairs)
        for key, edge in self.edges.items():
            if key in wanted:
                edge.set_active(True)
        for items in self.conditional.values():
            for edge in items:
                if edge.key in wanted:
                    edge.set_active(True)

    def node_statuses(self) -> dict[str, str]:
        return {k: v.status for k, v in self.nodes.items()}

    def set_problems(self, problems: Iterable[Problem]) -> None:
        per_node: dict[str, list[str]] = {}
        for p in problems:
            if p.node_id is not None:
                per_node.setdefault(p.node_id, []).append(p.message)
            elif p.edge is not None:
                per_node.setdefault(p.edge[0], []).append(p.message)
        for node_id, item in self.nodes.items():
            item.set_problems(per_node.get(node_id, []))

    def set_breakpoints(self, breakpoints: dict[str, set[str]]) -> None:
        for node_id, item in self.nodes.items():
            item.set_breakpoints(breakpoints.get(node_id, set()))

    # ------------------------------------------------------------------ building

    def _position_of(self, node_id: str) -> tuple[float, float]:
        pos = self.model.position(node_id)
        if pos is not None:
            return pos
        if node_id in VIRTUAL_NODES:
            return self._virtual_default(node_id)
        return self._fallback.get(node_id, (0.0, 0.0))

    def _virtual_default(self, node_id: str) -> tuple[float, float]:
        placed = [self._position_of(n) for n in self.model.node_ids()]
        if not placed:
            return (-150.0, 0.0) if node_id == "Start" else (150.0, 0.0)
        ys = sorted(p[1] for p in placed)
        mid = ys[len(ys) // 2]
        if node_id == "Start":
            return (min(p[0] for p in placed) - 230.0, mid)
        return (max(p[0] for p in placed) + 230.0, mid)

    def _add_node_item(self, node_id: str) -> NodeItem:
        virtual = node_id in VIRTUAL_NODES
        type_name = "" if virtual else str(self.model.node(node_id).get("type", ""))
        item = NodeItem(node_id, type_name, virtual=virtual)
        if not virtual:
            item.set_policies(self.model.node(node_id))
        x, y = self._position_of(node_id)
        item.setPos(x, y)
        self.addItem(item)
        self.nodes[node_id] = item
        return item

    def _add_edge_item(self, src: str, dst: str) -> None:
        if src in self.nodes and dst in self.nodes and (src, dst) not in self.edges:
            edge = EdgeItem(self.nodes[src], self.nodes[dst])
            self.addItem(edge)
            self.edges[(src, dst)] = edge

    def _add_conditional_items(self, uid: int) -> None:
        cond = self.model.conditional_edge(uid)
        src = str(cond.get("from"))
        router = cond.get("router") or {}
        label = str(router.get("type", "router")) if isinstance(router, dict) else "router"
        items: list[EdgeItem] = []
        for target in router_targets(cond):
            if src in self.nodes and target in self.nodes:
                edge = EdgeItem(self.nodes[src], self.nodes[target], conditional_uid=uid, label=label)
                self.addItem(edge)
                items.append(edge)
        self.conditional[uid] = items

    def _remove_edge_item(self, edge: EdgeItem) -> None:
        edge.detach()
        self.removeItem(edge)

    # ------------------------------------------------------------------ model slots

    def _on_model_document_reset(self) -> None:
        # Deselect first (listeners see a consistent scene), then delete every item with signals blocked:
        # selectionChanged emitted from inside clear() would hand listeners half-destroyed items.
        self.clearSelection()
        blocked = self.blockSignals(True)
        try:
            self.clear()
        finally:
            self.blockSignals(blocked)
        self.nodes.clear()
        self.edges.clear()
        self.conditional.clear()
        ids = self.model.node_ids()
        missing = [n for n in ids if self.model.position(n) is None]
        self._fallback = {}
        if missing:
            edges = list(self.model.edges())
            for _uid, cond in self.model.conditional_edges():
                edges += [(str(cond.get("from")), t) for t in router_targets(cond)]
            self._fallback = layered_layout(ids, edges)
        for node_id in ids:
            self._add_node_item(node_id)
        for node_id in VIRTUAL_NODES:
            self._add_node_item(node_id)
        for src, dst in self.model.edges():
            self._add_edge_item(src, dst)
        for uid, _cond in self.model.conditional_edges():
            self._add_conditional_items(uid)
        self._grow_scene_rect()

    def _grow_scene_rect(self) -> None:
        rect = self.items_rect().adjusted(-2000, -2000, 2000, 2000)
        self.setSceneRect(rect.united(self.sceneRect()) if self.nodes else QRectF(-2000, -2000, 4000, 4000))

    def _on_model_node_added(self, node_id: str) -> None:
        self._add_node_item(node_id)
        for src, dst in self.model.edges():  # edges restored before their node (undo of a delete)
            if node_id in (src, dst):
                self._add_edge_item(src, dst)
        self._rect_timer.start()

    def _on_model_node_removed(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is None:
            return
        item.setSelected(False)
        for edge in list(item.edges):
            self._remove_edge_item(edge)
            self.edges.pop(edge.key, None)
            if edge.conditional_uid is not None and edge in self.conditional.get(edge.conditional_uid, []):
                self.conditional[edge.conditional_uid].remove(edge)
        self.removeItem(item)

    def _on_model_node_moved(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            x, y = self._position_of(node_id)
            if item.pos() != QPointF(x, y):
                item.setPos(x, y)
            self._rect_timer.start()

    def _on_model_node_changed(self, old_id: str, new_id: str) -> None:
        item = self.nodes.pop(old_id, None)
        if item is None:
            return
        item.set_identity(new_id, str(self.model.node(new_id).get("type", "")))
        item.set_policies(self.model.node(new_id))
        self.nodes[new_id] = item
        # conditional edges drawn to the old id are rebuilt by conditional_edge_changed

    def _on_model_edge_added(self, src: str, dst: str) -> None:
        self._add_edge_item(src, dst)

    def _on_model_edge_removed(self, src: str, dst: str) -> None:
        edge = self.edges.pop((src, dst), None)
        if edge is not None:
            self._remove_edge_item(edge)

    def _on_model_conditional_edge_added(self, uid: int) -> None:
        self._add_conditional_items(uid)

    def _on_model_conditional_edge_removed(self, uid: int) -> None:
        for edge in self.conditional.pop(uid, []):
            self._remove_edge_item(edge)

    def _on_model_conditional_edge_changed(self, uid: int) -> None:
        self._on_model_conditional_edge_removed(uid)
        self._add_conditional_items(uid)

    # ------------------------------------------------------------------ painting

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        rect = QRectF(rect)
        colors = canvas_colors()
        painter.fillRect(rect, colors.background)
        painter.setPen(colors.grid)
        left = int(rect.left()) - int(rect.left()) % GRID
        top = int(rect.top()) - int(rect.top()) % GRID
        if rect.width() / GRID > 300:  # zoomed far out: the grid would be noise
            return
        x = left
        while x < rect.right():
            painter.drawLine(int(x), int(rect.top()), int(x), int(rect.bottom()))
            x += GRID
        y = top
        while y < rect.bottom():
            painter.drawLine(int(rect.left()), int(y), int(rect.right()), int(y))
            y += GRID

    def item_is_node(self, item: QGraphicsItem | None) -> bool:
        return isinstance(item, NodeItem)
