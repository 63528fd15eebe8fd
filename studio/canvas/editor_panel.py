"""The central graph editor panel (`graphEditor`): the read-only/trust banner, the view over the scene,
and validation as you edit (debounced; marks on nodes, list for the problems panel)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.canvas.interactions import CanvasController
from studio.canvas.scene import GraphScene
from studio.canvas.view import GraphView
from studio.document.editor import DocumentEditor, EditRejected
from studio.document.model import GraphDocumentModel
from studio.document.validation import Problem, snapshot, validate_model, validate_snapshot

__all__ = ["EMPTY_HINT", "GraphEditorPanel"]

EMPTY_HINT = (
    "Drag a node type from the palette, or press Tab here to search for one. "
    "Connect nodes by dragging from port to port, then press F5 to run.<br>"
    'New here? <a href="help:getting-started">Getting started</a> · Help ▸ Open example…'
)


class GraphEditorPanel(QWidget):
    """`problems_changed(list[Problem])` after each validation; `trust_requested()` from the banner button;
    `message(str)` for the status bar (refused edits and the like)."""

    problems_changed = Signal(list)
    trust_requested = Signal()
    message = Signal(str)
    help_requested = Signal()  # the empty-canvas hint's "Getting started" link

    def __init__(
        self,
        model: GraphDocumentModel,
        editor: DocumentEditor,
        parent: QWidget | None = None,
        *,
        bridge: Any = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge  # when given, debounced validation runs in a worker thread
        self._validation_generation = 0
        self.setObjectName("graphEditor")
        self.model = model
        self.editor = editor
        self.scene = GraphScene(model, self)
        self.controller = CanvasController(self.scene, editor, self)
        self.view = GraphView(self.scene, self.controller, self)
        try:
            self.view.node_types = [(s.name, s.title) for s in editor.registry.node_types()]
        except Exception as exc:  # the registry failing to load must not stop the window
            self.message.emit(f"node types unavailable: {exc}")
        self.problems: list[Problem] = []

        self.banner = QFrame(self)
        self.banner.setObjectName("readOnlyBanner")
        self.banner.setStyleSheet(
            "#readOnlyBanner { background: #fff4ce; border-bottom: 1px solid #e0c060; } "
            "#readOnlyBanner QLabel { color: #5a4700; }"
        )
        self.banner_label = QLabel(self.banner)
        self.banner_label.setWordWrap(True)
        self.trust_button = QPushButton("Trust", self.banner)
        self.trust_button.setObjectName("trustButton")
        self.trust_button.setToolTip(
            "Allow this document to import its Python code (remembered for this content)"
        )
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.banner_label, 1)
        row.addWidget(self.trust_button)
        self.banner.hide()

        self.notice = QLabel(self)
        self.notice.setObjectName("editorNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet("background: #fdecea; color: #8e1f1a; padding: 6px 10px;")
        self.notice.hide()

        self.hint = QLabel(EMPTY_HINT, self.view.viewport())
        self.hint.setObjectName("emptyCanvasHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # follows a theme switch
        self.hint.linkActivated.connect(lambda _link: self.help_requested.emit())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)

        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(250)
        self._validate_timer.timeout.connect(self._on_validate_timer_timeout)
        model.edited.connect(self._validate_timer.start)
        model.edited.connect(self._update_hint)
        model.read_only_changed.connect(self._on_model_read_only_changed)
        model.document_reset.connect(self._on_model_document_reset)
        self.controller.rejected.connect(self.message)
        self.view.add_requested.connect(self.add_node_at)
        self.view.layout_requested.connect(self.auto_layout)
        self.view.conditional_requested.connect(self.add_conditional_edge)
        self.trust_button.clicked.connect(self.trust_requested)
        self._on_model_read_only_changed(model.read_only)
        self.notice.mousePressEvent = lambda _event: self.hide_notice()  # type: ignore[method-assign]

    # ------------------------------------------------------------------ operations

    def add_node_at(self, type_name: str, scene_pos: QPointF) -> str | None:
        x = round(scene_pos.x() / 12) * 12
        y = round(scene_pos.y() / 12) * 12
        try:
            node_id = self.editor.add_node(type_name, (float(x), float(y)))
        except (EditRejected, KeyError) as exc:
            self.message.emit(str(exc).strip("'\""))
            return None
        self.scene.select_nodes([node_id])
        return node_id

    def add_node_at_center(self, type_name: str) -> str | None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        return self.add_node_at(type_name, center)

    def add_conditional_edge(self, node_id: str) -> None:
        config = {"key": "count", "op": "<", "value": 3, "then": ["End"], "else": ["End"]}
        try:
            self.editor.add_conditional_edge(node_id, "route_if", config)
        except EditRejected as exc:
            self.message.emit(str(exc))

    def auto_layout(self) -> None:
        try:
            self.editor.auto_layout()
        except EditRejected as exc:
            self.message.emit(str(exc))
            return
        self.view.fit()

    def validate_now(self) -> list[Problem]:
        """Validate synchronously (tests, self-test) and show the result."""
        self._validate_timer.stop()
        self._validation_generation += 1
        self._show_problems(validate_model(self.model, self.editor.registry))
        return self.problems

    def _show_problems(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.scene.set_problems(problems)
        self.problems_changed.emit(problems)

    def _on_validate_timer_timeout(self) -> None:
        if self._bridge is None:
            self.validate_now()
            return
        self._validation_generation += 1
        generation = self._validation_generation
        registry = self.editor.registry
        try:
            task = self._bridge.run_blocking(
                validate_snapshot, snapshot(self.model), registry, name="validate-document", owner=self
            )
        except RuntimeError:  # the studio is shutting down: nobody will look at the result
            return

        def _done(t: Any) -> None:
            if t.cancelled() or t.exception() is not None or generation != self._validation_generation:
                return  # an edit came in meanwhile: its own validation is on the way
            self._show_problems(t.result())

        task.add_done_callback(_done)

    def stop_background_work(self) -> None:
        """Stop pending validation (the window is closing)."""
        self._validate_timer.stop()
        self._validation_generation += 1

    def show_notice(self, text: str) -> None:
        """An inline error above the canvas (a document that could not be opened, ...); click to dismiss."""
        self.notice.setText(text + "   (click to dismiss)")
        self.notice.show()

    def hide_notice(self) -> None:
        self.notice.hide()

    def focus_node(self, node_id: str) -> None:
        item = self.scene.nodes.get(node_id)
        if item is not None:
            self.scene.select_nodes([node_id])
            self.view.centerOn(item)

    # ------------------------------------------------------------------ slots

    def _on_model_read_only_changed(self, read_only: bool) -> None:
        reason = self.model.read_only_reason
        self.banner.setVisible(read_only)
        self.banner_label.setText(f"Read-only: {reason}" if reason else "Read-only")
        self.trust_button.setVisible(read_only and "trust" in reason)

    def _update_hint(self) -> None:
        """The hint shows on an empty canvas only, centred in the view."""
        empty = not self.model.node_ids()
        self.hint.setVisible(empty)
        if empty:
            rect = self.view.viewport().rect()
            self.hint.setGeometry(rect.adjusted(40, rect.height() // 2 + 50, -40, -20))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._update_hint()

    def _on_model_document_reset(self) -> None:
        self._update_hint()
        self.hide_notice()
        QTimer.singleShot(0, self.view.fit)
        self._validate_timer.start()
