"""A node on the canvas: a plainly painted card (no proxy widgets) with its id, type, ports, run status,
step badge, problem mark and breakpoint badges. Items never change the document; gestures do.

Human in the loop: an `ask` node has its own look (a teal border and a "?" badge); a node waiting for an
answer (run status "asking") gets a pulsing halo, an hourglass badge and its prompt in the tooltip until the
answer comes and it runs again."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

from studio.canvas.items.port import PortItem
from studio.theme import canvas_colors, is_dark

__all__ = ["ASK_TYPE", "BADGE_AFTER", "BADGE_BEFORE", "NodeItem", "RunStatus"]

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
    ASKING = "asking"  # ctx.interrupt waits for a person's answer (studio.controllers.run_interrupts.ASKING)


ASK_TYPE = "ask"
ASK_COLOURS = {False: QColor("#0e7f96"), True: QColor("#4fc3dc")}
"""The human-in-the-loop accent on the light (False) and dark (True) canvas."""
PULSE_MS = 60


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
        self.pulse = 0.0
        """Phase (0..1) of the waiting halo; it moves only while the node is asking."""
        self._pulse_timer: QTimer | None = None
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
        self._animate(status == RunStatus.ASKING)
        self._update_tooltip()
        self.update()

    @property
    def asking(self) -> bool:
        return self.status == RunStatus.ASKING

    def _animate(self, on: bool) -> None:
        if on and self._pulse_timer is None:
            self._pulse_timer = QTimer(self)
            self._pulse_timer.setInterval(PULSE_MS)
            self._pulse_timer.timeout.connect(self._on_pulse_timeout)
            self._pulse_timer.start()
        elif not on and self._pulse_timer is not None:
            self._pulse_timer.stop()
            self._pulse_timer.deleteLater()
            self._pulse_timer = None
            self.pulse = 0.0

    def _on_pulse_timeout(self) -> None:
        self.pulse = (self.pulse + PULSE_MS / 1600.0) % 1.0
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
            shown = "waiting for an answer" if self.asking else self.status
            lines.append(f"{shown}{step}")
        if self.status_message:
            lines.append(f"asks: {self.status_message}" if self.asking else self.status_message)
        if self.asking:
            lines.append("answer in the run console or the Inbox panel")
        elif self.type_name == ASK_TYPE and not self.virtual:
            lines.append("asks a person: the run waits here for an answer")
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
            RunStatus.ASKING: ASK_COLOURS[is_dark()],
        }.get(self.status)
        is_ask = self.type_name == ASK_TYPE and not self.virtual
        if self.asking:
            self._paint_halo(painter, rect)
        border = colors.selected if self.isSelected() else (status_color or colors.node_border)
        if is_ask and status_color is None and not self.isSelected():
            border = ASK_COLOURS[is_dark()]
        width = 2.5 if (self.isSelected() or status_color is not None) else (1.8 if is_ask else 1.2)
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
        if self.asking and not self.virtual:
            self._paint_hourglass(painter, self.corner_badge_rect())
        elif is_ask:
            self._paint_question(painter, self.corner_badge_rect())
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
        room = 40 if (self.asking or self.type_name == ASK_TYPE) else 24  # the corner badge's place
        title = metrics.elidedText(self.node_id, Qt.TextElideMode.ElideRight, rect.width() - room)
        painter.drawText(rect.adjusted(12, 8, -8, -rect.height() / 2), Qt.AlignmentFlag.AlignLeft, title)
        font.setBold(False)
        font.setPointSizeF(8.5)
        painter.setFont(font)
        painter.setPen(colors.node_subtext)
        shown = self.status
        if self.status == RunStatus.RUNNING and self.status_message:  # a retry: "attempt 2 of 3"
            shown = self.status_message
        elif self.asking:
            shown = "waiting for an answer"
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

    def corner_badge_rect(self) -> QRectF:
        """The `ask` node's "?" and the waiting hourglass: inside the card's top-right corner, under the
        "after" breakpoint badge and clear of the step badge (bottom right)."""
        r = self.body_rect()
        return QRectF(r.right() - 24, r.top() + 6, 16, 18)

    def _paint_halo(self, painter: QPainter, rect: QRectF) -> None:
        """The waiting node's pulsing ring (its radius and opacity follow `pulse`)."""
        wave = 0.5 - 0.5 * math.cos(2 * math.pi * self.pulse)
        colour = QColor(ASK_COLOURS[is_dark()])
        colour.setAlpha(int(70 + 150 * (1 - wave)))
        grow = 2 + 6 * wave
        painter.setPen(QPen(colour, 2.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(-grow, -grow, grow, grow), 8 + grow, 8 + grow)

    def _paint_hourglass(self, painter: QPainter, box: QRectF) -> None:
        colour = ASK_COLOURS[is_dark()]
        painter.setPen(QPen(colour, 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        x0, x1, y0, y1 = box.left() + 2, box.right() - 2, box.top() + 1, box.bottom() - 1
        mid_x, mid_y = box.center().x(), box.center().y()
        painter.drawLine(QPointF(x0 - 1, y0), QPointF(x1 + 1, y0))
        painter.drawLine(QPointF(x0 - 1, y1), QPointF(x1 + 1, y1))
        glass = QPainterPath()
        glass.moveTo(x0, y0)
        glass.lineTo(x1, y0)
        glass.lineTo(mid_x + 1, mid_y)
        glass.lineTo(x1, y1)
        glass.lineTo(x0, y1)
        glass.lineTo(mid_x - 1, mid_y)
        glass.closeSubpath()
        painter.drawPath(glass)
        sand = QPainterPath()  # the sand runs down as the halo pulses
        level = 0.25 + 0.6 * self.pulse
        top_y = y0 + (mid_y - y0) * level
        half = (x1 - x0) / 2 * (1 - level)
        sand.moveTo(mid_x - half, top_y)
        sand.lineTo(mid_x + half, top_y)
        sand.lineTo(mid_x, mid_y)
        sand.closeSubpath()
        bottom_h = (y1 - mid_y) * (0.2 + 0.6 * self.pulse)
        sand.addRect(QRectF(x0 + 1.5, y1 - bottom_h, x1 - x0 - 3, bottom_h))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(colour))
        painter.drawPath(sand)

    def _paint_question(self, painter: QPainter, box: QRectF) -> None:
        colour = ASK_COLOURS[is_dark()]
        circle = QRectF(box.center().x() - 8, box.center().y() - 8, 16, 16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(colour))
        painter.drawEllipse(circle)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(8.5)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff") if not is_dark() else QColor("#10262b"))
        painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, "?")

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
