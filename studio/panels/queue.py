"""The Queue panel (`queuePanel`, STUDIO.md "Queue"): for a PostgreSQL database, the queue's jobs (filtered by
status, refreshed every second), the workers with their heartbeat age and jobs done, a live jobs/s plot,
"Submit to queue" for the open document with an input, Cancel for the selected job, and the live events of the
selected job's session as the workers on other machines store them (`queueEvents`)."""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.queue import QueueController, QueueSnapshot
from studio.widgets.plots import ThemedPlot

__all__ = ["QueuePanel"]

STATUSES = ("all", "queued", "running", "completed", "failed", "interrupted", "cancelled")
JOB_HEADERS = ["id", "graph", "session", "status", "worker", "step", "error"]
WORKER_HEADERS = ["host", "pid", "graphs", "concurrency", "heartbeat age", "jobs done"]
EVENT_HEADERS = ["seq", "time", "scope", "node", "step", "message"]
HISTORY = 120
"""Points of the jobs/s plot (one per refresh)."""
MAX_EVENTS = 5000
"""Rows the events table keeps (the oldest go first)."""


class QueuePanel(QWidget):
    """`graph_name()` and `default_input()` give the open document's name and input for "Submit to queue"."""

    def __init__(
        self,
        controller: QueueController,
        graph_name: Callable[[], str | None],
        default_input: Callable[[], dict[str, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.controller = controller
        self._graph_name = graph_name
        self._default_input = default_input
        self.rates: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self.shown_job: int | None = None
        """The job whose session's events the events table shows."""
        self._filling = False

        self.url = QLineEdit(self)
        self.url.setObjectName("queueUrl")
        self.url.setPlaceholderText("postgresql://user@host/db")
        self.connect_button = QPushButton("Connect", self)
        self.connect_button.setObjectName("queueConnect")
        self.status_filter = QComboBox(self)
        self.status_filter.setObjectName("queueStatusFilter")
        self.status_filter.addItems(STATUSES)
        self.input = QLineEdit(self)
        self.input.setObjectName("queueInput")
        self.input.setPlaceholderText('input JSON (empty: the document\'s input), e.g. {"extra": {}}')
        self.submit_button = QPushButton("Submit to queue", self)
        self.submit_button.setObjectName("queueSubmit")
        self.cancel_button = QPushButton("Cancel job", self)
        self.cancel_button.setObjectName("queueCancel")
        self.notice = QLabel("", self)
        self.notice.setObjectName("queueNotice")
        self.jobs = self._table("queueJobs", JOB_HEADERS, [44, 110, 150, 80, 120, 40])
        self.workers = self._table("queueWorkers", WORKER_HEADERS, [110, 60, 160, 90, 100])
        self.events = self._table("queueEvents", EVENT_HEADERS, [50, 95, 115, 60, 40])
        self.events_title = QLabel("Select a job to see its session's events, live", self)
        self.events_title.setObjectName("queueEventsTitle")
        self.plot = ThemedPlot("jobs completed per second", self)
        self.plot.setObjectName("queueRatePlot")
        self.plot.setLabel("bottom", "refreshes ago")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setLimits(yMin=0)
        self.plot.apply_palette()
        self.curve = self.plot.plot(list(range(-HISTORY + 1, 1)), list(self.rates))

        top = QHBoxLayout()
        for widget in (QLabel("Database", self), self.url, self.connect_button, QLabel("Status", self)):
            top.addWidget(widget)
        top.addWidget(self.status_filter)
        actions = QHBoxLayout()
        for widget in (self.input, self.submit_button, self.cancel_button):
            actions.addWidget(widget)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.workers)
        lower.addWidget(self.plot)
        events_box = QWidget(self)
        eb = QVBoxLayout(events_box)
        eb.setContentsMargins(0, 0, 0, 0)
        eb.addWidget(self.events_title)
        eb.addWidget(self.events, 1)
        upper = QSplitter(Qt.Orientation.Horizontal, self)
        upper.addWidget(self.jobs)
        upper.addWidget(events_box)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setStretchFactor(0, 2)  # jobs and events get the room; a queue has few workers
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.notice)
        layout.addWidget(split)

        self.connect_button.clicked.connect(lambda: controller.open(self.url.text().strip()))
        self.status_filter.currentTextChanged.connect(self._on_status_changed)
        self.submit_button.clicked.connect(self.submit_open_document)
        self.cancel_button.clicked.connect(self.cancel_selected)
        controller.updated.connect(self.show_snapshot)
        controller.failed.connect(lambda text: self.notice.setText(f"Error: {text}"))
        controller.connected.connect(self._on_connected)
        controller.submitted.connect(lambda job: self.notice.setText(f"Submitted job {job.id}"))
        controller.job_event.connect(self.add_event)
        controller.events_ended.connect(self._on_events_ended)
        self.jobs.selectionModel().selectionChanged.connect(self._on_job_selected)

    def _table(self, name: str, headers: list[str], widths: list[int]) -> QTableWidget:
        """One line a row (long ids and errors are elided; the cell's tooltip has the whole text); `widths`
        for the columns before the last, which stretches."""
        table = QTableWidget(0, len(headers), self)
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(headers)
        table.setWordWrap(False)
        for column, width in enumerate(widths):
            table.setColumnWidth(column, width)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _on_status_changed(self, text: str) -> None:
        self.controller.set_status(None if text == "all" else text)

    def show_snapshot(self, snap: QueueSnapshot) -> None:
        selected = self.selected_job_id()
        self._filling = True  # a refill is not the user choosing another job
        try:
            _fill(self.jobs, [_job_row(j) for j in snap.jobs])
            now = dt.datetime.now(dt.UTC)
            _fill(self.workers, [_worker_row(w, now) for w in snap.workers])
            if selected is None:  # a job followed from elsewhere (the run console) shows as selected
                selected = self.shown_job
            if selected is not None:
                for row in range(self.jobs.rowCount()):
                    item = self.jobs.item(row, 0)
                    if item is not None and item.text() == str(selected):
                        self.jobs.selectRow(row)
        finally:
            self._filling = False
        if snap.rate is not None:
            self.rates.append(snap.rate)
            self.curve.setData(list(range(-HISTORY + 1, 1)), list(self.rates))
        counts = ", ".join(f"{n} {s}" for s, n in snap.counts.items() if n)
        self.notice.setText(counts or "no jobs")

    def _on_connected(self, shown: str) -> None:
        """`shown`: the URL without its password; the field keeps what the user typed (if anything)."""
        self.notice.setText("Connected")
        self.url.setPlaceholderText(f"connected: {shown}")

    # ------------------------------------------------------------ live events of the selected job

    def _on_job_selected(self, *_args: Any) -> None:
        job_id = self.selected_job_id()
        if self._filling or job_id is None or job_id == self.controller.followed:
            return
        self._show_job(job_id)
        self.controller.follow(job_id)

    def _show_job(self, job_id: int) -> None:
        self.shown_job = job_id
        self.events.setRowCount(0)
        self.events_title.setText(f"Events of job {job_id}: live")

    def add_event(self, job_id: int, event: Any) -> None:
        if job_id != self.shown_job:  # a job followed from elsewhere (the run console's "Send to queue")
            self._show_job(job_id)
        if self.events.rowCount() >= MAX_EVENTS:
            self.events.removeRow(0)
        row = self.events.rowCount()
        self.events.insertRow(row)
        for col, text in enumerate(_event_row(event)):
            self.events.setItem(row, col, _item(text))
        self.events.scrollToBottom()

    def _on_events_ended(self, job_id: int, status: str) -> None:
        if job_id == self.shown_job:
            self.events_title.setText(f"Events of job {job_id}: {self.events.rowCount()}, job {status}")

    def selected_job_id(self) -> int | None:
        rows = self.jobs.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.jobs.item(rows[0].row(), 0)
        return int(item.text()) if item is not None else None

    def submit_open_document(self) -> None:
        name = self._graph_name()
        if not name:
            self.notice.setText("Error: the open document has no name (a worker serves graphs by name)")
            return
        text = self.input.text().strip()
        try:
            value = json.loads(text) if text else self._default_input()
        except ValueError as exc:
            self.notice.setText(f"Error: the input is not JSON: {exc}")
            return
        if not isinstance(value, dict):
            self.notice.setText("Error: the input must be a JSON object")
            return
        self.controller.submit(name, value)

    def cancel_selected(self) -> None:
        job_id = self.selected_job_id()
        if job_id is None:
            self.notice.setText("Select a job to cancel")
            return
        self.controller.cancel(job_id)


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, _item(text))


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setToolTip(text)
    return item


def _job_row(job: Any) -> list[str]:
    step = "" if job.step is None else str(job.step)
    return [str(job.id), job.graph_name, job.session_id, job.status, job.worker or "", step, job.error or ""]


def _worker_row(worker: Any, now: dt.datetime) -> list[str]:
    age = max(0.0, (now - worker.last_heartbeat).total_seconds())
    return [
        worker.host,
        str(worker.pid),
        ", ".join(worker.graphs),
        str(worker.concurrency),
        f"{age:.1f} s",
        str(worker.jobs_done),
    ]


def _event_row(event: Any) -> list[str]:
    when = event.timestamp.astimezone(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    step = "" if event.step is None else str(event.step)
    return [str(event.seq), when, event.scope, event.node_id or "", step, " ".join(event.message.split())]
