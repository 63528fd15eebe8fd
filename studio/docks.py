"""Where the main window's panels sit: one `QDockWidget` per panel, named `<panel objectName>Dock` and kept in
a dict by the panel's objectName. The palette on the left; properties over problems on the right, tabbed with
the node inspector; the run console at the bottom, tabbed with the other run panels (sink health, checkpoints,
session stepper, queue, inbox)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

__all__ = ["add_dock", "build_docks"]

_LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
_RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
_BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


def add_dock(
    window: QMainWindow,
    docks: dict[str, QDockWidget],
    widget: QWidget,
    title: str,
    area: Qt.DockWidgetArea,
) -> QDockWidget:
    """Dock `widget` in `area` of `window` and record the dock in `docks` under the widget's objectName."""
    dock = QDockWidget(title, window)
    dock.setObjectName(f"{widget.objectName()}Dock")
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    docks[widget.objectName()] = dock
    return dock


def build_docks(
    window: QMainWindow,
    *,
    palette: QWidget,
    properties: QWidget,
    problems: QWidget,
    inspector: QWidget,
    console: QWidget,
    run_panels: Sequence[tuple[QWidget, str]],
) -> dict[str, QDockWidget]:
    """Dock every panel of `window` (the `run_panels`, with their titles, tabbed behind the run console, in
    order) and size the three areas; the properties and the run console are the tabs shown first."""
    docks: dict[str, QDockWidget] = {}
    palette_dock = add_dock(window, docks, palette, "Node Palette", _LEFT)
    props = add_dock(window, docks, properties, "Properties", _RIGHT)
    problems_dock = add_dock(window, docks, problems, "Problems", _RIGHT)
    window.splitDockWidget(props, problems_dock, Qt.Orientation.Vertical)
    window.tabifyDockWidget(props, add_dock(window, docks, inspector, "Node Inspector", _RIGHT))
    props.raise_()
    console_dock = add_dock(window, docks, console, "Run Console", _BOTTOM)
    for widget, title in run_panels:
        window.tabifyDockWidget(console_dock, add_dock(window, docks, widget, title, _BOTTOM))
    console_dock.raise_()
    window.resizeDocks([palette_dock], [200], Qt.Orientation.Horizontal)
    window.resizeDocks([props], [320], Qt.Orientation.Horizontal)
    window.resizeDocks([console_dock], [380], Qt.Orientation.Vertical)
    return docks
