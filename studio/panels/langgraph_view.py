"""The checkpoint browser's view of a LangGraph database (views only; `LangGraphController` does the work):
threads as sessions (namespace, search, paging), the checkpoint tree drawn by lanes (forks as branches), the
state viewer, pending writes and the per-channel diff against the parent, storage analytics, and Prune."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.langgraph import CheckpointView, LangGraphController
from studio.diff import CheckpointDiff, diff_states
from studio.models.sessions import format_bytes
from studio.panels.langgraph_prune import LangGraphPruneDialog
from studio.panels.state_view import DiffView, StateView
from studio.services.langgraph import (
    CheckpointTree,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    ThreadQuery,
    serializer_available,
    tree_rows,
    value_text,
)

__all__ = ["LangGraphView"]

PAGE = 50
NOT_FOR_LANGGRAPH = "Not available for a LangGraph database: it is read-only here (Prune aside)"


def _table(name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, len(headers)):
        table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(r, c, item)


class LangGraphView(QWidget):
    """See the module docstring. `threads_loaded`, `tree_loaded`, `checkpoint_shown` and
    `analytics_shown` fire after the view has been updated (tests wait on them)."""

    threads_loaded = Signal()
    tree_loaded = Signal()
    checkpoint_shown = Signal()
    analytics_shown = Signal()
    pruned = Signal()

    def __init__(self, controller: LangGraphController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("langGraphView")
        self.controller = controller
        self.page = 0
        self.total = 0
        self.threads: list[ThreadInfo] = []
        self.tree: CheckpointTree | None = None
        self.shown: CheckpointView | None = None
        self.report: StorageReport | None = None
        self.prune_dialog: LangGraphPruneDialog | None = None
        self._build()
        c = controller
        c.threads_loaded.connect(self._on_threads_loaded)
        c.tree_loaded.connect(self._on_tree_loaded)
        c.checkpoint_loaded.connect(self._on_checkpoint_loaded)
        c.analytics_loaded.connect(self._on_analytics_loaded)
        c.pruned.connect(self._on_pruned)

    # ------------------------------------------------------------------ UI

    def _build(self) -> None:
        self.banner = QLabel("")
        self.banner.setObjectName("langGraphBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "#langGraphBanner { background: palette(alternate-base); color: palette(window-text); "
            "border: 1px solid palette(highlight); padding: 4px; border-radius: 3px; }"
        )
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("lgThreadSearch")
        self.search_edit.setPlaceholderText("Search thread ids and namespaces…")
        self.search_edit.setClearButtonEnabled(True)
        self.threads_table = _table("lgThreads", ["Thread", "Namespace", "Updated", "Checkpoints", "Bytes"])
        self.threads_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.threads_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # long subgraph namespaces elide
        self.prev_button, self.next_button = QToolButton(), QToolButton()
        self.prev_button.setArrowType(Qt.ArrowType.LeftArrow)
        self.next_button.setArrowType(Qt.ArrowType.RightArrow)
        self.prev_button.setObjectName("lgThreadsPrev")
        self.next_button.setObjectName("lgThreadsNext")
        self.page_label = QLabel("")
        self.page_label.setObjectName("lgThreadsPage")
        pager = QHBoxLayout()
        pager.addWidget(self.prev_button)
        pager.addWidget(self.page_label, 1, Qt.AlignmentFlag.AlignCenter)
        pager.addWidget(self.next_button)
        self.prune_button = QPushButton("Prune…")
        self.prune_button.setObjectName("lgPrune")
        self.prune_button.setToolTip("Keep the last N checkpoints of every chain (dry-run preview first)")
        self.disabled_actions: list[QPushButton] = []
        actions = QHBoxLayout()
        actions.addWidget(self.prune_button)
        for text, name in (
            ("Open in stepper", "lgOpenInStepper"),
            ("Resume in run console", "lgResume"),
            ("Fork", "lgFork"),
        ):
            button = QPushButton(text)
            button.setObjectName(name)
            button.setEnabled(False)
            button.setToolTip(NOT_FOR_LANGGRAPH)
            self.disabled_actions.append(button)
            actions.addWidget(button)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search_edit)
        lay.addWidget(self.threads_table, 1)
        lay.addLayout(pager)
        lay.addLayout(actions)

        self.tree_widget = QTreeWidget()
        self.tree_widget.setObjectName("lgCheckpointTree")
        self.tree_widget.setHeaderLabels(["Branch", "Checkpoint", "Step", "Source", "Writes", "Bytes"])
        self.tree_widget.setRootIsDecorated(False)
        self.tree_widget.setAlternatingRowColors(True)
        self.tree_widget.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.state_view = StateView()
        self.writes_tree = QTreeWidget()
        self.writes_tree.setObjectName("lgPendingWrites")
        self.writes_tree.setHeaderLabels(["Task", "Channel", "Value"])
        self.writes_tree.setRootIsDecorated(False)
        self.channels_tree = QTreeWidget()
        self.channels_tree.setObjectName("lgChannels")
        self.channels_tree.setHeaderLabels(["Channel", "Type", "Bytes", "Value"])
        self.channels_tree.setRootIsDecorated(False)
        detail_tabs = QTabWidget()
        detail_tabs.setObjectName("lgDetailTabs")
        detail_tabs.addTab(self.state_view, "State")
        detail_tabs.addTab(self.channels_tree, "Channels")
        detail_tabs.addTab(self.writes_tree, "Pending writes")
        self.detail_tabs = detail_tabs
        checkpoints = QSplitter(Qt.Orientation.Vertical)
        checkpoints.addWidget(self.tree_widget)
        checkpoints.addWidget(detail_tabs)
        checkpoints.setSizes([260, 320])
        self.diff_view = DiffView()
        self.diff_view.clear("Select a checkpoint: its changes against its parent appear here")

        self.storage_summary = QLabel("")
        self.storage_summary.setObjectName("lgStorageSummary")
        self.storage_summary.setWordWrap(True)
        self.storage_refresh = QPushButton("Refresh")
        self.storage_refresh.setObjectName("lgStorageRefresh")
        self.thread_bytes = _table("lgThreadBytes", ["Thread", "Checkpoints", "Bytes"])
        self.channel_bytes = _table("lgChannelBytes", ["Channel", "Bytes", "Copies", "Distinct"])
        self.repeated = _table("lgRepeated", ["Channel", "Size", "Copies", "Wasted"])
        self.keep_last = QLabel("")
        self.keep_last.setObjectName("lgKeepLast")
        self.keep_last.setWordWrap(True)
        storage = QWidget()
        s_lay = QVBoxLayout(storage)
        row = QHBoxLayout()
        row.addWidget(self.storage_summary, 1)
        row.addWidget(self.storage_refresh)
        s_lay.addLayout(row)
        grid = QSplitter(Qt.Orientation.Horizontal)
        grid.addWidget(self.thread_bytes)
        grid.addWidget(self.channel_bytes)
        s_lay.addWidget(grid, 2)
        s_lay.addWidget(QLabel("Blobs stored again and again (same content, same channel):"))
        s_lay.addWidget(self.repeated, 1)
        s_lay.addWidget(self.keep_last)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("lgTabs")
        self.tabs.addTab(checkpoints, "Checkpoints")
        self.tabs.addTab(self.diff_view, "Diff with parent")
        self.tabs.addTab(storage, "Storage")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([520, 740])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)

        self.search_edit.textChanged.connect(self._on_search_changed)
        self.prev_button.clicked.connect(lambda: self._go(self.page - 1))
        self.next_button.clicked.connect(lambda: self._go(self.page + 1))
        self.threads_table.itemSelectionChanged.connect(self._on_thread_selected)
        self.tree_widget.itemSelectionChanged.connect(self._on_checkpoint_selected)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.storage_refresh.clicked.connect(self.controller.load_analytics)
        self.prune_button.clicked.connect(self.open_prune_dialog)

    # ------------------------------------------------------------------ public

    def start(self, shown_url: str) -> None:
        """A LangGraph database was opened: say so and list its threads."""
        decoding = (
            "values decoded with LangGraph's serializer"
            if serializer_available()
            else "the langgraph extra is not installed: values that hold Python objects show type and size"
        )
        self.banner.setText(
            f"LangGraph database {shown_url}: read-only (opening and browsing never write); "
            f"only Prune changes it. {decoding[0].upper()}{decoding[1:]}."
        )
        self.clear()
        self.reload()

    def clear(self) -> None:
        self.page, self.total, self.threads, self.tree, self.shown, self.report = 0, 0, [], None, None, None
        self.threads_table.setRowCount(0)
        self.tree_widget.clear()
        self.writes_tree.clear()
        self.channels_tree.clear()
        self.state_view.clear("No checkpoint selected")
        self.diff_view.clear("Select a checkpoint: its changes against its parent appear here")
        for table in (self.thread_bytes, self.channel_bytes, self.repeated):
            table.setRowCount(0)
        self.storage_summary.setText("")
        self.keep_last.setText("")
        self._update_pager()

    def reload(self) -> None:
        search = self.search_edit.text().strip() or None
        self.controller.load_threads(ThreadQuery(limit=PAGE, offset=self.page * PAGE, search=search))

    def selected_key(self) -> ThreadKey | None:
        rows = self.threads_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.threads):
            return None
        return self.threads[rows[0].row()].key

    def select_thread(self, thread_id: str, checkpoint_ns: str = "") -> bool:
        for row, t in enumerate(self.threads):
            if t.key == ThreadKey(thread_id, checkpoint_ns):
                self.threads_table.selectRow(row)
                return True
        return False

    def open_prune_dialog(self) -> LangGraphPruneDialog:
        if self.prune_dialog is not None:
            self.prune_dialog.close()
        key = self.selected_key()
        dialog = LangGraphPruneDialog(self.controller, key.thread_id if key else None, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "prune_dialog", None))
        self.prune_dialog = dialog
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ threads

    def _on_search_changed(self, _text: str) -> None:
        self.page = 0
        self.reload()

    def _go(self, page: int) -> None:
        self.page = max(0, page)
        self.reload()

    def _update_pager(self) -> None:
        pages = max(1, -(-self.total // PAGE))
        self.page_label.setText(f"page {self.page + 1} of {pages} · {self.total} threads")
        self.prev_button.setEnabled(self.page > 0)
        self.next_button.setEnabled(self.page + 1 < pages)

    def _on_threads_loaded(self, items: list[ThreadInfo], total: int) -> None:
        keep = self.selected_key()
        self.threads, self.total = items, total
        _fill(
            self.threads_table,
            [
                [
                    t.key.thread_id,
                    t.key.checkpoint_ns or "",
                    t.updated_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t.updated_at else "-",
                    str(t.checkpoints),
                    format_bytes(t.bytes),
                ]
                for t in items
            ],
        )
        self._update_pager()
        if keep is not None:
            self.select_thread(keep.thread_id, keep.checkpoint_ns)
        self.threads_loaded.emit()

    def _on_thread_selected(self) -> None:
        key = self.selected_key()
        if key is None or (self.tree is not None and self.tree.key == key):
            return
        self.tree = None
        self.tree_widget.clear()
        self.controller.load_tree(key)

    # ------------------------------------------------------------------ tree and checkpoint

    def _on_tree_loaded(self, tree: CheckpointTree) -> None:
        if tree.key != self.selected_key():
            return
        self.tree = tree
        self.tree_widget.clear()
        for info, rails in tree_rows(tree):
            lane = tree.lanes.get(info.checkpoint_id, 0)
            item = QTreeWidgetItem(
                [
                    rails,
                    info.checkpoint_id,
                    "" if info.step is None else str(info.step),
                    info.source or "",
                    str(info.writes),
                    format_bytes(info.bytes),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, info.checkpoint_id)
            item.setToolTip(0, f"lane {lane}" + (" (a branch)" if lane else " (leads to the newest)"))
            self.tree_widget.addTopLevelItem(item)
        self.tree_loaded.emit()
        first = self.tree_widget.topLevelItem(0)
        if first is not None:
            self.tree_widget.setCurrentItem(first)

    def selected_checkpoint_id(self) -> str | None:
        item = self.tree_widget.currentItem()
        return None if item is None else str(item.data(0, Qt.ItemDataRole.UserRole))

    def select_checkpoint(self, checkpoint_id: str) -> bool:
        for i in range(self.tree_widget.topLevelItemCount()):
            item = self.tree_widget.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == checkpoint_id:
                self.tree_widget.setCurrentItem(item)
                return True
        return False

    def _on_checkpoint_selected(self) -> None:
        cid = self.selected_checkpoint_id()
        if cid is not None and self.tree is not None:
            self.controller.load_checkpoint(self.tree.key, cid)

    def _on_checkpoint_loaded(self, view: CheckpointView) -> None:
        info = view.detail.info
        if info.checkpoint_id != self.selected_checkpoint_id():
            return
        self.shown = view
        step = "" if info.step is None else f"step {info.step}, "
        title = f"{info.key.label} · {step}{info.source or '?'} · {info.checkpoint_id}"
        if view.detail.error:
            title += f" · cannot be read: {view.detail.error}"
        self.state_view.set_state(view.state, title)
        self.channels_tree.clear()
        for name, value in sorted(view.detail.channels.items()):
            item = QTreeWidgetItem([name, value.type or "", str(value.size), value_text(value)])
            item.setToolTip(3, value_text(value, 4000))
            self.channels_tree.addTopLevelItem(item)
        self.writes_tree.clear()
        for w in view.detail.pending_writes:
            item = QTreeWidgetItem([w.task_id, w.channel, value_text(w.value)])
            item.setToolTip(2, value_text(w.value, 4000))
            self.writes_tree.addTopLevelItem(item)
        self.detail_tabs.setTabText(2, f"Pending writes ({len(view.detail.pending_writes)})")
        if view.parent_state is not None and view.parent is not None:
            old_step = view.parent.info.step if view.parent.info.step is not None else -1
            new_step = info.step if info.step is not None else -1
            self.diff_view.set_diff(
                CheckpointDiff(old_step, new_step, diff_states(view.parent_state, view.state))
            )
        else:
            self.diff_view.clear("The first checkpoint of its chain has no parent to compare with")
        self.checkpoint_shown.emit()

    # ------------------------------------------------------------------ storage, prune

    def _on_tab_changed(self, index: int) -> None:
        if index == 2 and self.report is None:
            self.controller.load_analytics()

    def _on_analytics_loaded(self, report: StorageReport) -> None:
        self.report = report
        parts = [
            f"LangGraph {report.backend}: {report.checkpoints} checkpoints, {report.writes} pending writes, "
            f"{len(report.threads)} threads"
        ]
        if report.backend == "sqlite":
            parts.append(
                f"file {format_bytes(report.file_bytes or 0)}, WAL {format_bytes(report.wal_bytes or 0)}, "
                f"free pages {format_bytes(report.free_bytes or 0)} (VACUUM returns them)"
            )
        parts.append(f"repeated blobs cost {format_bytes(report.repeated_bytes)}")
        self.storage_summary.setText("; ".join(parts))
        _fill(
            self.thread_bytes,
            [[t.key.label, str(t.checkpoints), format_bytes(t.bytes)] for t in report.threads],
        )
        _fill(
            self.channel_bytes,
            [[c.channel, format_bytes(c.bytes), str(c.values), str(c.distinct)] for c in report.channels],
        )
        _fill(
            self.repeated,
            [
                [r.channel, format_bytes(r.size), str(r.copies), format_bytes(r.wasted)]
                for r in report.repeated
            ],
        )
        self.keep_last.setText(
            "Estimated saving: "
            + "; ".join(
                f"keep last {s.keep_last}: {s.checkpoints} checkpoints, {format_bytes(s.bytes)}"
                for s in report.keep_last
            )
        )
        self.analytics_shown.emit()

    def _on_pruned(self, *_args: object) -> None:
        self.tree = None
        self.report = None
        self.reload()
        if self.tabs.currentIndex() == 2:
            self.controller.load_analytics()
        self.pruned.emit()
