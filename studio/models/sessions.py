"""Paged table model over a checkpoint database's sessions; it never holds more than one page.

The model owns the query (page, sort, search) and says when it changed; whoever owns the database connection
runs `session_page(model.session_query())` on the loop and hands the result back with `set_page_result`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from studio.models.records import PagedRecordModel
from studio.services.storage import SessionStats

_Index = QModelIndex | QPersistentModelIndex


COLUMNS = ("Session", "Created", "Updated", "Last step", "Steps", "Bytes")
ORDER_KEYS: tuple[str | None, ...] = ("id", "created_at", "updated_at", "last_step", "steps", "bytes")
"""`SessionQuery.order_by` value for each column (the database sorts; None would mean it cannot)."""


def format_time(when: dt.datetime | None, *, seconds: bool = True) -> str:
    """Local-time `YYYY-MM-DD HH:MM:SS` (or without seconds), or an empty string."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_bytes(n: int | None) -> str:
    """`512 B`, `1.5 KiB`, `3.2 MiB`, ..."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class SessionsModel(PagedRecordModel[SessionStats]):
    """One page of `SessionStats` with the query that produced it.

    `query_changed` fires when the page, the sort or the search text changed; the owner refetches.
    Sorting through the view (`sort`) is done by the database, not in memory.
    """

    COLUMNS = COLUMNS
    EMPTY_LABEL = "no sessions"

    def __init__(self, page_size: int = 50, parent: Any = None) -> None:
        super().__init__(page_size, parent)
        self.search: str | None = None
        self.order_by = "updated_at"
        self.descending = True

    # ------------------------------------------------------------------ query

    def session_query_args(self) -> dict[str, Any]:
        """Keyword arguments for `SessionQuery(...)`."""
        return {
            **self.page_query_args(),
            "search": self.search,
            "order_by": self.order_by,
            "descending": self.descending,
        }

    def set_search(self, text: str) -> None:
        value = text.strip() or None
        if value != self.search:
            self.search = value
            self.page = 0
            self.query_changed.emit()

    def sort_column(self) -> int:
        """The column the current order is by (for the header's sort indicator)."""
        return ORDER_KEYS.index(self.order_by) if self.order_by in ORDER_KEYS else 2

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = ORDER_KEYS[column] if 0 <= column < len(ORDER_KEYS) else None
        if key is None:
            return
        desc = order == Qt.SortOrder.DescendingOrder
        if (key, desc) != (self.order_by, self.descending):
            self.order_by, self.descending = key, desc
            self.page = 0
            self.query_changed.emit()

    def clear(self) -> None:
        self.set_page_result([], 0)
        self.page = 0

    def session_at(self, row: int) -> SessionStats | None:
        return self.item_at(row)

    def sessions(self) -> list[SessionStats]:
        return list(self._items)

    def row_of(self, session_id: str) -> int:
        for i, s in enumerate(self._items):
            if s.session_id == session_id:
                return i
        return -1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        s = self.session_at(index.row()) if index.isValid() else None
        if s is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                s.session_id,
                format_time(s.created_at, seconds=False),
                format_time(s.updated_at, seconds=False),
                str(s.last_step),
                str(s.steps),
                format_bytes(s.bytes),
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 5:
            return f"{s.bytes} bytes"
        if role == Qt.ItemDataRole.ToolTipRole and col in (0, 1, 2):
            return (s.session_id, format_time(s.created_at), format_time(s.updated_at))[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return s.session_id
        return None
