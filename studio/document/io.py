"""Opening and saving documents for the editor: files (broken ones report problems, never crash), bundled
examples, code-first graphs (`package.module:attribute`, read-only) and the trust check for callables."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError

__all__ = [
    "CodeFirstError",
    "NotTrusted",
    "OpenedDocument",
    "document_folder_importable",
    "is_code_ref",
    "open_code_first",
    "open_file",
    "save_file",
]


class CodeFirstError(EngineError):
    """A `package.module:attribute` reference could not be imported or is not a graph."""


class NotTrusted(EngineError):
    """The document names Python callables and the user has not trusted it yet."""

    def __init__(self, refs: list[str]) -> None:
        self.refs = refs
        super().__init__(f"the document imports Python code ({', '.join(refs)}); press Trust first")


@dataclass(slots=True)
class OpenedDocument:
    """What the editor gets back from opening something."""

    data: dict[str, Any]
    path: str = ""
    read_only: bool = False
    reason: str = ""
    untrusted: list[tuple[str, str]] = field(default_factory=list)
    app: Any = None  # the compiled App of a code-first graph (run as is)
    problems: list[str] = field(default_factory=list)


def is_code_ref(text: str) -> bool:
    """True for `package.module:attribute` (and not a Windows drive path or an existing file)."""
    if ":" not in text or Path(text).exists():
        return False
    module, _, attr = text.partition(":")
    return bool(module) and bool(attr) and all(p.isidentifier() for p in module.split(".") + attr.split("."))


def open_file(path: str | Path) -> OpenedDocument:
    """Load a document file. Raises `DocumentError` (with every problem) when it is not a usable document:
    unreadable, not JSON, or not a JSON object. Other problems (bad config, unknown type) are returned in
    `.problems` and the document opens so the user can fix them."""
    from engine.graph.document import TrustStore, document_callables, load_document

    doc = load_document(path, strict=False)
    opened = OpenedDocument(doc.data, str(path), problems=[str(p) for p in doc.problems])
    callables = document_callables(doc)
    if callables and not TrustStore().is_trusted(doc):
        opened.read_only = True
        opened.untrusted = callables
        refs = ", ".join(sorted({ref for _p, ref in callables}))
        opened.reason = f"this document imports Python code ({refs}); trust it to edit and run it"
    return opened


def trust(data: dict[str, Any]) -> None:
    """Remember `data` as trusted (by content hash)."""
    from engine.graph.document import GraphDocument, TrustStore

    TrustStore().trust(GraphDocument(data))


def open_code_first(ref: str) -> OpenedDocument:
    """Import `package.module:attribute` (a GraphBuilder, an App, or a function returning one) and describe
    it as a read-only document with a computed layout."""
    from engine.graph.document import app_to_document

    module_name, _, attr_path = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise CodeFirstError(f"cannot import {ref}: {exc}") from exc
    app = _to_app(obj, ref)
    doc = app_to_document(app, name=ref)
    return OpenedDocument(doc.data, ref, read_only=True, reason="code-first graph: edit it in code", app=app)


def _to_app(obj: Any, ref: str) -> Any:
    from engine.app import App
    from engine.graph.builder import GraphBuilder

    if inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise CodeFirstError(f"{ref}() failed: {exc}") from exc
    if isinstance(obj, GraphBuilder):
        obj = obj.compile()
    if not isinstance(obj, App):
        raise CodeFirstError(
            f"{ref} is a {type(obj).__name__}, not a GraphBuilder, an App or a function returning one"
        )
    return obj


def save_file(data: dict[str, Any], path: str | Path) -> None:
    """Write the document atomically in the canonical format (unknown fields kept)."""
    from engine.graph.document import GraphDocument, save_document

    save_document(GraphDocument(data), path)


@contextlib.contextmanager
def document_folder_importable(source: str) -> Iterator[None]:
    """While active, the folder of the document at `source` is importable (a module saved next to the
    document can be named `module:function`). Only for trusted documents: the caller checks trust."""
    folder = ""
    if source and not source.startswith("<"):
        with contextlib.suppress(OSError):
            folder = str(Path(source).resolve().parent)
    added = bool(folder) and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
        importlib.invalidate_caches()  # a module written after an earlier failed import is found now
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
