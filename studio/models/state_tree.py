"""Tree model of a JSON value (a state's `extra` map), with a cap on children so huge maps stay cheap."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QStandardItem, QStandardItemModel

from engine.types import JSON

MAX_CHILDREN = 500
"""Children shown per object or array; the rest is summarised in one "… N more" row."""

KEY_COLUMN, VALUE_COLUMN, TYPE_COLUMN = 0, 1, 2


def json_type(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return f"array[{len(value)}]"
    if isinstance(value, dict):
        return f"object{{{len(value)}}}"
    return type(value).__name__


def scalar_text(value: JSON) -> str:
    """How a leaf reads in the value column (containers show nothing; their children carry the data)."""
    if isinstance(value, dict | list):
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


class JsonTreeModel(QStandardItemModel):
    """Columns Key / Value / Type. `set_value(v)` rebuilds; objects and arrays become expandable rows."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Key", "Value", "Type"])
        self._value: JSON = None

    @property
    def value(self) -> JSON:
        return self._value

    def set_value(self, value: JSON) -> None:
        self._value = value
        self.removeRows(0, self.rowCount())
        root = self.invisibleRootItem()
        if isinstance(value, dict | list):
            self._fill(root, value)
        else:
            root.appendRow(self._row("value", value))

    def _row(self, key: str, value: JSON) -> list[QStandardItem]:
        items = [QStandardItem(key), QStandardItem(scalar_text(value)), QStandardItem(json_type(value))]
        for it in items:
            it.setEditable(False)
        items[VALUE_COLUMN].setToolTip(scalar_text(value)[:2000])
        if isinstance(value, dict | list):
            self._fill(items[0], value)
        return items

    def _fill(self, parent: QStandardItem, value: dict[str, JSON] | list[JSON]) -> None:
        pairs = value.items() if isinstance(value, dict) else ((f"[{i}]", v) for i, v in enumerate(value))
        for shown, (key, child) in enumerate(pairs):
            if shown == MAX_CHILDREN:
                more = QStandardItem(f"… {len(value) - MAX_CHILDREN} more")
                more.setEditable(False)
                parent.appendRow([more, QStandardItem(""), QStandardItem("")])
                break
            parent.appendRow(self._row(str(key), child))

    def find_key(self, key: str) -> QStandardItem | None:
        """The top-level row item for `key`, if shown."""
        root = self.invisibleRootItem()
        for row in range(root.rowCount()):
            item = root.child(row, KEY_COLUMN)
            if item is not None and item.text() == key:
                return item
        return None
