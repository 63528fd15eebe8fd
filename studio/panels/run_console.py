"""The run console (`runConsole`): the view of a `RunController` - checkpointer, session id and initial
state; Run / Step / Continue / Stop; the live event table with filters, follow-tail, detail pane and JSON
Lines export; the final state; a failed run's error inline with the user's traceback behind a toggle."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.run import RunController, RunRequest, RunState
from studio.models.run_log import RunLogModel
from studio.panels.console_widgets import KINDS, CheckpointerRow, EventsPane, FailureBox, RunButtons
from studio.panels.inbox_inline import InlineInterrupts
from studio.services import storage
from studio.theme import is_dark
from studio.widgets.json_editor import JsonEditor, JsonInvalid, monospace_font

__all__ = ["RunConsolePanel", "RunSource"]

STATE_COLOURS = {
    False: {RunState.FAILED: "#b0302b", RunState.COMPLETED: "#1e7a45", RunState.RUNNING: "#9a6200"},
    True: {RunState.FAILED: "#ff6b61", RunState.COMPLETED: "#47c17a", RunState.RUNNING: "#f5b940"},
}
"""Run-state colours readable on the light (False) and the dark (True) window background."""

RunSource = Callable[[], Any]
"""Returns the App to run; raises an EngineError (shown inline) when the document cannot run."""


class RunConsolePanel(QWidget):
    """`database_used(url)` (redacted) when a run opens storage, for the status bar and recent databases."""

    database_used = Signal(str)

    def __init__(
        self,
        controller: RunController,
        source: RunSource,
        default_input: Callable[[], dict[str, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("runConsole")
        self.controller = controller
        self.log: RunLogModel = controller.log
        self._source = source
        self._default_input = default_input
        self._build_ui()
        self._connect()
        self._on_controller_state_changed(controller.state)
        self.reset_input()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.where = CheckpointerRow(self)
        w = self.where
        self.kind, self.location, self.browse = w.kind, w.location, w.browse
        self.password, self.session = w.password, w.session
        self.buttons = RunButtons(self)
        b = self.buttons
        self.run_button, self.step_button = b.run_button, b.step_button
        self.continue_button, self.stop_button = b.continue_button, b.stop_button
        self.state_label, self.breakpoints_label = b.state_label, b.breakpoints_label
        self.failure = FailureBox(self)
        self.error_label = self.failure.error_label
        self.tabs = self._build_state_tabs()
        self.events = EventsPane(self.log, self)
        e = self.events
        self.type_filter, self.node_filter, self.text_filter = e.type_filter, e.node_filter, e.text_filter
        self.follow, self.export_button, self.count_label = e.follow, e.export_button, e.count_label
        self.table, self.detail = e.table, e.detail
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.tabs)
        split.addWidget(self.events)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.where)
        layout.addWidget(self.buttons)
        layout.addWidget(self.failure)
        self.interrupts = InlineInterrupts(self.controller, self)  # the run's own interrupts, inline
        layout.addWidget(self.interrupts)
        layout.addWidget(split, 1)

    def _build_state_tabs(self) -> QTabWidget:
        self.input_editor = JsonEditor(self, placeholder='{"messages": [...], "extra": {...}}')
        self.input_editor.setObjectName("initialStateEditor")
        reset = QPushButton("Reset from document", self)
        reset.clicked.connect(self.reset_input)
        input_box = QWidget(self)
        ib = QVBoxLayout(input_box)
        ib.setContentsMargins(0, 0, 0, 0)
        ib.addWidget(self.input_editor, 1)
        ib.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        self.final_state = QPlainTextEdit(self)
        self.final_state.setObjectName("finalState")
        self.final_state.setReadOnly(True)
        self.final_state.setFont(monospace_font())
        self.final_state.setPlaceholderText("The state appears here when a run completes, pauses or steps.")
        tabs = QTabWidget(self)
        tabs.addTab(input_box, "Initial state")
        tabs.addTab(self.final_state, "Final state")
        return tabs

    def _connect(self) -> None:
        c = self.controller
        c.state_changed.connect(self._on_controller_state_changed)
        c.run_failed.connect(self._on_controller_run_failed)
        c.outcome.connect(self._on_controller_outcome)
        c.run_started.connect(self._on_controller_run_started)
        c.resume_requested.connect(self._on_controller_resume_requested)
        c.breakpoints.changed.connect(self.update_breakpoints)
        self.run_button.clicked.connect(self.run)
        self.step_button.clicked.connect(self.step)
        self.continue_button.clicked.connect(self.continue_)
        self.stop_button.clicked.connect(self.stop)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.browse.clicked.connect(self._on_browse_clicked)
        self.location.editingFinished.connect(self._on_location_editing_finished)
        self.type_filter.currentIndexChanged.connect(self._apply_filter)
        self.node_filter.textChanged.connect(self._apply_filter)
        self.text_filter.textChanged.connect(self._apply_filter)
        self.log.rows_appended.connect(self._on_log_rows_appended)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.export_button.clicked.connect(self._on_export_clicked)
        self._on_kind_changed()

    # ------------------------------------------------------------------ configuration

    def set_database(self, url: str) -> None:
        """Use `url` for the next runs (a Postgres password goes to the password field)."""
        kind = storage.backend_of(url)
        location = "" if kind == "memory" else storage.strip_password(url)
        self.set_checkpointer(kind, location, storage.password_of(url))

    def set_checkpointer(self, kind: str, location: str = "", password: str = "") -> None:
        index = max(0, [k for k, _t in KINDS].index(kind) if kind in [k for k, _t in KINDS] else 0)
        self.kind.setCurrentIndex(index)
        self.location.setText(location)
        self.password.setText(password)
        self._on_location_editing_finished()

    def checkpointer_url(self) -> str:
        """The URL to open (with the password put back for Postgres; never displayed or stored)."""
        kind = self.kind.currentData()
        text = self.location.text().strip()
        if kind == "memory":
            return "memory:"
        if kind == "sqlite":
            if not text:
                raise ValueError("choose a SQLite file for the checkpointer")
            return text if text.startswith("sqlite:") else f"sqlite://{text}"
        if not storage.is_postgres_url(text):
            raise ValueError("a Postgres URL starts with postgresql:// (the password goes in its own field)")
        return storage.with_password(text, self.password.text())

    def reset_input(self) -> None:
        try:
            value = self._default_input()
        except Exception:
            value = {}
        self.input_editor.set_value(value)

    # ------------------------------------------------------------------ commands

    def _prepare(self) -> tuple[Any, Any, str, str] | None:
        """(app, state, url, session id) or None after showing why not."""
        from engine.graph.document import document_input_state

        self.hide_error()
        if not self.input_editor.revalidate():
            self.show_error(f"Initial state: {self.input_editor.error.text()}")
            self.tabs.setCurrentIndex(0)
            self.input_editor.go_to_error()
            return None
        try:
            state = document_input_state(self.input_editor.value())
        except (JsonInvalid, Exception) as exc:
            self.show_error(f"Initial state: {exc}")
            return None
        try:
            url = self.checkpointer_url()
        except ValueError as exc:
            self.show_error(str(exc))
            return None
        try:
            app = self._source()
        except Exception as exc:
            self.show_error(f"The graph cannot run: {exc}")
            return None
        session = (
            self.session.text().strip() or "studio-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        )
        self.session.setPlaceholderText(f"last: {session}")
        self.database_used.emit(storage.redact(url))
        return app, state, url, session

    def run(self) -> bool:
        """F5: continue when paused, else start a new run."""
        if self.controller.busy:
            return False
        if self.controller.state == RunState.PAUSED:
            return self.controller.continue_()
        prepared = self._prepare()
        if prepared is None:
            return False
        app, state, url, session = prepared
        max_steps = None
        self.controller.run(app, state, url=url, session_id=session, max_steps=max_steps)
        return True

    def step(self) -> bool:
        """F10: one superstep of the paused session, or of a new one."""
        if self.controller.busy:
            return False
        if self.controller.state == RunState.PAUSED:
            self.controller.step(None, None, url="", session_id="")
            return True
        prepared = self._prepare()
        if prepared is None:
            return False
        app, state, url, session = prepared
        self.controller.step(app, state, url=url, session_id=session)
        return True

    def continue_(self) -> bool:
        return self.controller.continue_()

    def stop(self) -> bool:
        return self.controller.stop()

    def show_error(self, text: str, traceback: str = "") -> None:
        self.failure.show_error(text, traceback)

    def hide_error(self) -> None:
        self.failure.clear()

    def focus_filter(self) -> None:
        self.text_filter.setFocus()
        self.text_filter.selectAll()

    def update_breakpoints(self) -> None:
        bp = self.controller.breakpoints
        parts = [f"before {n}" for n in sorted(bp.before)] + [f"after {n}" for n in sorted(bp.after)]
        self.breakpoints_label.setText(("● " + ", ".join(parts)) if parts else "")

    # ------------------------------------------------------------------ slots

    def _on_kind_changed(self, *_args: Any) -> None:
        kind = self.kind.currentData()
        self.location.setEnabled(kind != "memory")
        self.browse.setVisible(kind == "sqlite")
        self.password.setVisible(kind == "postgres")
        self.location.setPlaceholderText(
            {"sqlite": "path/to/file.db", "postgres": "postgresql://user@host:5432/db"}.get(kind, "")
        )

    def _on_location_editing_finished(self) -> None:
        text = self.location.text().strip()
        if storage.is_postgres_url(text):
            password = storage.password_of(text)
            if password:  # a pasted password moves to the password field; the URL field never shows it
                self.password.setText(password)
                self.location.setText(storage.strip_password(text))
            self.kind.setCurrentIndex(2)

    def _on_browse_clicked(self) -> None:
        dialog = QFileDialog(self, "SQLite checkpoint file")
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setNameFilter("SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)")
        dialog.fileSelected.connect(self.location.setText)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _on_controller_state_changed(self, state: str) -> None:
        busy = state in RunState.BUSY
        paused = state == RunState.PAUSED
        self.run_button.setEnabled(not busy)
        self.step_button.setEnabled(not busy)
        self.continue_button.setEnabled(paused)
        self.stop_button.setEnabled(busy or paused)
        colour = STATE_COLOURS[is_dark()].get(state)
        # No style sheet for the plain case: a style-sheeted label keeps the palette it was polished with
        # and would stay black on the dark theme.
        self.state_label.setStyleSheet(f"color: {colour};" if colour else "")
        text = state
        session = self.controller.session
        if session is not None and state != RunState.IDLE:
            text = f"{state} · {session.session_id}"
            if state == RunState.STOPPED and self.controller.stop_latency_ms is not None:
                text += f" (stopped in {self.controller.stop_latency_ms:.0f} ms)"
        self.state_label.setText(text)

    def _on_controller_run_started(self) -> None:
        """A new run starts clean: no error, no old state, no old event in the detail, Follow on."""
        self.hide_error()
        self.final_state.clear()
        self.table.clearSelection()
        self.detail.clear()
        self.follow.setChecked(True)

    def _on_controller_resume_requested(self, request: RunRequest) -> None:
        self.set_database(request.url)
        self.session.setText(request.session_id)
        self.run()

    def _on_controller_run_failed(self, node: str, message: str) -> None:
        where = f"Node '{node}' failed: " if node and f"'{node}'" not in message else "The run failed: "
        self.show_error(where + message, self.controller.last_traceback)
        # the error event is still in flight (events arrive in batches): select it once it is in the table
        QTimer.singleShot(150, self.select_error_event)

    def select_error_event(self) -> bool:
        """Select the run's error event (node.error, else the failed stream end) and show its JSON."""
        self.log.flush_all()
        self.log.set_filter()
        self.type_filter.blockSignals(True)
        self.type_filter.setCurrentIndex(0)
        self.type_filter.blockSignals(False)
        for scope in ("node.error", "__weavegraph_stream_end__"):
            for row in range(self.log.rowCount() - 1, -1, -1):
                event = self.log.event_at(row)
                if event.scope == scope and (scope == "node.error" or "status=error" in event.message):
                    self.select_event_row(row)
                    return True
        return False

    def _on_controller_outcome(self, outcome: dict[str, Any]) -> None:
        state = outcome.get("state")
        header = f"// {outcome['status']} at step {outcome['step']}"
        if outcome.get("status") == "paused":
            header += f" ({outcome.get('reason')}{' ' + outcome['node'] if outcome.get('node') else ''})"
        self.final_state.setPlainText(header + "\n" + json.dumps(state, indent=2, ensure_ascii=False))
        if outcome.get("status") == "completed":
            self.tabs.setCurrentIndex(1)

    def _apply_filter(self, *_args: Any) -> None:
        t = self.type_filter.currentText()
        self.log.set_filter(
            types=None if t == "all types" else [t],
            node=self.node_filter.text(),
            text=self.text_filter.text(),
        )
        self._update_count()

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.log.rowCount()}/{self.log.total}")

    def _on_log_rows_appended(self, count: int) -> None:
        if count and self.follow.isChecked():
            self.table.scrollToBottom()
        self._update_count()

    def _on_table_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.detail.setPlainText(self.log.event_at(rows[0].row()).to_json_pretty())

    def select_event_row(self, row: int) -> None:
        self.follow.setChecked(False)
        self.table.selectRow(row)
        self.table.scrollTo(self.log.index(row, 0))

    def _on_export_clicked(self) -> None:
        dialog = QFileDialog(self, "Export events as JSON Lines")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("JSON Lines (*.jsonl);;All files (*)")
        dialog.setDefaultSuffix("jsonl")
        dialog.fileSelected.connect(self.export_to)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def export_to(self, path: str) -> int:
        try:
            count = self.log.export_jsonl(path)
        except OSError as exc:
            self.show_error(f"Export failed: {exc}")
            return 0
        self.count_label.setText(f"exported {count} events")
        return count
