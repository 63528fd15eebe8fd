"""The run console's event table: a QAbstractTableModel over engine events that appends in batches from a
QTimer (never per event), filters by type, node and text itself (cheap on append), caps its size, and
exports to JSON Lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from engine.events.event import Event

__all__ = ["COLUMNS", "RunLogModel"]

COLUMNS = ("seq", "time", "type", "scope", "node", "step", "message")
_Index = QModelIndex | QPersistentModelIndex
_ERROR_SCOPES = ("node.error", "error")


class RunLogModel(QAbstractTableModel):
    """Events in arrival order. `enqueue(events)` buffers; a timer flushes the buffer into the table every
    `interval_ms`, at most `max_per_flush` rows at a time, in one beginInsertRows each. `rows_appended(n)`
    follows each flush (the view uses it for follow-tail)."""

    rows_appended = Signal(int)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        interval_ms: int = 50,
        max_per_flush: int = 5000,
        max_rows: int = 250_000,
    ) -> None:
        super().__init__(parent)
        self._events: list[Event] = []
        self._visible: list[int] = []  # indices into _events that pass the filter
        self._offset = 0  # events dropped from the front (cap), so indices stay valid
        self._pending: list[Event] = []
        self._max_per_flush = max_per_flush
        self._max_rows = max_rows
        self._types: set[str] | None = None
        self._node = ""
        self._text = ""
        self.total = 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    # ------------------------------------------------------------------ feeding

    def enqueue(self, events: Iterable[Event]) -> None:
        """Buffer events; they appear at the next timer flush."""
        self._pending.extend(events)

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Move up to `max_per_flush` buffered events into the table; returns how many."""
        if not self._pending:
            return 0
        batch = self._pending[: self._max_per_flush]
        del self._pending[: self._max_per_flush]
        base = self._offset + len(self._events)
        self._events.extend(batch)
        self.total += len(batch)
        new_rows = [base + i for i, ev in enumerate(batch) if self._accepts(ev)]
        if new_rows:
            first = len(self._visible)
            self.beginInsertRows(QModelIndex(), first, first + len(new_rows) - 1)
            self._visible.extend(new_rows)
            self.endInsertRows()
        self._cap()
        self.rows_appended.emit(len(new_rows))
        return len(batch)

    def flush_all(self) -> None:
        while self._pending:
            self.flush()

    def clear(self) -> None:
        self.beginResetModel()
        self._events.clear()
        self._visible.clear()
        self._pending.clear()
        self._offset = 0
        self.total = 0
        self.endResetModel()

    def _cap(self) -> None:
        excess = len(self._events) - self._max_rows
        if excess <= 0:
            return
        cut = max(excess, self._max_rows // 10)  # drop in chunks, not one row at a time
        limit = self._offset + cut
        gone = 0
        while gone < len(self._visible) and self._visible[gone] < limit:
            gone += 1
        if gone:
            self.beginRemoveRows(QModelIndex(), 0, gone - 1)
            del self._visible[:gone]
            self.endRemoveRows()
        del self._events[:cut]
        self._offset = limit

    # ------------------------------------------------------------------ filtering

    def set_filter(self, *, types: Sequence[str] | None = None, node: str = "", text: str = "") -> None:
        """Show only events of `types` (None = all), whose node contains `node`, and whose scope, message or
        node contains `text` (case-insensitive)."""
        self._types = set(types) if types is not None else None
        self._node = node.strip().lower()
        self._text = text.strip().lower()
        self.beginResetModel()
        self._visible = [self._offset + i for i, ev in enumerate(self._events) if self._accepts(ev)]
        self.endResetModel()

    def _accepts(self, ev: Event) -> bool:
        if self._types is not None and ev.type not in self._types:
            return False
        if self._node and self._node not in (ev.node_id or "").lower():
            return False
        if self._text:
            hay = f"{ev.scope}\n{ev.message}\n{ev.node_id or ''}".lower()
            if self._text not in hay:
                return False
        return True

    # ------------------------------------------------------------------ reading

    def event_at(self, row: int) -> Event:
        return self._events[self._visible[row] - self._offset]

    def events(self) -> list[Event]:
        """Every event kept (filtered or not), in order."""
        return list(self._events)

    def types_seen(self) -> list[str]:
        return sorted({ev.type for ev in self._events})

    def row_of_seq(self, seq: int) -> int | None:
        for row in range(len(self._visible) - 1, -1, -1):
            if self.event_at(row).seq == seq:
                return row
        return None

    def export_jsonl(self, path: str | Path) -> int:
        """Write every kept event as JSON Lines; returns the count."""
        with open(path, "w", encoding="utf-8") as fh:
            for ev in self._events:
                fh.write(ev.to_json_string())
                fh.write("\n")
        return len(self._events)

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        ev = self.event_at(index.row())
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return ev.seq
            if col == 1:
                return ev.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]  # local time
            if col == 2:
                return ev.type
            if col == 3:
                return ev.scope
            if col == 4:
                return ev.node_id or ""
            if col == 5:
                return "" if ev.step is None else ev.step
            return ev.message.replace("\n", " ")
        if role == Qt.ItemDataRole.ForegroundRole and (
            ev.scope in _ERROR_SCOPES or "status=error" in ev.message
        ):
            return QBrush(QColor("#d64541"))
        if role == Qt.ItemDataRole.ToolTipRole and col == 6:
            return ev.message
        return None
