"""The session timeline (`sessionTimeline`): a Gantt chart of a session's supersteps from its node records -
one lane per node, a bar per run coloured by status (retries marked with their attempt count), a dashed
barrier after each step, and a diamond at the checkpoint save time of each step. Zoom with the wheel (or the
buttons); click a bar to inspect that run (`bar_clicked(session_id, node, step)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPalette, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from engine.node_records import NodeRecord
from studio.controllers.debug import TimelineData
from studio.panels.node_inspector import STATUS_COLORS
from studio.widgets.labels import shrinkable

__all__ = ["SessionTimeline", "TimelineView"]

LANE_H = 26.0
BAR_H = 16.0
TOP = 34.0  # the step numbers and the save-time row sit above the lanes
GUTTER = 76  # pixels on the left for the lane names (drawn over the view, never scaled)
MIN_BAR_MS = 0.05  # a run too short to see still gets a sliver


@dataclass(frozen=True, slots=True)
class Bar:
    """One node run on the chart: its record, its rectangle (scene units: ms and pixels) and colour."""

    record: NodeRecord
    rect: QRectF
    color: QColor

    @property
    def retried(self) -> bool:
        return self.record.attempts > 1

    def tooltip(self) -> str:
        rec = self.record
        tip = f"{rec.node} · step {rec.step} · {rec.status} · {rec.duration_ms:.1f} ms"
        return tip + (f" · {rec.attempts} attempts" if rec.attempts > 1 else "")


class _Chart(QGraphicsItem):
    """Every bar, barrier, step number and save marker, painted by one item (thousands of steps stay
    fast: only what is exposed is painted; markers and text are drawn in device pixels, so zoom never
    stretches them)."""

    def __init__(self, view: TimelineView) -> None:
        super().__init__()
        self.view = view
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:
        return QRectF(-1e6, 0, self.view.span_ms + 2e6, self.view._bottom + 8)

    def paint(self, painter: QPainter, option: Any, widget: QWidget | None = None) -> None:
        v = self.view
        exposed: QRectF = option.exposedRect
        left, right = exposed.left(), exposed.right()
        pal = v.palette()
        text = pal.color(QPalette.ColorRole.Text)
        mid = pal.color(QPalette.ColorRole.Mid)
        dash = QPen(text, 0)
        dash.setCosmetic(True)
        dash.setStyle(Qt.PenStyle.DashLine)
        fills: dict[int, tuple[QColor, list[QRectF]]] = {}  # one drawRects call per colour
        retried: list[QRectF] = []
        for bar in v.bars:
            r = bar.rect
            if r.right() < left or r.left() > right:
                continue
            key = bar.color.rgba()
            if key not in fills:
                fills[key] = (bar.color, [])
            fills[key][1].append(r)
            if bar.retried:  # retries marked: a dashed outline (and the count, below)
                retried.append(r)
        painter.setPen(Qt.PenStyle.NoPen)
        for color, rects in fills.values():
            painter.setBrush(color)
            painter.drawRects(rects)
        if retried:
            painter.setPen(dash)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRects(retried)
        barrier = QPen(mid, 0)
        barrier.setCosmetic(True)
        barrier.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(barrier)
        for x in v.barrier_x:
            if left <= x <= right:
                painter.drawLine(QPointF(x, TOP - 6), QPointF(x, v._bottom))
        # device-space overlays: step numbers, save diamonds, retry counts
        to_device = painter.worldTransform()
        scale = to_device.m11()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        last_px = -1e9
        painter.setPen(mid)
        for step, x in v.step_x:
            if not left <= x <= right:
                continue
            px = to_device.map(QPointF(x, 0))
            if px.x() - last_px < 22:  # keep the numbers readable: skip the ones that would touch
                continue
            last_px = px.x()
            painter.drawText(QPointF(px.x() + 1, 11), str(step))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.Highlight))
        dx, cy = to_device.dx(), to_device.map(QPointF(0, TOP - 12)).y()
        last_sx = -1e9
        for _step, x, _after in v.save_x:
            if left - 10 / scale <= x <= right + 10 / scale:
                sx = x * scale + dx
                if sx - last_sx < 1:  # a marker on the same pixel as the last adds nothing
                    continue
                last_sx = sx
                c = QPointF(sx, cy)
                painter.drawPolygon(
                    QPolygonF(
                        [
                            QPointF(c.x(), c.y() - 5),
                            QPointF(c.x() + 5, c.y()),
                            QPointF(c.x(), c.y() + 5),
                            QPointF(c.x() - 5, c.y()),
                        ]
                    )
                )
        painter.setPen(QColor("#ffffff"))  # on the bar's own colour, both themes
        for bar in v.bars:
            if bar.retried and left <= bar.rect.left() <= right and bar.rect.width() * scale >= 18:
                tl = to_device.map(bar.rect.topLeft())
                painter.drawText(QPointF(tl.x() + 2, tl.y() + BAR_H - 4), f"\u21bb{bar.record.attempts}")
        painter.restore()


class TimelineView(QGraphicsView):
    """The chart; x is milliseconds since the session's first node started (scaled by the zoom)."""

    bar_clicked = Signal(str, int)  # node, step

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.bars: list[Bar] = []
        self.barrier_x: list[float] = []
        self.step_x: list[tuple[int, float]] = []
        self.save_x: list[tuple[int, float, float]] = []  # step, x, ms after its barrier
        self.span_ms = 0.0
        self.lanes: list[str] = []
        self._bottom = 0.0
        self._saved_at: dict[int, Any] = {}  # step -> datetime
        self._chart: _Chart | None = None

    @property
    def barriers(self) -> int:
        return len(self.barrier_x)

    @property
    def saves(self) -> int:
        return len(self.save_x)

    def show_data(self, data: TimelineData) -> None:
        scene = self.scene()
        scene.clear()
        self._chart = None
        self.bars, self.barrier_x, self.step_x, self.save_x = [], [], [], []
        self.resetTransform()
        records = data.records
        self.lanes = data.lanes
        if not records:
            self.span_ms = 0.0
            return
        t0 = min(r.started_at for r in records)
        lanes = {name: i for i, name in enumerate(data.lanes)}
        ends: dict[int, float] = {}
        starts: dict[int, float] = {}
        colors = {s: QColor(c) for s, c in STATUS_COLORS.items()}
        other = QColor("#888888")
        for rec in records:
            x = (rec.started_at - t0).total_seconds() * 1000.0
            w = max(rec.duration_ms, MIN_BAR_MS)
            y = TOP + lanes[rec.node] * LANE_H + (LANE_H - BAR_H) / 2
            self.bars.append(Bar(rec, QRectF(x, y, w, BAR_H), colors.get(rec.status, other)))
            ends[rec.step] = max(ends.get(rec.step, x), x + w)
            starts[rec.step] = min(starts.get(rec.step, x), x)
        self.barrier_x = sorted(ends.values())
        self.step_x = sorted(starts.items(), key=lambda item: item[1])
        right = max(ends.values())
        self._saved_at = {}
        for s in data.steps:
            if s.step not in ends:
                continue
            x = (s.saved_at - t0).total_seconds() * 1000.0
            self.save_x.append((s.step, x, x - ends[s.step]))
            self._saved_at[s.step] = s.saved_at
            right = max(right, x)
        self.span_ms = right
        self._bottom = TOP + len(lanes) * LANE_H
        self._chart = _Chart(self)
        scene.addItem(self._chart)
        self.fit()

    def bar_at(self, scene_pos: QPointF) -> Bar | None:
        """The bar under a scene point (a few pixels of slack for very short runs)."""
        slack = 3 / max(self.transform().m11(), 1e-9)
        for bar in self.bars:
            r = bar.rect
            if (
                r.top() <= scene_pos.y() <= r.bottom()
                and r.left() - slack <= scene_pos.x() <= r.right() + slack
            ):
                return bar
        return None

    def fit(self) -> None:
        """Zoom so the whole session fits the width (beside the lane names)."""
        if self.span_ms <= 0:
            return
        self.resetTransform()
        width = max(self.viewport().width() - GUTTER - 24, 100)
        scale = width / max(self.span_ms, 1e-3)
        self.scale(scale, 1.0)
        pad = (GUTTER + 4) / scale
        self.scene().setSceneRect(QRectF(-pad, 0, self.span_ms + pad + 20 / scale, self._bottom + 8))
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        """The lane names at the left edge of the view, readable at any zoom and scroll position."""
        if not self.lanes:
            return
        painter.save()
        painter.resetTransform()
        pal = self.palette()
        back = QColor(pal.color(QPalette.ColorRole.Base))
        back.setAlpha(225)
        painter.fillRect(0, 0, GUTTER, self.viewport().height(), back)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        for i, name in enumerate(self.lanes):
            y = self.mapFromScene(QPointF(0, TOP + i * LANE_H)).y()
            painter.drawText(6, y, GUTTER - 8, int(LANE_H), Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()

    def zoom(self, factor: float) -> None:
        self.scale(factor, 1.0)

    def zoom_factor(self) -> float:
        return float(self.transform().m11())

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.zoom(factor)
        self.setTransformationAnchor(anchor)
        event.accept()

    def mousePressEvent(self, event: Any) -> None:
        bar = self.bar_at(self.mapToScene(event.position().toPoint()))
        if bar is not None:
            self.bar_clicked.emit(bar.record.node, bar.record.step)
            event.accept()
            return
        super().mousePressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            scene_pos = self.mapToScene(event.pos())
            bar = self.bar_at(scene_pos)
            tip = bar.tooltip() if bar is not None else self._save_tip(scene_pos)
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def _save_tip(self, scene_pos: QPointF) -> str:
        if abs(scene_pos.y() - (TOP - 12)) > 7:
            return ""
        slack = 6 / max(self.transform().m11(), 1e-9)
        for step, x, after in self.save_x:
            if abs(scene_pos.x() - x) <= slack:
                at = self._saved_at[step].strftime("%H:%M:%S.%f")[:-3]
                return f"step {step} saved at {at} ({after:+.1f} ms after its barrier)"
        return ""


class SessionTimeline(QWidget):
    """The timeline tab: a title line, zoom buttons and the chart."""

    bar_clicked = Signal(str, str, int)  # session id, node, step
    loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionTimeline")
        self.data: TimelineData | None = None
        self.title = QLabel("Select a session to see its timeline.")
        self.title.setObjectName("timelineTitle")
        shrinkable(self.title)
        self.view = TimelineView()
        self.zoom_in = QPushButton("+")
        self.zoom_in.setObjectName("timelineZoomIn")
        self.zoom_out = QPushButton("\u2212")
        self.zoom_out.setObjectName("timelineZoomOut")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setObjectName("timelineFit")
        for b in (self.zoom_in, self.zoom_out, self.fit_button):
            b.setMaximumWidth(48)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(self.zoom_out)
        row.addWidget(self.zoom_in)
        row.addWidget(self.fit_button)
        legend = QLabel(
            "  ".join(f"<span style='color:{c}'>\u25a0</span> {s}" for s, c in STATUS_COLORS.items())
            + "  \u21bbN retried &nbsp; \u25c6 checkpoint saved &nbsp; ┆ step barrier"
        )
        legend.setObjectName("timelineLegend")
        shrinkable(legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(legend)
        self.zoom_in.clicked.connect(lambda: self.view.zoom(1.5))
        self.zoom_out.clicked.connect(lambda: self.view.zoom(1 / 1.5))
        self.fit_button.clicked.connect(self.view.fit)
        self.view.bar_clicked.connect(self._on_view_bar_clicked)

    def show_data(self, data: TimelineData) -> None:
        self.data = data
        if not data.records:
            self.title.setText(
                f"Session '{data.session_id}' has no node records (made before records or with records off)."
            )
        self.view.show_data(data)
        if data.records:
            steps = len({r.step for r in data.records})
            self.title.setText(
                f"Session '{data.session_id}': {steps} steps, {len(data.records)} node runs over"
                f" {self.view.span_ms:.1f} ms"
            )
        self.loaded.emit()

    def clear(self) -> None:
        self.data = None
        self.view.scene().clear()
        self.view.bars = []
        self.title.setText("Select a session to see its timeline.")

    def _on_view_bar_clicked(self, node: str, step: int) -> None:
        if self.data is not None:
            self.bar_clicked.emit(self.data.session_id, node, step)
