"""The preview/delete/cancel/close row both prune dialogs share (ours and LangGraph's), built once."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QDialogButtonBox, QLabel, QProgressBar, QPushButton


@dataclass(frozen=True)
class PruneControls:
    """The widgets of a prune dialog's lower half; `box` holds the four buttons."""

    preview_label: QLabel
    progress: QProgressBar
    preview_button: QPushButton
    delete_button: QPushButton
    cancel_button: QPushButton
    close_button: QPushButton
    box: QDialogButtonBox


def build_prune_controls(prefix: str, cancel_text: str) -> PruneControls:
    """Preview label, progress bar and buttons, named `{prefix}Preview`, `{prefix}PreviewButton`, ..."""
    preview_label = QLabel("Preview first: nothing is deleted until you confirm.")
    preview_label.setObjectName(f"{prefix}Preview")
    preview_label.setWordWrap(True)
    progress = QProgressBar()
    progress.setObjectName(f"{prefix}Progress")
    progress.setVisible(False)
    preview_button = QPushButton("Preview (dry run)")
    preview_button.setObjectName(f"{prefix}PreviewButton")
    delete_button = QPushButton("Delete")
    delete_button.setObjectName(f"{prefix}DeleteButton")
    delete_button.setEnabled(False)
    cancel_button = QPushButton(cancel_text)
    cancel_button.setObjectName(f"{prefix}CancelButton")
    cancel_button.setEnabled(False)
    box = QDialogButtonBox()
    box.addButton(preview_button, QDialogButtonBox.ButtonRole.ActionRole)
    box.addButton(delete_button, QDialogButtonBox.ButtonRole.DestructiveRole)
    box.addButton(cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
    close_button = box.addButton(QDialogButtonBox.StandardButton.Close)
    return PruneControls(
        preview_label, progress, preview_button, delete_button, cancel_button, close_button, box
    )
