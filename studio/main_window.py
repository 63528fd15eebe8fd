"""The main window: composes the graph editor (central), the docks (palette, properties, problems, run
console, sink health, checkpoint browser, session stepper), the actions, menus and status bar, and wires
their signals. Behaviour lives in the panels, models and controllers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from studio.actions import Actions
from studio.bridge import Bridge
from studio.canvas.editor_panel import GraphEditorPanel
from studio.controllers.browser import BrowserController
from studio.controllers.debug import DebugController
from studio.controllers.inbox import InboxController, named_app
from studio.controllers.queue import QueueController
from studio.controllers.run import RunController, RunState
from studio.controllers.stepper import StepperController
from studio.document.controller import DocumentController
from studio.document.editor import DocumentEditor
from studio.document.model import GraphDocumentModel
from studio.help import ExamplesDialog, GettingStartedDialog, about_text
from studio.models.run_log import RunLogModel
from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from studio.panels.inbox import InterruptInboxPanel
from studio.panels.node_inspector import NodeInspectorPanel
from studio.panels.palette import NodePalettePanel
from studio.panels.problems import ProblemsPanel
from studio.panels.properties import PropertiesPanel
from studio.panels.queue import QueuePanel
from studio.panels.queue_send import install_send_to_queue
from studio.panels.run_console import RunConsolePanel
from studio.panels.sink_health import SinkHealthPanel
from studio.panels.stepper import SessionStepperPanel
from studio.panels.time_travel import BrowserTimeTravel
from studio.services import storage
from studio.settings import Settings
from studio.theme import apply_theme, is_dark

__all__ = ["MainWindow"]

_log = logging.getLogger("studio.main_window")


class MainWindow(QMainWindow):
    """`closed()` once the window really closed (after any unsaved-changes prompt); the app then shuts
    down with `await window.shutdown()`."""

    closed = Signal()

    def __init__(
        self, bridge: Bridge, bus: Any, *, settings: Settings | None = None, registry: Any = None
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.bridge = bridge
        self.bus = bus
        self.settings = settings or Settings()
        self._close_confirmed = False

        self.model = GraphDocumentModel(self)
        self.editor = DocumentEditor(self.model, registry)
        self.documents = DocumentController(self.model, self.editor, self)
        self.graph_editor = GraphEditorPanel(self.model, self.editor, self, bridge=bridge)
        self.setCentralWidget(self.graph_editor)
        self.node_palette = NodePalettePanel(self.editor.registry, self)
        self.properties = PropertiesPanel(self.editor, self.graph_editor.scene, self)
        self.problems = ProblemsPanel(self)
        self.run_log = RunLogModel(self)
        self.runs = RunController(bridge, bus, self.run_log, self)
        self.console = RunConsolePanel(self.runs, self.build_app, self.documents.default_input, self)
        self.sink_health = SinkHealthPanel(bridge, bus, self)
        self.browser_controller = BrowserController(bridge, self)
        self.browser = CheckpointBrowserPanel(self.browser_controller, self)
        # the debugging loop (issue 15): node inspector, lineage, timeline, fork and replay
        self.debug_controller = DebugController(bridge, self.browser_controller, self.build_app, self)
        self.inspector = NodeInspectorPanel(self.debug_controller, self)
        self.time_travel = BrowserTimeTravel(self.browser, self.debug_controller, self.inspector)
        self.stepper_controller = StepperController(bridge, self)
        self.stepper = SessionStepperPanel(self.stepper_controller, self)
        self.queue_controller = QueueController(bridge, self)  # queue mode (issue 18)
        self.queue = QueuePanel(
            self.queue_controller, lambda: self.model.data.get("name"), self.documents.default_input, self
        )
        self.inbox_controller = InboxController(bridge, self.runs, self.build_app, self)  # hitl
        self.inbox = InterruptInboxPanel(self.inbox_controller, self)
        self.database_url = "memory:"
        """The studio's database: runs, the stepper and the browser use it unless told otherwise."""
        self.commands = Actions(self, self.model.undo_stack)
        self.docks: dict[str, QDockWidget] = {}

        self._build_docks()
        install_send_to_queue(  # the run console's "Send to queue" (issue 18)
            self.console,
            self.queue_controller,
            lambda: self.model.data.get("name"),
            self.docks["queuePanel"].raise_,
        )
        self._build_menus()
        self._build_status_bar()
        self._wire()
        self.resize(1500, 950)
        self._update_title()

    # ------------------------------------------------------------------ composition

    def _dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{widget.objectName()}Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[widget.objectName()] = dock
        return dock

    def _build_docks(self) -> None:
        left, right, bottom = (
            Qt.DockWidgetArea.LeftDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self._dock(self.node_palette, "Node Palette", left)
        props = self._dock(self.properties, "Properties", right)
        problems = self._dock(self.problems, "Problems", right)
        self.splitDockWidget(props, problems, Qt.Orientation.Vertical)
        self.tabifyDockWidget(props, self._dock(self.inspector, "Node Inspector", right))
        props.raise_()
        console = self._dock(self.console, "Run Console", bottom)
        for widget, title in (
            (self.sink_health, "Sink Health"),
            (self.browser, "Checkpoints"),
            (self.stepper, "Session Stepper"),
            (self.queue, "Queue"),
            (self.inbox, "Inbox"),
        ):
            self.tabifyDockWidget(console, self._dock(widget, title, bottom))
        console.raise_()
        self.resizeDocks([self.docks["nodePalette"]], [200], Qt.Orientation.Horizontal)
        self.resizeDocks([props], [320], Qt.Orientation.Horizontal)
        self.resizeDocks([console], [380], Qt.Orientation.Vertical)

    def _build_menus(self) -> None:
        a = self.commands
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([a.new, a.open, a.open_code])
        self.examples_menu = file_menu.addMenu("Open &Example")
        try:
            from engine.graph.document import example_names

            for name in example_names():
                self.examples_menu.addAction(
                    name,
                    functools.partial(
                        self.ask_save_then, functools.partial(self.open_example, name), "opening"
                    ),
                )
        except Exception as exc:  # examples missing from a broken install must not stop the window
            self.examples_menu.setTitle(f"Open Example (unavailable: {exc})")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.recent_db_menu = file_menu.addMenu("Browse Recent &Database")
        self.recent_db_menu.aboutToShow.connect(self._fill_recent_db_menu)
        file_menu.addSeparator()
        file_menu.addActions([a.save, a.save_as])
        file_menu.addSeparator()
        file_menu.addAction(a.quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([a.undo, a.redo])
        edit.addSeparator()
        edit.addActions([a.cut, a.copy, a.paste, a.delete, a.select_all])
        edit.addSeparator()
        edit.addAction(a.find)
        view = bar.addMenu("&View")
        view.addActions([a.fit, a.zoom_in, a.zoom_out, a.auto_layout])
        view.addSeparator()
        view.addActions([a.dark, a.follow_system])
        view.addSeparator()
        panels = view.addMenu("&Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())
        run = bar.addMenu("&Run")
        run.addActions([a.run, a.step, a.continue_, a.stop])
        run.addSeparator()
        run.addAction(a.trust)
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([a.getting_started, a.open_example])
        help_menu.addSeparator()
        help_menu.addAction(a.about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.addActions([a.new, a.open, a.save])
        toolbar.addSeparator()
        toolbar.addActions([a.undo, a.redo])
        toolbar.addSeparator()
        toolbar.addActions([a.run, a.step, a.continue_, a.stop])
        toolbar.addSeparator()
        toolbar.addActions([a.fit, a.auto_layout])
        for action in a.canvas_actions():
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.graph_editor.addAction(action)

    def _build_status_bar(self) -> None:
        self.db_label = QLabel(self)
        self.db_label.setObjectName("statusDatabase")
        self.run_label = QLabel(self)
        self.run_label.setObjectName("statusRunState")
        self.statusBar().addPermanentWidget(self.db_label)
        self.statusBar().addPermanentWidget(self.run_label)
        self._on_runs_state_changed(self.runs.state)

    def _wire(self) -> None:
        a = self.commands
        ge = self.graph_editor
        a.new.triggered.connect(lambda: self.ask_save_then(self.new_document, "starting a new document"))
        a.open.triggered.connect(
            lambda: self.ask_save_then(self._on_open_triggered, "opening another document")
        )
        a.open_code.triggered.connect(
            lambda: self.ask_save_then(self._on_open_code_triggered, "opening another document")
        )
        a.save.triggered.connect(self.save)
        a.save_as.triggered.connect(self._on_save_as_triggered)
        a.quit.triggered.connect(self.close)
        a.delete.triggered.connect(ge.controller.delete_selection)
        a.cut.triggered.connect(ge.controller.cut_selection)
        a.copy.triggered.connect(ge.controller.copy_selection)
        a.paste.triggered.connect(ge.controller.paste)
        a.select_all.triggered.connect(ge.controller.select_all)
        a.find.triggered.connect(self._on_find_triggered)
        a.fit.triggered.connect(ge.view.fit)
        a.zoom_in.triggered.connect(lambda: ge.view.zoom_by(1.2))
        a.zoom_out.triggered.connect(lambda: ge.view.zoom_by(1 / 1.2))
        a.auto_layout.triggered.connect(ge.auto_layout)
        a.dark.toggled.connect(self._on_dark_toggled)
        a.follow_system.toggled.connect(self._on_follow_system_toggled)
        a.run.triggered.connect(self.console.run)
        a.step.triggered.connect(self.console.step)
        a.continue_.triggered.connect(self.console.continue_)
        a.stop.triggered.connect(self.console.stop)
        a.trust.triggered.connect(self.documents.trust_current)
        a.about.triggered.connect(self.show_about)
        a.getting_started.triggered.connect(self.show_getting_started)
        a.open_example.triggered.connect(self.show_examples)
        ge.help_requested.connect(self.show_getting_started)

        self.documents.opened.connect(self._on_documents_opened)
        self.documents.failed.connect(self._on_documents_failed)
        self.documents.saved.connect(self._on_documents_saved)
        self.model.dirty_changed.connect(self._update_title)
        self.model.read_only_changed.connect(self._update_title)
        self.model.document_reset.connect(self.runs.breakpoints.clear)
        self.runs.breakpoints.changed.connect(self._on_breakpoints_changed)
        self.model.node_changed.connect(self._on_model_node_changed)
        self.model.read_only_changed.connect(
            lambda ro: a.trust.setEnabled(ro and bool(self.documents.untrusted))
        )
        ge.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.bridge.task_failed.connect(self._on_bridge_task_failed)
        ge.problems_changed.connect(self.problems.set_problems)
        ge.problems_changed.connect(self._on_graph_editor_problems_changed)
        ge.trust_requested.connect(self.documents.trust_current)
        ge.view.node_activated.connect(lambda _n: self.docks["propertiesPanel"].raise_())
        ge.scene.breakpoint_clicked.connect(self._on_scene_breakpoint_clicked)
        self.problems.node_requested.connect(ge.focus_node)
        self.node_palette.type_activated.connect(ge.add_node_at_center)

        self.runs.state_changed.connect(self._on_runs_state_changed)
        self.runs.node_statuses.connect(self._on_runs_node_statuses)
        self.runs.edges_taken.connect(self.graph_editor.scene.mark_edges_taken)
        self.runs.run_started.connect(ge.scene.reset_run_state)
        self.runs.run_failed.connect(self._on_runs_run_failed)
        self.console.database_used.connect(self._on_console_database_used)
        self.browser.resume_requested.connect(self._on_browser_resume_requested)
        self.runs.state_changed.connect(self._on_runs_state_changed_for_browser)
        self.browser.open_in_stepper_requested.connect(self._on_browser_open_in_stepper_requested)
        self.time_travel.run_requested.connect(self._on_browser_resume_requested)
        self.time_travel.inspector_wanted.connect(self.docks["nodeInspector"].raise_)
        ge.scene.selectionChanged.connect(self._on_scene_selection_changed_for_inspector)
        self.inbox_controller.sent.connect(lambda _t: self.docks["runConsole"].raise_())

    # ------------------------------------------------------------------ documents

    def build_app(self) -> Any:
        """The open document's App for a run, named after the document (its sessions record the graph name,
        which the inbox shows)."""
        return named_app(self.documents.build_app(), self.model.name)

    def new_document(self) -> None:
        self.documents.new()

    def open_path(self, target: str) -> bool:
        return self.documents.open(target)

    def open_example(self, name: str) -> bool:
        return self.documents.open_example(name)

    def save(self) -> bool:
        if not self.documents.can_save_in_place:
            self._on_save_as_triggered()
            return False
        return self.documents.save()

    def _on_open_triggered(self) -> None:
        dialog = QFileDialog(self, "Open graph document")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter("Graph documents (*.wgraph.json *.json);;All files (*)")
        dialog.fileSelected.connect(self.open_path)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _on_open_code_triggered(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Open code-first graph")
        dialog.setLabelText("package.module:attribute (a GraphBuilder, an App, or a function returning one)")
        dialog.textValueSelected.connect(self.open_path)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _on_save_as_triggered(self) -> None:
        dialog = QFileDialog(self, "Save graph document")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("Graph documents (*.wgraph.json)")
        dialog.setDefaultSuffix("wgraph.json")
        dialog.fileSelected.connect(lambda path: self.documents.save(path))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files():
            self.recent_menu.addAction(
                path,
                functools.partial(self.ask_save_then, functools.partial(self.open_path, path), "opening"),
            )
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _fill_recent_db_menu(self) -> None:
        self.recent_db_menu.clear()
        for url in self.settings.recent_databases():
            if url.startswith("memory"):
                continue
            self.recent_db_menu.addAction(url, functools.partial(self.browse_database, url))
        if not self.recent_db_menu.actions():
            self.recent_db_menu.addAction("(none)").setEnabled(False)

    def browse_database(self, url: str) -> None:
        """Open `url` in the checkpoint browser (Postgres passwords come from the browser's own field)."""
        self.docks["checkpointBrowser"].raise_()
        self.browser.open_database(url)

    def _on_documents_opened(self, path: str) -> None:
        if path and not self.documents.code_app:
            self.settings.add_recent_file(path)
        for problem in self.documents.load_problems[:1]:
            self.statusBar().showMessage(f"The document has problems: {problem}", 8000)
        self.console.reset_input()
        self.commands.trust.setEnabled(bool(self.documents.untrusted))
        try:
            self.stepper.set_document(self.documents.graph_document())
        except Exception as exc:
            self.statusBar().showMessage(f"stepper: {exc}", 6000)
        self._update_title()

    def _on_graph_editor_problems_changed(self, problems: list[Any]) -> None:
        """Tell the checkpoint browser which graph is open (it warns about sessions of another graph)."""
        try:
            graph_hash = None if problems else self.documents.graph_hash()
            if graph_hash is not None:
                self.browser_controller.known_graphs.setdefault(graph_hash, self.model.name)
            self.browser.set_graph_hash(graph_hash, self.model.name, self.model.node_ids())
        except Exception as exc:  # the browser's comparison is advisory; never break editing for it
            _log.warning("graph hash for the checkpoint browser: %s", exc)

    def _on_documents_failed(self, message: str) -> None:
        self.graph_editor.show_notice(message)
        self.statusBar().showMessage(message, 8000)

    def _on_documents_saved(self, path: str) -> None:
        self.settings.add_recent_file(path)
        self.statusBar().showMessage(f"Saved {path}", 4000)
        self._update_title()

    def _update_title(self, *_args: Any) -> None:
        name = self.model.name
        path = self.model.path or ("untitled copy of an example" if self.documents.example else "unsaved")
        star = "*" if self.model.dirty else ""
        ro = " [read-only]" if self.model.read_only else ""
        self.setWindowTitle(f"{star}{name}{ro} — {path} — Weavegraph Studio")

    # ------------------------------------------------------------------ runs

    def _on_runs_state_changed(self, state: str) -> None:
        self.run_label.setText(f"Run: {state}")
        busy = state in RunState.BUSY
        self.commands.stop.setEnabled(busy or state == RunState.PAUSED)
        self.commands.continue_.setEnabled(state == RunState.PAUSED)
        self.commands.run.setEnabled(not busy)
        self.commands.step.setEnabled(not busy)

    def _on_runs_node_statuses(self, statuses: dict[str, tuple[str, int | None, str]]) -> None:
        scene = self.graph_editor.scene
        for node_id, (status, step, message) in statuses.items():
            scene.set_node_status(node_id, status, step, message)

    def _on_runs_run_failed(self, node: str, message: str) -> None:
        scene = self.graph_editor.scene
        if node:
            scene.set_node_status(node, "failed", None, message)
            self.graph_editor.focus_node(node)
        self.docks["runConsole"].raise_()
        self.statusBar().showMessage(f"Run failed: {message}", 8000)

    def _on_scene_breakpoint_clicked(self, node_id: str, which: str) -> None:
        self.runs.breakpoints.toggle(node_id, which)

    def _on_breakpoints_changed(self) -> None:
        self.graph_editor.scene.set_breakpoints(self.runs.breakpoints.by_node())

    def _on_model_node_changed(self, old_id: str, new_id: str) -> None:
        if old_id != new_id:
            self.runs.breakpoints.rename(old_id, new_id)

    def _on_console_database_used(self, redacted: str) -> None:
        self.db_label.setText(f"DB: {redacted}")
        self.settings.add_recent_database(redacted)
        self.settings.set_console(str(self.console.kind.currentData()), self.console.location.text())
        self.inbox_controller.open(self.console.checkpointer_url())  # the inbox shows the run's database
        self._offer_databases()

    def set_database(self, url: str) -> None:
        """Make `url` the studio's database: runs, the stepper's new sessions and the checkpoint browser
        (opened on it when nothing is open there yet) all use it; the status bar shows it redacted."""
        self.database_url = url
        self.console.set_database(url)
        self.stepper.set_default_database(url)
        self.inbox_controller.open(url)
        self.db_label.setText(f"DB: {storage.redact(url)}")
        self._offer_databases()
        if not self.browser_controller.is_open:
            self.browse_studio_database()

    def _offer_databases(self) -> None:
        urls = [self.database_url, *self.settings.recent_databases()]
        self.browser.connection.set_defaults(urls)

    def browse_studio_database(self) -> bool:
        """Open the studio's database in the checkpoint browser; a SQLite file that no run has created
        yet is not an error, only a hint. Returns whether an open was started."""
        url = self.database_url
        backend = storage.backend_of(url)
        if backend == "memory":
            return False
        if backend == "sqlite":
            path = url.removeprefix("sqlite://")
            if path.startswith(":memory:") or not Path(path).exists():
                self.browser.offer_database(url)
                return False
        self.browser.open_database(url)
        return True

    def _on_runs_state_changed_for_browser(self, state: str) -> None:
        # The first run into the studio's database creates it: show it without asking.
        done = state in (RunState.COMPLETED, RunState.FAILED, RunState.STOPPED, RunState.PAUSED)
        if done and not self.browser_controller.is_open:
            self.browse_studio_database()

    def _on_browser_resume_requested(self, url: str, session_id: str) -> None:
        self.docks["runConsole"].raise_()
        self.runs.request_resume(url, session_id)

    def _on_browser_open_in_stepper_requested(self, url: str, session_id: str) -> None:
        self.docks["sessionStepper"].raise_()
        self.stepper.open_session(url, session_id)

    def _on_scene_selection_changed_for_inspector(self) -> None:
        """The canvas selection after a run: the node inspector shows that node's last run (issue 15)."""
        session, ids = self.runs.session, self.graph_editor.scene.selected_node_ids()
        if session is None or self.runs.busy or len(ids) != 1:
            return
        same = session.url == self.browser_controller.url  # else the run's database, opened to read
        self.inspector.inspect(session.session_id, ids[0], None, source=None if same else session.url)

    def _on_bridge_task_failed(self, name: str, message: str) -> None:
        self.statusBar().showMessage(f"{name or 'background task'} failed: {message}", 8000)

    def _on_find_triggered(self) -> None:
        self.docks["runConsole"].raise_()
        self.console.focus_filter()

    # ------------------------------------------------------------------ theme, about

    def _on_dark_toggled(self, dark: bool) -> None:
        if self.commands.follow_system.isChecked() and dark == is_dark():
            return
        self.commands.follow_system.setChecked(False)
        self.settings.set_theme("dark" if dark else "light")
        apply_theme(dark)
        self.graph_editor.scene.update()
        self.graph_editor.view.viewport().update()

    def _on_follow_system_toggled(self, on: bool) -> None:
        if on:
            self.settings.set_theme("system")
            dark = apply_theme(None)
            self.commands.dark.blockSignals(True)
            self.commands.dark.setChecked(dark)
            self.commands.dark.blockSignals(False)
            self.graph_editor.scene.update()

    def apply_saved_theme(self) -> None:
        theme = self.settings.theme()
        dark = apply_theme(None if theme == "system" else theme == "dark")
        for action, value in ((self.commands.dark, dark), (self.commands.follow_system, theme == "system")):
            action.blockSignals(True)
            action.setChecked(value)
            action.blockSignals(False)

    def show_getting_started(self) -> GettingStartedDialog:
        dialog = GettingStartedDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()  # non-modal: the studio stays usable beside it
        return dialog

    def show_examples(self) -> ExamplesDialog:
        dialog = ExamplesDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(
            lambda name: self.ask_save_then(functools.partial(self.open_example, name), "opening")
        )
        dialog.open()
        return dialog

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle("About Weavegraph Studio")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(about_text())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # never exec(): a nested loop would freeze the asyncio tasks
        return box

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.model.dirty and not self._close_confirmed:
            event.ignore()
            self.ask_save_then(self._close_after_prompt, "closing")
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        event.accept()
        self.closed.emit()

    def ask_save_then(self, proceed: Callable[[], Any], doing: str) -> QMessageBox | None:
        """Run `proceed` now when the document is clean; otherwise ask (non-blocking) Save / Discard /
        Cancel first. Returns the question box when one is shown."""
        if not self.model.dirty:
            proceed()
            return None
        box = QMessageBox(self)
        box.setObjectName("unsavedChangesDialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"Save the changes to '{self.model.name}' before {doing}?")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda _r: self._on_unsaved_answer(box.standardButton(box.clickedButton()), proceed)
        )
        box.open()
        return box

    def _on_unsaved_answer(self, button: QMessageBox.StandardButton, proceed: Callable[[], Any]) -> None:
        if button == QMessageBox.StandardButton.Save:
            if not self.save():
                return  # Save As is open (or saving failed): the user starts again
        elif button != QMessageBox.StandardButton.Discard:
            return
        proceed()

    def _close_after_prompt(self) -> None:
        self._close_confirmed = True
        self.close()

    async def shutdown(self) -> None:
        """Cancel runs, close the panels' databases, drain the event bus (sinks)."""
        self.graph_editor.stop_background_work()
        await self.runs.shutdown()
        for panel in (
            self.debug_controller,
            self.browser_controller,
            self.stepper_controller,
            self.inbox_controller,
        ):
            try:
                await panel.aclose()
            except Exception as exc:  # one panel failing to close must not keep the others open
                _log.warning("closing %s failed: %s", type(panel).__name__, exc, exc_info=exc)
        await self.bus.aclose()

    def add_node_at(self, type_name: str, x: float, y: float) -> str | None:
        return self.graph_editor.add_node_at(type_name, QPointF(x, y))
