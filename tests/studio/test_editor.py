"""Editor gestures through the view's viewport (QTest): connect by dragging port to port, rubber band,
move, delete, copy/paste, undo; plus scene mirroring, validation marks and read-only documents."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from studio.canvas.editor_panel import GraphEditorPanel
from studio.canvas.items.edge import EdgeItem
from studio.document.editor import DocumentEditor
from studio.document.model import GraphDocumentModel


def doc() -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "gestures",
        "nodes": [
            {"id": "A", "type": "message", "config": {"content": "a"}, "position": [0, 0]},
            {"id": "B", "type": "message", "config": {"content": "b"}, "position": [300, 0]},
            {"id": "C", "type": "message", "config": {"content": "c"}, "position": [300, 200]},
        ],
        "edges": [{"from": "Start", "to": "A"}, {"from": "A", "to": "B"}, {"from": "B", "to": "End"}],
    }


@pytest.fixture
def panel(qtbot: Any) -> Iterator[GraphEditorPanel]:
    model = GraphDocumentModel()
    model.reset(doc())
    p = GraphEditorPanel(model, DocumentEditor(model))
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    qtbot.waitExposed(p)
    p.view.resetTransform()
    p.view.centerOn(150, 100)
    yield p
    model.deleteLater()


def vp(panel: GraphEditorPanel, scene_point: QPointF) -> QPoint:
    return panel.view.mapFromScene(scene_point)


def drag(
    panel: GraphEditorPanel, start: QPointF, end: QPointF, modifier: Any = Qt.KeyboardModifier.NoModifier
) -> None:
    viewport = panel.view.viewport()
    a, b = vp(panel, start), vp(panel, end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, a)
    for i in range(1, 6):
        QTest.mouseMove(viewport, a + (b - a) * i / 5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifier, b)


def test_scene_mirrors_document(panel: GraphEditorPanel) -> None:
    scene = panel.scene
    assert set(scene.nodes) == {"A", "B", "C", "Start", "End"}
    assert set(scene.edges) == {("Start", "A"), ("A", "B"), ("B", "End")}
    assert scene.nodes["B"].pos() == QPointF(300, 0)


def test_connect_by_dragging_port_to_port(panel: GraphEditorPanel) -> None:
    scene, model = panel.scene, panel.model
    src = scene.nodes["B"].out_port.scenePos()  # type: ignore[union-attr]
    dst = scene.nodes["C"].in_port.scenePos()  # type: ignore[union-attr]
    drag(panel, src, dst)
    assert model.has_edge("B", "C")
    assert ("B", "C") in scene.edges
    assert model.undo_stack.count() == 1
    model.undo_stack.undo()
    assert not model.has_edge("B", "C") and ("B", "C") not in scene.edges


def test_refused_connection_reports_and_changes_nothing(panel: GraphEditorPanel, qtbot: Any) -> None:
    scene = panel.scene
    with qtbot.waitSignal(panel.message, timeout=1000) as blocker:
        drag(panel, scene.nodes["A"].out_port.scenePos(), scene.nodes["B"].in_port.scenePos())  # type: ignore[union-attr]
    assert "exists already" in blocker.args[0]
    assert panel.model.undo_stack.count() == 0


def test_move_node_is_one_undoable_command(panel: GraphEditorPanel) -> None:
    model = panel.model
    start = panel.scene.nodes["C"].scenePos() + QPointF(0, 10)
    drag(panel, start, start + QPointF(60, 40))
    assert model.position("C") == pytest.approx((360.0, 240.0), abs=2)
    assert model.undo_stack.count() == 1
    edge_path = panel.scene.edges[("A", "B")].path()
    assert edge_path.currentPosition().x() == pytest.approx(panel.scene.nodes["B"].in_port.scenePos().x() - 7)  # type: ignore[union-attr]
    model.undo_stack.undo()
    assert model.position("C") == (300.0, 200.0)
    assert panel.scene.nodes["C"].pos() == QPointF(300, 200)


def test_rubber_band_selects_and_delete_removes_with_undo(panel: GraphEditorPanel) -> None:
    before = copy.deepcopy(panel.model.data)
    drag(panel, QPointF(200, -80), QPointF(420, 260))  # around B and C, from empty canvas
    assert sorted(panel.scene.selected_node_ids()) == ["B", "C"]
    panel.view.setFocus()
    panel.controller.delete_selection()
    assert panel.model.node_ids() == ["A"]
    assert ("A", "B") not in panel.scene.edges and "B" not in panel.scene.nodes
    panel.model.undo_stack.undo()
    assert panel.model.data == before
    assert set(panel.scene.edges) == {("Start", "A"), ("A", "B"), ("B", "End")}


def test_delete_key_through_the_view(panel: GraphEditorPanel, qtbot: Any) -> None:
    from studio.actions import Actions

    actions = Actions(panel, panel.model.undo_stack)
    for action in actions.canvas_actions():
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        panel.addAction(action)
    actions.delete.triggered.connect(panel.controller.delete_selection)
    panel.scene.select_nodes(["C"])
    panel.view.setFocus()
    QTest.keyClick(panel.view.viewport(), Qt.Key.Key_Delete)
    assert "C" not in panel.model.node_ids()


def test_copy_paste_through_the_clipboard(panel: GraphEditorPanel) -> None:
    panel.scene.select_nodes(["A", "B"])
    assert panel.controller.copy_selection()
    assert '"weavegraph.fragment"' in QGuiApplication.clipboard().text()
    panel.controller.paste()
    assert panel.model.node_ids() == ["A", "B", "C", "A_1", "B_1"]
    assert panel.model.has_edge("A_1", "B_1")
    assert sorted(panel.scene.selected_node_ids()) == ["A_1", "B_1"]
    panel.model.undo_stack.undo()
    assert panel.model.node_ids() == ["A", "B", "C"]


def test_paste_of_garbage_is_refused(panel: GraphEditorPanel, qtbot: Any) -> None:
    QGuiApplication.clipboard().setText("not json at all")
    with qtbot.waitSignal(panel.controller.rejected, timeout=1000):
        panel.controller.paste()
    assert panel.model.undo_stack.count() == 0


def test_breakpoint_badge_click(panel: GraphEditorPanel, qtbot: Any) -> None:
    node = panel.scene.nodes["A"]
    node.setSelected(True)
    badge = node.mapToScene(node.badge_rect("after").center())
    with qtbot.waitSignal(panel.scene.breakpoint_clicked, timeout=1000) as blocker:
        QTest.mouseClick(
            panel.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp(panel, badge)
        )
    assert blocker.args == ["A", "after"]
    assert panel.model.undo_stack.count() == 0


def test_add_node_from_quick_add_popup(panel: GraphEditorPanel, qtbot: Any) -> None:
    popup = panel.view.open_search(QPoint(100, 100))
    popup.search.setText("delay")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert "delay" in panel.model.node_ids()
    assert panel.model.node("delay")["config"] == {"ms": 100} or "ms" in panel.model.node("delay")["config"]


def test_validation_marks_nodes_and_lists_problems(panel: GraphEditorPanel, qtbot: Any) -> None:
    assert {p.node_id for p in panel.validate_now()} == {"C"}  # C is not connected yet
    panel.editor.connect("A", "C")
    panel.editor.connect("C", "End")
    assert panel.validate_now() == []
    panel.editor.add_node("delay", (600, 300), node_id="Lonely")
    with qtbot.waitSignal(panel.problems_changed, timeout=2000) as blocker:
        pass
    problems = blocker.args[0]
    assert any(p.node_id == "Lonely" for p in problems)
    assert panel.scene.nodes["Lonely"].problems
    assert not panel.scene.nodes["A"].problems


def test_conditional_edges_are_drawn_dashed_to_their_targets(panel: GraphEditorPanel) -> None:
    uid = panel.editor.add_conditional_edge(
        "C", "route_if", {"key": "n", "op": "<", "value": 3, "then": ["A"], "else": ["End"]}
    )
    items = panel.scene.conditional[uid]
    assert sorted(i.dst.node_id for i in items) == ["A", "End"]
    assert all(isinstance(i, EdgeItem) and i.conditional_uid == uid for i in items)
    panel.editor.change_node("A", new_id="Alpha")
    assert sorted(i.dst.node_id for i in panel.scene.conditional[uid]) == ["Alpha", "End"]
    panel.model.undo_stack.undo()
    panel.model.undo_stack.undo()
    assert uid not in panel.scene.conditional or not panel.scene.conditional[uid]


def test_read_only_document_refuses_edits_and_shows_banner(panel: GraphEditorPanel, qtbot: Any) -> None:
    panel.model.set_read_only(True, "code-first graph: edit it in code")
    assert panel.banner.isVisible() and not panel.trust_button.isVisible()
    start = panel.scene.nodes["C"].scenePos() + QPointF(0, 10)
    drag(panel, start, start + QPointF(80, 0))
    assert panel.model.undo_stack.count() == 0
    assert panel.scene.nodes["C"].pos() == QPointF(300, 200)  # snapped back


def test_fit_and_zoom(panel: GraphEditorPanel) -> None:
    panel.view.zoom_by(2.0)
    assert panel.view.zoom() == pytest.approx(2.0)
    panel.view.fit()
    visible = panel.view.mapToScene(panel.view.viewport().rect()).boundingRect()
    assert visible.contains(panel.scene.items_rect())
