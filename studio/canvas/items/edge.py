"""Edges: a cubic curve from an output port to an input port; conditional edges are dashed, labelled with
their router type, one curve per declared target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from studio.theme import canvas_colors

if TYPE_CHECKING:
    from studio.canvas.items.node import NodeItem

__all__ = ["EdgeItem", "curve"]


def curve(a: QPointF, b: QPointF) -> QPainterPath:
    """The bezier between two anchors; backwards edges loop around instead of crossing the nodes."""
    path = QPainterPath(a)
    dx = max(abs(b.x() - a.x()) * 0.5, 60.0)
    if b.x() < a.x():  # a loop back: bow outwards
        dy = 90.0 if b.y() <= a.y() else -90.0
        path.cubicTo(QPointF(a.x() + dx, a.y() - dy), QPointF(b.x() - dx, b.y() - dy), b)
    else:
        path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path


class EdgeItem(QGraphicsPathItem):
    """An edge between two node items. `conditional_uid` is set for conditional edges (dashed)."""

    def __init__(
        self, src: NodeItem, dst: NodeItem, *, conditional_uid: int | None = None, label: str = ""
    ) -> None:
        super().__init__()
        self.src = src
        self.dst = dst
        self.conditional_uid = conditional_uid
        self.label = label
        self.active = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        src.edges.append(self)
        dst.edges.append(self)
        kind = f"conditional ({label})" if conditional_uid is not None else "edge"
        self.setToolTip(f"{kind}: {src.node_id} -> {dst.node_id}")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return (self.src.node_id, self.dst.node_id)

    def detach(self) -> None:
        for node in (self.src, self.dst):
            if self in node.edges:
                node.edges.remove(self)

    def update_path(self) -> None:
        a = self.src.out_port.scenePos() if self.src.out_port else self.src.scenePos()
        b = self.dst.in_port.scenePos() if self.dst.in_port else self.dst.scenePos()
        b = QPointF(b.x() - 7.0, b.y())  # the arrow tip stops at the port's rim
        self.prepareGeometryChange()
        self.setPath(curve(a, b))

    def set_active(self, on: bool) -> None:
        if on != self.active:
            self.active = on
            self.update()

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-40, -20, 40, 20)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        colors = canvas_colors()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = colors.conditional if self.conditional_uid is not None else colors.edge
        if self.active:
            color = colors.done
        if self.isSelected():
            color = colors.selected
        pen = QPen(color, 2.2 if (self.isSelected() or self.active) else 1.6)
        if self.conditional_uid is not None:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        path = self.path()
        painter.drawPath(path)
        end = path.pointAtPercent(1.0)
        before = path.pointAtPercent(0.97)
        direction = end - before
        length = max((direction.x() ** 2 + direction.y() ** 2) ** 0.5, 1e-6)
        ux, uy = direction.x() / length, direction.y() / length
        tip = end
        left = QPointF(tip.x() - 10 * ux + 5 * uy, tip.y() - 10 * uy - 5 * ux)
        right = QPointF(tip.x() - 10 * ux - 5 * uy, tip.y() - 10 * uy + 5 * ux)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawPolygon(QPolygonF([tip, left, right]))
        if self.label:
            mid = path.pointAtPercent(0.5)
            painter.setPen(color)
            painter.drawText(
                QRectF(mid.x() - 60, mid.y() - 18, 120, 16), Qt.AlignmentFlag.AlignCenter, self.label
            )
