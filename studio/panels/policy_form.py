"""The node policies part of the properties panel (README "Node policies"): `retry` (max_attempts,
initial_delay_s, backoff, max_delay_s), `timeout_s` and `wait_for`. Each change is one undoable command
(`DocumentEditor.set_node_policies`); a rejected value is reported through `rejected`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox, QWidget

from studio.document.editor import DocumentEditor, EditRejected

__all__ = ["PolicyForm"]

RETRY_DEFAULTS = {"max_attempts": 3, "initial_delay_s": 0.5, "backoff": 2.0, "max_delay_s": 30.0}


def _spin(parent: QWidget, name: str, low: float, high: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setObjectName(name)
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setKeyboardTracking(False)
    return box


class PolicyForm(QGroupBox):
    rejected = Signal(str)

    def __init__(self, editor: DocumentEditor, parent: QWidget | None = None) -> None:
        super().__init__("Node policies", parent)
        self.setObjectName("policyForm")
        self.editor = editor
        self.node_id: str | None = None
        self._loading = False
        self.retry_on = QCheckBox("Retry on failure", self)
        self.retry_on.setObjectName("retryEnabled")
        self.max_attempts = QSpinBox(self)
        self.max_attempts.setObjectName("retryMaxAttempts")
        self.max_attempts.setRange(1, 1000)
        self.max_attempts.setKeyboardTracking(False)
        self.initial_delay = _spin(self, "retryInitialDelay", 0.0, 3600.0, 0.1)
        self.backoff = _spin(self, "retryBackoff", 1.0, 100.0, 0.5)
        self.max_delay = _spin(self, "retryMaxDelay", 0.0, 86400.0, 1.0)
        self.timeout_on = QCheckBox("Time limit per attempt", self)
        self.timeout_on.setObjectName("timeoutEnabled")
        self.timeout = _spin(self, "timeoutSeconds", 0.01, 86400.0, 1.0)
        self.wait_for = QLineEdit(self)
        self.wait_for.setObjectName("waitForEdit")
        self.wait_for.setPlaceholderText("node ids, comma separated (a join)")
        form = QFormLayout(self)
        form.addRow(self.retry_on)
        form.addRow("Max attempts", self.max_attempts)
        form.addRow("Initial delay (s)", self.initial_delay)
        form.addRow("Backoff", self.backoff)
        form.addRow("Max delay (s)", self.max_delay)
        form.addRow(self.timeout_on)
        form.addRow("Timeout (s)", self.timeout)
        form.addRow("Wait for", self.wait_for)
        for check in (self.retry_on, self.timeout_on):
            check.toggled.connect(self._apply)
        for spin in (self.max_attempts, self.initial_delay, self.backoff, self.max_delay, self.timeout):
            spin.valueChanged.connect(self._apply)
        self.wait_for.editingFinished.connect(self._apply)

    def show_node(self, node_id: str, node: dict[str, Any]) -> None:
        self.node_id = node_id
        self._loading = True
        try:
            retry = node.get("retry") if isinstance(node.get("retry"), dict) else None
            values = {**RETRY_DEFAULTS, **(retry or {})}
            self.retry_on.setChecked(retry is not None)
            self.max_attempts.setValue(int(values["max_attempts"]))
            self.initial_delay.setValue(float(values["initial_delay_s"]))
            self.backoff.setValue(float(values["backoff"]))
            self.max_delay.setValue(float(values["max_delay_s"]))
            timeout = node.get("timeout_s")
            self.timeout_on.setChecked(timeout is not None)
            self.timeout.setValue(float(timeout) if isinstance(timeout, int | float) else 10.0)
            wait_for = node.get("wait_for")
            self.wait_for.setText(", ".join(str(w) for w in wait_for) if isinstance(wait_for, list) else "")
            self._enable()
        finally:
            self._loading = False

    def _enable(self) -> None:
        for w in (self.max_attempts, self.initial_delay, self.backoff, self.max_delay):
            w.setEnabled(self.retry_on.isChecked())
        self.timeout.setEnabled(self.timeout_on.isChecked())

    def values(self) -> dict[str, Any]:
        retry = None
        if self.retry_on.isChecked():
            retry = {
                "max_attempts": self.max_attempts.value(),
                "initial_delay_s": self.initial_delay.value(),
                "backoff": self.backoff.value(),
                "max_delay_s": self.max_delay.value(),
            }
        waits = [w.strip() for w in self.wait_for.text().split(",") if w.strip()]
        return {
            "retry": retry,
            "timeout_s": self.timeout.value() if self.timeout_on.isChecked() else None,
            "wait_for": waits or None,
        }

    def _apply(self, *_args: Any) -> None:
        self._enable()
        if self._loading or self.node_id is None:
            return
        try:
            self.editor.set_node_policies(self.node_id, **self.values())
        except EditRejected as exc:
            self.rejected.emit(str(exc))
