"""The graph view: zoom (wheel, +/-), pan (middle drag, Space+drag, arrows), fit, rubber-band selection,
the quick-add popup, drops from the node palette, context menus and the minimap. Mouse gestures go to the
CanvasController."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QMenu, QWidget

from studio.canvas.interactions import CanvasController, _node_of
from studio.canvas.items.edge import EdgeItem
from studio.canvas.items.node import BADGE_AFTER, BADGE_BEFORE
from studio.canvas.minimap import MiniMap
from studio.canvas.scene import GraphScene
from studio.canvas.search_popup import NodeSearchPopup

__all__ = ["NODE_TYPE_MIME", "GraphView"]

NODE_TYPE_MIME = "application/x-weavegraph-node-type"
MIN_ZOOM, MAX_ZOOM = 0.1, 3.0


class GraphView(QGraphicsView):
    """`add_requested(type, scene_pos)` when the user asks for a node (popup or drop);
    `node_activated(id)` on a double-click on a node; `conditional_requested(id)` from the context menu."""

    add_requested = Signal(str, QPointF)
    node_activated = Signal(str)
    conditional_requested = Signal(str)
    layout_requested = Signal()

    def __init__(
        self, scene: GraphScene, controller: CanvasController, parent: QWidget | None = None
    ) -> None:
        super().__init__(scene, parent)
        self.setObjectName("graphView")
        self.graph_scene = scene
        self.controller = controller
        self.node_types: list[tuple[str, str]] = []
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._panning: QPoint | None = None
        self._space = False
        self._gesture = False
        self.minimap = MiniMap(self)
        self._minimap_timer = QTimer(self)
        self._minimap_timer.setSingleShot(True)
        self._minimap_timer.setInterval(100)
        self._minimap_timer.timeout.connect(self.minimap.update)
        scene.changed.connect(self._on_scene_changed)
        self.horizontalScrollBar().valueChanged.connect(self._on_scene_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scene_changed)

    # ------------------------------------------------------------------ zoom and fit

    def zoom(self) -> float:
        return float(self.transform().m11())

    def zoom_by(self, factor: float) -> None:
        target = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        self.scale(factor, factor)
        self._on_scene_changed()

    def fit(self) -> None:
        rect = self.graph_scene.items_rect()
        if rect.isNull():
            return
        self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.2:
            self.resetTransform()
            self.scale(1.2, 1.2)
            self.centerOn(rect.center())
        self._on_scene_changed()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015**delta)
        event.accept()

    # ------------------------------------------------------------------ mouse

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        ):
            self._panning = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        scene_pos = self.mapToScene(event.position().toPoint())
        if self.controller.press(scene_pos, event.button()):
            self._gesture = True
            event.accept()
            return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and _node_of(self.itemAt(event.position().toPoint())):
            self.controller.after_press()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None:
            delta = event.position().toPoint() - self._panning
            self._panning = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        if self._gesture and self.controller.move(self.mapToScene(event.position().toPoint())):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None:
            self._panning = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._gesture:
            self._gesture = False
            self.controller.release(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self.controller.after_release()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        node = _node_of(self.itemAt(event.position().toPoint()))
        if node is not None:
            self.node_activated.emit(node.node_id)
            event.accept()
            return
        if self.itemAt(event.position().toPoint()) is None:
            self.open_search(event.position().toPoint())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # ------------------------------------------------------------------ keys

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Tab:
            self.open_search(self.mapFromGlobal(self.cursor().pos()))
            return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            # reached only when no Delete shortcut took the key (e.g. the window is not active)
            self.controller.delete_selection()
            return
        if key == Qt.Key.Key_Escape:
            self.controller.cancel()
            self.graph_scene.clearSelection()
            return
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.2)
            return
        if key == Qt.Key.Key_Minus:
            self.zoom_by(1 / 1.2)
            return
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            return
        steps = {
            Qt.Key.Key_Left: (-40, 0),
            Qt.Key.Key_Right: (40, 0),
            Qt.Key.Key_Up: (0, -40),
            Qt.Key.Key_Down: (0, 40),
        }
        if key in steps:
            dx, dy = steps[key]  # type: ignore[index]
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + dx)
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + dy)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab opens the quick-add popup instead of moving focus

    # ------------------------------------------------------------------ quick add, drops

    def open_search(self, view_pos: QPoint) -> NodeSearchPopup:
        scene_pos = self.mapToScene(view_pos)
        popup = NodeSearchPopup(self.node_types, self)
        popup.chosen.connect(lambda name: self.add_requested.emit(name, scene_pos))
        popup.popup_at(self.mapToGlobal(view_pos))
        return popup

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(NODE_TYPE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(NODE_TYPE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        data = event.mimeData()
        if data.hasFormat(NODE_TYPE_MIME):
            name = bytes(data.data(NODE_TYPE_MIME).data()).decode("utf-8")
            self.add_requested.emit(name, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        else:
            super().dropEvent(event)

    # ------------------------------------------------------------------ context menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item = self.itemAt(event.pos())
        node = _node_of(item)
        menu = QMenu(self)
        if node is not None and not node.virtual:
            if not node.isSelected():
                self.graph_scene.clearSelection()
                node.setSelected(True)
            before = menu.addAction("Break before this node")
            before.setCheckable(True)
            before.setChecked(BADGE_BEFORE in node.breakpoints)
            before.triggered.connect(
                lambda: self.graph_scene.breakpoint_clicked.emit(node.node_id, BADGE_BEFORE)
            )
            after = menu.addAction("Break after this node")
            after.setCheckable(True)
            after.setChecked(BADGE_AFTER in node.breakpoints)
            after.triggered.connect(
                lambda: self.graph_scene.breakpoint_clicked.emit(node.node_id, BADGE_AFTER)
            )
            menu.addSeparator()
            menu.addAction("Add conditional edge…", lambda: self.conditional_requested.emit(node.node_id))
            menu.addAction("Delete", self.controller.delete_selection)
        elif isinstance(item, EdgeItem):
            item.setSelected(True)
            menu.addAction("Delete edge", self.controller.delete_selection)
        else:
            pos = event.pos()
            menu.addAction("Add node…", lambda: self.open_search(pos))
            menu.addAction("Paste", self.controller.paste)
            menu.addSeparator()
            menu.addAction("Auto layout", self.layout_requested.emit)
            menu.addAction("Fit to window", self.fit)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(event.globalPos())

    # ------------------------------------------------------------------ minimap

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_minimap()

    def _place_minimap(self) -> None:
        vp = self.viewport().geometry()
        self.minimap.move(vp.right() - self.minimap.width() - 8, vp.bottom() - self.minimap.height() - 8)

    def _on_scene_changed(self, *_args: Any) -> None:
        if not self._minimap_timer.isActive():
            self._minimap_timer.start()
