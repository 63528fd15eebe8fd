"""The open document's lifecycle for the main window: new / open (file, example, code-first) / save /
trust, and what a run needs from it (the App and the default input). Errors are reported as one-line
messages through `failed`, never raised into Qt."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.document.editor import DocumentEditor
from studio.document.io import (
    NotTrusted,
    OpenedDocument,
    document_folder_importable,
    is_code_ref,
    open_code_first,
    open_file,
    save_file,
    trust,
)
from studio.document.model import GraphDocumentModel, empty_document

__all__ = ["DocumentController"]


class DocumentController(QObject):
    """`opened(path)` after a document replaced the current one; `failed(message)` when something could not
    be opened, saved or trusted (the current document stays); `saved(path)`."""

    opened = Signal(str)
    failed = Signal(str)
    saved = Signal(str)

    def __init__(
        self, model: GraphDocumentModel, editor: DocumentEditor, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.editor = editor
        self.code_app: Any = None
        self.untrusted: list[tuple[str, str]] = []
        self.load_problems: list[str] = []
        self.example = ""
        """The bundled example the current untitled document is a copy of ("" otherwise)."""

    # ------------------------------------------------------------------ opening

    def new(self) -> None:
        self.example = ""
        self.code_app = None
        self.untrusted = []
        self.load_problems = []
        self.model.reset(empty_document())
        self.opened.emit("")

    def open(self, target: str) -> bool:
        """Open a file path or a `package.module:attribute` reference; False (and `failed`) on error."""
        try:
            opened = open_code_first(target) if is_code_ref(target) else open_file(target)
        except Exception as exc:  # DocumentError, CodeFirstError, anything the user's module raised
            self.failed.emit(_describe(exc, target))
            return False
        self._apply(opened)
        return True

    def open_example(self, name: str) -> bool:
        """Open a bundled example as an untitled copy: Save asks where, so the installed file is never
        overwritten."""
        from engine.graph.document import example_path

        try:
            path = example_path(name)
            opened = open_file(path)
        except Exception as exc:
            self.failed.emit(_describe(exc, name) if not isinstance(exc, FileNotFoundError) else str(exc))
            return False
        self._apply(dataclasses.replace(opened, path=""), example=path.name.removesuffix(".wgraph.json"))
        return True

    def _apply(self, opened: OpenedDocument, *, example: str = "") -> None:
        self.example = example
        self.code_app = opened.app
        self.untrusted = opened.untrusted
        self.load_problems = opened.problems
        self.model.reset(opened.data, path=opened.path, read_only=opened.read_only, reason=opened.reason)
        self.opened.emit(opened.path)

    def trust_current(self) -> bool:
        """Trust the current document's Python callables (remembered by content hash) and make it editable."""
        try:
            trust(self.model.to_dict())
        except Exception as exc:
            self.failed.emit(f"could not remember trust: {exc}")
            return False
        self.untrusted = []
        self.model.set_read_only(False)
        return True

    # ------------------------------------------------------------------ saving

    @property
    def can_save_in_place(self) -> bool:
        path = self.model.path
        return bool(path) and self.code_app is None and not self._is_example(path)

    @staticmethod
    def _is_example(path: str) -> bool:
        from engine.graph.document import EXAMPLES_DIR

        try:
            return Path(path).resolve().parent == Path(EXAMPLES_DIR).resolve()
        except OSError:
            return False

    def save(self, path: str | None = None) -> bool:
        """Save to `path` (or the current path); False (and `failed`) on error."""
        target = path or self.model.path
        if not target or (path is None and not self.can_save_in_place):
            self.failed.emit("choose where to save this document (Save As)")
            return False
        if not target.endswith(".json"):
            target += ".wgraph.json"
        try:
            save_file(self.model.to_dict(), target)
        except Exception as exc:
            self.failed.emit(f"could not save {target}: {exc}")
            return False
        self.code_app = None
        self.model.mark_saved(target)
        self.saved.emit(target)
        return True

    # ------------------------------------------------------------------ running

    def build_app(self) -> Any:
        """The App to run: the code-first App as is, else the compiled document (raises with the reason)."""
        if self.code_app is not None:
            return self.code_app
        from engine.graph.document import GraphDocument, document_to_app

        if self.untrusted:
            raise NotTrusted(sorted({ref for _p, ref in self.untrusted}))
        source = self.model.path or "<editor>"
        with document_folder_importable(source):  # trusted: its own modules may sit beside it
            return document_to_app(GraphDocument(self.model.to_dict(), source), trusted=True)

    def graph_hash(self) -> str | None:
        """The graph definition hash of the current document (None when it cannot be compiled, or would
        need untrusted code imported)."""
        try:
            return str(self.build_app().graph_definition_hash())
        except Exception:
            return None

    def default_input(self) -> dict[str, Any]:
        value = self.model.data.get("input")
        if isinstance(value, dict):
            return {"messages": value.get("messages", []), "extra": value.get("extra", {})}
        return {"messages": [], "extra": {}}

    def graph_document(self) -> Any:
        from engine.graph.document import GraphDocument

        return GraphDocument(self.model.to_dict(), self.model.path or "<editor>")


def _describe(exc: Exception, target: str) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        first = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return f"cannot open {target}: {first}{more}"
    return f"cannot open {target}: {exc}"
