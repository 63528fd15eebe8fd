"""The Help menu's pages: a short "Getting started" guide and "Open example..." (each bundled example
with its one-line description). Both are non-modal dialogs (never a nested event loop)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

__all__ = ["GETTING_STARTED", "Example", "ExamplesDialog", "GettingStartedDialog", "bundled_examples"]

GETTING_STARTED = """
<h2>Getting started</h2>
<ol>
<li><b>Open a graph.</b> <i>Help &rsaquo; Open example…</i> opens a bundled example as an untitled copy
(saving asks where, the installed example is never overwritten). <i>File &rsaquo; Open</i> reads a
<code>*.wgraph.json</code> document.</li>
<li><b>Edit.</b> Drag a node type from the <i>Node Palette</i> onto the canvas (or double-click it, or press
<b>Tab</b> on the canvas to search). Connect nodes by dragging from the right port of one node to the left
port of another. Select a node to edit its settings in <i>Properties</i>; the <i>Problems</i> list shows
what stops the graph from running. Every edit can be undone (<b>Ctrl+Z</b>, redo <b>Ctrl+Shift+Z</b> or
<b>Ctrl+Y</b>).</li>
<li><b>Run.</b> Press <b>F5</b> (Run) or <b>F10</b> (one step). The canvas shows each node running, done,
skipped or failed, and the edges that were taken. The <i>Run Console</i> lists every event; a failure shows
the node and its error, with the traceback of your own code behind the <i>Traceback</i> toggle.
<b>Shift+F5</b> stops a run. Click the top-left or top-right corner of a node for a breakpoint before or
after it.</li>
<li><b>Look at the checkpoints.</b> Runs are saved in the studio's database (shown in the status bar).
The <i>Checkpoints</i> tab browses it: sessions, steps, the state of each step, differences between steps,
storage charts, pruning and export. <i>Resume in run console</i> continues a stored session.</li>
<li><b>Step a session input by input.</b> The <i>Session Stepper</i> creates an iterative session, merges
the next input (JSON) and runs it (<b>Ctrl+Enter</b>), or feeds a JSON Lines file of inputs.</li>
</ol>
<p><b>Python nodes.</b> A document that names Python functions (<code>package.module:function</code>) opens
read-only until you trust it (<i>Run &rsaquo; Trust Document</i>). A trusted document's own folder is
importable, so a module saved next to the document can be named directly.</p>
<p>The same documents run without the studio: <code>weavegraph run doc.wgraph.json</code>.</p>
"""


class GettingStartedDialog(QDialog):
    """The getting-started page in a text browser (links open externally)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gettingStarted")
        self.setWindowTitle("Getting started with Weavegraph Studio")
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(GETTING_STARTED)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)


@dataclass(frozen=True, slots=True)
class Example:
    """A bundled example: its file name stem, title and one-line description."""

    name: str
    title: str
    description: str


def bundled_examples() -> list[Example]:
    """Every bundled example with the first sentence of its description."""
    from engine.graph.document import example_names, example_path

    out = []
    for name in example_names():
        try:
            data = json.loads(example_path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        title = str(data.get("name") or name)
        text = " ".join(str(data.get("description") or "").split())
        first = text.split(". ")[0].rstrip(".")
        out.append(Example(name, title, first + "." if first else ""))
    return out


class ExamplesDialog(QDialog):
    """Lists the bundled examples, one line each; `chosen(name)` on Open or double-click."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("examplesDialog")
        self.setWindowTitle("Open example")
        self.list = QListWidget(self)
        self.list.setObjectName("examplesList")
        self.list.setWordWrap(True)
        for example in bundled_examples():
            item = QListWidgetItem(f"{example.title} — {example.description}")
            item.setData(Qt.ItemDataRole.UserRole, example.name)
            item.setToolTip(f"{example.name}.wgraph.json (opens as an untitled copy)")
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._on_accepted)
        buttons.rejected.connect(self.reject)
        self.list.itemActivated.connect(lambda _item: self._on_accepted())
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Bundled examples open as untitled copies:"))
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(620, 320)

    def names(self) -> list[str]:
        return [str(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())]

    def _on_accepted(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
        self.accept()


def about_text() -> str:
    """The About box's text: the studio's, engine's, Python's, Qt's and the main libraries' versions."""
    import platform

    import pyqtgraph
    import PySide6
    import qasync
    from PySide6.QtCore import qVersion

    import engine
    from studio import __version__

    return (
        f"<b>Weavegraph Studio</b> {__version__}<br>"
        f"engine {getattr(engine, '__version__', '?')}<br>"
        f"Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__}<br>"
        f"qasync {getattr(qasync, '__version__', '?')} · pyqtgraph {pyqtgraph.__version__}"
    )
