"""Labels that never widen the window: a long status line is cut at the panel's edge, never pushing the
whole main window wider than the screen."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy

__all__ = ["shrinkable"]


def shrinkable(label: QLabel) -> QLabel:
    """Let `label` be narrower than its text (its minimum width no longer follows the text)."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, label.sizePolicy().verticalPolicy())
    label.setMinimumWidth(1)
    return label
