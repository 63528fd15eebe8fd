"""A node on the canvas: a plainly painted card (no proxy widgets) with its id, type, ports, run status,
step badge, problem mark and breakpoint badges. Items never change the document; gestures do."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

from studio.canvas.items.port import PortItem
from studio.theme import canvas_colors

__all__ = ["BADGE_AFTER", "BADGE_BEFORE", "NodeItem", "RunStatus"]

WIDTH = 170.0
HEIGHT = 58.0
VIRTUAL_WIDTH = 96.0
VIRTUAL_HEIGHT = 40.0
BADGE_BEFORE = "before"
BADGE_AFTER = "after"


class RunStatus:
    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"  # running when the run was stopped
    WAITING = "waiting"  # a join whose wait_for sources have not all run yet


POLICY_ORDER = ("join", "retry", "timeout")
POLICY_LETTER = {"join": "J", "retry": "R", "timeout": "T"}


class NodeItem(QGraphicsObject):
    """One node (or the virtual Start/End). `node_id` is the document id; `position_changed` tells edges."""

    def __init__(self, node_id: str, type_name: str, *, virtual: bool = False) -> None:
        super().__init__()
        self.node_id = node_id
        self.type_name = type_name
        self.virtual = virtual
        self.status = RunStatus.IDLE
        self.step: int | None = None
        self.problems: list[str] = []
        self.status_message = ""
        self.breakpoints: set[str] = set()
        self.policies: dict[str, str] = {}
        """Node policy badges: "join" / "retry" / "timeout" -> the tooltip line (README "Node policies")."""
        self.edges: list[Any] = []
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsScenePositionChanges
        )
        self.setZValue(1)
        self.setAcceptHoverEvents(True)
        w, _h = self.size()
        self.in_port: PortItem | None = None
        self.out_port: PortItem | None = None
        if node_id != "Start":
            self.in_port = PortItem(self, "in")
            self.in_port.setPos(-w / 2, 0)
        if node_id != "End":
            self.out_port = PortItem(self, "out")
            self.out_port.setPos(w / 2, 0)
        self._update_tooltip()

    # ------------------------------------------------------------------ geometry

    def size(self) -> tuple[float, float]:
        return (VIRTUAL_WIDTH, VIRTUAL_HEIGHT) if self.virtual else (WIDTH, HEIGHT)

    def body_rect(self) -> QRectF:
        w, h = self.size()
        return QRectF(-w / 2, -h / 2, w, h)

    def boundingRect(self) -> QRectF:
        return self.body_rect().adjusted(-14, -16, 14, 12)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self.body_rect(), 8, 8)
        if not self.virtual:  # the breakpoint badges stick out of the card and must be clickable
            for which in (BADGE_BEFORE, BADGE_AFTER):
                path.addEllipse(self.badge_rect(which).adjusted(-3, -3, 3, 3))
        return path

    def badge_rect(self, which: str) -> QRectF:
        """Clickable breakpoint badge: "before" at the top-left corner, "after" at the top-right."""
        r = self.body_rect()
        x = r.left() + 4 if which == BADGE_BEFORE else r.right() - 16
        return QRectF(x, r.top() - 8, 12, 12)

    def badge_at(self, pos: QPointF) -> str | None:
        if self.virtual:
            return None
        for which in (BADGE_BEFORE, BADGE_AFTER):
            if self.badge_rect(which).adjusted(-3, -3, 3, 3).contains(pos):
                return which
        return None

    # ------------------------------------------------------------------ state

    def set_identity(self, node_id: str, type_name: str) -> None:
        self.node_id = node_id
        self.type_name = type_name
        self._update_tooltip()
        self.update()

    def set_policies(self, node: dict[str, Any]) -> None:
        """Badges from the node's `wait_for`, `retry` and `timeout_s` (absent or empty: no badge)."""
        policies: dict[str, str] = {}
        wait_for = node.get("wait_for")
        if isinstance(wait_for, list) and wait_for:
            policies["join"] = "join: waits for " + ", ".join(str(w) for w in wait_for)
        retry = node.get("retry")
        if isinstance(retry, dict):
            policies["retry"] = f"retry: up to {retry.get('max_attempts', '?')} attempts"
        timeout = node.get("timeout_s")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            policies["timeout"] = f"timeout: {timeout:g} s per attempt"
        if policies != self.policies:
            self.policies = policies
            self._update_tooltip()
            self.update()

    def policy_rect(self, which: str) -> QRectF:
        """Policy badges sit on the bottom edge from the left, clear of the breakpoint badges (top corners),
        the warning triangle (top centre) and the step badge (bottom right)."""
        r = self.body_rect()
        index = POLICY_ORDER.index(which)
        return QRectF(r.left() + 10 + index * 17, r.bottom() - 7, 15, 13)

    def set_status(self, status: str, step: int | None = None, message: str = "") -> None:
        self.status = status
        if step is not None or status == RunStatus.IDLE:
            self.step = step
        self.status_message = message
        self._update_tooltip()
        self.update()

    def set_problems(self, problems: list[str]) -> None:
        if problems != self.problems:
            self.problems = problems
            self._update_tooltip()
            self.update()

    def set_breakpoints(self, which: set[str]) -> None:
        if which != self.breakpoints:
            self.breakpoints = set(which)
            self.update()

    def _update_tooltip(self) -> None:
        lines = [f"{self.node_id} ({self.type_name})" if not self.virtual else self.node_id]
        if self.status != RunStatus.IDLE:
            step = f" at step {self.step}" if self.step is not None else ""
            lines.append(f"{self.status}{step}")
        if self.status_message:
            lines.append(self.status_message)
        lines += [f"⚠ {p}" for p in self.problems]
        lines += [self.policies[k] for k in POLICY_ORDER if k in self.policies]
        if not self.virtual:
            lines.append("click the top corners to toggle breakpoints before / after")
        self.setToolTip("\n".join(lines))

    # ------------------------------------------------------------------ Qt

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemScenePositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        colors = canvas_colors()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.body_rect()
        status_color = {
            RunStatus.RUNNING: colors.running,
            RunStatus.DONE: colors.done,
            RunStatus.SKIPPED: colors.skipped,
            RunStatus.FAILED: colors.failed,
            RunStatus.CANCELLED: colors.cancelled,
            RunStatus.WAITING: colors.skipped,
        }.get(self.status)
        border = colors.selected if self.isSelected() else (status_color or colors.node_border)
        width = 2.5 if (self.isSelected() or status_color is not None) else 1.2
        fill = colors.virtual_fill if self.virtual else colors.node_fill
        if self.status == RunStatus.SKIPPED:
            fill = QColor(fill)
            fill.setAlpha(150)
        painter.setPen(QPen(border, width))
        painter.setBrush(QBrush(fill))
        radius = rect.height() / 2 if self.virtual else 8.0
        painter.drawRoundedRect(rect, radius, radius)
        if status_color is not None and not self.virtual:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(status_color))
            painter.drawRoundedRect(QRectF(rect.left(), rect.top(), 6, rect.height()), 3, 3)
        self._paint_text(painter, rect, colors)
        if not self.virtual:
            self._paint_badges(painter, colors)
            self._paint_policies(painter, colors)
        if self.step is not None and self.status != RunStatus.IDLE:
            self._paint_step(painter, rect, status_color or colors.node_border)
        if self.problems:
            self._paint_problem(painter, rect, colors.problem)

    def _paint_text(self, painter: QPainter, rect: QRectF, colors: Any) -> None:
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(9.5)
        painter.setFont(font)
        painter.setPen(colors.node_text)
        metrics = QFontMetricsF(font)
        if self.virtual:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.node_id)
            return
        title = metrics.elidedText(self.node_id, Qt.TextElideMode.ElideRight, rect.width() - 24)
        painter.drawText(rect.adjusted(12, 8, -8, -rect.height() / 2), Qt.AlignmentFlag.AlignLeft, title)
        font.setBold(False)
        font.setPointSizeF(8.5)
        painter.setFont(font)
        painter.setPen(colors.node_subtext)
        shown = self.status
        if self.status == RunStatus.RUNNING and self.status_message:  # a retry: "attempt 2 of 3"
            shown = self.status_message
        sub = self.type_name + (f" · {shown}" if self.status != RunStatus.IDLE else "")
        painter.drawText(rect.adjusted(12, rect.height() / 2 + 2, -8, -4), Qt.AlignmentFlag.AlignLeft, sub)

    def _paint_badges(self, painter: QPainter, colors: Any) -> None:
        for which in (BADGE_BEFORE, BADGE_AFTER):
            r = self.badge_rect(which)
            on = which in self.breakpoints
            if not on and not self.isSelected() and not self.isUnderMouse():
                continue
            painter.setPen(QPen(colors.breakpoint, 1.2))
            painter.setBrush(QBrush(colors.breakpoint) if on else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(r)

    def _paint_policies(self, painter: QPainter, colors: Any) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(7)
        font.setBold(True)
        painter.setFont(font)
        for which in POLICY_ORDER:
            if which not in self.policies:
                continue
            r = self.policy_rect(which)
            painter.setPen(QPen(colors.node_border, 1.0))
            painter.setBrush(QBrush(colors.node_fill))
            painter.drawRoundedRect(r, 4, 4)
            painter.setPen(colors.node_text)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, POLICY_LETTER[which])

    def _paint_step(self, painter: QPainter, rect: QRectF, color: QColor) -> None:
        text = str(self.step)
        badge = QRectF(rect.right() - 30, rect.bottom() - 10, 26, 18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawRoundedRect(badge, 9, 9)
        font = QFont(painter.font())
        font.setPointSizeF(8)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    def problem_rect(self) -> QRectF:
        """Where the warning triangle goes: centred on the top edge, clear of both breakpoint badges."""
        r = self.body_rect()
        return QRectF(r.center().x() - 9, r.top() - 10, 18, 16)

    def _paint_problem(self, painter: QPainter, rect: QRectF, color: QColor) -> None:
        x, y = self.problem_rect().left(), self.problem_rect().top()
        path = QPainterPath()
        path.moveTo(x + 9, y)
        path.lineTo(x + 18, y + 16)
        path.lineTo(x, y + 16)
        path.closeSubpath()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawPath(path)
        painter.setPen(QColor("#ffffff"))
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(8)
        painter.setFont(font)
        painter.drawText(QRectF(x, y + 3, 18, 13), Qt.AlignmentFlag.AlignCenter, "!")

    def hoverEnterEvent(self, event: Any) -> None:
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        self.update()
        super().hoverLeaveEvent(event)
