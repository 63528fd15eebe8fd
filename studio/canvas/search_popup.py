"""The quick-add popup (Tab or double-click on the canvas): type to filter node types, Enter adds one."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

__all__ = ["NodeSearchPopup", "type_label"]


def type_label(name: str, title: str | None) -> str:
    """How a node type is named in the palette and the search popup: its title alone ("Accumulate",
    "Emit event"); the type name is in the tooltip and still matches a search."""
    return (title or "").strip() or name


class NodeSearchPopup(QFrame):
    """`chosen(type_name)` when the user picks a type; the popup closes itself."""

    chosen = Signal(str)

    def __init__(self, types: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("nodeSearchPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._types = list(types)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Add node: type to search…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(280, 300)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.search.returnPressed.connect(self._on_search_return_pressed)
        self.list.itemActivated.connect(self._on_list_item_activated)
        self._on_search_text_changed("")

    def popup_at(self, global_pos: QPoint) -> None:
        self.move(global_pos)
        self.show()
        self.search.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            row = self.list.currentRow() + (1 if event.key() == Qt.Key.Key_Down else -1)
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
            return
        super().keyPressEvent(event)

    def _on_search_text_changed(self, text: str) -> None:
        needle = text.strip().lower()
        self.list.clear()
        for name, title in self._types:
            if not needle or needle in name.lower() or needle in title.lower():
                item = QListWidgetItem(type_label(name, title))
                item.setToolTip(f"type: {name}")
                item.setData(Qt.ItemDataRole.UserRole, name)
                self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _on_search_return_pressed(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._on_list_item_activated(item)

    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        self.chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
        self.close()
        self.deleteLater()
