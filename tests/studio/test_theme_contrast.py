"""Defect 8: after switching theme, every panel's labels stay readable and every plot follows the palette.
Each panel is grabbed in the light and the dark theme; each visible label's pixels give its background (the
most common colour) and its text (the colour farthest from it), whose WCAG contrast must be at least 3."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from studio.theme import apply_theme
from studio.widgets.plots import ThemedPlot

PANELS = (
    "nodePalette",
    "propertiesPanel",
    "problemsPanel",
    "runConsole",
    "sinkHealth",
    "checkpointBrowser",
    "sessionStepper",
)
MIN_CONTRAST = 3.0


def pixels(widget: QWidget) -> np.ndarray:
    """What the user sees of `widget`: its rectangle grabbed from the whole window (parents' backgrounds
    included; a widget grabbed alone paints its own, possibly stale, palette)."""
    window = widget.window()
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    image = window.grab(rect).toImage().convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    rows = raw.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
    return rows[:, :, 2::-1].reshape(-1, 3).astype(np.float64)  # BGRA -> RGB


def luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.asarray(0.2126 * c[..., 0] + 0.7152 * c[..., 1] + 0.0722 * c[..., 2])


def text_contrast(widget: QWidget) -> float:
    """Contrast between the most common colour (background) and the colour farthest from it (text)."""
    px = pixels(widget)
    colours, counts = np.unique(px, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    lum = luminance(colours)
    bg = float(luminance(background))
    hi, lo = np.maximum(lum, bg), np.minimum(lum, bg)
    return float(((hi + 0.05) / (lo + 0.05)).max())


def background(widget: QWidget) -> QColor:
    px = pixels(widget)
    colours, counts = np.unique(px, axis=0, return_counts=True)
    r, g, b = (int(v) for v in colours[counts.argmax()])
    return QColor(r, g, b)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_panel_is_readable_in_both_themes(main_window: Any, qtbot: Any, dark: bool) -> None:
    w = main_window
    w.resize(1500, 950)
    apply_theme(not dark)  # start in the other theme: the bug was labels keeping the old palette
    qtbot.wait(20)
    try:
        apply_theme(dark)
        qtbot.wait(50)
        bad: list[str] = []
        for name in PANELS:
            w.docks[name].raise_()
            qtbot.wait(30)
            panel = w.docks[name].widget()
            for label in panel.findChildren(QLabel):
                if not label.isVisibleTo(w) or not label.text().strip() or label.width() < 8:
                    continue
                ratio = text_contrast(label)
                if ratio < MIN_CONTRAST:
                    bad.append(f"{name}/{label.objectName() or label.text()[:30]!r}: {ratio:.2f}")
            base = w.palette().color(QPalette.ColorRole.Base)
            for plot in panel.findChildren(ThemedPlot):
                if not plot.isVisibleTo(w):
                    continue
                bg = background(plot)
                if abs(bg.lightness() - base.lightness()) > 12:
                    bad.append(f"{name}/{plot.objectName()}: plot background {bg.name()} vs {base.name()}")
                if text_contrast(plot) < MIN_CONTRAST:
                    bad.append(f"{name}/{plot.objectName()}: plot text contrast")
        assert not bad, "\n".join(bad)
    finally:
        apply_theme(False)


def test_properties_header_follows_a_theme_switch(main_window: Any, qtbot: Any) -> None:
    w = main_window
    w.docks["propertiesPanel"].raise_()
    title = w.properties.title
    apply_theme(True)
    try:
        qtbot.wait(20)
        assert title.isVisibleTo(w)
        assert text_contrast(title) >= MIN_CONTRAST, title.text()
        text = title.palette().color(QPalette.ColorRole.WindowText)
        assert text.lightness() > 150  # light text on the dark window
    finally:
        apply_theme(False)


def test_status_labels_get_room_to_show_their_text(main_window: Any, qtbot: Any) -> None:
    """Labels that ignore their text width (so they never widen the window) still get the room they need."""
    w = main_window
    w.resize(1500, 950)
    w.docks["runConsole"].raise_()
    w.console._on_controller_state_changed("idle")
    qtbot.wait(20)
    label = w.console.state_label
    assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())
    w.docks["sinkHealth"].raise_()
    w.sink_health.refresh()
    qtbot.wait(20)
    summary = w.sink_health.summary
    assert summary.width() >= summary.fontMetrics().horizontalAdvance(summary.text())
