"""A node's input or output port: a small circle; dragging from one to another connects nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from studio.theme import canvas_colors

if TYPE_CHECKING:
    from studio.canvas.items.node import NodeItem

__all__ = ["PortItem"]

RADIUS = 6.0


class PortItem(QGraphicsItem):
    """`kind` is "in" (left side, edges arrive) or "out" (right side, edges leave)."""

    def __init__(self, node: NodeItem, kind: str) -> None:
        super().__init__(node)
        self.node = node
        self.kind = kind
        self.highlighted = False
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        self.setToolTip("drag to another node's port to connect" if kind == "out" else "edges arrive here")

    def boundingRect(self) -> QRectF:
        r = RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def scene_anchor(self) -> QPointF:
        return self.scenePos()

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        colors = canvas_colors()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = colors.selected if self.highlighted else colors.port
        painter.setPen(QPen(color, 1.5))
        painter.setBrush(QBrush(colors.node_fill if self.kind == "in" else color))
        r = RADIUS + (2 if self.highlighted else 0)
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event: Any) -> None:
        self.set_highlighted(True)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        self.set_highlighted(False)
        super().hoverLeaveEvent(event)
