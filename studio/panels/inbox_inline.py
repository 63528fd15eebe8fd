"""The run console's own interrupts, inline (README "Human in the loop: interrupts"): when the console's run
stops at `ctx.interrupt`, this box shows each pending interrupt's prompt and answer form (`InterruptForm`)
with an **Answer** button; the run waits, and the answer goes on with the same run (`RunController.answer`).
A refused answer (the schema, or the engine's own one-line error) is shown under the form, nothing is lost."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.controllers.run import RunController, RunState
from studio.widgets.interrupt_form import AnswerError, InterruptForm

__all__ = ["InlineInterrupts"]


class InlineInterrupts(QFrame):
    """Hidden unless the console's run waits for answers."""

    def __init__(self, controller: RunController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runInterrupts")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.controller = controller
        self.forms: list[InterruptForm] = []
        self.title = QLabel(self)
        self.title.setObjectName("runInterruptsTitle")
        self.body = QVBoxLayout()
        self.error = QLabel(self)
        self.error.setObjectName("runInterruptsError")
        self.error.setStyleSheet("color: #d64541;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.answer_button = QPushButton("Answer", self)
        self.answer_button.setObjectName("runInterruptsAnswer")
        self.answer_button.setDefault(True)
        self.answer_button.clicked.connect(self.answer)
        row = QHBoxLayout()
        row.addWidget(self.error, 1)
        row.addWidget(self.answer_button, 0, Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.title)
        layout.addLayout(self.body)
        layout.addLayout(row)
        self.hide()
        controller.outcome.connect(self.show_outcome)
        controller.run_started.connect(self.clear)
        controller.state_changed.connect(self._on_controller_state_changed)

    def show_outcome(self, outcome: dict[str, Any]) -> None:
        """Show the interrupts a paused run waits on (and why an answer was refused); hide otherwise."""
        interrupts = [i for i in outcome.get("interrupts") or [] if i.answered_at is None]
        if outcome.get("status") != "paused" or not interrupts:
            self.clear()
            return
        self._set_forms(interrupts)
        count = len(interrupts)
        nodes = ", ".join(dict.fromkeys(i.node for i in interrupts))
        self.title.setText(
            f"Waiting for {'an answer' if count == 1 else f'{count} answers'} at step "
            f"{interrupts[0].step} ({nodes})"
        )
        self.show_error(outcome.get("error") or "")
        self.answer_button.setEnabled(True)
        self.show()
        if self.forms:
            self.forms[0].setFocus()

    def _set_forms(self, interrupts: list[Any]) -> None:
        for form in self.forms:
            self.body.removeWidget(form)
            form.deleteLater()
        self.forms = [InterruptForm(i, self) for i in interrupts]
        for form in self.forms:
            self.body.addWidget(form)

    def clear(self) -> None:
        self._set_forms([])
        self.error.hide()
        self.hide()

    def show_error(self, text: str) -> None:
        self.error.setText(" ".join(text.split()))
        self.error.setVisible(bool(text))

    def answers(self) -> dict[str, Any]:
        """Every form's answer checked against its schema (`AnswerError` names the interrupt's node)."""
        out: dict[str, Any] = {}
        for form in self.forms:
            try:
                out[form.interrupt.id] = form.answer()
            except AnswerError as exc:
                raise AnswerError(f"{form.interrupt.node}: {exc}") from None
        return out

    def answer(self) -> bool:
        """Send the answers; the run goes on. False (and the reason shown) when an answer is refused."""
        try:
            answers = self.answers()
        except AnswerError as exc:
            self.show_error(str(exc))
            return False
        if not self.controller.answer(answers):
            self.show_error("the run is not waiting for an answer any more")
            return False
        self.show_error("")
        self.answer_button.setEnabled(False)
        return True

    def _on_controller_state_changed(self, state: str) -> None:
        if state in (RunState.RUNNING, RunState.COMPLETED, RunState.FAILED, RunState.STOPPED):
            self.clear()
