"""Session stepper (`sessionStepper`): the view of a `StepperController` - create (or resume) an iterative
session on any checkpointer (the studio's database by default), edit the next patch as JSON, "Invoke next"
(Ctrl+Enter), feed a JSON Lines file of patches with progress and Cancel, and finish. Each invocation's
input, step, resulting state and events are listed."""

from __future__ import annotations

import json
import uuid

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.graph.document import GraphDocument
from engine.state import VersionedState
from studio.controllers.stepper import StepperController
from studio.models.invocations import PatchError, event_line, parse_patch, patch_to_state
from studio.panels.state_view import StateView
from studio.services import storage
from studio.widgets.labels import shrinkable

__all__ = ["SessionStepperPanel"]

KINDS = ("memory", "sqlite", "postgres")
KIND_TITLES = ("In-memory", "SQLite file", "Postgres URL")


class _JsonEdit(QPlainTextEdit):
    """A small monospace JSON editor; Ctrl+Enter emits `submitted` instead of inserting a line."""

    submitted = Signal()

    def __init__(self, name: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        self.setPlainText(text)
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


def _error_label(name: str) -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    label.setStyleSheet("color: #c62828;")
    label.hide()
    return label


class SessionForm(QWidget):
    """Where (checkpointer, URL, password), which session (id, entry) and its initial state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cp_combo = QComboBox()
        self.cp_combo.setObjectName("stepperCheckpointer")
        self.cp_combo.addItems(list(KIND_TITLES))
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("stepperUrl")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("stepperPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        self.password_edit.setMaximumWidth(130)
        self.session_edit = QLineEdit(f"step-{uuid.uuid4().hex[:8]}")
        self.session_edit.setObjectName("stepperSessionId")
        self.entry_combo = QComboBox()
        self.entry_combo.setObjectName("stepperEntry")
        self.entry_combo.addItem("Start")
        self.initial_edit = _JsonEdit("stepperInitialState", '{"messages": [], "extra": {}}')
        self.initial_edit.setMaximumHeight(52)
        self.initial_error = _error_label("stepperInitialError")
        self.create_button = QPushButton("Create / resume session")
        self.create_button.setObjectName("stepperCreate")
        self.finish_button = QPushButton("Finish")
        self.finish_button.setObjectName("stepperFinish")
        self.session_label = QLabel("No session.")
        self.session_label.setObjectName("stepperSessionLabel")
        shrinkable(self.session_label)
        where = QHBoxLayout()
        where.addWidget(self.cp_combo)
        where.addWidget(self.url_edit, 1)
        where.addWidget(self.password_edit)
        ident = QHBoxLayout()
        ident.addWidget(self.session_edit, 1)
        ident.addWidget(QLabel("Entry"))
        ident.addWidget(self.entry_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.create_button)
        buttons.addWidget(self.finish_button)
        buttons.addWidget(self.session_label, 1)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Checkpointer", where)
        form.addRow("Session id", ident)
        form.addRow("Initial state", self.initial_edit)
        form.addRow(self.initial_error)
        form.addRow(buttons)


class InputForm(QWidget):
    """The next input patch, Invoke / Feed, the feed's progress and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.patch_edit = _JsonEdit("stepperPatch", '{"extra": {"tick": 1}}')
        self.patch_edit.setMaximumHeight(64)
        self.patch_error = _error_label("stepperPatchError")
        self.invoke_button = QPushButton("Invoke next  (Ctrl+Enter)")
        self.invoke_button.setObjectName("stepperInvoke")
        self.feed_button = QPushButton("Feed JSON Lines…")
        self.feed_button.setObjectName("stepperFeed")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("stepperCancel")
        self.progress = QProgressBar()
        self.progress.setObjectName("stepperProgress")
        self.progress.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.invoke_button)
        row.addWidget(self.feed_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Next input", self.patch_edit)
        form.addRow(self.patch_error)
        form.addRow(row)


class SessionStepperPanel(QWidget):
    """See the module docstring. `session_changed(str)` fires with the session id ("" when finished)."""

    session_changed = Signal(str)
    invocation_finished = Signal(int)  # row
    feed_finished = Signal(int, bool)  # invocations done, cancelled
    error_shown = Signal(str)

    def __init__(self, controller: StepperController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionStepper")
        self.controller = controller
        self.invocations = controller.invocations
        self._doc: GraphDocument | None = None
        self._build_ui()
        self._connect()
        self.set_default_database(controller.default_url)
        self._update_enabled()

    # ================================================================== UI

    def _build_ui(self) -> None:
        self.error_label = QLabel("")
        self.error_label.setObjectName("stepperError")
        self.error_label.setStyleSheet(
            "#stepperError { background: #f6c6c6; color: #202020; padding: 2px 6px; }"
        )
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.session_form = SessionForm()
        f = self.session_form
        self.cp_combo, self.url_edit, self.password_edit = f.cp_combo, f.url_edit, f.password_edit
        self.session_edit, self.entry_combo, self.initial_edit = f.session_edit, f.entry_combo, f.initial_edit
        self.initial_error, self.create_button, self.finish_button = (
            f.initial_error,
            f.create_button,
            f.finish_button,
        )
        self.session_label = f.session_label
        self.input_form = InputForm()
        i = self.input_form
        self.patch_edit, self.patch_error, self.invoke_button = i.patch_edit, i.patch_error, i.invoke_button
        self.feed_button, self.cancel_button, self.progress = i.feed_button, i.cancel_button, i.progress
        self.table = QTableView()
        self.table.setObjectName("stepperInvocations")
        self.table.setModel(self.invocations)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for col, mode in enumerate(("fit", "stretch", "fit", "stretch")):
            header.setSectionResizeMode(
                col,
                QHeaderView.ResizeMode.ResizeToContents if mode == "fit" else QHeaderView.ResizeMode.Stretch,
            )
        self.state_view = StateView()
        self.events_list = QListWidget()
        self.events_list.setObjectName("stepperEvents")
        self.events_list.setFont(self.patch_edit.font())
        self.detail_tabs = QTabWidget()
        self.detail_tabs.addTab(self.state_view, "Resulting state")
        self.detail_tabs.addTab(self.events_list, "Events")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.detail_tabs)
        split.setSizes([460, 520])
        layout = QVBoxLayout(self)
        layout.addWidget(self.error_label)
        layout.addWidget(self.session_form)
        layout.addWidget(self.input_form)
        layout.addWidget(split, 1)

    def _connect(self) -> None:
        c = self.controller
        c.busy_changed.connect(self._update_enabled)
        c.session_changed.connect(self._on_controller_session_changed)
        c.status.connect(self.session_label.setText)
        c.state_shown.connect(self.state_view.set_state)
        c.invocation_added.connect(self.table.selectRow)
        c.invocation_finished.connect(self._on_controller_invocation_finished)
        c.event_added.connect(self._on_controller_event_added)
        c.progress.connect(self._on_controller_progress)
        c.feed_finished.connect(self._on_controller_feed_finished)
        c.error.connect(self.show_error)
        self.cp_combo.currentIndexChanged.connect(self._on_cp_combo_current_index_changed)
        self.initial_edit.textChanged.connect(self._validate)
        self.patch_edit.textChanged.connect(self._validate)
        self.create_button.clicked.connect(self.create_session)
        self.finish_button.clicked.connect(self.finish)
        self.invoke_button.clicked.connect(self.invoke_next)
        self.patch_edit.submitted.connect(self.invoke_next)
        self.feed_button.clicked.connect(self._on_feed_clicked)
        self.cancel_button.clicked.connect(self.controller.cancel)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.invoke_next)

    def _on_cp_combo_current_index_changed(self, index: int) -> None:
        kind = KINDS[index]
        self.url_edit.setEnabled(kind != "memory")
        self.password_edit.setVisible(kind == "postgres")
        current = self.url_edit.text()
        if kind == "memory":
            self.url_edit.setText("memory:")
        elif storage.backend_of(current) != kind or current in ("", "memory:"):
            default = self.controller.default_url
            if storage.backend_of(default) == kind:
                self.url_edit.setText(storage.strip_password(default))
            else:  # never a path relative to the working directory: the user picks the file
                self.url_edit.setText("postgresql://localhost/weavegraph" if kind == "postgres" else "")
                self.url_edit.setPlaceholderText("sqlite:///absolute/path/to/file.db")

    def _validate(self) -> None:
        for edit, label, what in (
            (self.initial_edit, self.initial_error, "initial state"),
            (self.patch_edit, self.patch_error, "input"),
        ):
            try:
                parse_patch(edit.toPlainText(), what=what)
                label.setText("")
            except PatchError as exc:
                label.setText(f"Invalid JSON: {exc}")
            label.setVisible(bool(label.text()))
        self._update_enabled()

    def _update_enabled(self, *_args: object) -> None:
        live = self.controller.session_id is not None
        busy = self.controller.busy
        patch_ok = not self.patch_error.text()
        initial_ok = not self.initial_error.text()
        self.invoke_button.setEnabled(live and not busy and patch_ok)
        self.feed_button.setEnabled(live and not busy)
        self.finish_button.setEnabled(live and not busy)
        self.create_button.setEnabled(not live and not busy and initial_ok and self._doc is not None)
        self.cancel_button.setEnabled(busy)
        for w in (self.cp_combo, self.url_edit, self.password_edit, self.session_edit, self.initial_edit):
            w.setEnabled(not live and not busy)
        if not live and not busy:
            self.url_edit.setEnabled(self.cp_combo.currentIndex() != 0)
        if not busy:
            self.progress.setVisible(False)

    # ================================================================== public API

    def set_default_database(self, url: str) -> None:
        """Use the studio's database (`url`) for new sessions unless a session is live."""
        self.controller.default_url = url
        if self.controller.session_id is None and not self.controller.busy:
            self._set_url(url)

    def set_document(self, doc: GraphDocument) -> None:
        """The graph the next session runs: fills the entry choices and the initial state from `input`."""
        self._doc = doc
        current = self.entry_combo.currentText()
        self.entry_combo.clear()
        self.entry_combo.addItem("Start")
        for node in doc.nodes:
            self.entry_combo.addItem(str(node.get("id")))
        self.entry_combo.setCurrentIndex(max(0, self.entry_combo.findText(current)))
        if self.controller.session_id is None:
            self.initial_edit.setPlainText(
                json.dumps(doc.input or {"messages": [], "extra": {}}, ensure_ascii=False)
            )
        self._update_enabled()

    def open_session(self, url: str, session_id: str) -> None:
        """Resume `session_id` stored at `url` (its step counter continues); a live session is finished
        first. While an invocation or a feed runs it is refused with an inline message."""
        if self.controller.busy:
            self.show_error(
                "wait for the current invocation (or cancel the feed) before opening another session"
            )
            return
        self._set_url(url)
        self.session_edit.setText(session_id)
        params = self._form_params()
        if params is not None:
            self.show_error("")
            self.controller.create(*params)

    def create_session(self) -> None:
        """Create or resume the session described by the form (in the background)."""
        if self.controller.session_id is not None or self.controller.busy:
            self.show_error("finish the current session first")
            return
        params = self._form_params()
        if params is not None:
            self.show_error("")
            self.controller.create(*params)

    def _form_params(self) -> tuple[GraphDocument, str, str, VersionedState, str] | None:
        if self._doc is None:
            self.show_error("open a graph document first: the stepper runs the current document")
            return None
        try:
            state = patch_to_state(parse_patch(self.initial_edit.toPlainText(), what="initial state"))
        except PatchError as exc:
            self.show_error(f"initial state: {exc}")
            return None
        session_id = self.session_edit.text().strip()
        if not session_id:
            self.show_error("a session id is required")
            return None
        url = storage.normalize_location(self.url_edit.text()) if self.cp_combo.currentIndex() else "memory:"
        if not url:
            self.show_error("choose the SQLite file (or pick In-memory)")
            return None
        url = storage.with_password(url, self.password_edit.text())
        return self._doc, url, session_id, state, self.entry_combo.currentText()

    def invoke_next(self) -> None:
        """Merge the patch in the editor at the barrier and run from the entry to completion."""
        if self.controller.session_id is None or self.controller.busy or not self.invoke_button.isEnabled():
            return
        self.controller.invoke(parse_patch(self.patch_edit.toPlainText()), self.entry_combo.currentText())

    def feed_file(self, path: str) -> None:
        """Invoke once per line of a JSON Lines file, with progress and Cancel."""
        self.controller.feed_file(path, self.entry_combo.currentText())

    def finish(self) -> None:
        self.controller.finish()

    def cancel(self) -> None:
        """Stop a feed after the invocation in flight."""
        self.controller.cancel()

    def current_session(self) -> str | None:
        return self.controller.session_id

    def current_step(self) -> int:
        return self.controller.step

    def show_error(self, message: str) -> None:
        text = " ".join(message.split())
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
        if text:
            self.error_shown.emit(text)

    def error_text(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()

    async def aclose(self) -> None:
        await self.controller.aclose()

    # ================================================================== slots

    def _set_url(self, url: str) -> None:
        kind = storage.backend_of(url)
        self.cp_combo.setCurrentIndex(KINDS.index(kind))
        if kind != "memory":
            self.url_edit.setText(storage.strip_password(url))
        if kind == "postgres":
            self.password_edit.setText(storage.password_of(url))

    def _on_controller_session_changed(self, session_id: str) -> None:
        self._update_enabled()
        self.session_changed.emit(session_id)

    def _on_controller_invocation_finished(self, row: int) -> None:
        self.table.selectRow(row)
        self.table.scrollToBottom()
        self._on_table_selection_changed()
        self.invocation_finished.emit(row)

    def _on_controller_event_added(self, row: int, event: object) -> None:
        if self._selected_row() == row:
            self.events_list.addItem(event_line(event))

    def _on_controller_progress(self, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}")

    def _on_controller_feed_finished(self, done: int, cancelled: bool) -> None:
        self.feed_finished.emit(done, cancelled)

    def _on_feed_clicked(self) -> None:
        dialog = QFileDialog(
            self, "Feed inputs (one JSON patch per line)", "", "JSON Lines (*.jsonl *.ndjson);;All (*)"
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.feed_file)
        dialog.open()

    def _selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _on_table_selection_changed(self, *_args: object) -> None:
        inv = self.invocations.invocation_at(self._selected_row())
        self.events_list.clear()
        if inv is None:
            return
        if inv.state is not None:
            self.state_view.set_state(inv.state, f"After invocation {inv.number} (step {inv.step})")
        elif inv.error is not None:
            self.state_view.clear(f"Invocation {inv.number} failed: {inv.error}")
        self.events_list.addItems([event_line(e) for e in inv.events])
