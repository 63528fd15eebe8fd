"""`RecordTableModel`: a table model over a list of records with fixed column titles.

The shared plumbing of the sessions, steps and invocations models; subclasses supply `data`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

T = TypeVar("T")
_Index = QModelIndex | QPersistentModelIndex


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows are `self._items`; columns are `COLUMNS` (horizontal header titles)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[T] = []

    def item_at(self, row: int) -> T | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section] if 0 <= section < len(self.COLUMNS) else None
        return None


class PagedRecordModel(RecordTableModel[T]):
    """One page of records out of `total_count`; `query_changed` asks the owner to refetch (the database
    pages, never this model)."""

    EMPTY_LABEL: ClassVar[str] = "nothing"

    query_changed = Signal()

    def __init__(self, page_size: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._total = 0
        self.page_size = page_size
        self.page = 0

    def page_query_args(self) -> dict[str, int]:
        """`limit` and `offset` of the current page."""
        return {"limit": self.page_size, "offset": self.page * self.page_size}

    def set_page(self, page: int) -> None:
        page = max(0, min(page, self.page_count - 1))
        if page != self.page:
            self.page = page
            self.query_changed.emit()

    @property
    def total_count(self) -> int:
        return self._total

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self._total / self.page_size))

    def page_label(self) -> str:
        if self._total == 0:
            return self.EMPTY_LABEL
        first = self.page * self.page_size + 1
        last = min(self._total, first + len(self._items) - 1)
        return f"{first}-{last} of {self._total}  (page {self.page + 1}/{self.page_count})"

    def set_page_result(self, items: list[T], total_count: int) -> None:
        """Replace the page shown."""
        self.beginResetModel()
        self._items = list(items)
        self._total = total_count
        self.endResetModel()
