"""The run console's parts (views only): where to store the run, the run buttons, the failure box with its
collapsible traceback, and the event list with filters and the detail pane."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.models.run_log import RunLogModel
from studio.widgets.json_editor import monospace_font
from studio.widgets.labels import shrinkable

__all__ = ["KINDS", "CheckpointerRow", "EventsPane", "FailureBox", "RunButtons"]

KINDS = (("memory", "In-memory"), ("sqlite", "SQLite file"), ("postgres", "Postgres URL"))


class CheckpointerRow(QWidget):
    """Checkpointer kind, location (file or URL without password), password, session id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox(self)
        self.kind.setObjectName("checkpointerKind")
        for key, title in KINDS:
            self.kind.addItem(title, key)
        self.location = QLineEdit(self)
        self.location.setObjectName("checkpointerLocation")
        self.browse = QPushButton("…", self)
        self.browse.setToolTip("Choose a SQLite file")
        self.password = QLineEdit(self)
        self.password.setObjectName("postgresPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("password")
        self.session = QLineEdit(self)
        self.session.setObjectName("sessionId")
        self.session.setPlaceholderText("session id (new one when empty)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Checkpointer"))
        row.addWidget(self.kind)
        row.addWidget(self.location, 2)
        row.addWidget(self.browse)
        row.addWidget(self.password, 1)
        row.addWidget(QLabel("Session"))
        row.addWidget(self.session, 1)


class RunButtons(QWidget):
    """Run / Step / Continue / Stop, the run state and the breakpoint list."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_button = self._button("Run (F5)", "runButton")
        self.step_button = self._button("Step (F10)", "stepButton")
        self.continue_button = self._button("Continue", "continueButton")
        self.stop_button = self._button("Stop (Shift+F5)", "stopButton")
        self.state_label = QLabel(self)
        self.state_label.setObjectName("runState")
        bold = self.state_label.font()
        bold.setBold(True)
        self.state_label.setFont(bold)
        self.breakpoints_label = QLabel(self)
        self.breakpoints_label.setObjectName("breakpointsLabel")
        self.breakpoints_label.setStyleSheet("color: #c0392b;")
        shrinkable(self.state_label)
        shrinkable(self.breakpoints_label)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for b in (self.run_button, self.step_button, self.continue_button, self.stop_button):
            row.addWidget(b)
        row.addSpacing(12)
        # both labels share the rest of the row (they ignore their text width: never widen the window)
        row.addWidget(self.state_label, 1)
        row.addWidget(self.breakpoints_label, 1)
        self.breakpoints_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _button(self, text: str, name: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        return button


class FailureBox(QWidget):
    """The failed run's one-line error and, when the user's code raised, its traceback behind a toggle
    (inline, collapsed by default: never a dialog)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("runError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            "background: #fdecea; color: #8e1f1a; border: 1px solid #f0b4af; padding: 6px;"
        )
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("tracebackToggle")
        self.toggle.setText("Traceback")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.traceback = QPlainTextEdit(self)
        self.traceback.setObjectName("runTraceback")
        self.traceback.setReadOnly(True)
        self.traceback.setFont(monospace_font())
        self.traceback.setMaximumHeight(160)
        self.traceback.hide()
        self.toggle.toggled.connect(self._on_toggle_toggled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error_label)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.traceback)
        self.clear()

    def show_error(self, text: str, traceback: str = "") -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self.set_traceback(traceback)
        self.show()

    def set_traceback(self, text: str) -> None:
        self.traceback.setPlainText(text)
        self.toggle.setVisible(bool(text))
        self.toggle.setChecked(False)

    def clear(self) -> None:
        self.error_label.clear()
        self.set_traceback("")
        self.hide()

    def _on_toggle_toggled(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.traceback.setVisible(on)


class EventsPane(QSplitter):
    """Filters (type, node, text), Follow, count and Export over the event table, and the detail pane."""

    def __init__(self, log: RunLogModel, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.type_filter = QComboBox()
        self.type_filter.setObjectName("typeFilter")
        self.type_filter.addItems(["all types", "lifecycle", "node", "diagnostic", "llm"])
        self.node_filter = QLineEdit()
        self.node_filter.setObjectName("nodeFilter")
        self.node_filter.setPlaceholderText("node")
        self.text_filter = QLineEdit()
        self.text_filter.setObjectName("textFilter")
        self.text_filter.setPlaceholderText("filter text (Ctrl+F)")
        self.text_filter.setClearButtonEnabled(True)
        self.follow = QCheckBox("Follow")
        self.follow.setObjectName("followTail")
        self.follow.setChecked(True)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export every event as JSON Lines")
        self.count_label = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(self.type_filter)
        filters.addWidget(self.node_filter)
        filters.addWidget(self.text_filter, 2)
        filters.addWidget(self.follow)
        filters.addWidget(self.count_label)
        filters.addWidget(self.export_button)
        self.table = self._table(log)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("eventDetail")
        self.detail.setReadOnly(True)
        self.detail.setFont(monospace_font())
        self.detail.setPlaceholderText("Select an event to see it as JSON.")
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        self.addWidget(box)
        self.addWidget(self.detail)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)

    @staticmethod
    def _table(log: RunLogModel) -> QTableView:
        table = QTableView()
        table.setObjectName("eventTable")
        table.setModel(log)
        table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(20)
        header = table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in enumerate((56, 92, 72, 120, 90, 44)):
            header.resizeSection(col, width)
        return table
