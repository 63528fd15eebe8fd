"""Node inspector (`nodeInspector`): one run of one node from its `NodeRecord` - what it received (the state
before its step), what it returned (its own partial, before the barrier), status, attempts, duration, error
and the traceback of the user's own node code (collapsible text, never a dialog); step back and forth through
the node's runs. The view of a `DebugController`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.debug import DebugController, NodeRun
from studio.models.state_tree import JsonTreeModel
from studio.panels.browser_widgets import Bar
from studio.widgets.labels import shrinkable

__all__ = ["STATUS_COLORS", "NodeInspectorPanel"]

STATUS_COLORS = {
    "done": "#2e9d4f",
    "failed": "#d64541",
    "timeout": "#e08a1e",
    "interrupted": "#7a5cc7",
}


def _tree(name: str, model: JsonTreeModel) -> QTreeView:
    view = QTreeView()
    view.setObjectName(name)
    view.setModel(model)
    view.setAlternatingRowColors(True)
    view.setUniformRowHeights(True)
    view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    view.header().setStretchLastSection(True)
    return view


class NodeInspectorPanel(QWidget):
    """See the module docstring. `shown` is emitted after a run is displayed (tests wait on it)."""

    shown = Signal(object)  # NodeRun

    def __init__(self, controller: DebugController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nodeInspector")
        self.controller = controller
        self.run: NodeRun | None = None
        self._source: Any = None
        self._build_ui()
        controller.inspected.connect(self._on_controller_inspected)
        controller.inspect_empty.connect(self._on_controller_inspect_empty)
        self.clear()

    def _build_ui(self) -> None:
        self.title = QLabel()
        self.title.setObjectName("inspectorTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        shrinkable(self.title)
        self.prev_button = QPushButton("\u25c0 Previous run")
        self.prev_button.setObjectName("inspectorPrev")
        self.next_button = QPushButton("Next run \u25b6")
        self.next_button.setObjectName("inspectorNext")
        self.position = QLabel()
        self.position.setObjectName("inspectorPosition")
        self.node_combo = QComboBox()
        self.node_combo.setObjectName("inspectorNode")
        self.node_combo.setToolTip("The nodes that ran in this step")
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.position)
        nav.addWidget(self.next_button)
        nav.addStretch(1)
        nav.addWidget(QLabel("Node"))
        nav.addWidget(self.node_combo)
        self.facts = QLabel()
        self.facts.setObjectName("inspectorFacts")
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        shrinkable(self.facts)
        self.error_bar = Bar("inspectorError", "#f6c6c6")
        self.traceback_toggle = QToolButton()
        self.traceback_toggle.setObjectName("inspectorTracebackToggle")
        self.traceback_toggle.setCheckable(True)
        self.traceback_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.traceback_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.traceback_toggle.setText("Traceback of the node's code")
        self.traceback = QPlainTextEdit()
        self.traceback.setObjectName("inspectorTraceback")
        self.traceback.setReadOnly(True)
        self.traceback.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.traceback.setMaximumHeight(180)
        font = self.traceback.font()
        font.setFamily("monospace")
        self.traceback.setFont(font)
        self.traceback.hide()
        self.received_model = JsonTreeModel(self)
        self.returned_model = JsonTreeModel(self)
        self.received_label = QLabel("Received")
        self.received_label.setObjectName("inspectorReceivedLabel")
        self.returned_label = QLabel("Returned")
        self.returned_label.setObjectName("inspectorReturnedLabel")
        self.received_view = _tree("inspectorReceived", self.received_model)
        self.returned_view = _tree("inspectorReturned", self.returned_model)
        split = QSplitter(Qt.Orientation.Horizontal)
        for label, view in (
            (self.received_label, self.received_view),
            (self.returned_label, self.returned_view),
        ):
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            col.addWidget(label)
            col.addWidget(view, 1)
            split.addWidget(box)
        self.empty = QLabel()
        self.empty.setObjectName("inspectorEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(nav)
        body.addWidget(self.facts)
        body.addWidget(self.error_bar)
        body.addWidget(self.traceback_toggle)
        body.addWidget(self.traceback)
        body.addWidget(split, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.body, 1)
        self.prev_button.clicked.connect(lambda: self.step_run(-1))
        self.next_button.clicked.connect(lambda: self.step_run(1))
        self.node_combo.activated.connect(self._on_node_combo_activated)
        self.traceback_toggle.toggled.connect(self._on_traceback_toggled)

    # ------------------------------------------------------------------ public API

    def clear(
        self, message: str = "Select a node on the canvas after a run, or a step in the checkpoint browser."
    ) -> None:
        self.run = None
        self.title.setText("Node inspector")
        self.empty.setText(message)
        self.empty.show()
        self.body.hide()

    def inspect(
        self, session_id: str, node: str | None = None, step: int | None = None, source: Any = None
    ) -> None:
        """Ask for a node's run (`node` None: the first node of `step`; `step` None: its last run). `source`
        is a checkpointer to read instead of the checkpoint browser's (the run console's last run)."""
        self._source = source
        self.controller.inspect(session_id, node, step, source=source)

    def step_run(self, delta: int) -> bool:
        """Show the node's previous (-1) or next (+1) run; False at either end."""
        run = self.run
        if run is None:
            return False
        i = run.index + delta
        if not 0 <= i < len(run.runs):
            return False
        self.controller.inspect(run.session_id, run.record.node, run.runs[i], source=self._source)
        return True

    def traceback_text(self) -> str:
        return self.traceback.toPlainText()

    # ------------------------------------------------------------------ controller -> view

    def _on_controller_inspected(self, run: NodeRun) -> None:
        self.run = run
        rec = run.record
        self.empty.hide()
        self.body.show()
        self.title.setText(f"Node '{rec.node}' · step {rec.step} of session '{run.session_id}'")
        self.position.setText(f"run {run.index + 1} of {len(run.runs)}")
        self.prev_button.setEnabled(run.index > 0)
        self.next_button.setEnabled(run.index < len(run.runs) - 1)
        self.node_combo.clear()
        self.node_combo.addItems(list(run.step_nodes))
        self.node_combo.setCurrentText(rec.node)
        color = STATUS_COLORS.get(rec.status, "#888888")
        started = rec.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        attempts = f"{rec.attempts} attempts" if rec.attempts != 1 else "1 attempt"
        self.facts.setText(
            f"<b style='color:{color}'>{rec.status}</b> &nbsp; {attempts} &nbsp; "
            f"{rec.duration_ms:.1f} ms &nbsp; started {started} UTC"
        )
        message = run.error_message
        self.error_bar.show_text(f"{rec.status}: {message}" if message else "")
        tb = run.traceback
        self.traceback.setPlainText(tb)
        self.traceback_toggle.setVisible(bool(tb))
        self.traceback.setVisible(bool(tb) and self.traceback_toggle.isChecked())
        if run.received is None:
            self.received_label.setText(f"Received: the state before step {rec.step} is not stored (pruned)")
            self.received_model.set_value({})
        else:
            self.received_label.setText(
                f"Received: the state before step {rec.step} (checkpoint {rec.step - 1})"
            )
            self.received_model.set_value(run.received)
        self.received_view.expandToDepth(1)
        if rec.status == "done":
            self.returned_label.setText("Returned: its own partial, before the barrier merge")
            self.returned_model.set_value(rec.output if rec.output is not None else {})
        else:
            self.returned_label.setText(f"Returned: nothing ({rec.status})")
            self.returned_model.set_value({})
        self.returned_view.expandAll()
        self.shown.emit(run)

    def _on_controller_inspect_empty(self, message: str) -> None:
        self.clear(message)

    def _on_node_combo_activated(self, index: int) -> None:
        run = self.run
        node = self.node_combo.itemText(index)
        if run is not None and node and node != run.record.node:
            self.controller.inspect(run.session_id, node, run.record.step, source=self._source)

    def _on_traceback_toggled(self, on: bool) -> None:
        self.traceback_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.traceback.setVisible(on and bool(self.traceback.toPlainText()))
