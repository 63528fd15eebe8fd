"""The node palette: search, double-click to add, drag data for drops onto the canvas."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent

from engine.graph.node_types import default_registry
from studio.canvas.editor_panel import GraphEditorPanel
from studio.canvas.view import NODE_TYPE_MIME
from studio.document.editor import DocumentEditor
from studio.document.model import GraphDocumentModel
from studio.panels.palette import NodePalettePanel


def test_search_filters_and_activation_reports_the_type(qtbot: Any) -> None:
    palette = NodePalettePanel(default_registry())
    qtbot.addWidget(palette)
    assert {"message", "delay", "python", "scripted_llm"} <= set(palette.visible_types())
    palette.search.setText("LLM")
    assert palette.visible_types() == ["scripted_llm"]
    with qtbot.waitSignal(palette.type_activated) as blocker:
        palette.list.activated.emit(palette.proxy.index(0, 0))
    assert blocker.args == ["scripted_llm"]
    mime = palette.model.mimeData([palette.model.index(0, 0)])
    assert mime.hasFormat(NODE_TYPE_MIME)


def test_dropping_a_type_on_the_canvas_adds_a_node_there(qtbot: Any) -> None:
    model = GraphDocumentModel()
    panel = GraphEditorPanel(model, DocumentEditor(model))
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    qtbot.waitExposed(panel)
    data = QMimeData()
    data.setData(NODE_TYPE_MIME, b"emit")
    pos = QPoint(300, 200)
    event = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.view.dropEvent(event)
    assert model.node_ids() == ["emit"]
    scene_pos = panel.view.mapToScene(pos)
    x, y = model.position("emit")  # type: ignore[misc]
    assert abs(x - scene_pos.x()) <= 12 and abs(y - scene_pos.y()) <= 12  # snapped to the 12 px grid
    assert model.undo_stack.count() == 1
    model.deleteLater()
