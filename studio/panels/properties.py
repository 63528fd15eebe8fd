"""The properties panel (`propertiesPanel`): the selected node's id, type and config (a form generated from
the type's config schema, or raw JSON), or the selected conditional edge as JSON. Every change is one
undoable command through the DocumentEditor."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.canvas.scene import GraphScene
from studio.document.editor import DocumentEditor, EditRejected
from studio.panels.policy_form import PolicyForm
from studio.widgets.json_editor import JsonEditor
from studio.widgets.schema_form import SchemaForm

__all__ = ["PropertiesPanel"]


class PropertiesPanel(QWidget):
    def __init__(self, editor: DocumentEditor, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("propertiesPanel")
        self.editor = editor
        self.model = editor.model
        self.scene = scene
        self.node_id: str | None = None
        self.cond_uid: int | None = None
        self.form: SchemaForm | None = None

        self.title = QLabel("Nothing selected", self)
        self.title.setObjectName("propertiesTitle")
        # Bold through the font, not a style sheet: a style-sheeted label keeps the palette it was polished
        # with, so after a theme switch it drew black text on the dark background.
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.id_edit = QLineEdit(self)
        self.id_edit.setObjectName("nodeIdEdit")
        self.type_combo = QComboBox(self)
        self.type_combo.setObjectName("nodeTypeCombo")
        for spec in self._node_types():
            self.type_combo.addItem(spec.name, spec.name)
        self.raw_toggle = QCheckBox("Raw JSON", self)
        self.raw_toggle.setObjectName("rawJsonToggle")
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.form_host = QScrollArea(self)
        self.form_host.setWidgetResizable(True)
        self.raw = JsonEditor(self)
        self.raw.setObjectName("rawConfigEditor")
        self.apply_raw = QPushButton("Apply JSON", self)
        self.apply_raw.setObjectName("applyRawJson")
        raw_box = QWidget(self)
        rl = QVBoxLayout(raw_box)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.raw, 1)
        rl.addWidget(self.apply_raw, 0, Qt.AlignmentFlag.AlignRight)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.form_host)
        self.stack.addWidget(raw_box)
        self.error = QLabel(self)
        self.error.setObjectName("propertiesError")
        self.error.setStyleSheet("color: #d64541;")
        self.error.setWordWrap(True)
        self.error.hide()

        self.node_box = QWidget(self)
        head = QFormLayout()
        head.addRow("Id", self.id_edit)
        head.addRow("Type", self.type_combo)
        nb = QVBoxLayout(self.node_box)
        nb.setContentsMargins(0, 0, 0, 0)
        nb.addLayout(head)
        nb.addWidget(self.description)
        nb.addWidget(self.raw_toggle)
        nb.addWidget(self.stack, 1)
        self.policies = PolicyForm(editor, self.node_box)
        self.policies.rejected.connect(self._show_rejected)
        nb.addWidget(self.policies)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.error)
        layout.addWidget(self.node_box, 1)
        layout.addStretch(0)

        self.id_edit.editingFinished.connect(self._on_id_edit_editing_finished)
        self.type_combo.activated.connect(self._on_type_combo_activated)
        self.raw_toggle.toggled.connect(self._on_raw_toggle_toggled)
        self.apply_raw.clicked.connect(self._on_apply_raw_clicked)
        scene.selectionChanged.connect(self._on_scene_selection_changed)
        self.model.node_changed.connect(self._on_model_node_changed)
        self.model.node_removed.connect(self._on_model_node_removed)
        self.model.conditional_edge_changed.connect(self._on_model_conditional_edge_changed)
        self.model.document_reset.connect(lambda: self.show_node(None))
        self.model.read_only_changed.connect(self._on_model_read_only_changed)
        self.show_node(None)

    def _node_types(self) -> list[Any]:
        try:
            return list(self.editor.registry.node_types())
        except Exception:
            return []

    # ------------------------------------------------------------------ showing

    def show_node(self, node_id: str | None) -> None:
        self.node_id = (
            node_id if node_id and self.model.has_node(node_id) and node_id not in ("Start", "End") else None
        )
        self.cond_uid = None
        self.error.hide()
        if self.node_id is None:
            self.title.setText("Nothing selected" if node_id is None else f"{node_id} (virtual node)")
            self.node_box.hide()
            return
        node = self.model.node(self.node_id)
        type_name = str(node.get("type", ""))
        self.title.setText(f"Node {self.node_id}")
        self.node_box.show()
        self.id_edit.setText(self.node_id)
        self.type_combo.setCurrentIndex(self.type_combo.findData(type_name))
        self.type_combo.setVisible(True)
        self.raw_toggle.setVisible(True)
        self.id_edit.setEnabled(True)
        config = node.get("config") if isinstance(node.get("config"), dict) else {}
        spec = None
        try:
            spec = self.editor.registry.get(type_name)
        except KeyError:
            self.error.setText(f"unknown node type '{type_name}': edit the raw JSON or pick a type")
            self.error.show()
        self.description.setText(spec.description if spec is not None else "")
        old = self.form_host.takeWidget()
        if old is not None:
            old.deleteLater()
        self.form = SchemaForm(spec.config_schema if spec is not None else {}, self)
        self.form.set_value(config or {})
        self.form.value_changed.connect(self._on_form_value_changed)
        self.form_host.setWidget(self.form)
        self.raw.set_value(config or {})
        self.stack.setCurrentIndex(1 if (self.raw_toggle.isChecked() or spec is None) else 0)
        self.policies.show_node(self.node_id, node)
        self._on_model_read_only_changed(self.model.read_only)

    def _show_rejected(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def show_conditional(self, uid: int) -> None:
        self.node_id = None
        self.cond_uid = uid
        self.error.hide()
        self.title.setText("Conditional edge")
        self.node_box.show()
        self.id_edit.setEnabled(False)
        self.id_edit.setText(str(self.model.conditional_edge(uid).get("from")))
        self.type_combo.setVisible(False)
        self.raw_toggle.setVisible(False)
        self.description.setText("Edit the router, its config and the declared targets as JSON.")
        self.raw.set_value(self.model.conditional_edge(uid))
        self.stack.setCurrentIndex(1)
        self._on_model_read_only_changed(self.model.read_only)

    def _fail(self, exc: Exception) -> None:
        self.error.setText(str(exc).strip("'\""))
        self.error.show()

    def _check_config(self, config: dict[str, Any]) -> None:
        if self.node_id is None:
            return
        type_name = str(self.model.node(self.node_id).get("type"))
        try:
            problems = self.editor.registry.validate_config(type_name, config)
        except KeyError:
            return
        if problems:
            self.error.setText("\n".join(f"{path}: {msg}" for path, msg in problems))
            self.error.show()

    # ------------------------------------------------------------------ edits

    def _on_id_edit_editing_finished(self) -> None:
        if self.node_id is None or self.id_edit.text() == self.node_id:
            return
        try:
            self.editor.change_node(self.node_id, new_id=self.id_edit.text())
        except EditRejected as exc:
            self._fail(exc)
            self.id_edit.setText(self.node_id)

    def _on_type_combo_activated(self, _index: int) -> None:
        if self.node_id is None:
            return
        try:
            self.editor.change_node(self.node_id, new_type=str(self.type_combo.currentData()))
        except (EditRejected, KeyError) as exc:
            self._fail(exc)

    def _on_form_value_changed(self, config: dict[str, Any]) -> None:
        if self.node_id is None:
            return
        self.error.hide()
        try:
            self.editor.change_node(self.node_id, new_config=config)
        except EditRejected as exc:
            self._fail(exc)
            return
        self._check_config(config)

    def _on_apply_raw_clicked(self) -> None:
        if not self.raw.revalidate():
            self.error.setText(self.raw.error.text())
            self.error.show()
            return
        value = self.raw.value()
        try:
            if self.cond_uid is not None:
                self.editor.change_conditional_edge(self.cond_uid, value)
            elif self.node_id is not None:
                self.editor.change_node(self.node_id, new_config=value)
                self._check_config(value)
        except EditRejected as exc:
            self._fail(exc)

    def _on_raw_toggle_toggled(self, on: bool) -> None:
        if self.node_id is not None:
            self.raw.set_value(self.model.node(self.node_id).get("config") or {})
        self.stack.setCurrentIndex(1 if on else 0)

    # ------------------------------------------------------------------ following the document

    def _on_scene_selection_changed(self) -> None:
        try:
            nodes = self.scene.selected_node_ids()
            conds = self.scene.selected_conditional_uids()
        except RuntimeError:  # the scene is being destroyed
            return
        if len(nodes) == 1:
            self.show_node(nodes[0])
        elif not nodes and len(conds) == 1:
            self.show_conditional(conds[0])
        elif not nodes:
            self.show_node(None)
        else:
            self.title.setText(f"{len(nodes)} nodes selected")
            self.node_id = None
            self.node_box.hide()

    def _on_model_node_changed(self, old_id: str, new_id: str) -> None:
        if self.node_id in (old_id, new_id):
            self.show_node(new_id)

    def _on_model_node_removed(self, node_id: str) -> None:
        if self.node_id == node_id:
            self.show_node(None)

    def _on_model_conditional_edge_changed(self, uid: int) -> None:
        if self.cond_uid == uid:
            self.show_conditional(uid)

    def _on_model_read_only_changed(self, read_only: bool) -> None:
        for w in (self.id_edit, self.type_combo, self.stack, self.raw_toggle, self.policies):
            w.setEnabled(not read_only)
        if self.cond_uid is not None:
            self.id_edit.setEnabled(False)

    def config_text(self) -> str:
        return json.dumps(self.form.value() if self.form else {}, sort_keys=True)
