"""Checkpoint browser (`checkpointBrowser`): open a SQLite file or a Postgres URL, page through its sessions
and steps, view and diff states, chart storage, prune with a dry-run preview, export, and tail live writes.

All database work runs as bridge tasks owned by the panel, one statement at a time (a lock), and every
failure becomes one line in the panel's error bar; the panel stays usable and can open another database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.persistence.base import Checkpoint, PruneReport, SessionQuery, StepQuery
from engine.persistence.urls import redact_url
from studio.bridge import Bridge, one_line
from studio.diff import diff_checkpoints
from studio.models.sessions import (
    ORDER_KEYS,
    BrowsableCheckpointer,
    SessionsModel,
    export_session_json,
    format_bytes,
    is_postgres_url,
    open_browsable,
    sqlite_url_for_path,
    step_sizes,
    strip_password,
    with_password,
)
from studio.models.steps import StepsModel
from studio.panels.browser_widgets import (
    Bar,
    ConnectionBar,
    Pager,
    StorageView,
    close_quietly,
    compact_table,
)
from studio.panels.prune_dialog import PruneController, PruneDialog
from studio.panels.state_view import DiffView, StateView


def redact(url: str) -> str:
    """How a URL is shown: the engine's `redact_url` (any password becomes ***)."""
    return redact_url(url)


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
    live_step_seen = Signal(str, int)
    session_deleted = Signal(str)
    export_finished = Signal(str, int)  # path, steps
    error_shown = Signal(str)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("checkpointBrowser")
        self.setAcceptDrops(True)
        self._bridge = bridge
        self._cp: BrowsableCheckpointer | None = None
        self._url: str | None = None  # with the password; kept in memory only, never shown or stored
        self._doc_hash: str | None = None
        self._lock = asyncio.Lock()
        self._generation = 0
        self._page_task: asyncio.Task[Any] | None = None
        self._steps_task: asyncio.Task[Any] | None = None
        self._tail_task: asyncio.Task[Any] | None = None
        self._prune_dialog: PruneDialog | None = None
        self._closing: set[asyncio.Task[Any]] = set()
        self.last_prune: tuple[PruneReport, bool] | None = None
        """The last deletion's report and whether it was cancelled."""
        self._touched: set[str] = set()
        self._selected_id: str | None = None
        self.live_count = 0
        self.sessions = SessionsModel(parent=self)
        self.steps = StepsModel(parent=self)
        self._build_ui()
        self._tail_timer = QTimer(self)
        self._tail_timer.setSingleShot(True)
        self._tail_timer.setInterval(250)
        self._tail_timer.timeout.connect(self._on_tail_timer_timeout)
        self.sessions.query_changed.connect(self._on_sessions_query_changed)
        self.steps.query_changed.connect(self._on_steps_query_changed)
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

        # left: sessions
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("sessionSearch")
        self.search_edit.setPlaceholderText("Search session ids…")
        self.search_edit.setClearButtonEnabled(True)
        self.live_check = QCheckBox("Live")
        self.live_check.setObjectName("liveTail")
        self.live_check.setToolTip("Show steps written by other processes as they arrive")
        self.live_check.setChecked(True)
        self.sessions_view = QTableView()
        self.sessions_view.setObjectName("sessionsTable")
        self.sessions_view.setModel(self.sessions)
        self.sessions_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sessions_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.sessions_view.setSortingEnabled(True)
        self.sessions_view.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        compact_table(self.sessions_view)
        self.sessions_view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 6):
            self.sessions_view.horizontalHeader().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents
            )
        self.sessions_view.setAlternatingRowColors(True)
        self.sessions_pager = Pager("sessionsPager")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deleteSession")
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("exportSession")
        self.prune_button = QPushButton("Prune…")
        self.prune_button.setObjectName("pruneButton")
        self.stepper_button = QPushButton("Open in stepper")
        self.stepper_button.setObjectName("openInStepper")
        self.resume_button = QPushButton("Resume in run console")
        self.resume_button.setObjectName("resumeInConsole")
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.live_check)
        actions = QHBoxLayout()
        for b in (self.delete_button, self.export_button, self.prune_button):
            actions.addWidget(b)
        actions2 = QHBoxLayout()
        actions2.addWidget(self.stepper_button)
        actions2.addWidget(self.resume_button)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addLayout(search_row)
        lv.addWidget(self.sessions_view, 1)
        lv.addWidget(self.sessions_pager)
        lv.addLayout(actions)
        lv.addLayout(actions2)

        # right: steps + state / compare / storage
        self.steps_view = QTableView()
        self.steps_view.setObjectName("stepsTable")
        self.steps_view.setModel(self.steps)
        self.steps_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.steps_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        compact_table(self.steps_view)
        self.steps_view.horizontalHeader().setStretchLastSection(True)
        for col in range(5):
            self.steps_view.horizontalHeader().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents
            )
        self.steps_view.setAlternatingRowColors(True)
        self.steps_pager = Pager("stepsPager")
        self.state_view = StateView()
        steps_box = QWidget()
        sv = QVBoxLayout(steps_box)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.steps_view, 1)
        sv.addWidget(self.steps_pager)
        steps_split = QSplitter(Qt.Orientation.Vertical)
        steps_split.addWidget(steps_box)
        steps_split.addWidget(self.state_view)
        steps_split.setSizes([260, 300])

        self.from_spin = QSpinBox()
        self.from_spin.setObjectName("diffFrom")
        self.to_spin = QSpinBox()
        self.to_spin.setObjectName("diffTo")
        for s in (self.from_spin, self.to_spin):
            s.setRange(0, 0)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compareSteps")
        self.diff_view = DiffView()
        compare = QWidget()
        cv = QVBoxLayout(compare)
        crow = QHBoxLayout()
        crow.addWidget(QLabel("From step"))
        crow.addWidget(self.from_spin)
        crow.addWidget(QLabel("to step"))
        crow.addWidget(self.to_spin)
        crow.addWidget(self.compare_button)
        crow.addStretch(1)
        cv.addLayout(crow)
        cv.addWidget(QLabel("Tip: select two rows in the steps table to compare them."))
        cv.addWidget(self.diff_view, 1)

        self.storage_view = StorageView()
        self.stats_refresh = self.storage_view.refresh_button

        self.tabs = QTabWidget()
        self.tabs.setObjectName("browserTabs")
        self.tabs.addTab(steps_split, "Steps")
        self.tabs.addTab(compare, "Compare")
        self.tabs.addTab(self.storage_view, "Storage")

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([560, 700])

        layout = QVBoxLayout(self)
        layout.addWidget(self.connection)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.warning_bar)
        layout.addWidget(self.confirm_bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.connection.open_requested.connect(self.open_database)
        self.search_edit.textChanged.connect(self._on_search_text_changed)
        self.live_check.toggled.connect(self._on_live_toggled)
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
        self.prune_button.clicked.connect(self._on_prune_clicked)
        self.stepper_button.clicked.connect(self._on_stepper_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.stats_refresh.clicked.connect(self.refresh_stats)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)

    def _set_open(self, is_open: bool) -> None:
        for w in (self.search_edit, self.prune_button, self.stats_refresh, self.live_check):
            w.setEnabled(is_open)
        self._update_session_actions()

    def _update_session_actions(self) -> None:
        one = self._cp is not None and self.selected_session_id() is not None
        for w in (self.delete_button, self.export_button, self.stepper_button, self.resume_button):
            w.setEnabled(one)
        self.compare_button.setEnabled(one)

    # ================================================================== public API

    def current_url(self) -> str | None:
        """The open database's URL, without its password (None when nothing is open)."""
        return strip_password(self._url) if self._url is not None else None

    def set_graph_hash(self, graph_hash: str | None) -> None:
        """The current document's graph hash, compared with each selected session's."""
        self._doc_hash = graph_hash
        sid = self.selected_session_id()
        if sid is not None and self._cp is not None:
            self._run(self._check_graph_hash(sid), "graph hash")
        elif graph_hash is None:
            self.warning_bar.hide()

    def open_database(self, url: str) -> None:
        """Open `url` (or a plain SQLite file path) in the background; `database_opened`/`database_failed`."""
        url = url.strip()
        if not url:
            return
        if "://" not in url and not url.startswith("sqlite:"):
            url = sqlite_url_for_path(str(Path(url).expanduser().resolve()))
        if is_postgres_url(url):
            url = with_password(url, self.password_edit.text())
        self._generation += 1
        for task in (self._page_task, self._steps_task, self._tail_task):
            if task is not None:
                task.cancel()
        self.error_bar.hide()
        self.warning_bar.hide()
        self.confirm_bar.hide()
        self.status.setText(f"Opening {redact(url)}…")
        self._run(self._open(url, self._generation), "open database", report=False)

    def selected_session_id(self) -> str | None:
        rows = self.sessions_view.selectionModel().selectedRows()
        if not rows:
            return None
        s = self.sessions.session_at(rows[0].row())
        return s.session_id if s is not None else None

    def selected_session_ids(self) -> list[str]:
        out = []
        for index in self.sessions_view.selectionModel().selectedRows():
            s = self.sessions.session_at(index.row())
            if s is not None:
                out.append(s.session_id)
        return out

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
        """Refetch the sessions page (and the selected session's steps)."""
        if self._cp is not None:
            self._load_sessions()

    async def aclose(self) -> None:
        """Stop every task of the panel and close the database (the main window awaits it on exit)."""
        self._generation += 1
        tasks = self._bridge.owned_tasks(self)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        cp, self._cp = self._cp, None
        if cp is not None:
            self._close_in_background(cp)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_in_background(self, cp: BrowsableCheckpointer) -> None:
        # Not owned by the panel: a close must finish even when the panel goes away (an unclosed SQLite
        # connection keeps its worker thread, and so the process, alive). `aclose` waits for these.
        task = self._bridge.start(close_quietly(cp), name="checkpointBrowser: closing a database")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # ================================================================== task plumbing

    def _run(self, coro: Coroutine[Any, Any, Any], what: str, *, report: bool = True) -> asyncio.Task[Any]:
        return self._bridge.start(
            self._guard(coro, what, report), name=f"checkpointBrowser: {what}", owner=self
        )

    async def _guard(self, coro: Coroutine[Any, Any, Any], what: str, report: bool) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown inline in one line; the panel stays usable
            if report:
                self.show_error(f"{what} failed: {one_line(exc)}")

    async def _open(self, url: str, generation: int) -> None:
        old, self._cp = self._cp, None
        self._selected_id = None
        self._set_open(False)
        self.sessions.clear()
        self.steps.set_session(None)
        self.state_view.clear()
        self.diff_view.clear()
        if old is not None:  # closing may wait for a dead server's timeout: never hold up the new database
            self._close_in_background(old)
        shown = redact(url)
        try:
            cp = await open_browsable(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            message = one_line(exc)
            self.status.setText("No database open.")
            self.show_error(f"Cannot open {shown}: {message}")
            self.database_failed.emit(message)
            return
        if generation != self._generation:
            await cp.aclose()
            return
        self._cp, self._url = cp, url
        self.connection.remember(url)
        self._set_open(True)
        self.status.setText(f"{shown}")
        self.url_edit.setText(strip_password(url))
        self.database_opened.emit(shown)
        self._load_sessions()
        if self.live_check.isChecked():
            self._start_tail()

    # ================================================================== sessions

    def _load_sessions(self) -> None:
        if self._page_task is not None:
            self._page_task.cancel()
        self._page_task = self._run(self._fetch_sessions(), "listing sessions")

    async def _fetch_sessions(self) -> None:
        cp = self._cp
        if cp is None:
            return
        keep = self._selected_id
        async with self._lock:
            page = await cp.session_page(SessionQuery(**self.sessions.session_query_args()))
        if cp is not self._cp:
            return
        self.sessions.set_page_result(page.items, page.total_count)
        self.sessions_pager.update_from(self.sessions)
        if keep is not None:
            self.select_session(keep)
        self.sessions_loaded.emit()

    def _on_sessions_query_changed(self) -> None:
        self._load_sessions()

    def _on_sort_indicator_changed(self, column: int, _order: Qt.SortOrder) -> None:
        # A column the database cannot sort by (None in ORDER_KEYS): put the indicator back.
        if column != self.sessions.sort_column() and ORDER_KEYS[column] is None:
            order = Qt.SortOrder.DescendingOrder if self.sessions.descending else Qt.SortOrder.AscendingOrder
            self.sessions_view.horizontalHeader().setSortIndicator(self.sessions.sort_column(), order)

    def _on_search_text_changed(self, text: str) -> None:
        self.sessions.set_search(text)

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
        for spin in (self.from_spin, self.to_spin):
            spin.setRange(0, s.last_step if s is not None else 0)
        if s is not None:
            self.from_spin.setValue(max(0, s.last_step - 1))
            self.to_spin.setValue(s.last_step)
        if sid is not None:
            self._run(self._check_graph_hash(sid), "graph hash")
            if self.tabs.currentIndex() == 2:
                self._run(self._fetch_growth(sid), "growth chart")

    async def _check_graph_hash(self, session_id: str) -> None:
        cp = self._cp
        if cp is None or self._doc_hash is None or not hasattr(cp, "graph_hash"):
            self.warning_bar.hide()
            return
        async with self._lock:
            stored = await cp.graph_hash(session_id)
        if session_id != self.selected_session_id():
            return
        if stored is not None and stored != self._doc_hash:
            self.warning_bar.show_text(
                f"Session '{session_id}' was written by graph {stored}; the current document is "
                f"{self._doc_hash}. Resuming runs the current graph on that state."
            )
        else:
            self.warning_bar.hide()

    # ================================================================== steps

    def _on_steps_query_changed(self) -> None:
        if self._steps_task is not None:
            self._steps_task.cancel()
        self.steps_pager.update_from(self.steps)
        if self.steps.session_id is not None:
            self._steps_task = self._run(self._fetch_steps(self.steps.session_id), "loading steps")

    async def _fetch_steps(self, session_id: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            args = self.steps.step_query_args()
            result = await cp.query_steps(session_id, StepQuery(limit=args["limit"], offset=args["offset"]))
        if cp is not self._cp or session_id != self.steps.session_id:
            return
        keep = [self.steps.checkpoint_at(i.row()) for i in self.steps_view.selectionModel().selectedRows()]
        self.steps.set_page_result(result.checkpoints, result.total_count)
        self.steps_pager.update_from(self.steps)
        for cp_row in keep:
            if cp_row is not None and (row := self.steps.row_of_step(cp_row.step)) >= 0:
                self.steps_view.selectRow(row)
        if not self.steps_view.selectionModel().hasSelection() and result.checkpoints:
            self.steps_view.selectRow(0)
        self.steps_loaded.emit()

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
        self._run(self._compare(session_id, old_step, new_step), "comparing steps")

    async def _compare(self, session_id: str, old_step: int, new_step: int) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            old = await cp.load_step(session_id, old_step)
            new = await cp.load_step(session_id, new_step)
        missing = [str(s) for s, c in ((old_step, old), (new_step, new)) if c is None]
        if missing:
            self.diff_view.clear(f"Step {' and '.join(missing)} of '{session_id}' is not stored (pruned?)")
            return
        assert old is not None and new is not None
        self._show_diff(old, new)

    # ================================================================== storage

    def _on_tabs_current_changed(self, index: int) -> None:
        if index == 2 and self._cp is not None:
            self.refresh_stats()

    def refresh_stats(self) -> None:
        self._run(self._fetch_stats(), "storage statistics")
        sid = self.selected_session_id()
        if sid is not None:
            self._run(self._fetch_growth(sid), "growth chart")

    async def _fetch_stats(self) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            stats = await cp.storage_stats()
        self.storage_view.set_stats(stats)
        self.stats_loaded.emit()

    async def _fetch_growth(self, session_id: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            sizes = await step_sizes(cp, session_id, limit=1000)
        self.storage_view.set_growth(session_id, sizes)

    # ================================================================== delete / export

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
        sid = getattr(self, "_confirm_id", None)
        if sid is not None:
            self.delete_session(sid)

    def delete_session(self, session_id: str) -> None:
        """Delete without asking (the confirmation bar calls this)."""
        self._run(self._delete(session_id), f"deleting '{session_id}'")

    async def _delete(self, session_id: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            await cp.delete_session(session_id)
        self.status.setText(f"Deleted session '{session_id}'.")
        if self._selected_id == session_id:
            self._selected_id = None
            self.steps.set_session(None)
        self.session_deleted.emit(session_id)
        self._load_sessions()

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
        self._run(self._export(session_id, path), f"exporting '{session_id}'")

    async def _export(self, session_id: str, path: str) -> None:
        cp = self._cp
        if cp is None:
            return
        async with self._lock:
            ghash = await cp.graph_hash(session_id)
            count = await export_session_json(cp, session_id, path, ghash)
        self.status.setText(f"Exported {count} step(s) of '{session_id}' to {path}")
        self.export_finished.emit(path, count)

    # ================================================================== prune

    def _on_prune_clicked(self) -> None:
        self.open_prune_dialog()

    def open_prune_dialog(self) -> PruneDialog:
        """Show the (non-modal) prune dialog for the selected sessions."""
        if self._prune_dialog is not None:
            self._prune_dialog.close()
        dialog = PruneDialog(self.selected_session_ids(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.prune_controller = PruneController(
            dialog, lambda: self._cp, lambda coro, what: self._run(coro, what, report=False), self._lock
        )
        self.prune_controller.finished.connect(self._on_prune_controller_finished)
        self.prune_controller.failed.connect(self._on_prune_controller_failed)
        dialog.destroyed.connect(lambda *_: setattr(self, "_prune_dialog", None))
        self._prune_dialog = dialog
        dialog.open()
        return dialog

    def _on_prune_controller_finished(self, report: PruneReport, cancelled: bool) -> None:
        self.last_prune = (report, cancelled)
        self.status.setText(f"Pruned {report.steps} step(s), {format_bytes(report.bytes)}.")
        self._load_sessions()

    def _on_prune_controller_failed(self, message: str) -> None:
        self.show_error(f"prune failed: {message}")
        self._load_sessions()

    # ================================================================== live tail

    def _on_live_toggled(self, on: bool) -> None:
        if on and self._cp is not None:
            self._start_tail()
        elif self._tail_task is not None:
            self._tail_task.cancel()
            self._tail_task = None

    def _start_tail(self) -> None:
        if self._tail_task is not None and not self._tail_task.done():
            return
        self._tail_task = self._run(self._tail(), "live tail", report=False)

    async def _tail(self) -> None:
        cp = self._cp
        if cp is None:
            return
        try:
            async for session_id, step in cp.watch():
                self.live_count += 1
                self._touched.add(session_id)
                self.live_step_seen.emit(session_id, step)
                if not self._tail_timer.isActive():
                    self._tail_timer.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if cp is self._cp:
                self.show_error(f"Live tail stopped: {one_line(exc)}")
                self.live_check.setChecked(False)

    def _on_tail_timer_timeout(self) -> None:
        touched, self._touched = self._touched, set()
        if self._cp is None:
            return
        self._load_sessions()
        if self.steps.session_id in touched and self.steps.page == 0:
            self._on_steps_query_changed()

    # ================================================================== file dialog, drag and drop

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

    # ================================================================== stepper / console

    def _on_stepper_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is not None and self._url is not None:
            self.open_in_stepper_requested.emit(self._url, sid)

    def _on_resume_clicked(self) -> None:
        sid = self.selected_session_id()
        if sid is not None and self._url is not None:
            self._run(self._check_graph_hash(sid), "graph hash")
            self.resume_requested.emit(self._url, sid)
