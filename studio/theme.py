"""Light and dark palettes for the whole app and the colours the canvas paints with."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["CanvasColors", "apply_theme", "canvas_colors", "system_prefers_dark"]


@dataclass(frozen=True, slots=True)
class CanvasColors:
    background: QColor
    grid: QColor
    node_fill: QColor
    node_border: QColor
    node_text: QColor
    node_subtext: QColor
    virtual_fill: QColor
    selected: QColor
    edge: QColor
    conditional: QColor
    port: QColor
    running: QColor
    done: QColor
    skipped: QColor
    failed: QColor
    cancelled: QColor
    problem: QColor
    breakpoint: QColor


_LIGHT = CanvasColors(
    background=QColor("#f4f5f7"),
    grid=QColor("#e2e4e8"),
    node_fill=QColor("#ffffff"),
    node_border=QColor("#9aa3ad"),
    node_text=QColor("#1d232a"),
    node_subtext=QColor("#5f6b78"),
    virtual_fill=QColor("#e3e9f3"),
    selected=QColor("#2f7de1"),
    edge=QColor("#6b7684"),
    conditional=QColor("#9b59b6"),
    port=QColor("#4a5562"),
    running=QColor("#f0a30a"),
    done=QColor("#2e9e5b"),
    skipped=QColor("#a0a7b0"),
    failed=QColor("#d64541"),
    cancelled=QColor("#8e6cb8"),
    problem=QColor("#d64541"),
    breakpoint=QColor("#c0392b"),
)

_DARK = CanvasColors(
    background=QColor("#1e2126"),
    grid=QColor("#2a2e35"),
    node_fill=QColor("#2d323a"),
    node_border=QColor("#5c6570"),
    node_text=QColor("#e8eaed"),
    node_subtext=QColor("#a3abb5"),
    virtual_fill=QColor("#27344a"),
    selected=QColor("#5aa0ff"),
    edge=QColor("#8d97a3"),
    conditional=QColor("#c38fe0"),
    port=QColor("#c5ccd4"),
    running=QColor("#f5b940"),
    done=QColor("#47c17a"),
    skipped=QColor("#6d7580"),
    failed=QColor("#ff6b61"),
    cancelled=QColor("#b39ddb"),
    problem=QColor("#ff6b61"),
    breakpoint=QColor("#ff5a4a"),
)

_state = {"dark": False}


def system_prefers_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (Qt 6.5+ style hints)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def _dark_palette() -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    p.setColor(role.Window, QColor("#25282d"))
    p.setColor(role.WindowText, QColor("#e8eaed"))
    p.setColor(role.Base, QColor("#1b1d21"))
    p.setColor(role.AlternateBase, QColor("#2a2d33"))
    p.setColor(role.ToolTipBase, QColor("#33373e"))
    p.setColor(role.ToolTipText, QColor("#e8eaed"))
    p.setColor(role.PlaceholderText, QColor("#8a929c"))
    p.setColor(role.Text, QColor("#e8eaed"))
    p.setColor(role.Button, QColor("#2f3339"))
    p.setColor(role.ButtonText, QColor("#e8eaed"))
    p.setColor(role.BrightText, QColor("#ff6b61"))
    p.setColor(role.Highlight, QColor("#3d7bd9"))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(role.Link, QColor("#6aa6ff"))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#6d737b"))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#6d737b"))
    p.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor("#6d737b"))
    return p


def apply_theme(dark: bool | None = None) -> bool:
    """Apply the dark or light palette (None: follow the system); returns whether dark is on."""
    app = QApplication.instance()
    if dark is None:
        dark = system_prefers_dark()
    _state["dark"] = dark
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return dark


def is_dark() -> bool:
    return _state["dark"]


def canvas_colors() -> CanvasColors:
    return _DARK if _state["dark"] else _LIGHT
