"""The graph canvas: scene mirroring the document, painted items, gestures, view, editor panel."""

from __future__ import annotations

from studio.canvas.editor_panel import GraphEditorPanel
from studio.canvas.interactions import CanvasController
from studio.canvas.scene import GraphScene
from studio.canvas.view import NODE_TYPE_MIME, GraphView

__all__ = ["NODE_TYPE_MIME", "CanvasController", "GraphEditorPanel", "GraphScene", "GraphView"]
