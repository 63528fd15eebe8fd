"""The checkpoint browser's panes (views only): the sessions list with its actions, the steps with the
state viewer, and the two-step comparison."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio.models.sessions import SessionsModel
from studio.models.steps import StepsModel
from studio.panels.browser_widgets import Pager, compact_table
from studio.panels.state_view import DiffView, StateView

__all__ = ["ComparePane", "SessionsPane", "StepsPane"]


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    return button


class SessionsPane(QWidget):
    """Search, Live, the sessions table (sorted by the database), its pager and the session actions."""

    def __init__(self, model: SessionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("sessionSearch")
        self.search_edit.setPlaceholderText("Search session ids…")
        self.search_edit.setClearButtonEnabled(True)
        self.live_check = QCheckBox("Live")
        self.live_check.setObjectName("liveTail")
        self.live_check.setToolTip("Show steps written by other processes as they arrive")
        self.live_check.setChecked(True)
        self.view = self._table(model)
        self.pager = Pager("sessionsPager")
        self.delete_button = _button("Delete", "deleteSession")
        self.export_button = _button("Export…", "exportSession")
        self.prune_button = _button("Prune…", "pruneButton")
        self.stepper_button = _button("Open in stepper", "openInStepper")
        self.resume_button = _button("Resume in run console", "resumeInConsole")
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.live_check)
        actions = QHBoxLayout()
        for b in (self.delete_button, self.export_button, self.prune_button):
            actions.addWidget(b)
        actions2 = QHBoxLayout()
        actions2.addWidget(self.stepper_button)
        actions2.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.pager)
        layout.addLayout(actions)
        layout.addLayout(actions2)

    @staticmethod
    def _table(model: SessionsModel) -> QTableView:
        view = QTableView()
        view.setObjectName("sessionsTable")
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setSortingEnabled(True)
        view.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        compact_table(view)
        header = view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 6):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        view.setAlternatingRowColors(True)
        return view


class StepsPane(QSplitter):
    """The selected session's steps (paged) over the state of the selected step."""

    def __init__(self, model: StepsModel, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.view = QTableView()
        self.view.setObjectName("stepsTable")
        self.view.setModel(model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        compact_table(self.view)
        self.view.horizontalHeader().setStretchLastSection(True)
        for col in range(5):
            self.view.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.view.setAlternatingRowColors(True)
        self.pager = Pager("stepsPager")
        self.state_view = StateView()
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.pager)
        self.addWidget(box)
        self.addWidget(self.state_view)
        self.setSizes([260, 300])


class ComparePane(QWidget):
    """From step / to step / Compare, and the per-channel diff."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.from_spin = QSpinBox()
        self.from_spin.setObjectName("diffFrom")
        self.to_spin = QSpinBox()
        self.to_spin.setObjectName("diffTo")
        for s in (self.from_spin, self.to_spin):
            s.setRange(0, 0)
        self.compare_button = _button("Compare", "compareSteps")
        self.diff_view = DiffView()
        row = QHBoxLayout()
        row.addWidget(QLabel("From step"))
        row.addWidget(self.from_spin)
        row.addWidget(QLabel("to step"))
        row.addWidget(self.to_spin)
        row.addWidget(self.compare_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(QLabel("Tip: select two rows in the steps table to compare them."))
        layout.addWidget(self.diff_view, 1)

    def set_range(self, last_step: int | None) -> None:
        for spin in (self.from_spin, self.to_spin):
            spin.setRange(0, last_step or 0)
        if last_step is not None:
            self.from_spin.setValue(max(0, last_step - 1))
            self.to_spin.setValue(last_step)
