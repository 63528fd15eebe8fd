"""The session timeline (`sessionTimeline`): a Gantt chart of a session's supersteps from its node records -
one lane per node, a bar per run coloured by status (retries marked with their attempt count), a dashed
barrier after each step, and a diamond at the checkpoint save time of each step. Zoom with the wheel (or the
buttons); click a bar to inspect that run (`bar_clicked(session_id, node, step)`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPalette, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
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


class _Bar(QGraphicsRectItem):
    def __init__(self, rect: QRectF, record: NodeRecord) -> None:
        super().__init__(rect)
        self.record = record


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
        self.bars: list[_Bar] = []
        self.barriers = 0
        self.saves = 0
        self.span_ms = 0.0
        self.lanes: list[str] = []
        self._bottom = 0.0

    def show_data(self, data: TimelineData) -> None:
        scene = self.scene()
        scene.clear()
        self.bars = []
        self.lanes = []
        self.resetTransform()
        records = data.records
        self.lanes = data.lanes
        if not records:
            self.span_ms = 0.0
            return
        pal = self.palette()
        text_color = pal.color(QPalette.ColorRole.Text)
        mid = pal.color(QPalette.ColorRole.Mid)
        t0 = min(r.started_at for r in records)
        lanes = {name: i for i, name in enumerate(data.lanes)}
        ends: dict[int, float] = {}
        starts: dict[int, float] = {}
        cosmetic = QPen(Qt.PenStyle.NoPen)
        retry_pen = QPen(text_color, 0)
        retry_pen.setCosmetic(True)
        retry_pen.setStyle(Qt.PenStyle.DashLine)
        brushes = {s: QBrush(QColor(c)) for s, c in STATUS_COLORS.items()}
        other = QBrush(QColor("#888888"))
        for rec in records:
            x = (rec.started_at - t0).total_seconds() * 1000.0
            w = max(rec.duration_ms, MIN_BAR_MS)
            y = TOP + lanes[rec.node] * LANE_H + (LANE_H - BAR_H) / 2
            bar = _Bar(QRectF(x, y, w, BAR_H), rec)
            bar.setBrush(brushes.get(rec.status, other))
            bar.setPen(retry_pen if rec.attempts > 1 else cosmetic)
            tip = f"{rec.node} · step {rec.step} · {rec.status} · {rec.duration_ms:.1f} ms"
            if rec.attempts > 1:
                tip += f" · {rec.attempts} attempts"
            bar.setToolTip(tip)
            bar.setCursor(Qt.CursorShape.PointingHandCursor)
            scene.addItem(bar)
            self.bars.append(bar)
            if rec.attempts > 1:  # retries marked: the attempt count beside the bar
                mark = QGraphicsSimpleTextItem(f"\u21bb{rec.attempts}")
                mark.setBrush(QBrush(QColor("#ffffff")))  # on the bar's own colour, both themes
                mark.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                mark.setPos(x, y + 1)
                mark.setZValue(2)
                mark.setToolTip(tip)
                scene.addItem(mark)
            ends[rec.step] = max(ends.get(rec.step, x), x + w)
            starts[rec.step] = min(starts.get(rec.step, x), x)
        bottom = TOP + len(lanes) * LANE_H
        barrier_pen = QPen(mid, 0)
        barrier_pen.setCosmetic(True)
        barrier_pen.setStyle(Qt.PenStyle.DashLine)
        self.barriers = 0
        for step, end in ends.items():
            scene.addLine(end, TOP - 6, end, bottom, barrier_pen)
            self.barriers += 1
            number = QGraphicsSimpleTextItem(str(step))
            number.setBrush(QBrush(mid))
            number.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            number.setPos(starts[step], 0)
            number.setToolTip(f"step {step}")
            scene.addItem(number)
        saved = {s.step: (s.saved_at - t0).total_seconds() * 1000.0 for s in data.steps}
        save_brush = QBrush(pal.color(QPalette.ColorRole.Highlight))
        self.saves = 0
        right = max(ends.values())
        for step, x in saved.items():
            if step not in ends and step not in starts:
                continue
            diamond = QGraphicsPolygonItem(
                QPolygonF([QPointF(0, -5), QPointF(5, 0), QPointF(0, 5), QPointF(-5, 0)])
            )
            diamond.setBrush(save_brush)
            diamond.setPen(QPen(Qt.PenStyle.NoPen))
            diamond.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            diamond.setPos(x, TOP - 12)
            after = x - ends.get(step, x)
            diamond.setToolTip(
                f"step {step} saved at {data_time(data, step)} ({after:+.1f} ms after its barrier)"
            )
            scene.addItem(diamond)
            self.saves += 1
            right = max(right, x)
        self.span_ms = right
        self._bottom = bottom
        self.fit()

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
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, _Bar):
            self.bar_clicked.emit(item.record.node, item.record.step)
            event.accept()
            return
        super().mousePressEvent(event)


def data_time(data: TimelineData, step: int) -> str:
    for s in data.steps:
        if s.step == step:
            return s.saved_at.strftime("%H:%M:%S.%f")[:-3]
    return "?"


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
