"""The interrupt inbox (`interruptInbox`): the view of an `InboxController`. Every interrupt waiting for an
answer in the open database (session, graph, node, step, age, prompt), live; "Show answered" adds the answered
ones with their answers. Selecting one shows its answer form (`InterruptForm`: generated from its JSON
Schema, raw JSON without one); **Answer** sends that answer to every selected interrupt (each checked against
its own schema first) and the sessions go on in the run console. Errors are one line in the panel; what the
user typed survives the live refresh."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.inbox import InboxController, InboxEntry
from studio.controllers.run_interrupts import prompt_line
from studio.theme import is_dark
from studio.widgets.interrupt_form import AnswerError, InterruptForm

__all__ = ["COLUMNS", "InterruptInboxPanel", "format_age"]

COLUMNS = ("Session", "Graph", "Node", "Step", "Age", "Prompt", "Answer")
ID_ROLE = Qt.ItemDataRole.UserRole


def format_age(delta: _dt.timedelta) -> str:
    """ "12 s", "4 min", "3 h", "2 d"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class InterruptInboxPanel(QWidget):
    def __init__(self, controller: InboxController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("interruptInbox")
        self.controller = controller
        self.entries: dict[str, InboxEntry] = {}
        self.form: InterruptForm | None = None
        self._read_failed = False
        self._shape: list[Any] = []
        self._build_ui()
        controller.updated.connect(self.show_entries)
        controller.failed.connect(self._on_controller_failed)
        controller.rejected.connect(self.show_error)
        controller.sent.connect(self._on_controller_sent)
        controller.opened.connect(self._on_controller_opened)

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.database = QLabel("No database open", self)
        self.database.setObjectName("inboxDatabase")
        self.count = QLabel(self)
        self.count.setObjectName("inboxCount")
        self.show_answered = QCheckBox("Show answered", self)
        self.show_answered.setObjectName("inboxShowAnswered")
        self.show_answered.toggled.connect(self.controller.set_show_answered)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.controller.refresh)
        top = QHBoxLayout()
        top.addWidget(self.database, 1)
        top.addWidget(self.count)
        top.addWidget(self.show_answered)
        top.addWidget(self.refresh_button)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("inboxTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Prompt"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)

        self.form_box = QWidget(self)
        self.form_box.setObjectName("inboxFormBox")
        self.form_layout = QVBoxLayout(self.form_box)
        self.form_layout.setContentsMargins(4, 0, 4, 0)
        self.hint = QLabel("Select an interrupt to answer it (Ctrl/Shift-click to answer several).", self)
        self.hint.setObjectName("inboxHint")
        self.hint.setWordWrap(True)
        self.form_layout.addWidget(self.hint)
        self.form_layout.addStretch(1)  # the form goes above the hint (index 0)
        self.error = QLabel(self)
        self.error.setObjectName("inboxError")
        self.error.setStyleSheet("color: #d64541;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.status = QLabel(self)
        self.status.setObjectName("inboxStatus")
        self.status.setWordWrap(True)
        self.answer_button = QPushButton("Answer", self)
        self.answer_button.setObjectName("inboxAnswer")
        self.answer_button.setEnabled(False)
        self.answer_button.clicked.connect(self.answer)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.answer_button)
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.form_box, 1)
        rl.addWidget(self.error)
        rl.addLayout(bottom)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ showing

    def show_entries(self, entries: list[InboxEntry]) -> None:
        """Fill the table (newest first), keeping the selection and the form being typed in. A refresh
        that changed nothing but the ages only updates the Age column (the table does not flicker)."""
        shape = [(e.id, e.interrupt.answered_at, e.graph_name) for e in entries]
        if shape == self._shape:
            self.entries = {e.id: e for e in entries}
            for row, entry in enumerate(entries):
                item = self.table.item(row, COLUMNS.index("Age"))
                if item is not None:
                    item.setText(format_age(entry.age()))
            self._after_read()
            return
        self._shape = shape
        selected = self.selected_ids()
        self.entries = {e.id: e for e in entries}
        self.table.blockSignals(True)
        self.table.setRowCount(len(entries))
        dim = QColor("#8a8a8a" if not is_dark() else "#9a9a9a")
        for row, entry in enumerate(entries):
            i = entry.interrupt
            answered = "" if i.pending else json.dumps(i.answer, ensure_ascii=False)
            cells = (
                i.session_id,
                entry.graph_name or "—",
                i.node,
                str(i.step),
                format_age(entry.age()),
                prompt_line(i.payload),
                answered,
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, entry.id)
                if col == COLUMNS.index("Prompt"):
                    item.setToolTip(prompt_line(i.payload))
                if not i.pending:
                    item.setForeground(dim)
                    item.setToolTip(f"answered at {i.answered_at:%Y-%m-%d %H:%M:%S}: {answered}")
                self.table.setItem(row, col, item)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, entry in enumerate(entries):
            if entry.id in selected:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)
        self.table.blockSignals(False)
        pending = sum(1 for e in entries if e.interrupt.pending)
        self.count.setText(f"{pending} waiting")
        self._after_read()
        self._on_table_selection_changed()

    def _after_read(self) -> None:
        if self._read_failed:  # reading works again
            self._read_failed = False
            self.error.hide()

    def show_error(self, text: str) -> None:
        self.error.setText(" ".join(text.split()))
        self.error.setVisible(bool(text))
        if text:
            self.status.clear()

    def _on_controller_failed(self, text: str) -> None:
        self._read_failed = True
        self.show_error(text)

    def _on_controller_sent(self, text: str) -> None:
        self.error.hide()
        self.status.setText(text)

    def _on_controller_opened(self, redacted: str) -> None:
        self.database.setText(f"Database: {redacted}")
        self.error.hide()  # what was said of the last database
        self.status.clear()

    # ------------------------------------------------------------------ selection and form

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        out = []
        for row in rows:
            item = self.table.item(row, 0)
            if item is not None:
                out.append(str(item.data(ID_ROLE)))
        return out

    def select_ids(self, ids: list[str]) -> None:
        """Select the rows of these interrupt ids (tests and keyboard users)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(ID_ROLE) in ids:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def selected_pending(self) -> list[InboxEntry]:
        return [
            self.entries[i]
            for i in self.selected_ids()
            if i in self.entries and self.entries[i].interrupt.pending
        ]

    def _on_table_selection_changed(self) -> None:
        pending = self.selected_pending()
        first = pending[0].interrupt if pending else None
        if first is None or self.form is None or self.form.interrupt.id != first.id:
            self._set_form(first)
        ids = self.selected_ids()
        answered = [self.entries[i] for i in ids if i in self.entries]
        answered = [e for e in answered if not e.interrupt.pending]
        if first is None and answered:
            i = answered[0].interrupt
            self.hint.setText(
                f"{i.node} was answered at {i.answered_at:%Y-%m-%d %H:%M:%S}: "
                f"{json.dumps(i.answer, ensure_ascii=False)}"
            )
        elif first is None:
            self.hint.setText("Select an interrupt to answer it (Ctrl/Shift-click to answer several).")
        n = len(pending)
        if n > 1:
            self.hint.setText(f"The same answer goes to each of the {n} selected interrupts.")
        self.hint.setVisible(first is None or n > 1)
        self.answer_button.setEnabled(n > 0)
        self.answer_button.setText("Answer" if n <= 1 else f"Answer {n} selected")

    def _set_form(self, interrupt: Any | None) -> None:
        if self.form is not None:
            self.form_layout.removeWidget(self.form)
            self.form.deleteLater()
            self.form = None
        if interrupt is not None:
            self.form = InterruptForm(interrupt, self.form_box)
            self.form_layout.insertWidget(0, self.form)

    # ------------------------------------------------------------------ answering

    def answer(self) -> bool:
        """Send the form's answer to every selected pending interrupt (the same answer for each)."""
        pending = self.selected_pending()
        if not pending or self.form is None:
            self.show_error("select the interrupts to answer")
            return False
        try:
            value = self.form.value()
        except AnswerError as exc:
            self.show_error(str(exc))
            return False
        for entry in pending:  # the same answer must fit each one's own schema
            try:
                self.form.answer(entry.interrupt)
            except AnswerError as exc:
                i = entry.interrupt
                self.show_error(f"{i.node} (session '{i.session_id}'): {exc}")
                return False
        self.error.hide()
        self.controller.answer({e.id: value for e in pending})
        return True
