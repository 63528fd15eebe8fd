"""Canvas gestures, each with start / update / finish / cancel: connect by dragging port to port, move
nodes (one undo step per drag), toggle a breakpoint badge. Plus the edit operations the canvas actions call
(delete, copy, paste, select all). Gestures only call the DocumentEditor; the scene follows the model."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QGuiApplication, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from studio.canvas.items.edge import curve
from studio.canvas.items.node import NodeItem
from studio.canvas.items.port import PortItem
from studio.canvas.scene import GraphScene
from studio.document.editor import DocumentEditor, EditRejected
from studio.theme import canvas_colors

__all__ = ["CanvasController", "ConnectGesture", "MoveGesture"]


def _node_of(item: QGraphicsItem | None) -> NodeItem | None:
    while item is not None and not isinstance(item, NodeItem):
        item = item.parentItem()
    return item


class ConnectGesture:
    """Drag from a port: a preview curve follows the mouse; dropping on a compatible port (or node) of
    another node connects them. Dragging from an input port connects backwards (target <- source)."""

    def __init__(self, controller: CanvasController, port: PortItem) -> None:
        self.controller = controller
        self.port = port
        self.preview = QGraphicsPathItem()
        pen = QPen(canvas_colors().selected, 2.0, Qt.PenStyle.DashLine)
        self.preview.setPen(pen)
        self.preview.setZValue(5)
        self._hover: PortItem | None = None

    def start(self) -> None:
        self.controller.scene.addItem(self.preview)
        self.update(self.port.scenePos())

    def _target_port(self, scene_pos: QPointF) -> PortItem | None:
        wanted = "in" if self.port.kind == "out" else "out"
        for item in self.controller.scene.items(scene_pos):
            if isinstance(item, PortItem) and item.kind == wanted and item.node is not self.port.node:
                return item
            node = _node_of(item)
            if node is not None and node is not self.port.node:
                return node.in_port if wanted == "in" else node.out_port
        return None

    def update(self, scene_pos: QPointF) -> None:
        target = self._target_port(scene_pos)
        if target is not self._hover:
            if self._hover is not None:
                self._hover.set_highlighted(False)
            if target is not None:
                target.set_highlighted(True)
            self._hover = target
        end = target.scenePos() if target is not None else scene_pos
        a, b = (self.port.scenePos(), end) if self.port.kind == "out" else (end, self.port.scenePos())
        self.preview.setPath(curve(a, b))

    def finish(self, scene_pos: QPointF) -> None:
        target = self._target_port(scene_pos)
        self.cancel()
        if target is None:
            return
        if self.port.kind == "out":
            src, dst = self.port.node.node_id, target.node.node_id
        else:
            src, dst = target.node.node_id, self.port.node.node_id
        self.controller.run_edit(lambda: self.controller.editor.connect(src, dst))

    def cancel(self) -> None:
        if self._hover is not None:
            self._hover.set_highlighted(False)
        if self.preview.scene() is not None:
            self.controller.scene.removeItem(self.preview)


class MoveGesture:
    """Qt moves the selected items while dragging; on release the gesture records one move command."""

    def __init__(self, controller: CanvasController) -> None:
        self.controller = controller
        self.start_positions: dict[str, tuple[float, float]] = {}

    def start(self) -> None:
        scene = self.controller.scene
        self.start_positions = {
            node_id: (scene.nodes[node_id].pos().x(), scene.nodes[node_id].pos().y())
            for node_id in scene.selected_node_ids()
        }

    def finish(self) -> None:
        scene = self.controller.scene
        moves: dict[str, tuple[tuple[float, float] | None, tuple[float, float]]] = {}
        for node_id, old in self.start_positions.items():
            item = scene.nodes.get(node_id)
            if item is None:
                continue
            new = (item.pos().x(), item.pos().y())
            if abs(new[0] - old[0]) > 0.5 or abs(new[1] - old[1]) > 0.5:
                moves[node_id] = (self.controller.editor.model.position(node_id), new)
        if not moves:
            return
        if self.controller.editor.model.read_only:
            self.cancel()
            self.controller.rejected.emit("the document is read-only; nodes were not moved")
            return
        self.controller.editor.move(moves)

    def cancel(self) -> None:
        for node_id, (x, y) in self.start_positions.items():
            item = self.controller.scene.nodes.get(node_id)
            if item is not None:
                item.setPos(x, y)


class CanvasController(QObject):
    """Routes mouse presses to gestures and runs the canvas edit operations.

    `rejected(message)` reports an edit that was refused (shown in the status bar, nothing changes).
    """

    rejected = Signal(str)

    def __init__(self, scene: GraphScene, editor: DocumentEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.editor = editor
        self._connect: ConnectGesture | None = None
        self._move: MoveGesture | None = None

    def run_edit(self, edit: object) -> bool:
        try:
            edit()  # type: ignore[operator]
        except EditRejected as exc:
            self.rejected.emit(str(exc))
            return False
        return True

    # ------------------------------------------------------------------ mouse (called by the view)

    def press(self, scene_pos: QPointF, button: Qt.MouseButton) -> bool:
        """True when a gesture took the press (the view must not handle it further)."""
        if button != Qt.MouseButton.LeftButton:
            return False
        items = self.scene.items(scene_pos)
        for item in items:
            if isinstance(item, PortItem):
                self._connect = ConnectGesture(self, item)
                self._connect.start()
                return True
            node = _node_of(item)
            if node is not None:
                badge = node.badge_at(node.mapFromScene(scene_pos))
                if badge is not None:
                    self.scene.breakpoint_clicked.emit(node.node_id, badge)
                    return True
                break
        return False

    def after_press(self) -> None:
        """After Qt handled a press on a node (selection updated): start recording a move."""
        if self.scene.selected_node_ids():
            self._move = MoveGesture(self)
            self._move.start()

    def move(self, scene_pos: QPointF) -> bool:
        if self._connect is not None:
            self._connect.update(scene_pos)
            return True
        return False

    def release(self, scene_pos: QPointF) -> bool:
        if self._connect is not None:
            gesture, self._connect = self._connect, None
            gesture.finish(scene_pos)
            return True
        return False

    def after_release(self) -> None:
        if self._move is not None:
            gesture, self._move = self._move, None
            gesture.finish()

    def cancel(self) -> None:
        if self._connect is not None:
            self._connect.cancel()
            self._connect = None
        if self._move is not None:
            self._move.cancel()
            self._move = None

    # ------------------------------------------------------------------ operations (actions call these)

    def delete_selection(self) -> None:
        nodes = self.scene.selected_node_ids()
        edges = self.scene.selected_edges()
        conds = self.scene.selected_conditional_uids()
        if nodes or edges or conds:
            self.run_edit(lambda: self.editor.delete(nodes, edges, conds))

    def copy_selection(self) -> bool:
        selected = set(self.scene.selected_node_ids())
        real = [n for n in self.editor.model.node_ids() if n in selected]  # document order
        if not real:
            return False
        QGuiApplication.clipboard().setText(self.editor.copy_text(real))
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> None:
        text = QGuiApplication.clipboard().text()
        ids: list[str] = []

        def _paste() -> None:
            ids.extend(self.editor.paste_text(text))

        if self.run_edit(_paste):
            self.scene.select_nodes(ids)

    def select_all(self) -> None:
        for item in self.scene.nodes.values():
            item.setSelected(True)
