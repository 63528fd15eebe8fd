"""The prune dialog of a LangGraph database: keep the last N checkpoints of every chain (or of the selected
thread), see the dry-run preview first, then delete after explicit confirmation, with optional VACUUM.

Like `PruneDialog`, Delete stays disabled until a preview of exactly the current options; the work runs in
`LangGraphController` off the event loop (SQLite scans and the prune run in a worker thread). The prune is
one write transaction, planned again inside it, so it cannot stop half-way: Cancel stops a preview only.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.controllers.langgraph import LangGraphController
from studio.models.sessions import format_bytes
from studio.panels.prune_controls import build_prune_controls
from studio.services.langgraph import PrunePlan

__all__ = ["LangGraphPruneDialog", "plan_text"]


def plan_text(plan: PrunePlan) -> str:
    s = plan.summary
    blobs = f", {s.blobs} blob(s)" if s.blobs else ""
    return (
        f"{s.checkpoints} checkpoint(s), {s.writes} pending write(s){blobs}, {format_bytes(s.bytes)} "
        f"({s.bytes} bytes) in {s.threads} thread(s); {plan.kept} checkpoint(s) stay"
    )


class LangGraphPruneDialog(QDialog):
    """Non-modal; open with `.open()`. `preview_plan` / `result_plan` hold the last plans shown."""

    def __init__(self, controller: LangGraphController, thread_id: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lgPruneDialog")
        self.setWindowTitle("Prune LangGraph checkpoints")
        self.controller = controller
        self.thread_id = thread_id
        self._previewed: tuple[int, tuple[str, ...] | None] | None = None
        self._running = False
        self.preview_plan: PrunePlan | None = None
        self.result_plan: PrunePlan | None = None
        self.keep_spin = QSpinBox()
        self.keep_spin.setObjectName("lgKeepLastSpin")
        self.keep_spin.setRange(1, 1_000_000)
        self.keep_spin.setValue(10)
        self.keep_spin.setPrefix("Keep the last ")
        self.keep_spin.setSuffix(" checkpoint(s) of every chain")
        self.thread_check = QCheckBox(
            f"Only thread '{thread_id}'" if thread_id else "Only the selected thread"
        )
        self.thread_check.setObjectName("lgPruneThreadOnly")
        self.thread_check.setEnabled(thread_id is not None)
        self.vacuum_check = QCheckBox("VACUUM afterwards (returns free pages to the disk; may take a while)")
        self.vacuum_check.setObjectName("lgPruneVacuum")
        rules = QLabel(
            "A checkpoint a kept one depends on is never removed (its pending writes, and its parent "
            "chain where LangGraph needs it); a subgraph call goes with the checkpoint it started from."
        )
        rules.setWordWrap(True)
        controls = build_prune_controls("lgPrune", "Cancel preview")
        controls.progress.setRange(0, 0)
        self.preview_label, self.progress = controls.preview_label, controls.progress
        self.preview_button, self.delete_button = controls.preview_button, controls.delete_button
        self.cancel_button, self.close_button = controls.cancel_button, controls.close_button
        buttons = controls.box
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.keep_spin, 1)
        layout.addLayout(row)
        layout.addWidget(self.thread_check)
        layout.addWidget(self.vacuum_check)
        layout.addWidget(rules)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)
        self.keep_spin.valueChanged.connect(self._on_option_changed)
        self.thread_check.toggled.connect(self._on_option_changed)
        self.preview_button.clicked.connect(self.preview)
        self.delete_button.clicked.connect(self.confirm_delete)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.close_button.clicked.connect(self.reject)
        controller.prune_previewed.connect(self._on_previewed)
        controller.pruned.connect(self._on_pruned)
        controller.prune_failed.connect(self._on_failed)

    def options(self) -> tuple[int, tuple[str, ...] | None]:
        threads = (self.thread_id,) if self.thread_id and self.thread_check.isChecked() else None
        return self.keep_spin.value(), threads

    def _on_option_changed(self, *_args: object) -> None:
        if not self._running and self.options() != self._previewed:
            self._previewed = None
            self.delete_button.setEnabled(False)
            self.preview_label.setText("The options changed: preview again before deleting.")

    def _busy(self, text: str, running: bool) -> None:
        self.preview_label.setText(text)
        self.progress.setVisible(running)
        self.preview_button.setEnabled(not running)
        self.delete_button.setEnabled(False)
        for w in (self.keep_spin, self.thread_check, self.vacuum_check):
            w.setEnabled(not running and (w is not self.thread_check or self.thread_id is not None))

    def preview(self) -> None:
        keep, threads = self.options()
        self._busy("Counting what would be removed…", True)
        self.cancel_button.setEnabled(True)
        self.controller.preview_prune(keep, list(threads) if threads else None)

    def _on_cancel_clicked(self) -> None:
        self.controller.browser.cancel_task("lg-prune")
        self.cancel_button.setEnabled(False)
        self._busy("Preview cancelled; nothing was deleted. Preview again to delete.", False)

    def _on_previewed(self, plan: PrunePlan) -> None:
        self.cancel_button.setEnabled(False)
        self._busy("", False)
        self.preview_plan = plan
        if plan.summary.keep_last != self.keep_spin.value():
            self.preview_label.setText("The options changed: preview again before deleting.")
            return
        self._previewed = self.options()
        if plan.summary.checkpoints == 0:
            self.preview_label.setText("Nothing to remove: every chain has at most that many checkpoints.")
            return
        self.preview_label.setText(f"Would remove {plan_text(plan)}.")
        self.delete_button.setText(f"Delete {plan.summary.checkpoints} checkpoint(s)")
        self.delete_button.setEnabled(True)

    def confirm_delete(self) -> None:
        """Delete what the preview showed (the button is the explicit confirmation)."""
        if self._previewed is None or self.options() != self._previewed:
            return
        keep, threads = self._previewed
        self._running = True
        vacuum = self.vacuum_check.isChecked()
        self._busy("Deleting…" + (" then VACUUM…" if vacuum else ""), True)
        self.controller.prune(keep, list(threads) if threads else None, vacuum)

    def _on_pruned(self, plan: PrunePlan, vacuumed: bool) -> None:
        self._running = False
        self._previewed = None
        self.result_plan = plan
        self._busy(f"Removed {plan_text(plan)}" + ("; VACUUM done." if vacuumed else "."), False)
        self.delete_button.setText("Delete")

    def _on_failed(self, message: str) -> None:
        self._running = False
        self.cancel_button.setEnabled(False)
        self._busy(f"Error: {message}", False)

    def reject(self) -> None:
        if not self._running:  # a prune in flight finishes (one transaction); the dialog stays until then
            super().reject()
