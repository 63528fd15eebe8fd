"""A form generated from a JSON Schema object (a node type's config schema): string, number, integer,
boolean and enum fields get plain widgets; arrays, objects and anything else get a small JSON editor.
Unknown keys of the value are kept. `value_changed(dict)` fires once per committed field change."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from studio.widgets.json_editor import JsonEditor

__all__ = ["SchemaForm"]

_BIG = 1e12


def _check_for(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")

    def check(value: Any) -> str | None:
        if kind == "array" and not isinstance(value, list):
            return "expected a JSON array [...]"
        if kind == "object" and not isinstance(value, dict):
            return "expected a JSON object {...}"
        return None

    return check


class NumberSpin(QDoubleSpinBox):
    """A number field that writes 100 as "100" and 0.25 as "0.25" (never "100.0000")."""

    def textFromValue(self, value: float) -> str:
        return format_number(value, self.decimals())


def format_number(value: float, decimals: int = 4) -> str:
    """`value` rounded to `decimals` places, without trailing zeros ("100", "0.25", "-3.5")."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _tidy_number(value: float) -> int | float:
    """250.0 -> 250: integral numbers are written as integers in the document."""
    return int(value) if value.is_integer() else value


class SchemaForm(QWidget):
    value_changed = Signal(dict)

    def __init__(self, schema: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.schema = schema
        self._value: dict[str, Any] = {}
        self._loading = False
        self.fields: dict[str, QWidget] = {}
        self._kinds: dict[str, str] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not isinstance(props, Mapping) or not props:
            form.addRow(QLabel("This type has no settings."))
        for key, sub in (props or {}).items():
            sub = sub if isinstance(sub, Mapping) else {}
            widget = self._make_field(str(key), sub)
            title = str(sub.get("title") or key) + (" *" if key in required else "")
            label = QLabel(title)
            if sub.get("description"):
                label.setToolTip(str(sub["description"]))
                widget.setToolTip(str(sub["description"]))
            form.addRow(label, widget)
            self.fields[str(key)] = widget

    # ------------------------------------------------------------------ building

    def _make_field(self, key: str, sub: Mapping[str, Any]) -> QWidget:
        kind = sub.get("type")
        if "enum" in sub:
            combo = QComboBox(self)
            for option in sub["enum"]:
                combo.addItem(option if isinstance(option, str) else json.dumps(option), option)
            combo.activated.connect(lambda _i, k=key, c=combo: self._commit(k, c.currentData()))
            self._kinds[key] = "enum"
            return combo
        if kind == "string":
            edit = QLineEdit(self)
            edit.editingFinished.connect(lambda k=key, e=edit: self._commit(k, e.text()))
            self._kinds[key] = "string"
            return edit
        if kind == "integer":
            spin = QSpinBox(self)
            spin.setRange(int(sub.get("minimum", -(2**31))), int(sub.get("maximum", 2**31 - 1)))
            spin.editingFinished.connect(lambda k=key, s=spin: self._commit(k, s.value()))
            self._kinds[key] = "integer"
            return spin
        if kind == "number":
            dspin = NumberSpin(self)
            dspin.setDecimals(4)
            dspin.setRange(float(sub.get("minimum", -_BIG)), float(sub.get("maximum", _BIG)))
            dspin.editingFinished.connect(lambda k=key, s=dspin: self._commit(k, _tidy_number(s.value())))
            self._kinds[key] = "number"
            return dspin
        if kind == "boolean":
            box = QCheckBox(self)
            box.toggled.connect(lambda on, k=key: self._commit(k, on))
            self._kinds[key] = "boolean"
            return box
        editor = JsonEditor(self, check=_check_for(sub))
        editor.setMinimumHeight(70)
        editor.setMaximumHeight(140)
        editor.value_changed.connect(lambda v, k=key: self._commit(k, v))
        self._kinds[key] = "json"
        return editor

    # ------------------------------------------------------------------ value

    def set_value(self, value: Mapping[str, Any]) -> None:
        """Show `value` without emitting value_changed."""
        self._loading = True
        try:
            self._value = copy.deepcopy(dict(value))
            props = self.schema.get("properties", {}) or {}
            for key, widget in self.fields.items():
                sub = props.get(key, {}) if isinstance(props, Mapping) else {}
                current = self._value.get(key, sub.get("default") if isinstance(sub, Mapping) else None)
                self._show(key, widget, current)
        finally:
            self._loading = False

    def _show(self, key: str, widget: QWidget, current: Any) -> None:
        kind = self._kinds[key]
        if kind == "enum" and isinstance(widget, QComboBox):
            index = widget.findData(current)
            widget.setCurrentIndex(max(index, 0) if current is not None else -1)
        elif kind == "string" and isinstance(widget, QLineEdit):
            widget.setText("" if current is None else str(current))
        elif kind == "integer" and isinstance(widget, QSpinBox):
            widget.setValue(int(current) if isinstance(current, int | float) else 0)
        elif kind == "number" and isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(current) if isinstance(current, int | float) else 0.0)
        elif kind == "boolean" and isinstance(widget, QCheckBox):
            widget.setChecked(bool(current))
        elif isinstance(widget, JsonEditor):
            widget.blockSignals(True)
            widget.set_text(json.dumps(current, indent=2, ensure_ascii=False) if current is not None else "")
            widget.blockSignals(False)

    def value(self) -> dict[str, Any]:
        return copy.deepcopy(self._value)

    def _commit(self, key: str, new: Any) -> None:
        if self._loading:
            return
        if key in self._value and self._value[key] == new and type(self._value[key]) is type(new):
            return
        self._value[key] = copy.deepcopy(new)
        self.value_changed.emit(self.value())
