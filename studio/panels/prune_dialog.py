"""Prune dialog: choose a policy, see the dry-run preview (steps, bytes) first, then delete with progress.

The dialog holds no database code: it emits `preview_requested` / `prune_requested` / `cancel_requested`
with a `PruneOptions`; `PruneController` carries them out and reports back through `show_preview`,
`set_progress` and `show_result`. Delete stays disabled until a preview of exactly the current options.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.models.sessions import format_bytes
from studio.panels.prune_controls import build_prune_controls
from studio.services.storage import PrunePolicy, PruneReport


@dataclass(frozen=True, slots=True)
class PruneOptions:
    """What the user chose. `older_than` is an absolute instant, so the preview and the deletion that
    follows it use the same cutoff however much time passes between them."""

    keep_last: int | None = None
    older_than: dt.datetime | None = None
    session_ids: tuple[str, ...] | None = None
    vacuum: bool = False

    def policy(
        self, session_ids: tuple[str, ...] | None = None, now: dt.datetime | None = None
    ) -> PrunePolicy:
        """The engine policy; `session_ids` narrows it further (a batch)."""
        older: dt.timedelta | None = None
        if self.older_than is not None:
            now = now or dt.datetime.now(dt.UTC)
            older = max(dt.timedelta(0), now - self.older_than)
        ids = session_ids if session_ids is not None else self.session_ids
        return PrunePolicy(keep_last=self.keep_last, older_than=older, session_ids=ids)

    def describe(self) -> str:
        parts = []
        if self.keep_last is not None:
            parts.append(f"keep the last {self.keep_last} step(s) of each session")
        if self.older_than is not None:
            parts.append(f"older than {self.older_than.astimezone():%Y-%m-%d %H:%M}")
        scope = f"{len(self.session_ids)} selected session(s)" if self.session_ids else "all sessions"
        return (" and ".join(parts) or "everything but each latest step") + f", in {scope}"

    def same_selection(self, other: PruneOptions | None) -> bool:
        """Equal apart from the VACUUM choice (which does not change what is deleted)."""
        return other is not None and (self.keep_last, self.older_than, self.session_ids) == (
            other.keep_last,
            other.older_than,
            other.session_ids,
        )


def report_text(report: PruneReport) -> str:
    size = f"{format_bytes(report.bytes)} ({report.bytes} bytes)"
    return f"{report.steps} step(s), {size} in {report.sessions} session(s)"


class PruneDialog(QDialog):
    """Non-modal; open it with `.open()`. Closing while a prune runs asks the owner to cancel."""

    preview_requested = Signal(object)  # PruneOptions
    prune_requested = Signal(object)  # PruneOptions
    cancel_requested = Signal()

    def __init__(self, selected_sessions: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pruneDialog")
        self.setWindowTitle("Prune checkpoints")
        self._selected = tuple(selected_sessions)
        self._previewed: PruneOptions | None = None
        self._running = False
        self.preview_report: PruneReport | None = None

        self.keep_check = QCheckBox("Keep only the last")
        self.keep_spin = QSpinBox()
        self.keep_spin.setRange(1, 1_000_000)
        self.keep_spin.setValue(10)
        self.keep_spin.setSuffix(" step(s) per session")
        self.keep_check.setChecked(True)
        self.older_check = QCheckBox("Only steps older than")
        self.older_edit = QDateTimeEdit(QDateTime.currentDateTime().addDays(-30))
        self.older_edit.setCalendarPopup(True)
        self.older_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.selected_check = QCheckBox(f"Only the {len(self._selected)} selected session(s)")
        self.selected_check.setEnabled(bool(self._selected))
        self.selected_check.setChecked(bool(self._selected))
        self.vacuum_check = QCheckBox("VACUUM afterwards (reclaims disk space; may take a while)")

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.keep_check)
        row.addWidget(self.keep_spin, 1)
        form.addRow(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.older_check)
        row2.addWidget(self.older_edit, 1)
        form.addRow(row2)
        form.addRow(self.selected_check)
        form.addRow(self.vacuum_check)
        form.addRow(QLabel("The latest step of a session is never deleted."))

        controls = build_prune_controls("prune", "Cancel")
        self.preview_label, self.progress = controls.preview_label, controls.progress
        self.preview_button, self.delete_button = controls.preview_button, controls.delete_button
        self.cancel_button, self.close_button = controls.cancel_button, controls.close_button
        buttons = controls.box

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)

        for w in (self.keep_check, self.older_check, self.selected_check):
            w.toggled.connect(self._on_option_changed)
        self.keep_spin.valueChanged.connect(self._on_option_changed)
        self.older_edit.dateTimeChanged.connect(self._on_option_changed)
        self.preview_button.clicked.connect(self._on_preview_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button.clicked.connect(self.reject)
        self._on_option_changed()

    # ------------------------------------------------------------------ options

    def options(self) -> PruneOptions:
        older = None
        if self.older_check.isChecked():
            chosen = self.older_edit.dateTime().toPython()
            assert isinstance(chosen, dt.datetime)
            older = chosen.astimezone(dt.UTC)
        return PruneOptions(
            keep_last=self.keep_spin.value() if self.keep_check.isChecked() else None,
            older_than=older,
            session_ids=self._selected if self.selected_check.isChecked() and self._selected else None,
            vacuum=self.vacuum_check.isChecked(),
        )

    def _on_option_changed(self, *_args: object) -> None:
        self.keep_spin.setEnabled(self.keep_check.isChecked())
        self.older_edit.setEnabled(self.older_check.isChecked())
        if not self._running and not self.options().same_selection(self._previewed):
            self._previewed = None
            self.delete_button.setEnabled(False)
            self.preview_label.setText(f"Will prune: {self.options().describe()}. Preview first.")

    # ------------------------------------------------------------------ owner callbacks

    def show_busy(self, text: str) -> None:
        """A dry run is counting: only Cancel stays active."""
        self.preview_label.setText(text)
        self.preview_button.setEnabled(False)
        self.delete_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)

    def _preview_done(self) -> None:
        self.preview_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    def show_preview_cancelled(self) -> None:
        self._preview_done()
        self.preview_label.setText("Preview cancelled; nothing was deleted. Preview again to delete.")

    def show_preview(self, options: PruneOptions, report: PruneReport) -> None:
        self._preview_done()
        if not options.same_selection(self.options()):
            return  # the options moved on while the dry run ran; a newer preview is needed
        self._previewed = options
        self.preview_report = report
        if report.steps == 0:
            self.preview_label.setText(f"Nothing to delete ({options.describe()}).")
            self.delete_button.setEnabled(False)
            return
        self.preview_label.setText(f"Would delete {report_text(report)}.")
        self.delete_button.setText(f"Delete {report.steps} step(s)")
        self.delete_button.setEnabled(True)

    def show_error(self, message: str) -> None:
        self._set_running(False)
        self._preview_done()
        self.preview_label.setText(f"Error: {message}")
        self.preview_button.setEnabled(True)

    def set_progress(self, done: int, total: int, steps: int, verb: str = "deleted") -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%p%  ({steps} step(s) {verb})")

    def set_vacuuming(self) -> None:
        self.progress.setRange(0, 0)
        self.preview_label.setText("VACUUM…")

    def show_result(self, report: PruneReport, cancelled: bool, vacuumed: bool) -> None:
        self._set_running(False)
        self._previewed = None
        self.delete_button.setEnabled(False)
        self.delete_button.setText("Delete")
        head = "Cancelled after deleting" if cancelled else "Deleted"
        tail = "; VACUUM done" if vacuumed else ""
        self.preview_label.setText(f"{head} {report_text(report)}{tail}.")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)

    # ------------------------------------------------------------------ internals

    @property
    def running(self) -> bool:
        return self._running

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.cancel_button.setEnabled(running)
        self.preview_button.setEnabled(not running)
        for w in (self.keep_check, self.keep_spin, self.older_check, self.older_edit, self.vacuum_check):
            w.setEnabled(not running)
        self.selected_check.setEnabled(not running and bool(self._selected))
        if not running:
            self._on_option_changed()

    def _on_preview_clicked(self) -> None:
        self.show_busy("Counting what would be deleted…")
        self.preview_requested.emit(self.options())

    def _on_delete_clicked(self) -> None:
        options = self.options()
        if not options.same_selection(self._previewed):
            return
        self._set_running(True)
        self.delete_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.preview_label.setText(f"Deleting: {options.describe()}…")
        self.prune_requested.emit(options)

    def reject(self) -> None:
        if self._running:
            self.cancel_requested.emit()
        super().reject()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Escape while deleting cancels the prune instead of silently hiding the progress.
        if event.key() == Qt.Key.Key_Escape and self._running:
            self.cancel_requested.emit()
            return
        super().keyPressEvent(event)
