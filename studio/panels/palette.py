"""The node palette (`nodePalette`): every node type of the registry with a search box; drag a type onto
the canvas, or double-click it to add one in the middle of the view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QListView, QVBoxLayout, QWidget

from studio.canvas.search_popup import type_label
from studio.canvas.view import NODE_TYPE_MIME

__all__ = ["NodePalettePanel", "NodeTypeListModel"]

SEARCH_ROLE = Qt.ItemDataRole.UserRole + 1


class NodeTypeListModel(QStandardItemModel):
    """One row per node type; drags carry the type name under NODE_TYPE_MIME."""

    def __init__(self, specs: Sequence[Any]) -> None:
        super().__init__()
        for spec in specs:
            item = QStandardItem(type_label(spec.name, spec.title))
            item.setData(spec.name, Qt.ItemDataRole.UserRole)
            item.setData(f"{spec.title} {spec.name}", SEARCH_ROLE)
            item.setToolTip(f"{spec.name}: {spec.description}\n(source: {spec.source})")
            item.setEditable(False)
            item.setDragEnabled(True)
            self.appendRow(item)

    def mimeTypes(self) -> list[str]:
        return [NODE_TYPE_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex | QPersistentModelIndex]) -> QMimeData:
        data = QMimeData()
        if indexes:
            name = str(indexes[0].data(Qt.ItemDataRole.UserRole))
            data.setData(NODE_TYPE_MIME, name.encode("utf-8"))
            data.setText(name)
        return data


class NodePalettePanel(QWidget):
    """`type_activated(name)` on double-click or Enter."""

    type_activated = Signal(str)

    def __init__(self, registry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nodePalette")
        try:
            specs = registry.node_types()
        except Exception:
            specs = []
        self.model = NodeTypeListModel(specs)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterRole(SEARCH_ROLE)  # the title and the type name both match
        self.search = QLineEdit(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search node types…")
        self.search.setClearButtonEnabled(True)
        self.list = QListView(self)
        self.list.setObjectName("paletteList")
        self.list.setModel(self.proxy)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        # `activated` comes on double-click (or single click, per platform style) and on Enter: connecting
        # `doubleClicked` as well would add two nodes per double-click.
        self.list.activated.connect(self._on_list_activated)

    def visible_types(self) -> list[str]:
        return [
            str(self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole)) for r in range(self.proxy.rowCount())
        ]

    def _on_list_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.type_activated.emit(str(index.data(Qt.ItemDataRole.UserRole)))
