"""Paged table model over one session's steps (newest first, as `query_steps` returns them)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from studio.models.records import PagedRecordModel
from studio.models.sessions import format_time
from studio.services.storage import Checkpoint

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Step", "Time", "Ran", "Skipped", "Updated", "Frontier")


def node_list(nodes: list[Any]) -> str:
    """`A, B, End` from a list of node kinds."""
    return ", ".join(str(n) for n in nodes)


class StepsModel(PagedRecordModel[Checkpoint]):
    """One page of checkpoints of the session `session_id`; `query_changed` asks the owner to refetch."""

    COLUMNS = COLUMNS
    EMPTY_LABEL = "no steps"

    def __init__(self, page_size: int = 100, parent: Any = None) -> None:
        super().__init__(page_size, parent)
        self.session_id: str | None = None

    def set_session(self, session_id: str | None) -> None:
        """Show another session (first page); clears the rows until the owner delivers them."""
        self.session_id = session_id
        self.page = 0
        self.set_page_result([], 0)
        self.query_changed.emit()

    def step_query_args(self) -> dict[str, int]:
        """Keyword arguments for `StepQuery(...)`."""
        return self.page_query_args()

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
