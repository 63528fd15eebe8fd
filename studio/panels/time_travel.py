"""Time travel in the checkpoint browser (views of a `DebugController`): the Lineage tab (a session's tree of
forks, parent step on each branch), the Timeline tab, "Fork from this step..." (the step's state in an editor,
a preview of the barrier result before anything is written, then fork and optionally run it in the console)
and "Replay from here..." (a live/recorded choice per node, progress and cancel, where it diverged).

Dialogs are opened with `open()` from slots, never `exec()`; all work runs in the controller's tasks."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.timetravel import ForkPreview
from studio.controllers.debug import DebugController, ForkRequest, LineageNode, ReplaySummary, parse_update
from studio.panels.browser_widgets import Bar
from studio.panels.node_inspector import NodeInspectorPanel
from studio.panels.timeline import SessionTimeline
from studio.services.storage import Checkpoint
from studio.widgets.json_editor import JsonEditor
from studio.widgets.labels import shrinkable

__all__ = ["BrowserTimeTravel", "ForkDialog", "LineageView", "ReplayDialog", "preview_text"]


# ====================================================================== lineage


class LineageView(QWidget):
    """The tree of forks around the selected session; activating a session selects it in the browser."""

    session_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionLineage")
        self.title = QLabel("Select a session to see its forks.")
        self.title.setObjectName("lineageTitle")
        shrinkable(self.title)
        self.tree = QTreeWidget()
        self.tree.setObjectName("lineageTree")
        self.tree.setHeaderLabels(["Session", "Forked at step", "Last step", "Graph"])
        self.tree.setColumnWidth(0, 260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        self.tree.itemActivated.connect(self._on_tree_item_activated)

    def show_tree(self, selected: str, root: LineageNode) -> None:
        self.tree.clear()
        count = 0

        def add(node: LineageNode, parent: QTreeWidgetItem | None) -> None:
            nonlocal count
            info = node.info
            at = "" if info.parent_step is None else f"{info.parent_step} of {info.parent_session}"
            item = QTreeWidgetItem([info.session_id, at, str(info.last_step), info.graph_name or ""])
            item.setData(0, Qt.ItemDataRole.UserRole, info.session_id)
            if info.session_id == selected:
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                parent.addChild(item)
            count += 1
            for child in node.children:
                add(child, item)
            if info.session_id == selected:
                self.tree.setCurrentItem(item)

        add(root, None)
        self.tree.expandAll()
        forks = count - 1
        self.title.setText(
            f"'{selected}': {forks} fork(s) in its family" if forks else f"'{selected}' has no forks."
        )

    def clear(self) -> None:
        self.tree.clear()
        self.title.setText("Select a session to see its forks.")

    def sessions(self) -> list[tuple[str, str]]:
        """(session, parent) of every row, depth first (for tests)."""
        out: list[tuple[str, str]] = []

        def walk(item: QTreeWidgetItem, parent: str) -> None:
            out.append((item.text(0), parent))
            for i in range(item.childCount()):
                child = item.child(i)
                if child is not None:
                    walk(child, item.text(0))

        for item in self._items(self.tree):
            walk(item, "")
        return out

    @staticmethod
    def _items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
        return [i for i in (tree.topLevelItem(n) for n in range(tree.topLevelItemCount())) if i is not None]

    def _on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.session_activated.emit(str(item.data(0, Qt.ItemDataRole.UserRole)))


# ====================================================================== fork


def preview_text(p: ForkPreview, before_extra: dict[str, Any] | None = None) -> str:
    """The preview as the fork dialog shows it; `before_extra` (the step's extra) names the changed keys."""
    lines = []
    for ch, (old, new) in p.versions.items():
        change = f"v{old} \u2192 v{new} (changed)" if new != old else f"v{old} (unchanged)"
        if ch == "extra" and new != old and before_extra is not None:
            after = p.state.extra
            keys = sorted(k for k in set(after) | set(before_extra) if after.get(k) != before_extra.get(k))
            if keys:
                change += ": " + ", ".join(keys)
        lines.append(f"{ch}: {change}")
    lines.append("Next frontier: " + (", ".join(k.name for k in p.frontier) or "(empty)"))
    lines.append("Will run first: " + (", ".join(k.name for k in p.will_run) or "nothing"))
    if p.skipped:
        lines.append("Skipped: " + ", ".join(f"{k.name} ({why})" for k, why in p.skipped))
    if p.unknown:
        lines.append("Not in this graph: " + ", ".join(p.unknown))
    return "\n".join(lines)


class ForkDialog(QDialog):
    """Fork `source` at `step`: edit the update (the step's extra, prefilled) and the frontier, see the
    preview, then Fork (or Fork and run)."""

    run_requested = Signal(str, str)  # url, new session id

    def __init__(
        self, controller: DebugController, checkpoint: Checkpoint, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("forkDialog")
        self.setWindowTitle(f"Fork session '{checkpoint.session_id}' at step {checkpoint.step}")
        self.controller = controller
        self.source_id = checkpoint.session_id
        self.step = checkpoint.step
        self._before_extra = dict(checkpoint.state.extra)
        self._run_after = False
        self.result_id: str | None = None
        self.error_bar = Bar("forkError", "#f6c6c6")
        self.new_id = QLineEdit(f"{checkpoint.session_id}-fork-{checkpoint.step}")
        self.new_id.setObjectName("forkNewId")
        self.frontier = QLineEdit(", ".join(k.name for k in checkpoint.frontier))
        self.frontier.setObjectName("forkFrontier")
        self.frontier.setToolTip("Node names, comma separated (End to stop at once)")
        self.editor = JsonEditor(self)
        self.editor.setObjectName("forkUpdate")
        self.editor.set_value({"extra": dict(checkpoint.state.extra)})
        hint = QLabel(
            "The update is merged through the barrier like a node's output: change a value in extra, "
            'or add "messages": [{"role": "user", "content": "..."}] to append messages.'
        )
        hint.setWordWrap(True)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("forkPreview")
        self.preview.setReadOnly(True)
        self.preview.setMaximumHeight(130)
        self.status = QLabel("")
        self.status.setObjectName("forkStatus")
        shrinkable(self.status)
        self.fork_button = QPushButton("Fork")
        self.fork_button.setObjectName("forkButton")
        self.fork_run_button = QPushButton("Fork and run")
        self.fork_run_button.setObjectName("forkRunButton")
        self.close_button = QPushButton("Close")
        form = QFormLayout()
        form.addRow("New session id", self.new_id)
        form.addRow("Frontier", self.frontier)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.fork_button)
        buttons.addWidget(self.fork_run_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.error_bar)
        layout.addLayout(form)
        layout.addWidget(QLabel(f"Update merged into the state of step {checkpoint.step}"))
        layout.addWidget(self.editor, 1)
        layout.addWidget(hint)
        layout.addWidget(QLabel("Preview (nothing written yet)"))
        layout.addWidget(self.preview)
        layout.addLayout(buttons)
        self.resize(640, 620)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.request_preview)
        self.editor.value_changed.connect(lambda _v: self._timer.start())
        self.frontier.textChanged.connect(lambda _t: self._timer.start())
        self.fork_button.clicked.connect(lambda: self.fork(run=False))
        self.fork_run_button.clicked.connect(lambda: self.fork(run=True))
        self.close_button.clicked.connect(self.close)
        controller.fork_previewed.connect(self._on_controller_fork_previewed)
        controller.fork_error.connect(self._on_controller_fork_error)
        controller.forked.connect(self._on_controller_forked)
        self.request_preview()

    def frontier_names(self) -> list[str] | None:
        names = [n.strip() for n in self.frontier.text().split(",") if n.strip()]
        return names or None

    def request_preview(self) -> None:
        self._timer.stop()
        self.error_bar.hide()
        try:
            value = self.editor.value()
        except ValueError as exc:
            self._fail(f"session '{self.source_id}' step {self.step}: the update is not JSON ({exc})")
            return
        self.controller.preview(self.source_id, self.step, value, self.frontier_names())

    def fork(self, run: bool) -> None:
        self.error_bar.hide()
        new_id = self.new_id.text().strip()
        if not new_id:
            self._fail(f"session '{self.source_id}' step {self.step}: give the new session an id")
            return
        try:
            update = parse_update(self.editor.value())
        except ValueError as exc:
            self._fail(f"session '{self.source_id}' step {self.step}: {exc}")
            return
        self._run_after = run
        self.status.setText("Forking…")
        self.controller.fork(ForkRequest(self.source_id, self.step, new_id, update, self.frontier_names()))

    def _fail(self, message: str) -> None:
        self.status.setText("")
        self.error_bar.show_text(message)

    def _on_controller_fork_previewed(self, preview: ForkPreview) -> None:
        self.preview.setPlainText(preview_text(preview, self._before_extra))

    def _on_controller_fork_error(self, message: str) -> None:
        self._fail(message)

    def _on_controller_forked(self, url: str, new_id: str) -> None:
        self.result_id = new_id
        self.status.setText(f"Forked into '{new_id}'.")
        if self._run_after:
            self.run_requested.emit(url, new_id)


# ====================================================================== replay


class ReplayDialog(QDialog):
    """Replay `source` from `step` into a new session: each node live or recorded; progress and cancel."""

    def __init__(
        self, controller: DebugController, source_id: str, step: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("replayDialog")
        self.setWindowTitle(f"Replay session '{source_id}' from step {step}")
        self.controller = controller
        self.source_id = source_id
        self.step = step
        self.summary: ReplaySummary | None = None
        self.error_bar = Bar("replayError", "#f6c6c6")
        self.live_all_button = QPushButton("Replay live")
        self.live_all_button.setObjectName("replayAllLive")
        self.live_all_button.setToolTip("Run every node for real")
        self.error_bar.row.insertWidget(1, self.live_all_button)
        self.live_all_button.hide()
        self.new_id = QLineEdit(f"{source_id}-replay-{step}")
        self.new_id.setObjectName("replayNewId")
        self.nodes = QTreeWidget()
        self.nodes.setObjectName("replayNodes")
        self.nodes.setHeaderLabels(["Node", "Live (runs for real)"])
        self.nodes.setRootIsDecorated(False)
        self.nodes.setColumnWidth(0, 220)
        note = QLabel(
            "Unchecked nodes return their recorded output of the same step without running (no side effects)."
        )
        note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("replayProgress")
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.result_label = QLabel("")
        self.result_label.setObjectName("replayResult")
        self.result_label.setWordWrap(True)
        self.start_button = QPushButton("Replay")
        self.start_button.setObjectName("replayStart")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("replayCancel")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        form = QFormLayout()
        form.addRow("New session id", self.new_id)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.error_bar)
        layout.addLayout(form)
        layout.addWidget(self.nodes, 1)
        layout.addWidget(note)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addLayout(buttons)
        self.resize(520, 460)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.live_all_button.clicked.connect(self.replay_all_live)
        controller.replay_nodes.connect(self._on_controller_replay_nodes)
        controller.replay_progress.connect(self._on_controller_replay_progress)
        controller.replay_finished.connect(self._on_controller_replay_finished)
        controller.replay_error.connect(self._on_controller_replay_error)
        controller.load_replay_nodes(source_id)

    def node_names(self) -> list[str]:
        return [item.text(0) for item in LineageView._items(self.nodes)]

    def set_live(self, names: list[str]) -> None:
        for item in LineageView._items(self.nodes):
            on = item.text(0) in names
            item.setCheckState(1, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def live_names(self) -> list[str]:
        items = LineageView._items(self.nodes)
        return [i.text(0) for i in items if i.checkState(1) == Qt.CheckState.Checked]

    def start(self) -> None:
        new_id = self.new_id.text().strip()
        self.error_bar.hide()
        if not new_id:
            self.error_bar.show_text(f"session '{self.source_id}' step {self.step}: give the replay an id")
            return
        self.result_label.setText("")
        self.progress.show()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.controller.replay(self.source_id, new_id, self.step, self.live_names())

    def replay_all_live(self) -> None:
        self.set_live(self.node_names())
        self.live_all_button.hide()
        self.start()

    def cancel(self) -> None:
        if self.controller.cancel_replay():
            self._done()
            self.result_label.setText(
                f"Replay cancelled; the steps it saved stay in '{self.new_id.text().strip()}'."
            )

    def _done(self) -> None:
        self.progress.hide()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_controller_replay_nodes(self, session_id: str, names: list[str], has_records: bool) -> None:
        if session_id != self.source_id:
            return
        self.nodes.clear()
        for name in names:
            item = QTreeWidgetItem([name, ""])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(1, Qt.CheckState.Unchecked if has_records else Qt.CheckState.Checked)
            self.nodes.addTopLevelItem(item)

    def _on_controller_replay_progress(self, step: int) -> None:
        self.progress.setFormat(f"step {step}")
        self.result_label.setText(f"Replaying… step {step}")

    def _on_controller_replay_finished(self, summary: ReplaySummary) -> None:
        self.summary = summary
        self._done()
        self.result_label.setText(summary.text())

    def _on_controller_replay_error(self, message: str, offer_live: bool) -> None:
        self._done()
        self.error_bar.show_text(message)
        self.live_all_button.setVisible(offer_live)


# ====================================================================== the browser's part


class BrowserTimeTravel(QObject):
    """Adds the debugging loop to a `CheckpointBrowserPanel`: Lineage and Timeline tabs, Fork/Replay/Inspect
    buttons under the steps, and a selected step shown in the node inspector. `run_requested(url, id)` asks
    the main window to run a fork in the run console."""

    run_requested = Signal(str, str)
    inspector_wanted = Signal()  # raise the inspector's dock

    def __init__(self, browser: Any, controller: DebugController, inspector: NodeInspectorPanel) -> None:
        super().__init__(browser)
        self.setObjectName("browserTimeTravel")
        self.browser = browser
        self.controller = controller
        self.inspector = inspector
        self.dialog: QDialog | None = None
        self.lineage = LineageView()
        self.timeline = SessionTimeline()
        browser.tabs.addTab(self.lineage, "Lineage")
        browser.tabs.addTab(self.timeline, "Timeline")
        self.fork_button = QPushButton("Fork from this step…")
        self.fork_button.setObjectName("forkFromStep")
        self.replay_button = QPushButton("Replay from here…")
        self.replay_button.setObjectName("replayFromStep")
        self.inspect_button = QPushButton("Inspect nodes")
        self.inspect_button.setObjectName("inspectStep")
        row = QWidget()
        row.setObjectName("timeTravelRow")
        bar = QHBoxLayout(row)
        bar.setContentsMargins(0, 0, 0, 0)
        for b in (self.inspect_button, self.fork_button, self.replay_button):
            bar.addWidget(b)
        bar.addStretch(1)
        steps_box = browser.steps_pane.widget(0)
        steps_box.layout().addWidget(row)
        self._enable(None)
        browser.steps_view.selectionModel().selectionChanged.connect(self._on_steps_selection_changed)
        browser.sessions_view.selectionModel().selectionChanged.connect(self._on_session_changed)
        browser.tabs.currentChanged.connect(self._on_session_changed)
        browser.controller.reset.connect(self._on_browser_reset)
        self.fork_button.clicked.connect(self.open_fork_dialog)
        self.replay_button.clicked.connect(self.open_replay_dialog)
        self.inspect_button.clicked.connect(self.inspect_selected_step)
        self.lineage.session_activated.connect(browser.select_session)
        self.timeline.bar_clicked.connect(self._on_timeline_bar_clicked)
        controller.lineage_loaded.connect(self.lineage.show_tree)
        controller.timeline_loaded.connect(self._on_controller_timeline_loaded)
        controller.error.connect(browser.show_error)
        controller.forked.connect(self._on_controller_forked)
        controller.replay_finished.connect(self._on_controller_replay_finished)

    def selected_checkpoint(self) -> Checkpoint | None:
        rows = self.browser.steps_view.selectionModel().selectedRows()
        if len(rows) != 1:
            return None
        found: Checkpoint | None = self.browser.steps.checkpoint_at(rows[0].row())
        return found

    def _enable(self, cp: Checkpoint | None) -> None:
        writable = cp is not None and not self.browser.controller.is_langgraph
        for b in (self.fork_button, self.replay_button, self.inspect_button):
            b.setEnabled(writable)

    def _on_steps_selection_changed(self, *_args: object) -> None:
        cp = self.selected_checkpoint()
        self._enable(cp)
        if cp is not None:
            self._inspect(cp)

    def _inspect(self, cp: Checkpoint) -> None:
        # step N shows the nodes that ran in it; step 0 (nothing ran) those of step 1
        self.inspector.inspect(cp.session_id, None, max(cp.step, 1))

    def inspect_selected_step(self) -> None:
        cp = self.selected_checkpoint()
        if cp is not None:
            self._inspect(cp)
            self.inspector_wanted.emit()

    def _on_session_changed(self, *_args: object) -> None:
        sid = self.browser.selected_session_id()
        if sid is None or not self.browser.controller.is_open:
            return
        current = self.browser.tabs.currentWidget()
        if current is self.lineage:
            self.controller.load_lineage(sid)
        elif current is self.timeline and (
            self.timeline.data is None or self.timeline.data.session_id != sid
        ):
            self.controller.load_timeline(sid)

    def _on_controller_timeline_loaded(self, data: Any) -> None:
        if data.session_id == self.browser.selected_session_id():
            self.timeline.show_data(data)

    def _on_timeline_bar_clicked(self, session_id: str, node: str, step: int) -> None:
        self.inspector.inspect(session_id, node, step)
        self.inspector_wanted.emit()

    def _on_browser_reset(self) -> None:
        self.lineage.clear()
        self.timeline.clear()
        self._enable(None)

    def open_fork_dialog(self) -> ForkDialog | None:
        cp = self.selected_checkpoint()
        if cp is None:
            return None
        dialog = ForkDialog(self.controller, cp, self.browser)
        dialog.run_requested.connect(self.run_requested)
        dialog.finished.connect(dialog.deleteLater)
        dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def open_replay_dialog(self) -> ReplayDialog | None:
        cp = self.selected_checkpoint()
        if cp is None:
            return None
        dialog = ReplayDialog(self.controller, cp.session_id, cp.step, self.browser)
        dialog.finished.connect(dialog.deleteLater)
        dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _on_dialog_destroyed(self, *_args: object) -> None:
        self.dialog = None

    def _on_controller_forked(self, _url: str, _new_id: str) -> None:
        self.browser.reload()

    def _on_controller_replay_finished(self, _summary: object) -> None:
        self.browser.reload()
