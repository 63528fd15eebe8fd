"""Live sink health (`sinkHealth`): a table of every sink of the studio's event bus (handled, errors, last
error, when, queue depth, dropped) and pyqtgraph plots of events/s by type and errors + drops per sink over
the last minutes (numpy ring buffers, `setData` on a timer). Sinks can be attached from the UI."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.events.event import EVENT_TYPES, Event
from studio.bridge import Bridge, EventPump, one_line
from studio.widgets.labels import shrinkable
from studio.widgets.plots import ThemedPlot

__all__ = ["RateHistory", "SinkHealthModel", "SinkHealthPanel"]

HEALTH_COLUMNS = ("sink", "handled", "errors", "last error", "when", "queue", "dropped")
_Index = QModelIndex | QPersistentModelIndex
_TYPE_COLOURS = {"node": "#2f7de1", "lifecycle": "#2e9e5b", "diagnostic": "#9b59b6", "llm": "#f0a30a"}
MIN_SPAN_S = 60
_SINK_COLOURS = ["#d64541", "#f0a30a", "#9b59b6", "#2f7de1", "#16a085", "#7f8c8d"]


class RateHistory:
    """Fixed-size numpy ring buffers of per-second samples, one row per series."""

    def __init__(self, seconds: int = 300) -> None:
        self.size = seconds
        self._series: dict[str, np.ndarray] = {}
        self._head = 0
        self._filled = 0

    def names(self) -> list[str]:
        return list(self._series)

    def drop(self, name: str) -> None:
        """Forget a series (its sink was detached)."""
        self._series.pop(name, None)

    @property
    def filled(self) -> int:
        """How many samples are stored (up to `size`)."""
        return self._filled

    def peak(self) -> float:
        """The largest sample of every series (0 when empty)."""
        return max((float(buf.max()) for buf in self._series.values()), default=0.0)

    def push(self, values: dict[str, float]) -> None:
        """Append one sample per series (missing series get 0; new series start from zeros)."""
        for name in values:
            if name not in self._series:
                self._series[name] = np.zeros(self.size, dtype=np.float64)
        for name, buf in self._series.items():
            buf[self._head] = values.get(name, 0.0)
        self._head = (self._head + 1) % self.size
        self._filled = min(self._filled + 1, self.size)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x seconds relative to now, y) in time order, only the filled part."""
        buf = self._series[name]
        n = self._filled
        if n < self.size:
            y = buf[:n]
        else:
            y = np.concatenate((buf[self._head :], buf[: self._head]))
        x = np.arange(-n + 1, 1, dtype=np.float64)
        return x, y


class SinkHealthModel(QAbstractTableModel):
    """Rows of `SinkHealth` records (replaced on each refresh; rows are few)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def set_rows(self, rows: list[Any]) -> None:
        if len(rows) != len(self._rows):
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            return
        self._rows = rows
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(HEALTH_COLUMNS) - 1))

    def row(self, i: int) -> Any:
        return self._rows[i]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEALTH_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEALTH_COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        h = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            when = h.last_error_at.astimezone().strftime("%H:%M:%S") if h.last_error_at else ""
            values = (h.sink, h.handled, h.error_count, h.last_error or "", when, h.queue_depth, h.dropped)
            return values[col]
        if role == Qt.ItemDataRole.ForegroundRole:
            if (col in (2, 3, 4) and h.error_count) or (col == 6 and h.dropped):
                return QBrush(QColor("#d64541"))
        if role == Qt.ItemDataRole.ToolTipRole and col == 3:
            return h.last_error
        return None


class SinkHealthPanel(QWidget):
    """Refreshes every `interval_ms` from `bus.sink_health()`; counts events per type from its own bus
    subscription (batched by an EventPump owned by this panel)."""

    def __init__(
        self, bridge: Bridge, bus: Any, parent: QWidget | None = None, *, interval_ms: int = 1000
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sinkHealth")
        self.bridge = bridge
        self.bus = bus
        self.model = SinkHealthModel(self)
        self.rates = RateHistory(300)
        self.problems = RateHistory(300)
        self._counts: dict[str, int] = {}
        self._last_sink: dict[str, tuple[int, int]] = {}
        self._last_tick = time.monotonic()
        self._listening = False
        self._pump = EventPump(bridge, interval_ms=100, max_batch=20000, parent=self)
        self._pump.batch_ready.connect(self._on_pump_batch_ready)

        self._rate_curves: dict[str, Any] = {}
        self._problem_curves: dict[str, Any] = {}
        top = self._build_sinks_box()
        plots = self._build_plots()
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(plots)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([160, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(split)

        self.attach_file.clicked.connect(self._on_attach_file_clicked)
        self.attach_stdout.clicked.connect(self.attach_stdout_sink)
        self.detach_button.clicked.connect(self.detach_selected)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def _build_sinks_box(self) -> QWidget:
        """Attach / Detach buttons, the bus summary, a notice line and the sinks table."""
        self.table = QTableView(self)
        self.table.setObjectName("sinkTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.attach_file = QPushButton("Attach JSON Lines file…", self)
        self.attach_file.setObjectName("attachJsonl")
        self.attach_stdout = QPushButton("Attach stdout", self)
        self.attach_stdout.setObjectName("attachStdout")
        self.detach_button = QPushButton("Detach", self)
        self.detach_button.setObjectName("detachSink")
        self.detach_button.setToolTip("Detach the selected sink (it finishes its queue and is closed)")
        self.detach_button.setEnabled(False)
        self.summary = QLabel(self)
        self.summary.setObjectName("busSummary")
        shrinkable(self.summary)
        self.notice = QLabel(self)
        self.notice.setStyleSheet("color: #d64541;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.attach_file)
        buttons.addWidget(self.attach_stdout)
        buttons.addWidget(self.detach_button)
        buttons.addWidget(self.summary, 1)  # takes the rest of the row, right-aligned, never widens it
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top = QWidget(self)
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(buttons)
        tl.addWidget(self.notice)
        tl.addWidget(self.table, 1)
        return top

    def _build_plots(self) -> QSplitter:
        """Events per second by type, and errors + drops per sink (or a sentence when there are none)."""
        pg.setConfigOptions(antialias=False)
        self.rate_plot = self._plot("eventRatePlot", "events / s by type")
        self.problem_plot = self._plot("sinkProblemPlot", "errors + drops / s per sink")
        self.no_sinks = QLabel(
            "No sinks attached: attach a JSON Lines file or stdout above to watch its errors and drops here.",
            self,
        )
        self.no_sinks.setObjectName("noSinks")
        self.no_sinks.setWordWrap(True)
        self.no_sinks.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.problem_stack = QStackedWidget(self)
        self.problem_stack.addWidget(self.no_sinks)
        self.problem_stack.addWidget(self.problem_plot)
        plots = QSplitter(Qt.Orientation.Horizontal, self)
        plots.addWidget(self.rate_plot)
        plots.addWidget(self.problem_stack)
        return plots

    def _plot(self, name: str, title: str) -> ThemedPlot:
        """A themed plot of the last `rates.size` seconds: newest at the right edge (x = 0), the legend at
        the top left over the oldest samples, y from 0 (rates are never negative)."""
        plot = ThemedPlot(title, self)
        plot.setObjectName(name)
        plot.addLegend(offset=(8, 5))
        plot.setLabel("bottom", "seconds")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMouseEnabled(x=False, y=False)
        plot.setXRange(-MIN_SPAN_S + 1, 0, padding=0)
        plot.setYRange(0, 1, padding=0)
        plot.setLimits(yMin=0)
        plot.apply_palette()
        return plot

    # ------------------------------------------------------------------ data

    def listen(self) -> None:
        if not self._listening:
            self._listening = True
            self._pump.pump(self.bus.subscribe(capacity=1_000_000), name="sink-health-events")

    def _on_pump_batch_ready(self, batch: list[Event]) -> None:
        counts = self._counts
        for ev in batch:
            counts[ev.type] = counts.get(ev.type, 0) + 1

    def refresh(self) -> None:
        """Sample rates since the last refresh, update the table and the curves."""
        now = time.monotonic()
        elapsed = max(now - self._last_tick, 1e-3)
        self._last_tick = now
        health = self.bus.sink_health()
        self.model.set_rows(health)
        rates = {t: 0.0 for t in EVENT_TYPES}
        for t, n in self._counts.items():
            rates[t] = n / elapsed
        self._counts = {}
        self.rates.push(rates)
        problems: dict[str, float] = {}
        for h in health:
            prev_err, prev_drop = self._last_sink.get(h.sink, (h.error_count, h.dropped))
            new = max(0, h.error_count - prev_err) + max(0, h.dropped - prev_drop)
            problems[h.sink] = new / elapsed
            self._last_sink[h.sink] = (h.error_count, h.dropped)
        self.problems.push(problems)
        metrics = self.bus.metrics()
        self.summary.setText(
            f"published {metrics.get('published', 0)} · dropped {metrics.get('dropped', 0)} · "
            f"sinks {metrics.get('sinks', len(health))}"
        )
        self._draw()

    def _draw(self) -> None:
        self.problem_stack.setCurrentWidget(self.problem_plot if self.model.rowCount() else self.no_sinks)
        added = self._draw_curves()
        # the last minute at first, growing to the whole history as it fills: newest at the right edge
        span = min(self.rates.size, max(MIN_SPAN_S, self.rates.filled))
        for plot, history in ((self.rate_plot, self.rates), (self.problem_plot, self.problems)):
            plot.setYRange(0, max(1.0, history.peak() * 1.1), padding=0)
            plot.setXRange(-span + 1, 0, padding=0)
            if added:
                plot.theme_legend()

    def _draw_curves(self) -> bool:
        """Update every curve; True when a new one (a new legend entry) was added."""
        before = len(self._rate_curves) + len(self._problem_curves)
        for name in self.rates.names():
            curve = self._rate_curves.get(name)
            if curve is None:
                pen = pg.mkPen(_TYPE_COLOURS.get(name, "#7f8c8d"), width=1.5)
                curve = self._rate_curves[name] = self.rate_plot.plot(name=name, pen=pen)
            x, y = self.rates.series(name)
            curve.setData(x, y, skipFiniteCheck=True)
        for i, name in enumerate(self.problems.names()):
            curve = self._problem_curves.get(name)
            if curve is None:
                pen = pg.mkPen(_SINK_COLOURS[i % len(_SINK_COLOURS)], width=1.5)
                curve = self._problem_curves[name] = self.problem_plot.plot(name=name, pen=pen)
            x, y = self.problems.series(name)
            curve.setData(x, y, skipFiniteCheck=True)
        return len(self._rate_curves) + len(self._problem_curves) > before

    # ------------------------------------------------------------------ attaching sinks

    def attach(self, sink: Any) -> bool:
        try:
            self.bus.add_sink(sink)
        except Exception as exc:
            self.notice.setText(f"Could not attach sink: {exc}")
            self.notice.show()
            return False
        self.notice.hide()
        self.refresh()
        return True

    def selected_sink(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        sinks = self.bus.sinks
        return sinks[rows[0].row()] if rows and rows[0].row() < len(sinks) else None

    def _on_table_selection_changed(self, *_args: object) -> None:
        self.detach_button.setEnabled(self.selected_sink() is not None)

    def detach_selected(self) -> None:
        """Detach the selected sink in the background (it drains its queue and is closed)."""
        sink = self.selected_sink()
        if sink is None:
            return
        name = self.model.row(self.table.selectionModel().selectedRows()[0].row()).sink
        self.detach_button.setEnabled(False)
        self.bridge.guarded(
            self._detach(sink, name), f"detaching {name}", owner=self, on_error=self._on_detach_error
        )

    async def _detach(self, sink: Any, name: str) -> None:
        await self.bus.remove_sink(sink)
        curve = self._problem_curves.pop(name, None)
        if curve is not None:
            self.problem_plot.removeItem(curve)
        self.problems.drop(name)
        self._last_sink.pop(name, None)
        self.notice.hide()
        self.refresh()

    def _on_detach_error(self, what: str, exc: BaseException) -> None:
        self.notice.setText(f"{what} failed: {one_line(exc)}")
        self.notice.show()

    def attach_jsonl(self, path: str) -> bool:
        from engine.events.sinks import JsonLinesSink

        try:
            sink = JsonLinesSink.to_file(path, append=True)
        except OSError as exc:
            self.notice.setText(f"Could not open {path}: {exc.strerror or exc}")
            self.notice.show()
            return False
        return self.attach(sink)

    def attach_stdout_sink(self) -> bool:
        from engine.events.sinks import StdOutSink

        return self.attach(StdOutSink())

    def _on_attach_file_clicked(self) -> None:
        dialog = QFileDialog(self, "Write events to a JSON Lines file")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("JSON Lines (*.jsonl);;All files (*)")
        dialog.setDefaultSuffix("jsonl")
        dialog.fileSelected.connect(self.attach_jsonl)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
