"""The studio packages' public names are pinned (a rename must be deliberate)."""

from __future__ import annotations

import studio
import studio.canvas
import studio.document
import studio.panels
import studio.widgets


def test_public_names() -> None:
    assert studio.__all__ == ["__version__"]
    assert sorted(studio.canvas.__all__) == sorted(
        [
            "NODE_TYPE_MIME",
            "CanvasController",
            "GraphEditorPanel",
            "GraphScene",
            "GraphView",
        ]
    )
    assert sorted(studio.document.__all__) == sorted(
        [
            "VIRTUAL_NODES",
            "DocumentEditor",
            "EditRejected",
            "GraphDocumentModel",
            "Problem",
            "empty_document",
            "validate_model",
        ]
    )
    assert sorted(studio.panels.__all__) == sorted(
        [
            "CheckpointBrowserPanel",
            "NodePalettePanel",
            "ProblemsPanel",
            "PropertiesPanel",
            "RunConsolePanel",
            "SessionStepperPanel",
            "SinkHealthPanel",
        ]
    )
    assert sorted(studio.widgets.__all__) == sorted(
        ["JsonEditor", "JsonInvalid", "monospace_font", "parse_json"]
    )
    for module in (studio.canvas, studio.document, studio.panels, studio.widgets):
        for name in module.__all__:
            assert getattr(module, name) is not None
