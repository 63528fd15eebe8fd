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


def unique_sequences(*sequences: QKeySequence | Std | str) -> list[QKeySequence]:
    """Key sequences without repeats (the platform's standard binding may already hold one of them): a
    sequence bound twice to one action makes Qt report an ambiguous shortcut and do nothing."""
    out: list[QKeySequence] = []
    seen: set[str] = set()
    for item in sequences:
        keys = QKeySequence.keyBindings(item) if isinstance(item, Std) else [QKeySequence(item)]
        for key in keys:
            text = key.toString(QKeySequence.SequenceFormat.PortableText)
            if text and text not in seen:
                seen.add(text)
                out.append(key)
    return out


class _StackAction(QAction):
    """Undo or Redo with a fixed text (the toolbar never jumps); what it would undo or redo goes in the
    tooltip and status tip. Slots are methods, so the stack's signals let go when the action is deleted."""

    def __init__(self, text: str, verb: str, parent: QObject) -> None:
        super().__init__(text, parent)
        self._verb = verb
        self.describe("")

    def describe(self, text: str) -> None:
        tip = f"{self._verb} {text}" if text else f"Nothing to {self._verb.lower()}"
        self.setToolTip(tip)
        self.setStatusTip(tip)


def _undo_actions(parent: QObject, stack: QUndoStack) -> tuple[QAction, QAction]:
    """Undo and Redo over `stack`. Redo answers to Ctrl+Shift+Z and Ctrl+Y on every platform."""
    undo = _StackAction("&Undo", "Undo", parent)
    undo.setShortcuts(unique_sequences(Std.Undo))
    redo = _StackAction("&Redo", "Redo", parent)
    redo.setShortcuts(unique_sequences("Ctrl+Shift+Z", Std.Redo, "Ctrl+Y"))
    undo.triggered.connect(stack.undo)
    redo.triggered.connect(stack.redo)
    undo.setEnabled(stack.canUndo())
    redo.setEnabled(stack.canRedo())
    stack.canUndoChanged.connect(undo.setEnabled)
    stack.canRedoChanged.connect(redo.setEnabled)
    stack.undoTextChanged.connect(undo.describe)
    stack.redoTextChanged.connect(redo.describe)
    return undo, redo


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
        self.undo, self.redo = _undo_actions(parent, undo_stack)
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
        self.getting_started = _action(parent, "&Getting Started", "F1", "A short guide to the studio")
        self.open_example = _action(
            parent, "Open &Example…", None, "Open a bundled example as an untitled copy"
        )
        self.about = _action(parent, "&About Weavegraph Studio", None)
        for name, value in vars(self).items():
            if isinstance(value, QAction):
                value.setObjectName(f"action_{name.rstrip('_')}")

    def canvas_actions(self) -> list[QAction]:
        """Actions that only make sense with the canvas focused (scoped to the editor widget)."""
        return [self.delete, self.cut, self.copy, self.paste, self.select_all]
