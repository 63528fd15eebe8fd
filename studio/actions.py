"""Every QAction of the main window, built once with its standard shortcut; menus and toolbars use these.
Canvas edit actions are scoped to the graph editor so text fields keep their own Ctrl+Z/C/V/Del."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack

__all__ = ["Actions"]

Std = QKeySequence.StandardKey


def _action(
    parent: QObject, text: str, shortcut: QKeySequence | Std | str | None = None, tip: str = ""
) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    return action


class Actions:
    """The action registry (objectName = attribute name, for tests and the command list)."""

    def __init__(self, parent: QObject, undo_stack: QUndoStack) -> None:
        # file
        self.new = _action(parent, "&New", Std.New, "Start a new graph document")
        self.open = _action(parent, "&Open…", Std.Open, "Open a graph document")
        self.open_code = _action(
            parent, "Open &Code Graph…", None, "Open package.module:attribute (read-only)"
        )
        self.save = _action(parent, "&Save", Std.Save, "Save the document")
        self.save_as = _action(parent, "Save &As…", "Ctrl+Shift+S", "Save the document under a new name")
        self.quit = _action(parent, "&Quit", Std.Quit, "Close the studio")
        # edit
        self.undo = undo_stack.createUndoAction(parent, "&Undo")
        self.undo.setShortcut(QKeySequence(Std.Undo))
        self.redo = undo_stack.createRedoAction(parent, "&Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence(Std.Redo)])
        self.delete = _action(parent, "&Delete", QKeySequence(Qt.Key.Key_Delete), "Delete the selection")
        self.cut = _action(parent, "Cu&t", Std.Cut, "Cut the selected nodes")
        self.copy = _action(parent, "&Copy", Std.Copy, "Copy the selected nodes as JSON")
        self.paste = _action(parent, "&Paste", Std.Paste, "Paste nodes from the clipboard")
        self.select_all = _action(parent, "Select &All", Std.SelectAll, "Select every node")
        self.find = _action(parent, "&Find…", Std.Find, "Filter the run console's events")
        # view
        self.fit = _action(parent, "&Fit to Window", "Ctrl+0", "Zoom to show the whole graph")
        self.zoom_in = _action(parent, "Zoom &In", Std.ZoomIn)
        self.zoom_out = _action(parent, "Zoom &Out", Std.ZoomOut)
        self.auto_layout = _action(parent, "Auto &Layout", "Ctrl+L", "Lay the graph out in layers (undoable)")
        self.dark = _action(parent, "&Dark Theme", None, "Switch between dark and light palettes")
        self.dark.setCheckable(True)
        self.follow_system = _action(parent, "Follow &System Theme", None, "Use the desktop's colour scheme")
        self.follow_system.setCheckable(True)
        # run
        self.run = _action(parent, "&Run", "F5", "Run the graph (or continue a paused run)")
        self.step = _action(parent, "&Step", "F10", "Run one superstep")
        self.continue_ = _action(parent, "&Continue", None, "Continue a paused run")
        self.stop = _action(parent, "S&top", "Shift+F5", "Cancel the run")
        self.trust = _action(parent, "&Trust Document", None, "Allow this document's Python code")
        # help
        self.about = _action(parent, "&About Weavegraph Studio", None)
        for name, value in vars(self).items():
            if isinstance(value, QAction):
                value.setObjectName(f"action_{name.rstrip('_')}")

    def canvas_actions(self) -> list[QAction]:
        """Actions that only make sense with the canvas focused (scoped to the editor widget)."""
        return [self.delete, self.cut, self.copy, self.paste, self.select_all]
