"""Session stepper (`sessionStepper`): drive an iterative session one input patch at a time.

Create (or resume) a session on any checkpointer, edit the next patch as JSON, "Invoke next" (Ctrl+Enter),
feed a JSON Lines file of patches with progress and Cancel, and finish. Each invocation's input, step,
resulting state and events are kept in a table. Engine work runs as bridge tasks owned by the panel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

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
from engine.types import JSON
from studio.bridge import Bridge, one_line
from studio.models.invocations import (
    Invocation,
    InvocationsModel,
    PatchError,
    event_line,
    parse_jsonl,
    parse_patch,
    patch_to_partial,
    patch_to_state,
)
from studio.models.sessions import is_postgres_url, strip_password, with_password
from studio.panels.state_view import StateView

CHECKPOINTERS = (("In-memory", "memory:"), ("SQLite file", "sqlite://weavegraph.db"), ("Postgres URL", ""))


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


class SessionStepperPanel(QWidget):
    """See the module docstring. `session_changed(str)` fires with the session id ("" when finished)."""

    session_changed = Signal(str)
    invocation_finished = Signal(int)  # row
    feed_finished = Signal(int, bool)  # invocations done, cancelled
    error_shown = Signal(str)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionStepper")
        self._bridge = bridge
        self._doc: GraphDocument | None = None
        self._runner: Any = None
        self._cp: Any = None
        self._session_id: str | None = None
        self._step = 0
        self._busy = False
        self._feed_cancelled = False
        self._event_target = 0
        self._events_task: asyncio.Task[Any] | None = None
        self.invocations = InvocationsModel(self)
        self._build_ui()
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

        self.cp_combo = QComboBox()
        self.cp_combo.setObjectName("stepperCheckpointer")
        for label, _ in CHECKPOINTERS:
            self.cp_combo.addItem(label)
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
        self.initial_error = QLabel("")
        self.initial_error.setObjectName("stepperInitialError")
        self.initial_error.setStyleSheet("color: #c62828;")
        self.initial_error.hide()
        self.create_button = QPushButton("Create / resume session")
        self.create_button.setObjectName("stepperCreate")
        self.finish_button = QPushButton("Finish")
        self.finish_button.setObjectName("stepperFinish")
        self.session_label = QLabel("No session.")
        self.session_label.setObjectName("stepperSessionLabel")

        where = QHBoxLayout()
        where.addWidget(self.cp_combo)
        where.addWidget(self.url_edit, 1)
        where.addWidget(self.password_edit)
        ident = QHBoxLayout()
        ident.addWidget(self.session_edit, 1)
        ident.addWidget(QLabel("Entry"))
        ident.addWidget(self.entry_combo)
        form = QFormLayout()
        form.addRow("Checkpointer", where)
        form.addRow("Session id", ident)
        form.addRow("Initial state", self.initial_edit)
        form.addRow(self.initial_error)
        buttons = QHBoxLayout()
        buttons.addWidget(self.create_button)
        buttons.addWidget(self.finish_button)
        buttons.addWidget(self.session_label, 1)
        form.addRow(buttons)

        self.patch_edit = _JsonEdit("stepperPatch", '{"extra": {"tick": 1}}')
        self.patch_edit.setMaximumHeight(64)
        self.patch_error = QLabel("")
        self.patch_error.setObjectName("stepperPatchError")
        self.patch_error.setStyleSheet("color: #c62828;")
        self.patch_error.hide()
        self.invoke_button = QPushButton("Invoke next  (Ctrl+Enter)")
        self.invoke_button.setObjectName("stepperInvoke")
        self.feed_button = QPushButton("Feed JSON Lines…")
        self.feed_button.setObjectName("stepperFeed")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("stepperCancel")
        self.progress = QProgressBar()
        self.progress.setObjectName("stepperProgress")
        self.progress.setVisible(False)
        patch_row = QHBoxLayout()
        patch_row.addWidget(self.invoke_button)
        patch_row.addWidget(self.feed_button)
        patch_row.addWidget(self.progress, 1)
        patch_row.addWidget(self.cancel_button)
        form.addRow("Next input", self.patch_edit)
        form.addRow(self.patch_error)
        form.addRow(patch_row)

        self.table = QTableView()
        self.table.setObjectName("stepperInvocations")
        self.table.setModel(self.invocations)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
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
        layout.addLayout(form)
        layout.addWidget(split, 1)

        self.cp_combo.currentIndexChanged.connect(self._on_cp_combo_current_index_changed)
        self._on_cp_combo_current_index_changed(0)
        self.initial_edit.textChanged.connect(self._validate)
        self.patch_edit.textChanged.connect(self._validate)
        self.create_button.clicked.connect(self._on_create_clicked)
        self.finish_button.clicked.connect(self._on_finish_clicked)
        self.invoke_button.clicked.connect(self.invoke_next)
        self.patch_edit.submitted.connect(self.invoke_next)
        self.feed_button.clicked.connect(self._on_feed_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.invoke_next)

    def _on_cp_combo_current_index_changed(self, index: int) -> None:
        default = CHECKPOINTERS[index][1]
        self.url_edit.setEnabled(index != 0)
        self.password_edit.setVisible(index == 2)
        if index == 0:
            self.url_edit.setText("memory:")
        elif not self.url_edit.text() or self.url_edit.text() == "memory:" or index == 2:
            self.url_edit.setText(default if index == 1 else "postgresql://localhost/weavegraph")

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

    def _update_enabled(self) -> None:
        live = self._session_id is not None
        patch_ok = not self.patch_error.text()
        initial_ok = not self.initial_error.text()
        self.invoke_button.setEnabled(live and not self._busy and patch_ok)
        self.feed_button.setEnabled(live and not self._busy)
        self.finish_button.setEnabled(live and not self._busy)
        self.create_button.setEnabled(not live and not self._busy and initial_ok and self._doc is not None)
        self.cancel_button.setEnabled(self._busy)
        for w in (self.cp_combo, self.url_edit, self.password_edit, self.session_edit, self.initial_edit):
            w.setEnabled(not live and not self._busy)
        if not live and not self._busy:
            self.url_edit.setEnabled(self.cp_combo.currentIndex() != 0)

    # ================================================================== public API

    def set_document(self, doc: GraphDocument) -> None:
        """The graph the next session runs: fills the entry choices and the initial state from `input`."""
        self._doc = doc
        current = self.entry_combo.currentText()
        self.entry_combo.clear()
        self.entry_combo.addItem("Start")
        for node in doc.nodes:
            self.entry_combo.addItem(str(node.get("id")))
        index = self.entry_combo.findText(current)
        self.entry_combo.setCurrentIndex(max(0, index))
        if self._session_id is None:
            self.initial_edit.setPlainText(
                json.dumps(doc.input or {"messages": [], "extra": {}}, ensure_ascii=False)
            )
        self._update_enabled()

    def open_session(self, url: str, session_id: str) -> None:
        """Resume `session_id` stored at `url` (its step counter continues); a live session is finished
        first. While an invocation or a feed runs it is refused with an inline message."""
        if self._busy:
            self.show_error(
                "wait for the current invocation (or cancel the feed) before opening another session"
            )
            return
        self._set_url(url)
        self.session_edit.setText(session_id)
        self._run(self._reopen(), "opening the session")

    async def _reopen(self) -> None:
        if self._session_id is not None:
            await self._finish()
        params = self._form_params()
        if params is not None:
            await self._create(*params)

    def create_session(self) -> None:
        """Create or resume the session described by the form (in the background)."""
        if self._session_id is not None or self._busy:
            self.show_error("finish the current session first")
            return
        params = self._form_params()
        if params is not None:
            self._run(self._create(*params), "creating the session")

    def _form_params(self) -> tuple[GraphDocument, str, str, VersionedState] | None:
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
        url = self.url_edit.text().strip() if self.cp_combo.currentIndex() else "memory:"
        return self._doc, with_password(url, self.password_edit.text()), session_id, state

    def invoke_next(self) -> None:
        """Merge the patch in the editor at the barrier and run from the entry to completion."""
        if self._session_id is None or self._busy or not self.invoke_button.isEnabled():
            return
        patch = parse_patch(self.patch_edit.toPlainText())
        self._run(self._invoke_many([patch]), "invoke_next")

    def feed_file(self, path: str) -> None:
        """Invoke once per line of a JSON Lines file, with progress and Cancel."""
        self._run(self._feed(path), "feeding inputs")

    def finish(self) -> None:
        self._run(self._finish(), "finishing the session")

    def cancel(self) -> None:
        """Stop a feed after the invocation in flight."""
        self._feed_cancelled = True

    def current_session(self) -> str | None:
        return self._session_id

    def current_step(self) -> int:
        return self._step

    def show_error(self, message: str) -> None:
        text = " ".join(message.split())
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
        if text:
            self.error_shown.emit(text)

    def error_text(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()

    async def aclose(self) -> None:
        """Close the runner and its storage (the main window awaits it on exit)."""
        tasks = self._bridge.owned_tasks(self)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_runner()

    # ================================================================== work

    def _set_url(self, url: str) -> None:
        if url.startswith("memory"):
            self.cp_combo.setCurrentIndex(0)
        else:
            self.cp_combo.setCurrentIndex(2 if is_postgres_url(url) else 1)
            self.url_edit.setText(strip_password(url))
            if is_postgres_url(url):
                from engine.persistence.urls import url_password

                self.password_edit.setText(url_password(url) or "")

    def _run(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        return self._bridge.start(self._guard(coro, what), name=f"sessionStepper: {what}", owner=self)

    async def _guard(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        self._busy = True
        self._update_enabled()
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.show_error(f"{what} failed: {one_line(exc)}")
        finally:
            self._busy = False
            self.progress.setVisible(False)
            self._update_enabled()

    async def _create(self, doc: GraphDocument, url: str, session_id: str, state: VersionedState) -> None:
        from engine.graph.document import TrustStore, document_to_app
        from engine.persistence.factory import open_checkpointer
        from engine.runner import AppRunner

        self.show_error("")
        app = document_to_app(doc, trusted=TrustStore().is_trusted(doc))
        cp = await open_checkpointer(url)
        try:
            runner = await AppRunner.builder().app(app).checkpointer_custom(cp).lifecycle_events(True).build()
        except BaseException:
            await cp.aclose()
            raise
        self._runner, self._cp = runner, cp
        try:
            stream = runner.event_stream()
            init = await runner.create_iterative_session(session_id, state, self.entry_combo.currentText())
        except BaseException:
            await self._close_runner()
            raise
        self._session_id = session_id
        self._step = runner.get_session(session_id).step
        self.invocations.clear()
        self._event_target = 0
        self._events_task = self._bridge.start(
            self._consume(stream), name="sessionStepper: events", owner=self
        )
        how = "created" if init.fresh else f"resumed at step {init.checkpoint_step}"
        self.session_label.setText(f"Session '{session_id}' {how} on {strip_password(url)}")
        self.state_view.set_state(runner.get_session(session_id).state, f"Step {self._step}")
        self.session_changed.emit(session_id)

    async def _consume(self, stream: Any) -> None:
        from engine.events.event import INVOCATION_END_SCOPE

        async for event in stream:
            inv = self.invocations.invocation_at(self._event_target)
            if inv is not None:
                inv.events.append(event)
                if self._selected_row() == self._event_target:
                    self.events_list.addItem(event_line(event))
            if event.scope == INVOCATION_END_SCOPE:
                self._event_target += 1

    async def _invoke_many(self, patches: list[JSON], progress: bool = False) -> int:
        self._feed_cancelled = False
        if progress:
            self.progress.setVisible(True)
            self.progress.setRange(0, len(patches))
            self.progress.setValue(0)
        done = 0
        for patch in patches:
            if self._feed_cancelled or self._runner is None or self._session_id is None:
                break
            await self._invoke_one(patch)
            done += 1
            if progress:
                self.progress.setValue(done)
                self.progress.setFormat(f"{done}/{len(patches)}")
        return done

    async def _invoke_one(self, patch: JSON) -> None:
        runner, sid = self._runner, self._session_id
        assert runner is not None and sid is not None
        before = runner.get_session(sid).state.extra
        inv = Invocation(
            len(self.invocations.invocations()) + 1,
            patch,
            dt.datetime.now(dt.UTC),
            previous_extra=dict(before),
        )
        row = self.invocations.append(inv)
        entry = self.entry_combo.currentText()
        try:
            state = await runner.invoke_next(sid, patch_to_partial(patch), entry)
        except asyncio.CancelledError:
            inv.error = "cancelled"
            raise
        except Exception as exc:
            inv.error = one_line(exc)
            inv.step = runner.get_session(sid).step
            self._step = inv.step
            self.invocations.update_row(row)
            self.table.selectRow(row)
            raise
        inv.state = state
        inv.step = self._step = runner.get_session(sid).step
        self.invocations.update_row(row)
        self.table.selectRow(row)
        self.table.scrollToBottom()
        self.session_label.setText(f"Session '{sid}' at step {self._step}, {row + 1} invocation(s)")
        self.invocation_finished.emit(row)

    async def _feed(self, path: str) -> None:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        try:
            patches = parse_jsonl(text)
        except PatchError as exc:
            raise PatchError(f"{Path(path).name} {exc}") from exc
        cancelled = False
        done = 0
        try:
            done = await self._invoke_many(patches, progress=True)
            cancelled = self._feed_cancelled and done < len(patches)
        finally:
            self.feed_finished.emit(done, cancelled)

    async def _finish(self) -> None:
        runner, sid = self._runner, self._session_id
        if runner is not None and sid is not None:
            await runner.finish_iterative_session(sid)
        await self._close_runner()
        self.session_label.setText(f"Session '{sid}' finished at step {self._step}.")
        self.session_changed.emit("")

    async def _close_runner(self) -> None:
        runner, cp = self._runner, self._cp
        self._runner = self._cp = None
        self._session_id = None
        if self._events_task is not None:
            self._events_task.cancel()
            self._events_task = None
        try:
            if runner is not None:
                await runner.aclose()
        finally:
            if cp is not None:
                await cp.aclose()
        self._update_enabled()

    # ================================================================== slots

    def _on_create_clicked(self) -> None:
        self.create_session()

    def _on_finish_clicked(self) -> None:
        self.finish()

    def _on_cancel_clicked(self) -> None:
        self.cancel()

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
