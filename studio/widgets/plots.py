"""pyqtgraph plots that follow the application palette (light or dark) and an axis with whole-number ticks."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

__all__ = ["IntegerAxis", "ThemedPlot", "adopt_menus"]


class IntegerAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph has no type hints
    """Ticks only at whole numbers (steps, counts): never "2.5"."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(float(max(1, round(spacing))), offset) for spacing, offset in levels if spacing >= 1]
        return whole or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [str(round(v * scale)) for v in values]


def adopt_menus(plot: pg.PlotWidget) -> None:
    """pyqtgraph creates its context menus without a parent; parent them so they die with the plot."""
    item = plot.getPlotItem()
    for menu in (item.ctrlMenu, item.getViewBox().menu):
        if menu is not None:
            menu.setParent(plot, menu.windowFlags())


class ThemedPlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph has no type hints
    """A PlotWidget painted with the palette: Base as background, Text for axes, labels and title. It
    repaints itself when the application palette changes (theme switch)."""

    def __init__(
        self, title: str = "", parent: QWidget | None = None, *, axisItems: dict[str, Any] | None = None
    ) -> None:
        super().__init__(parent, axisItems=axisItems)
        self._title = title
        adopt_menus(self)
        self.apply_palette()

    def setTitle(self, title: str) -> None:
        self._title = title
        self.getPlotItem().setTitle(title, color=self.palette().color(QPalette.ColorRole.Text).name())

    def apply_palette(self) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        self.setBackground(pal.color(QPalette.ColorRole.Base))
        item = self.getPlotItem()
        for name in ("left", "bottom", "right", "top"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            if axis.label is not None and axis.labelText:
                axis.setLabel(axis.labelText, units=axis.labelUnits, color=text.name())
        self.setTitle(self._title)
        self.theme_legend()

    def theme_legend(self) -> None:
        """Legend entries in the palette's text colour (call again after adding curves)."""
        legend = self.getPlotItem().legend
        if legend is None:
            return
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        legend.setBrush(pg.mkBrush(pal.color(QPalette.ColorRole.Base)))
        legend.setLabelTextColor(text)
        for _sample, label in legend.items:
            label.setText(label.text, color=text.name())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        ready = hasattr(self, "_title") and self.getPlotItem() is not None  # not during construction
        if ready and event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette()
