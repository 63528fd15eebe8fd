"""The answer form of one interrupt (ENGINE.md 8.3), shared by the interrupt inbox and the run console: the
prompt, then a form generated from the interrupt's JSON Schema by the properties panel's `SchemaForm` (a
schema that is not an object with properties is shown as a form of one field), or a raw JSON editor when there
is no schema. `answer()` returns the answer checked against the schema, or raises `AnswerError` with one line
that names the JSON path (`$.reason`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.widgets.json_editor import JsonEditor, JsonInvalid
from studio.widgets.schema_form import SchemaForm

__all__ = ["ANSWER_FIELD", "AnswerError", "InterruptForm", "check_answer", "prompt_of"]

ANSWER_FIELD = "answer"
"""The one field of a form for a schema that is no object with properties (`{"type": "boolean"}`)."""


class AnswerError(ValueError):
    """An answer that cannot be sent: not JSON, or not fitting the interrupt's schema (one line)."""


def prompt_of(payload: Any) -> str:
    """What an interrupt asks: its payload's `prompt` (the `ask` node's), else the payload as JSON."""
    if isinstance(payload, Mapping) and isinstance(payload.get("prompt"), str):
        return str(payload["prompt"])
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, ensure_ascii=False)


def check_answer(interrupt: Any, value: Any) -> None:
    """The engine's own check (`engine.interrupts.check_answer`: JSON, then the schema) as an `AnswerError`
    naming the JSON path, so that the panel says exactly what `resume` would refuse."""
    from engine.hitl_types import InvalidAnswer
    from engine.interrupts import check_answer as engine_check

    try:
        engine_check(interrupt, value)
    except InvalidAnswer as exc:
        raise AnswerError(f"{exc.path}: {' '.join(exc.detail.split())}") from None


def _is_object_form(schema: Mapping[str, Any]) -> bool:
    props = schema.get("properties")
    return schema.get("type", "object") == "object" and isinstance(props, Mapping) and bool(props)


def _start_value(sub: Mapping[str, Any], required: bool) -> tuple[bool, Any]:
    """What a field starts with: its default; a checkbox's False (it always shows a value); a required
    number's shown value. A string or choice without a default starts empty (the schema then says so)."""
    if "default" in sub:
        return True, sub["default"]
    kind = sub.get("type")
    if "enum" in sub:
        return False, None
    if kind == "boolean":
        return True, False
    if kind in ("integer", "number") and required:
        low = sub.get("minimum", 0)
        return True, max(0, low) if isinstance(low, int | float) else 0
    return False, None


class InterruptForm(QWidget):
    """The prompt and the answer form of `interrupt` (a `PendingInterrupt`)."""

    def __init__(self, interrupt: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("interruptForm")
        self.interrupt = interrupt
        schema = interrupt.schema if isinstance(interrupt.schema, Mapping) else None
        self.prompt = QLabel(prompt_of(interrupt.payload), self)
        self.prompt.setObjectName("interruptPrompt")
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.prompt.font()
        font.setBold(True)
        self.prompt.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.prompt)
        self.form: SchemaForm | None = None
        self.raw: JsonEditor | None = None
        self._wrapped = False
        if schema is None:
            self.raw = JsonEditor(self, check=None, placeholder="the answer as JSON, e.g. true or {...}")
            self.raw.setObjectName("answerJson")
            self.raw.setMinimumHeight(60)
            self.raw.setMaximumHeight(120)
            layout.addWidget(self.raw)
            return
        form_schema: Mapping[str, Any] = schema
        if not _is_object_form(schema):
            self._wrapped = True
            title = schema.get("title") or "Answer"
            form_schema = {"type": "object", "properties": {ANSWER_FIELD: {**schema, "title": title}}}
            form_schema = {**form_schema, "required": [ANSWER_FIELD]}
        self.form = SchemaForm(form_schema, self)
        self.form.setObjectName("answerForm")
        start: dict[str, Any] = {}
        required = set(form_schema.get("required", []) or [])
        for key, sub in (form_schema.get("properties") or {}).items():
            has, value = _start_value(sub if isinstance(sub, Mapping) else {}, key in required)
            if has:
                start[str(key)] = value
        self.form.set_value(start)  # shown and kept: an untouched field is answered with what it shows
        layout.addWidget(self.form)

    def field(self, key: str = ANSWER_FIELD) -> QWidget:
        """The form's widget for `key` (tests and keyboard focus)."""
        if self.form is None:
            raise KeyError(key)
        return self.form.fields[key]

    def value(self) -> Any:
        """The answer as entered (not yet checked against the schema); `AnswerError` when it is not JSON."""
        if self.raw is not None:
            text = self.raw.text().strip()
            if not text:
                raise AnswerError("the answer is empty: type JSON, e.g. true, 3 or {...}")
            try:
                return self.raw.value()
            except JsonInvalid as exc:
                raise AnswerError(f"the answer is not JSON: {exc}") from None
        assert self.form is not None
        value = self.form.value()
        if self._wrapped:
            if ANSWER_FIELD not in value:
                raise AnswerError("$: an answer is required")
            return value[ANSWER_FIELD]
        return value

    def answer(self, interrupt: Any | None = None) -> Any:
        """The answer checked against the schema of `interrupt` (default: this form's)."""
        value = self.value()
        check_answer(interrupt or self.interrupt, value)
        return value
