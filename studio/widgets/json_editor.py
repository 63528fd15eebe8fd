"""A JSON text editor with validation as you type: invalid JSON is shown inline with line and column, and
an optional check (e.g. "must be an object") adds its own message. Shared by the console and the stepper."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

__all__ = ["JsonEditor", "JsonInvalid", "monospace_font", "parse_json"]


class JsonInvalid(ValueError):
    """The text is not valid JSON (or fails the editor's check); `line` and `column` are 1-based."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}")


def parse_json(text: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """Parse `text`; raises JsonInvalid naming the line and column (or the check's message)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInvalid(exc.msg, exc.lineno, exc.colno) from exc
    if check is not None:
        problem = check(value)
        if problem:
            raise JsonInvalid(problem)
    return value


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(max(font.pointSizeF(), 9.0))
    return font


def object_check(value: Any) -> str | None:
    return None if isinstance(value, dict) else "expected a JSON object {...}"


class JsonEditor(QWidget):
    """`validity_changed(bool)` when the text becomes valid/invalid; `value_changed(object)` (debounced)
    with the parsed value when valid. `value()` raises JsonInvalid for invalid text."""

    validity_changed = Signal(bool)
    value_changed = Signal(object)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        check: Callable[[Any], str | None] | None = object_check,
        read_only: bool = False,
        placeholder: str = "",
    ) -> None:
        super().__init__(parent)
        self._check = check
        self.edit = QPlainTextEdit(self)
        self.edit.setObjectName("jsonText")
        self.edit.setFont(monospace_font())
        self.edit.setReadOnly(read_only)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.error = QLabel(self)
        self.error.setObjectName("jsonError")
        self.error.setStyleSheet("color: #d64541;")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.error)
        self._valid = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.revalidate)
        self.edit.textChanged.connect(self._timer.start)

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)
        self.revalidate()

    def set_value(self, value: Any) -> None:
        self.set_text(json.dumps(value, indent=2, ensure_ascii=False))

    def value(self) -> Any:
        return parse_json(self.text(), self._check)

    @property
    def valid(self) -> bool:
        return self._valid

    def revalidate(self) -> bool:
        """Check now (instead of after the debounce); returns validity and updates the inline message."""
        self._timer.stop()
        try:
            value = self.value()
        except JsonInvalid as exc:
            self.error.setText(f"Invalid JSON — {exc}")
            self.error.show()
            self._set_valid(False)
            return False
        self.error.hide()
        self._set_valid(True)
        self.value_changed.emit(value)
        return True

    def go_to_error(self) -> None:
        try:
            self.value()
        except JsonInvalid as exc:
            if exc.line:
                block = self.edit.document().findBlockByLineNumber(exc.line - 1)
                cursor = QTextCursor(block)
                cursor.movePosition(QTextCursor.MoveOperation.Right, n=max(exc.column - 1, 0))
                self.edit.setTextCursor(cursor)
                self.edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _set_valid(self, valid: bool) -> None:
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
