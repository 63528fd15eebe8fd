"""The main window's dialogs: Open, Open code-first graph, Save As, the unsaved-changes question, About,
Getting started and the examples list. Each is opened non-modally and deletes itself when done; never
`exec()` (a nested event loop would freeze the asyncio tasks)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from studio.help import ExamplesDialog, GettingStartedDialog, about_text

__all__ = [
    "ask_unsaved",
    "open_about",
    "open_code_dialog",
    "open_examples",
    "open_file_dialog",
    "open_getting_started",
    "save_as_dialog",
]

Button = QMessageBox.StandardButton


def open_file_dialog(parent: QWidget, chosen: Callable[[str], object]) -> QFileDialog:
    """Pick a graph document to open; `chosen(path)`."""
    dialog = QFileDialog(parent, "Open graph document")
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilter("Graph documents (*.wgraph.json *.json);;All files (*)")
    dialog.fileSelected.connect(chosen)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def open_code_dialog(parent: QWidget, chosen: Callable[[str], object]) -> QInputDialog:
    """Ask for a code-first graph's `package.module:attribute`; `chosen(target)`."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("Open code-first graph")
    dialog.setLabelText("package.module:attribute (a GraphBuilder, an App, or a function returning one)")
    dialog.textValueSelected.connect(chosen)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def save_as_dialog(parent: QWidget, chosen: Callable[[str], object]) -> QFileDialog:
    """Pick where to save the document (`.wgraph.json` added when missing); `chosen(path)`."""
    dialog = QFileDialog(parent, "Save graph document")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter("Graph documents (*.wgraph.json)")
    dialog.setDefaultSuffix("wgraph.json")
    dialog.fileSelected.connect(chosen)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def ask_unsaved(parent: QWidget, name: str, doing: str, answered: Callable[[Button], object]) -> QMessageBox:
    """Save / Discard / Cancel the changes to `name` before `doing`; `answered(button)` once closed."""
    box = QMessageBox(parent)
    box.setObjectName("unsavedChangesDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved changes")
    box.setText(f"Save the changes to '{name}' before {doing}?")
    box.setStandardButtons(Button.Save | Button.Discard | Button.Cancel)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _r: answered(box.standardButton(box.clickedButton())))
    box.open()
    return box


def open_about(parent: QWidget) -> QMessageBox:
    box = QMessageBox(parent)
    box.setObjectName("aboutDialog")
    box.setWindowTitle("About Weavegraph Studio")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text())
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def open_getting_started(parent: QWidget) -> GettingStartedDialog:
    dialog = GettingStartedDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()  # non-modal: the studio stays usable beside it
    return dialog


def open_examples(parent: QWidget, chosen: Callable[[str], object]) -> ExamplesDialog:
    """The bundled examples; `chosen(name)` for the one opened."""
    dialog = ExamplesDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.chosen.connect(chosen)
    dialog.open()
    return dialog
