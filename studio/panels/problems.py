"""The problems list: every validation problem of the document (JSON path and message); activating one
selects the node it concerns."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from studio.document.validation import Problem

__all__ = ["ProblemsPanel"]


class ProblemsPanel(QWidget):
    """`node_requested(node_id)` when a problem that belongs to a node is activated."""

    node_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problemsPanel")
        self.list = QListWidget(self)
        self.list.setObjectName("problemsList")
        # Long messages wrap onto more lines instead of being cut off at the dock's edge.
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setUniformItemSizes(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        self.list.itemActivated.connect(self._on_list_item_activated)  # also comes on double-click
        self.set_problems([])

    def set_problems(self, problems: list[Problem]) -> None:
        self.list.clear()
        if not problems:
            item = QListWidgetItem("No problems: the graph can run.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
            return
        for p in problems:
            item = QListWidgetItem(f"⚠ {p.path}: {p.message}")
            item.setData(Qt.ItemDataRole.UserRole, p.node_id or (p.edge[0] if p.edge else ""))
            item.setToolTip(p.message)
            self.list.addItem(item)

    def count(self) -> int:
        return sum(
            1 for i in range(self.list.count()) if self.list.item(i).flags() != Qt.ItemFlag.NoItemFlags
        )

    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        node = item.data(Qt.ItemDataRole.UserRole)
        if node:
            self.node_requested.emit(str(node))
