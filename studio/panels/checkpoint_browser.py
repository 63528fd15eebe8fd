"""Checkpoint browser (`checkpointBrowser`): the view of a `BrowserController` - open a SQLite file or a
Postgres URL, page through its sessions and steps, view and diff states, chart storage, prune with a
dry-run preview, export, and tail live writes. Every failure is one line in the panel's error bar."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.browser import BrowserController, GraphMismatch
from studio.controllers.langgraph import LangGraphController
from studio.controllers.prune import PruneController
from studio.diff import diff_checkpoints
from studio.models.sessions import ORDER_KEYS, SessionsModel, format_bytes
from studio.models.steps import StepsModel
from studio.panels.browser_panes import ComparePane, SessionsPane, StepsPane
from studio.panels.browser_widgets import Bar, ConnectionBar, StorageView
from studio.panels.langgraph_view import LangGraphView
from studio.panels.prune_dialog import PruneDialog
from studio.services.storage import (
    Checkpoint,
    PruneReport,
    SessionStats,
    StorageStats,
    redact,
    sqlite_url_for_path,
    strip_password,
)
from studio.widgets.labels import shrinkable

__all__ = ["CheckpointBrowserPanel"]

STORAGE_TAB = 2


class CheckpointBrowserPanel(QWidget):
    """Browse, compare and prune the checkpoints of one database at a time (see the module docstring)."""

    database_opened = Signal(str)  # redacted URL
    database_failed = Signal(str)  # one-line error
    resume_requested = Signal(str, str)  # url, session_id
    open_in_stepper_requested = Signal(str, str)  # url, session_id
    sessions_loaded = Signal()
    steps_loaded = Signal()
    diff_shown = Signal()
    stats_loaded = Signal()
    session_deleted = Signal(str)
    export_finished = Signal(str, int)  # path, steps
    error_shown = Signal(str)

    def __init__(self, controller: BrowserController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("checkpointBrowser")
        self.setAcceptDrops(True)
        self.controller = controller
        self._doc: tuple[str | None, str, list[str]] = (None, "", [])
        self._prune_dialog: PruneDialog | None = None
        self.prune_controller: PruneController | None = None
        self.last_prune: tuple[PruneReport, bool] | None = None
        """The last deletion's report and whether it was cancelled."""
        self._selected_id: str | None = None
        self._confirm_id: str | None = None
        self.sessions = SessionsModel(parent=self)
        self.steps = StepsModel(parent=self)
        self._build_ui()
        self._connect_view()
        self._connect_controller()
        self._set_open(False)

    # ================================================================== UI

    def _build_ui(self) -> None:
        self.connection = ConnectionBar()
        self.url_edit = self.connection.url_edit
        self.password_edit = self.connection.password_edit
        self.connect_button = self.connection.connect_button
        self.file_button = self.connection.file_button
        self.recent_menu = self.connection.recent_menu
        self.error_bar = Bar("browserError", "#f6c6c6")
        self.warning_bar = Bar("graphHashWarning", "#fbe3a6")
        self.confirm_bar = Bar("deleteConfirm", "#f6d7b0")
        self.confirm_yes = QPushButton("Delete")
        self.confirm_yes.setObjectName("deleteConfirmYes")
        self.confirm_no = QPushButton("Keep")
        self.confirm_bar.row.insertWidget(1, self.confirm_yes)
        self.confirm_bar.row.insertWidget(2, self.confirm_no)
        self.status = QLabel("No database open. Drop a SQLite file here or choose one.")
        self.status.setObjectName("browserStatus")
        shrinkable(self.status)

        self.sessions_pane = SessionsPane(self.sessions)
        p = self.sessions_pane
        self.search_edit, self.live_check, self.sessions_view = p.search_edit, p.live_check, p.view
        self.sessions_pager = p.pager
        self.delete_button, self.export_button, self.prune_button = (
            p.delete_button,
            p.export_button,
            p.prune_button,
        )
        self.stepper_button, self.resume_button = p.stepper_button, p.resume_button
        self.steps_pane = StepsPane(self.steps)
        self.steps_view, self.steps_pager = self.steps_pane.view, self.steps_pane.pager
        self.state_view = self.steps_pane.state_view
        self.compare_pane = ComparePane()
        c = self.compare_pane
        self.from_spin, self.to_spin, self.compare_button = c.from_spin, c.to_spin, c.compare_button
        self.diff_view = c.diff_view
        self.storage_view = StorageView()
        self.stats_refresh = self.storage_view.refresh_button

        self.tabs = QTabWidget()
        self.tabs.setObjectName("browserTabs")
        self.tabs.addTab(self.steps_pane, "Steps")
        self.tabs.addTab(self.compare_pane, "Compare")
        self.tabs.addTab(self.storage_view, "Storage")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.sessions_pane)
        split.addWidget(self.tabs)
        split.setSizes([560, 700])
        # A LangGraph database gets its own view in place of the sessions/steps split (issue 19).
        self.langgraph = LangGraphController(self.controller, self)
        self.langgraph_view = LangGraphView(self.langgraph)
        self.stack = QStackedWidget()
        self.stack.addWidget(split)
        self.stack.addWidget(self.langgraph_view)
        layout = QVBoxLayout(self)
        for w in (self.connection, self.error_bar, self.warning_bar, self.confirm_bar):
            layout.addWidget(w)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.status)

    def _connect_view(self) -> None:
        self.connection.open_requested.connect(self.open_database)
        self.search_edit.textChanged.connect(self.sessions.set_search)
        self.live_check.toggled.connect(self.controller.set_live)
        self.sessions_pager.prev.clicked.connect(lambda: self.sessions.set_page(self.sessions.page - 1))
        self.sessions_pager.next.clicked.connect(lambda: self.sessions.set_page(self.sessions.page + 1))
        self.steps_pager.prev.clicked.connect(lambda: self.steps.set_page(self.steps.page - 1))
        self.steps_pager.next.clicked.connect(lambda: self.steps.set_page(self.steps.page + 1))
        self.sessions_view.selectionModel().selectionChanged.connect(self._on_sessions_selection_changed)
        self.sessions_view.horizontalHeader().sortIndicatorChanged.connect(self._on_sort_indicator_changed)
        self.steps_view.selectionModel().selectionChanged.connect(self._on_steps_selection_changed)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.confirm_yes.clicked.connect(self._on_confirm_delete)
        self.confirm_no.clicked.connect(self.confirm_bar.hide)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.prune_button.clicked.connect(self.open_prune_dialog)
        self.stepper_button.clicked.connect(self._on_stepper_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.stats_refresh.clicked.connect(self.refresh_stats)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.sessions.query_changed.connect(self.reload)
        self.steps.query_changed.connect(self._on_steps_query_changed)

    def _connect_controller(self) -> None:
        c = self.controller
        c.opening.connect(self._on_controller_opening)
        c.opened.connect(self._on_controller_opened)
        c.open_failed.connect(self._on_controller_open_failed)
        c.reset.connect(self._on_controller_reset)
        c.sessions_loaded.connect(self._on_controller_sessions_loaded)
        c.steps_loaded.connect(self._on_controller_steps_loaded)
        c.compared.connect(self._show_diff)
        c.compare_missing.connect(self.diff_view.clear)
        c.stats_loaded.connect(self._on_controller_stats_loaded)
        c.growth_loaded.connect(self.storage_view.set_growth)
        c.graph_checked.connect(self._on_controller_graph_checked)
        c.sessions_touched.connect(self._on_controller_sessions_touched)
        c.tail_stopped.connect(self._on_controller_tail_stopped)
        c.session_deleted.connect(self._on_controller_session_deleted)
        c.export_finished.connect(self._on_controller_export_finished)
        c.error.connect(lambda message, _kind: self.show_error(message))

    @property
    def live_step_seen(self) -> Any:
        """The controller's `live_step_seen(session_id, step)` signal."""
        return self.controller.live_step_seen

    @property
    def live_count(self) -> int:
        return self.controller.live_count

    def _set_open(self, is_open: bool) -> None:
        for w in (self.search_edit, self.prune_button, self.stats_refresh, self.live_check):
            w.setEnabled(is_open)
        self._update_session_actions()

    def _update_session_actions(self) -> None:
        one = self.controller.is_open and self.selected_session_id() is not None
        for w in (self.delete_button, self.export_button, self.stepper_button, self.resume_button):
            w.setEnabled(one)
        self.compare_button.setEnabled(one)

    # ================================================================== public API

    def current_url(self) -> str | None:
        """The open database's URL, without its password (None when nothing is open)."""
        return self.controller.shown_url()

    def set_graph_hash(self, graph_hash: str | None, name: str = "", nodes: list[str] | None = None) -> None:
        """The current document's graph hash, name and node ids, compared with each selected session's."""
        self._doc = (graph_hash, name, list(nodes or []))
        sid = self.selected_session_id()
        if sid is not None and self.controller.is_open:
            self.controller.check_graph(sid, *self._doc)
        elif graph_hash is None:
            self.warning_bar.hide()

    def open_database(self, url: str) -> None:
        """Open `url` (or a plain SQLite file path) in the background; `database_opened`/`database_failed`."""
        if url.strip():
            self.controller.open(url, self.password_edit.text())

    def offer_database(self, url: str) -> None:
        """Put `url` in the URL field with a hint, without opening it (a database no run has created yet)."""
        if self.controller.is_open:
            return
        self.url_edit.setText(strip_password(url))
        self.status.setText(
            f"No runs saved yet in {redact(url)}; run a graph and its checkpoints appear here."
        )

    def selected_session_id(self) -> str | None:
        ids = self.selected_session_ids()
        return ids[0] if ids else None

    def selected_session_ids(self) -> list[str]:
        rows = sorted(i.row() for i in self.sessions_view.selectionModel().selectedRows())
        return [s.session_id for s in (self.sessions.session_at(r) for r in rows) if s is not None]

    def select_session(self, session_id: str) -> bool:
        row = self.sessions.row_of(session_id)
        if row < 0:
            return False
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.sessions_view.selectionModel().setCurrentIndex(self.sessions.index(row, 0), flags)
        return True

    def error_text(self) -> str:
        return self.error_bar.text()

    def show_error(self, message: str) -> None:
        self.error_bar.show_text(message)
        self.error_shown.emit(message)

    def reload(self) -> None:
        """Refetch the sessions page (and so the selected session's steps)."""
        if self.controller.is_open:
            self.controller.load_sessions(self.sessions.session_query_args())

    async def aclose(self) -> None:
        """Stop the controller's work and close its database (the main window awaits it on exit)."""
        await self.controller.aclose()

    # ================================================================== controller -> view

    def _clear_views(self) -> None:
        self._selected_id = None
        self.sessions.clear()
        self.sessions_pager.update_from(self.sessions)
        self.steps.set_session(None)
        self.steps_pager.update_from(self.steps)
        self.state_view.clear()
        self.diff_view.clear()
        self.storage_view.clear()
        self.warning_bar.hide()
        self.confirm_bar.hide()

    def _on_controller_reset(self) -> None:
        self._set_open(False)
        self._clear_views()
        self.stack.setCurrentIndex(0)
        self.langgraph_view.clear()

    def _on_controller_opening(self, shown: str) -> None:
        self.error_bar.hide()
        self.status.setText(f"Opening {shown}…")

    def _on_controller_opened(self, shown: str) -> None:
        shown_url = self.controller.shown_url() or shown
        self.connection.remember(shown_url)
        if self.controller.is_langgraph:  # LangGraph's saver: its own view, read-only but for Prune
            self.status.setText(f"{shown} (LangGraph database, read-only)")
            self.stack.setCurrentIndex(1)
            self.langgraph_view.start(shown)
            self.database_opened.emit(shown)
            return
        self._set_open(True)
        self.status.setText(shown)
        self.database_opened.emit(shown)
        self.reload()
        if self.tabs.currentIndex() == STORAGE_TAB:
            self.refresh_stats()
        self.controller.set_live(self.live_check.isChecked())

    def _on_controller_open_failed(self, message: str, _kind: str) -> None:
        self.status.setText("No database open.")
        self.show_error(message)
        self.database_failed.emit(message)

    def _on_controller_sessions_loaded(self, items: list[SessionStats], total: int) -> None:
        keep = self._selected_id
        self.sessions.set_page_result(items, total)
        self.sessions_pager.update_from(self.sessions)
        if keep is not None:
            self.select_session(keep)
        self.sessions_loaded.emit()

    def _on_controller_steps_loaded(self, session_id: str, cps: list[Checkpoint], total: int) -> None:
        if session_id != self.steps.session_id:
            return
        keep = [self.steps.checkpoint_at(i.row()) for i in self.steps_view.selectionModel().selectedRows()]
        self.steps.set_page_result(cps, total)
        self.steps_pager.update_from(self.steps)
        for cp_row in keep:
            if cp_row is not None and (row := self.steps.row_of_step(cp_row.step)) >= 0:
                self.steps_view.selectRow(row)
        if not self.steps_view.selectionModel().hasSelection() and cps:
            self.steps_view.selectRow(0)
        self.steps_loaded.emit()

    def _on_controller_stats_loaded(self, stats: StorageStats) -> None:
        self.storage_view.set_stats(stats)
        self.stats_loaded.emit()

    def _on_controller_graph_checked(self, session_id: str, mismatch: GraphMismatch | None) -> None:
        if session_id != self.selected_session_id():
            return
        if mismatch is None:
            self.warning_bar.hide()
        else:
            self.warning_bar.show_text(mismatch.text())

    def _on_controller_sessions_touched(self, touched: list[str]) -> None:
        self.reload()
        if self.steps.session_id in touched and self.steps.page == 0:
            self._on_steps_query_changed()
        if self.tabs.currentIndex() == STORAGE_TAB:
            self.refresh_stats()

    def _on_controller_tail_stopped(self, message: str) -> None:
        self.show_error(message)
        self.live_check.setChecked(False)

    def _on_controller_session_deleted(self, session_id: str) -> None:
        self.status.setText(f"Deleted session '{session_id}'.")
        if self._selected_id == session_id:
            self._selected_id = None
            self.steps.set_session(None)
        self.session_deleted.emit(session_id)
        self.reload()
        if self.tabs.currentIndex() == STORAGE_TAB:
            self.refresh_stats()

    def _on_controller_export_finished(self, path: str, count: int) -> None:
        self.status.setText(f"Exported {count} step(s) to {path}")
        self.export_finished.emit(path, count)

    # ================================================================== sessions

    def _on_sort_indicator_changed(self, column: int, _order: Qt.SortOrder) -> None:
        # A column the database cannot sort by (None in ORDER_KEYS): put the indicator back.
        if column != self.sessions.sort_column() and ORDER_KEYS[column] is None:
            order = Qt.SortOrder.DescendingOrder if self.sessions.descending else Qt.SortOrder.AscendingOrder
            self.sessions_view.horizontalHeader().setSortIndicator(self.sessions.sort_column(), order)

    def _on_sessions_selection_changed(self, *_args: object) -> None:
        sid = self.selected_session_id()
        self._update_session_actions()
        if sid == self._selected_id:
            return
        self._selected_id = sid
        self.confirm_bar.hide()
        self.warning_bar.hide()
        self.state_view.clear()
        self.diff_view.clear()
        self.steps.set_session(sid)
        s = self.sessions.session_at(self.sessions.row_of(sid)) if sid is not None else None
        self.compare_pane.set_range(s.last_step if s is not None else None)
        if sid is not None:
            self.controller.check_graph(sid, *self._doc)
            if self.tabs.currentIndex() == STORAGE_TAB:
                self.controller.load_growth(sid)

    # ================================================================== steps, compare

    def _on_steps_query_changed(self) -> None:
        self.steps_pager.update_from(self.steps)
        if self.steps.session_id is not None:
            args = self.steps.step_query_args()
            self.controller.load_steps(self.steps.session_id, args["limit"], args["offset"])

    def _on_steps_selection_changed(self, *_args: object) -> None:
        rows = sorted(i.row() for i in self.steps_view.selectionModel().selectedRows())
        cps = [c for c in (self.steps.checkpoint_at(r) for r in rows) if c is not None]
        if len(cps) == 1:
            c = cps[0]
            self.state_view.set_state(c.state, f"Step {c.step} of {c.session_id}")
        elif len(cps) == 2:
            old, new = sorted(cps, key=lambda c: c.step)
            self.from_spin.setValue(old.step)
            self.to_spin.setValue(new.step)
            self._show_diff(old, new)

    def _show_diff(self, old: Checkpoint, new: Checkpoint) -> None:
        self.diff_view.set_diff(diff_checkpoints(old, new))
        self.diff_shown.emit()

    def _on_compare_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is not None:
            self.compare_steps(sid, self.from_spin.value(), self.to_spin.value())

    def compare_steps(self, session_id: str, old_step: int, new_step: int) -> None:
        """Load two steps of a session (any page) and show their diff in the Compare tab."""
        self.tabs.setCurrentIndex(1)
        for spin, value in ((self.from_spin, old_step), (self.to_spin, new_step)):
            spin.setMaximum(max(spin.maximum(), value))
            spin.setValue(value)
        self.controller.compare(session_id, old_step, new_step)

    # ================================================================== storage

    def _on_tabs_current_changed(self, index: int) -> None:
        if index == STORAGE_TAB and self.controller.is_open:
            self.refresh_stats()

    def refresh_stats(self) -> None:
        self.controller.load_stats(self.selected_session_id())

    # ================================================================== delete / export / prune

    def _on_delete_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is None:
            return
        s = self.sessions.session_at(self.sessions.row_of(sid))
        steps = f" and its {s.steps} step(s)" if s is not None else ""
        self.confirm_bar.show_text(f"Delete session '{sid}'{steps}? This cannot be undone.")
        self._confirm_id = sid

    def _on_confirm_delete(self) -> None:
        self.confirm_bar.hide()
        if self._confirm_id is not None:
            self.delete_session(self._confirm_id)

    def delete_session(self, session_id: str) -> None:
        """Delete without asking (the confirmation bar calls this)."""
        self.controller.delete_session(session_id)

    def _on_export_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is None:
            return
        dialog = QFileDialog(self, f"Export session '{sid}'", f"{sid}.json", "JSON (*.json)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path, sid=sid: self.export_session(sid, path))
        dialog.open()

    def export_session(self, session_id: str, path: str) -> None:
        """Write every step of the session to `path` as JSON in the background (`export_finished`)."""
        self.status.setText(f"Exporting '{session_id}'…")
        self.controller.export_session(session_id, path)

    def open_prune_dialog(self) -> PruneDialog:
        """Show the (non-modal) prune dialog for the selected sessions."""
        if self._prune_dialog is not None:
            self._prune_dialog.close()
        dialog = PruneDialog(self.selected_session_ids(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        prune = PruneController(self.controller, dialog, dialog)
        dialog.preview_requested.connect(prune.preview)
        dialog.prune_requested.connect(prune.prune)
        dialog.cancel_requested.connect(prune.cancel)
        prune.finished.connect(self._on_prune_finished)
        prune.failed.connect(self._on_prune_failed)
        dialog.destroyed.connect(lambda *_: setattr(self, "_prune_dialog", None))
        self.prune_controller = prune
        self._prune_dialog = dialog
        dialog.open()
        return dialog

    def _on_prune_finished(self, report: PruneReport, cancelled: bool) -> None:
        self.last_prune = (report, cancelled)
        self.status.setText(f"Pruned {report.steps} step(s), {format_bytes(report.bytes)}.")
        self.reload()
        self._on_steps_query_changed()
        self.refresh_stats()  # the Storage tab never shows the counts from before the prune

    def _on_prune_failed(self, message: str) -> None:
        self.show_error(f"prune failed: {message}")
        self.reload()

    # ================================================================== drag and drop, stepper, console

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            path = urls[0].toLocalFile()
            self.url_edit.setText(path)
            self.open_database(sqlite_url_for_path(path))

    def _on_stepper_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is not None and self.controller.url is not None:
            self.open_in_stepper_requested.emit(self.controller.url, sid)

    def _on_resume_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is not None and self.controller.url is not None:
            self.controller.check_graph(sid, *self._doc)
            self.resume_requested.emit(self.controller.url, sid)
