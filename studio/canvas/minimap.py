"""A small overview of the whole graph in a corner of the view: nodes as dots, the visible area as a frame;
click or drag in it to move the view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from studio.theme import canvas_colors

if TYPE_CHECKING:
    from studio.canvas.view import GraphView

__all__ = ["MiniMap"]


class MiniMap(QWidget):
    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.setObjectName("miniMap")
        self._view = view
        self.resize(180, 120)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")

    def _world(self) -> QRectF:
        scene = self._view.graph_scene
        rect = scene.items_rect()
        visible = self._view.mapToScene(self._view.viewport().rect()).boundingRect()
        return rect.united(visible).adjusted(-40, -40, 40, 40)

    def _transform(self) -> tuple[float, QPointF, QRectF]:
        world = self._world()
        scale = min(self.width() / max(world.width(), 1.0), self.height() / max(world.height(), 1.0))
        offset = QPointF(
            (self.width() - world.width() * scale) / 2 - world.left() * scale,
            (self.height() - world.height() * scale) / 2 - world.top() * scale,
        )
        return scale, offset, world

    def paintEvent(self, event: QPaintEvent) -> None:
        colors = canvas_colors()
        painter = QPainter(self)
        bg = QColor(colors.background)
        bg.setAlpha(225)
        painter.fillRect(self.rect(), bg)
        painter.setPen(QPen(colors.node_border, 1))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        scale, offset, _world = self._transform()
        painter.setPen(Qt.PenStyle.NoPen)
        for item in self._view.graph_scene.nodes.values():
            r = item.sceneBoundingRect()
            x = r.center().x() * scale + offset.x()
            y = r.center().y() * scale + offset.y()
            w = max(r.width() * scale * 0.8, 3.0)
            h = max(r.height() * scale * 0.6, 2.0)
            painter.setBrush(colors.selected if item.isSelected() else colors.node_border)
            painter.drawRect(QRectF(x - w / 2, y - h / 2, w, h))
        visible = self._view.mapToScene(self._view.viewport().rect()).boundingRect()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(colors.selected, 1.5))
        painter.drawRect(
            QRectF(
                visible.left() * scale + offset.x(),
                visible.top() * scale + offset.y(),
                visible.width() * scale,
                visible.height() * scale,
            )
        )
        painter.end()

    def _center_at(self, pos: QPointF) -> None:
        scale, offset, _world = self._transform()
        if scale > 0:
            self._view.centerOn((pos.x() - offset.x()) / scale, (pos.y() - offset.y()) / scale)
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._center_at(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._center_at(event.position())
