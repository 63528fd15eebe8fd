"""Paged table model over one session's steps (newest first, as `query_steps` returns them)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal

from engine.persistence.base import Checkpoint
from studio.models.records import RecordTableModel
from studio.models.sessions import format_time

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Step", "Time", "Ran", "Skipped", "Updated", "Frontier")


def node_list(nodes: list[Any]) -> str:
    """`A, B, End` from a list of node kinds."""
    return ", ".join(str(n) for n in nodes)


class StepsModel(RecordTableModel[Checkpoint]):
    """One page of checkpoints of the session `session_id`; `query_changed` asks the owner to refetch."""

    COLUMNS = COLUMNS

    query_changed = Signal()

    def __init__(self, page_size: int = 100, parent: Any = None) -> None:
        super().__init__(parent)
        self._total = 0
        self.page_size = page_size
        self.page = 0
        self.session_id: str | None = None

    def set_session(self, session_id: str | None) -> None:
        """Show another session (first page); clears the rows until the owner delivers them."""
        self.session_id = session_id
        self.page = 0
        self.set_page_result([], 0)
        self.query_changed.emit()

    def step_query_args(self) -> dict[str, int]:
        """Keyword arguments for `StepQuery(...)`."""
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
            return "no steps"
        first = self.page * self.page_size + 1
        last = min(self._total, first + len(self._items) - 1)
        return f"{first}-{last} of {self._total}  (page {self.page + 1}/{self.page_count})"

    def set_page_result(self, checkpoints: list[Checkpoint], total_count: int) -> None:
        self.beginResetModel()
        self._items = list(checkpoints)
        self._total = total_count
        self.endResetModel()

    def checkpoint_at(self, row: int) -> Checkpoint | None:
        return self.item_at(row)

    def checkpoints(self) -> list[Checkpoint]:
        return list(self._items)

    def row_of_step(self, step: int) -> int:
        for i, cp in enumerate(self._items):
            if cp.step == step:
                return i
        return -1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        cp = self.checkpoint_at(index.row()) if index.isValid() else None
        if cp is None:
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return (
                str(cp.step),
                format_time(cp.created_at),
                node_list(cp.ran_nodes),
                node_list(cp.skipped_nodes),
                ", ".join(cp.updated_channels),
                node_list(cp.frontier),
            )[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return cp.step
        return None
