"""The properties panel: a form generated from the type's config schema, a raw JSON toggle, id and type
changes; every change is exactly one undoable command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from studio.canvas.scene import GraphScene
from studio.document.editor import DocumentEditor
from studio.document.model import GraphDocumentModel
from studio.panels.properties import PropertiesPanel
from studio.widgets.json_editor import JsonEditor
from studio.widgets.schema_form import SchemaForm


@pytest.fixture
def setup(qtbot: Any) -> Iterator[tuple[PropertiesPanel, GraphDocumentModel, GraphScene]]:
    model = GraphDocumentModel()
    model.reset(
        {
            "format": "weavegraph.graph",
            "version": 1,
            "nodes": [
                {"id": "M", "type": "message", "config": {"role": "assistant", "content": "hi"}},
                {"id": "D", "type": "delay", "config": {"ms": 5}},
            ],
            "edges": [{"from": "Start", "to": "M"}, {"from": "M", "to": "D"}, {"from": "D", "to": "End"}],
        }
    )
    scene = GraphScene(model)
    panel = PropertiesPanel(DocumentEditor(model), scene)
    qtbot.addWidget(panel)
    panel.show()
    yield panel, model, scene
    scene.deleteLater()
    model.deleteLater()


def test_selection_shows_a_form_from_the_schema(setup: Any) -> None:
    panel, _model, scene = setup
    scene.select_nodes(["M"])
    assert panel.node_id == "M" and panel.id_edit.text() == "M"
    form = panel.form
    assert isinstance(form, SchemaForm)
    assert isinstance(form.fields["content"], QLineEdit) and form.fields["content"].text() == "hi"
    scene.select_nodes(["D"])
    assert isinstance(panel.form.fields["ms"], QDoubleSpinBox) and panel.form.fields["ms"].value() == 5


def test_form_edit_is_one_undoable_command(setup: Any) -> None:
    panel, model, scene = setup
    scene.select_nodes(["D"])
    spin = panel.form.fields["ms"]
    spin.setValue(250)
    spin.editingFinished.emit()
    assert model.node("D")["config"] == {"ms": 250}
    assert isinstance(model.node("D")["config"]["ms"], int)  # integral numbers stay integers in the file
    assert model.undo_stack.count() == 1
    model.undo_stack.undo()
    assert model.node("D")["config"] == {"ms": 5}
    assert panel.form.fields["ms"].value() == 5  # the panel follows the document


def test_rename_and_retype(setup: Any) -> None:
    panel, model, scene = setup
    scene.select_nodes(["M"])
    panel.id_edit.setText("Greeter")
    panel.id_edit.editingFinished.emit()
    assert "Greeter" in model.node_ids() and model.has_edge("Start", "Greeter")
    panel.id_edit.setText("End")
    panel.id_edit.editingFinished.emit()
    assert panel.error.isVisibleTo(panel) and "reserved" in panel.error.text()
    assert panel.id_edit.text() == "Greeter"
    combo: QComboBox = panel.type_combo
    combo.setCurrentIndex(combo.findData("delay"))
    combo.activated.emit(combo.currentIndex())
    assert model.node("Greeter")["type"] == "delay"
    assert model.undo_stack.count() == 2


def test_raw_json_toggle_applies_and_reports_invalid_json(setup: Any) -> None:
    panel, model, scene = setup
    scene.select_nodes(["M"])
    panel.raw_toggle.setChecked(True)
    raw: JsonEditor = panel.raw
    raw.set_text('{"role": "user", "content": "from raw"')
    panel.apply_raw.click()
    assert "line 1" in panel.error.text()
    assert model.undo_stack.count() == 0
    raw.set_text('{"role": "user", "content": "from raw"}')
    panel.apply_raw.click()
    assert model.node("M")["config"] == {"role": "user", "content": "from raw"}
    assert model.undo_stack.count() == 1


def test_schema_form_field_kinds(qtbot: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "n": {"type": "number"},
            "i": {"type": "integer", "minimum": 0},  # a QSpinBox
            "b": {"type": "boolean"},
            "e": {"enum": ["x", "y"]},
            "a": {"type": "array"},
            "o": {"type": "object"},
        },
    }
    form = SchemaForm(schema)
    qtbot.addWidget(form)
    form.set_value({"s": "t", "b": True, "e": "y", "a": [1], "o": {"k": 1}, "unknown": 3})
    assert isinstance(form.fields["b"], QCheckBox) and form.fields["b"].isChecked()
    assert isinstance(form.fields["e"], QComboBox) and form.fields["e"].currentText() == "y"
    assert isinstance(form.fields["a"], JsonEditor)
    assert isinstance(form.fields["i"], QSpinBox)
    seen: list[dict[str, Any]] = []
    form.value_changed.connect(seen.append)
    form.fields["b"].setChecked(False)
    assert seen[-1] == {"s": "t", "b": False, "e": "y", "a": [1], "o": {"k": 1}, "unknown": 3}
    form.fields["a"].set_text("[1, 2]")
    assert seen[-1]["a"] == [1, 2]
    form.fields["a"].set_text('{"not": "an array"}')
    assert seen[-1]["a"] == [1, 2] and not form.fields["a"].valid


def test_the_policy_form_edits_retry_timeout_and_wait_for_undoably(setup: Any) -> None:
    panel, model, scene = setup
    scene.select_nodes(["D"])
    form = panel.policies
    assert not form.retry_on.isChecked() and not form.max_attempts.isEnabled()
    start = model.undo_stack.count()
    form.retry_on.setChecked(True)
    assert model.node("D")["retry"] == {
        "max_attempts": 3,
        "initial_delay_s": 0.5,
        "backoff": 2.0,
        "max_delay_s": 30.0,
    }
    form.max_attempts.setValue(5)
    form.timeout_on.setChecked(True)
    form.timeout.setValue(2.5)
    form.wait_for.setText("M")
    form.wait_for.editingFinished.emit()
    node = model.node("D")
    assert node["retry"]["max_attempts"] == 5 and node["timeout_s"] == 2.5 and node["wait_for"] == ["M"]
    assert model.undo_stack.count() == start + 5  # one command per change
    assert set(scene.nodes["D"].policies) == {"join", "retry", "timeout"}
    form.wait_for.setText("nobody")
    form.wait_for.editingFinished.emit()
    assert panel.error.isVisible() and "'nobody'" in panel.error.text()
    assert model.node("D")["wait_for"] == ["M"]
    for _ in range(5):
        model.undo_stack.undo()
    assert not {"retry", "timeout_s", "wait_for"} & set(model.node("D"))
    assert scene.nodes["D"].policies == {}
    scene.select_nodes(["M"])
    scene.select_nodes(["D"])
    assert not form.retry_on.isChecked() and form.wait_for.text() == ""
