"""Input patches of an iterative session (parse, check, convert) and the table model of its invocations."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.partial import NodePartial
from engine.state import VersionedState
from engine.types import JSON, Message, Role
from studio.diff import json_equal, short_json
from studio.models.records import RecordTableModel

_Index = QModelIndex | QPersistentModelIndex

# ---------------------------------------------------------------------- input patches (no Qt)


class PatchError(ValueError):
    """Text that is not `{"messages": [...], "extra": {...}}`; `where` is like `line L, column C`."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


def parse_patch(text: str, *, what: str = "input") -> JSON:
    """Parse and check one patch: a JSON object with optional `messages` (list of {role, content}) and
    `extra` (object). Empty text is `{}`. Raises `PatchError` with the line and column of bad JSON."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PatchError(exc.msg, f"line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise PatchError(f"the {what} must be a JSON object with 'messages' and/or 'extra'")
    unknown = sorted(set(value) - {"messages", "extra"})
    if unknown:
        raise PatchError(f"unknown key(s) {', '.join(map(repr, unknown))}; use 'messages' and 'extra'")
    msgs = value.get("messages", [])
    if not isinstance(msgs, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and isinstance(m.get("role", "user"), str)
        for m in msgs
    ):
        raise PatchError('\'messages\' must be a list of {"role": ..., "content": ...} objects')
    if "extra" in value and not isinstance(value["extra"], dict):
        raise PatchError("'extra' must be a JSON object")
    return value


def patch_to_partial(patch: JSON) -> NodePartial:
    msgs = [Message(Role.parse(str(m.get("role", "user"))), m["content"]) for m in patch.get("messages", [])]
    extra = patch.get("extra")
    return NodePartial(messages=msgs or None, extra=dict(extra) if extra else None)


def patch_to_state(patch: JSON) -> VersionedState:
    msgs = [Message(Role.parse(str(m.get("role", "user"))), m["content"]) for m in patch.get("messages", [])]
    return VersionedState(msgs, dict(patch.get("extra") or {}))


def parse_jsonl(text: str) -> list[JSON]:
    """One patch per non-empty line; a bad line raises `PatchError` naming its line number."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(parse_patch(line))
        except PatchError as exc:
            raise PatchError(
                str(exc).split(": ", 1)[-1] if exc.where else str(exc), f"line {number}"
            ) from exc
    return out


def event_line(event: Any) -> str:
    node = f" [{event.node_id}]" if getattr(event, "node_id", None) else ""
    step = f" step {event.step}" if getattr(event, "step", None) is not None else ""
    return f"{event.seq:>5}  {event.type:<10} {event.scope}{node}{step}: {event.message}"


# ---------------------------------------------------------------------- the table

COLUMNS = ("#", "Input", "Step", "Result")


@dataclass(slots=True)
class Invocation:
    """One `invoke_next` call: its input patch (JSON), then what it produced (or its error)."""

    number: int
    patch: JSON
    started_at: dt.datetime
    step: int | None = None
    state: VersionedState | None = None
    events: list[Any] = field(default_factory=list)
    error: str | None = None
    previous_extra: dict[str, JSON] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state is not None or self.error is not None

    def result_summary(self) -> str:
        """`error: ...`, or the extra keys this invocation changed (`sum=3, tick=2`), or `no change`."""
        if self.error is not None:
            return f"error: {self.error}"
        if self.state is None:
            return "running…"
        changed = [
            f"{k}={short_json(v, 24)}"
            for k, v in self.state.extra.items()
            if k not in self.previous_extra or not json_equal(self.previous_extra[k], v)
        ]
        gone = [f"-{k}" for k in self.previous_extra if k not in self.state.extra]
        parts = changed + gone
        return ", ".join(parts) if parts else "no extra change"


class InvocationsModel(RecordTableModel[Invocation]):
    """Rows in call order; `update_last` refreshes the row of the invocation in flight."""

    COLUMNS = COLUMNS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)

    def invocations(self) -> list[Invocation]:
        return list(self._items)

    def invocation_at(self, row: int) -> Invocation | None:
        return self.item_at(row)

    def append(self, inv: Invocation) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(inv)
        self.endInsertRows()
        return row

    def update_row(self, row: int) -> None:
        if 0 <= row < len(self._items):
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self._items.clear()
        self.endResetModel()

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        inv = self.invocation_at(index.row()) if index.isValid() else None
        if inv is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                str(inv.number),
                short_json(inv.patch, 60),
                "" if inv.step is None else str(inv.step),
                inv.result_summary(),
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (str(inv.number), short_json(inv.patch, 2000), "", inv.result_summary())[col]
        if role == Qt.ItemDataRole.ForegroundRole and inv.error is not None:
            return QColor("#c0392b")
        return None
