"""Issue 14, the editing side: each test reproduces a defect a new user hit (palette double-click, breakpoint
badges out of sync, the read-only title after Trust, empty required settings, examples opened in place,
cosmetics) and the Help menu. The document model's typed records and stable edge ids are tested here too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from engine.graph.document import example_path
from engine.graph.node_types import default_registry
from studio.canvas.items.node import BADGE_AFTER, BADGE_BEFORE, NodeItem
from studio.canvas.search_popup import type_label
from studio.document.commands import ConnectCommand, RemoveItemsCommand
from studio.document.model import Edge, GraphDocumentModel, Node
from studio.panels.palette import NodePalettePanel
from studio.widgets.schema_form import NumberSpin, format_number


def python_doc(tmp_path: Path, callable_ref: str) -> Path:
    doc = tmp_path / "code.wgraph.json"
    doc.write_text(
        json.dumps(
            {
                "format": "weavegraph.graph",
                "version": 1,
                "name": "code",
                "nodes": [{"id": "P", "type": "python", "config": {"callable": callable_ref}}],
                "edges": [{"from": "Start", "to": "P"}, {"from": "P", "to": "End"}],
            }
        )
    )
    return doc


# ---------------------------------------------------------------------- 2. palette double-click


def test_double_clicking_a_palette_item_adds_one_node(qtbot: Any) -> None:
    palette = NodePalettePanel(default_registry())
    qtbot.addWidget(palette)
    palette.resize(260, 400)
    palette.show()
    qtbot.waitExposed(palette)
    seen: list[str] = []
    palette.type_activated.connect(seen.append)
    rect = palette.list.visualRect(palette.proxy.index(0, 0))
    # a real double-click: press/release, then the double-click press/release
    QTest.mouseClick(palette.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(palette.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.wait(50)
    assert len(seen) == 1, seen


# ---------------------------------------------------------------------- 4. breakpoints: one source of truth


def test_breakpoints_and_badges_stay_in_sync_across_new_and_reopen(
    main_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    w = main_window
    scene = w.graph_editor.scene
    scene.breakpoint_clicked.emit("report", "after")
    assert scene.nodes["report"].breakpoints == {"after"} and w.runs.breakpoints.after == {"report"}
    path = tmp_path / "mine.wgraph.json"
    assert w.documents.save(str(path))
    w.new_document()
    assert w.open_path(str(path))
    scene = w.graph_editor.scene
    # the store and the badges agree: whatever the store holds is drawn, and nothing else
    for node_id, item in scene.nodes.items():
        assert item.breakpoints == w.runs.breakpoints.of(node_id), node_id
    assert not w.runs.breakpoints  # a new document starts without breakpoints
    scene.breakpoint_clicked.emit("report", "after")  # clicking the empty badge sets it, never removes it
    assert w.runs.breakpoints.after == {"report"} and scene.nodes["report"].breakpoints == {"after"}


def test_renaming_a_node_moves_its_breakpoint_and_badge(main_window: Any) -> None:
    w = main_window
    w.graph_editor.scene.breakpoint_clicked.emit("report", "before")
    w.editor.change_node("report", new_id="summary")
    assert w.runs.breakpoints.before == {"summary"}
    assert w.graph_editor.scene.nodes["summary"].breakpoints == {"before"}
    assert "summary" in w.console.breakpoints_label.text()


# ---------------------------------------------------------------------- 9. title after Trust


def test_title_loses_read_only_after_trust(main_window: Any, tmp_path: Path) -> None:
    w = main_window
    assert w.open_path(str(python_doc(tmp_path, "tests.studio.code_first_graph:hello")))
    assert "[read-only]" in w.windowTitle()
    w.graph_editor.trust_button.click()
    assert not w.model.read_only
    assert "[read-only]" not in w.windowTitle()


# ---------------------------------------------------------------------- 13. required settings


def test_an_empty_required_message_is_a_problem(main_window: Any) -> None:
    w = main_window
    node_id = w.add_node_at("emit", 0, 300)
    assert node_id is not None
    w.editor.connect("report", node_id)
    w.editor.connect(node_id, "End")
    w.editor.change_node(node_id, new_config={"scope": "progress", "message": ""})
    problems = w.graph_editor.validate_now()
    mine = [p for p in problems if p.node_id == node_id]
    assert [p.path for p in mine] == ["$.nodes[2].config.message"], problems
    assert "Message is required" in mine[0].message
    w.editor.change_node(node_id, new_config={"scope": "progress", "message": "tick {step}"})
    assert not [p for p in w.graph_editor.validate_now() if p.node_id == node_id]


# ---------------------------------------------------------------------- 14. examples as untitled copies


def test_examples_open_as_untitled_copies(main_window: Any) -> None:
    w = main_window
    original = example_path("fan_out_in").read_bytes()
    assert w.open_example("fan_out_in")
    assert w.model.path == "" and w.documents.example == "fan_out_in"
    assert not w.documents.can_save_in_place
    w.add_node_at("delay", 0, 300)
    assert not w.save()  # Save asks where (Save As), it never writes into the installed example
    assert example_path("fan_out_in").read_bytes() == original
    assert "untitled copy" in w.windowTitle()
    save_as = w.findChildren(QFileDialog)
    assert save_as and save_as[-1].acceptMode() == QFileDialog.AcceptMode.AcceptSave
    for dialog in save_as:
        dialog.close()


# ---------------------------------------------------------------------- 15. cosmetics


def test_undo_and_redo_keep_their_text(main_window: Any) -> None:
    w = main_window
    w.add_node_at("delay", 0, 300)
    assert w.commands.undo.text() == "&Undo" and w.commands.redo.text() == "&Redo"
    assert w.commands.undo.isEnabled() and "Add node" in w.commands.undo.toolTip()
    w.commands.undo.trigger()
    assert w.commands.undo.text() == "&Undo" and "Add node" in w.commands.redo.toolTip()


def test_integer_like_numbers_show_without_decimals(qtbot: Any) -> None:
    assert format_number(100.0) == "100" and format_number(0.25) == "0.25" and format_number(-3.5) == "-3.5"
    spin = NumberSpin()
    qtbot.addWidget(spin)
    spin.setDecimals(4)
    spin.setRange(0, 1e6)
    spin.setValue(100)
    assert spin.text() == "100"


def test_warning_triangle_does_not_cover_the_breakpoint_badges() -> None:
    item = NodeItem("n", "delay")
    for which in (BADGE_BEFORE, BADGE_AFTER):
        assert not item.problem_rect().intersects(item.badge_rect(which).adjusted(-3, -3, 3, 3)), which


def test_long_problems_wrap_instead_of_being_clipped(main_window: Any, qtbot: Any) -> None:
    from studio.document.validation import Problem

    panel = w_problems = main_window.problems
    main_window.docks["problemsPanel"].raise_()
    panel.resize(240, 300)
    long = Problem("$.nodes[0].config", "a problem message long enough to need several lines " * 3, "n")
    w_problems.set_problems([long])
    qtbot.wait(20)
    rect = panel.list.visualItemRect(panel.list.item(0))
    assert rect.height() > 2 * panel.list.fontMetrics().height()
    assert panel.list.wordWrap()


def test_type_names_are_said_once() -> None:
    assert type_label("accumulate", "Accumulate") == "Accumulate"
    assert type_label("emit", "Emit event") == "Emit event"
    assert type_label("custom", None) == "custom"
    palette = NodePalettePanel(default_registry())
    texts = [palette.model.item(r).text() for r in range(palette.model.rowCount())]
    assert "Accumulate" in texts and not any("·" in t or "—" in t for t in texts), texts
    palette.search.setText("scripted_llm")  # the type name still finds it
    assert palette.visible_types() == ["scripted_llm"]
    palette.deleteLater()


# ---------------------------------------------------------------------- Help menu


def test_help_menu_has_getting_started_and_open_example(main_window: Any, qtbot: Any) -> None:
    w = main_window
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    names = [a.objectName() for a in help_menu.actions()]
    assert names[:2] == ["action_getting_started", "action_open_example"] and "action_about" in names
    page = w.show_getting_started()
    text = page.browser.toPlainText()
    assert "Getting started" in text and "F5" in text and "trust" in text.lower()
    page.close()
    dialog = w.show_examples()
    assert sorted(dialog.names()) == sorted(
        ["approval", "fails_on_purpose", "fan_out_in", "market_ticks", "retry_loop", "streaming_chat"]
    )
    lines = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert all(" — " in line and line.count("\n") == 0 and len(line) < 200 for line in lines), lines
    dialog.list.setCurrentRow(dialog.names().index("retry_loop"))
    with qtbot.waitSignal(dialog.chosen):
        dialog._on_accepted()
    assert w.model.name == "Retry loop" and w.model.path == ""


def test_empty_canvas_hint_links_to_getting_started(main_window: Any, qtbot: Any) -> None:
    w = main_window
    w.new_document()
    hint = w.graph_editor.hint
    assert hint.isVisible() and "Getting started" in hint.text()
    with qtbot.waitSignal(w.graph_editor.help_requested):
        hint.linkActivated.emit("help:getting-started")
    w.add_node_at("delay", 0, 0)
    assert not hint.isVisible()
    for dialog in w.findChildren(type(w.show_getting_started())):
        dialog.close()


# ---------------------------------------------------------------------- the model: typed records, stable ids


def test_edges_keep_their_uid_through_unrelated_removals(qapp: Any) -> None:
    model = GraphDocumentModel()
    model.reset(json.loads(example_path("fan_out_in").read_text()))
    records = model.edge_records()
    assert all(isinstance(e, Edge) for e in records)
    last = records[-1]
    model.undo_stack.push(RemoveItemsCommand(model, edges=[(records[0].source, records[0].target)]))
    assert model.edge_records()[-1] == last  # its list position moved, its uid did not
    model.undo_stack.undo()
    assert model.edge_records() == records
    model.undo_stack.push(ConnectCommand(model, "Start", "End"))
    uid = model.edge_uid("Start", "End")
    model.undo_stack.undo()
    model.undo_stack.redo()
    assert model.edge_uid("Start", "End") == uid  # redo brings the same edge back
    node = model.node_record(model.node_ids()[0])
    assert isinstance(node, Node) and node.type and node.position is not None
    assert model.document.data is model.data  # the engine's document is the one being edited


def test_step_axes_tick_only_whole_numbers(qapp: Any) -> None:
    from studio.widgets.plots import IntegerAxis

    axis = IntegerAxis("bottom")
    for low, high, size in ((0, 3, 400), (0, 1, 600), (0, 250, 300), (10, 12, 800)):
        levels = axis.tickSpacing(low, high, size)
        assert levels and all(spacing >= 1 and spacing == int(spacing) for spacing, _offset in levels)
        ticks = [v for spacing, values in axis.tickValues(low, high, size) for v in values]
        assert all(float(v).is_integer() for v in ticks), ticks
    assert axis.tickStrings([1.0, 2.0, 3.0], 1.0, 1.0) == ["1", "2", "3"]
