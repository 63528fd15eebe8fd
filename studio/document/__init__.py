"""The editor's document layer (no widgets): model, undo commands, editing operations, validation, I/O."""

from __future__ import annotations

from studio.document.editor import DocumentEditor, EditRejected
from studio.document.model import VIRTUAL_NODES, GraphDocumentModel, empty_document
from studio.document.validation import Problem, validate_model

__all__ = [
    "VIRTUAL_NODES",
    "DocumentEditor",
    "EditRejected",
    "GraphDocumentModel",
    "Problem",
    "empty_document",
    "validate_model",
]
