"""The main window: composes the graph editor (central), the panels in their docks (`docks.py`), the actions,
menus and toolbar (`menus.py`) and the status bar, and wires their signals; its dialogs are in
`window_dialogs.py`. Behaviour lives in the panels, models and controllers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox

from studio.actions import Actions
from studio.bridge import Bridge
from studio.canvas.editor_panel import GraphEditorPanel
from studio.controllers.browser import BrowserController
from studio.controllers.debug import DebugController
from studio.controllers.inbox import InboxController, named_app
from studio.controllers.queue import QueueController
from studio.controllers.run import RunController, RunState
from studio.controllers.stepper import StepperController
from studio.docks import build_docks
from studio.document.controller import DocumentController
from studio.document.editor import DocumentEditor
from studio.document.model import GraphDocumentModel
from studio.help import ExamplesDialog, GettingStartedDialog
from studio.menus import bind_canvas_actions, build_menus, build_toolbar
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
from studio.window_dialogs import (
    ask_unsaved,
    open_about,
    open_code_dialog,
    open_examples,
    open_file_dialog,
    open_getting_started,
    save_as_dialog,
)

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

    def _build_docks(self) -> None:
        self.docks = build_docks(
            self,
            palette=self.node_palette,
            properties=self.properties,
            problems=self.problems,
            inspector=self.inspector,
            console=self.console,
            run_panels=[
                (self.sink_health, "Sink Health"),
                (self.browser, "Checkpoints"),
                (self.stepper, "Session Stepper"),
                (self.queue, "Queue"),
                (self.inbox, "Inbox"),
            ],
        )

    def _build_menus(self) -> None:
        menus = build_menus(
            self,
            self.commands,
            self.docks.values(),
            open_example=self._asking(self.open_example),
            open_recent=self._asking(self.open_path),
            browse_database=self.browse_database,
            recent_files=self.settings.recent_files,
            recent_databases=self.settings.recent_databases,
        )
        self.examples_menu, self.recent_menu, self.recent_db_menu = menus
        build_toolbar(self, self.commands)
        bind_canvas_actions(self.commands, self.graph_editor)

    def _asking(self, open_: Callable[[str], Any]) -> Callable[[str], Any]:
        """`open_(name)`, after asking about unsaved changes."""
        return lambda name: self.ask_save_then(functools.partial(open_, name), "opening")

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
        a.find.triggered.connect(self._on_find_triggered)
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
        open_file_dialog(self, self.open_path)

    def _on_open_code_triggered(self) -> None:
        open_code_dialog(self, self.open_path)

    def _on_save_as_triggered(self) -> None:
        save_as_dialog(self, lambda path: self.documents.save(path))

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
        return open_getting_started(self)

    def show_examples(self) -> ExamplesDialog:
        return open_examples(self, self._asking(self.open_example))

    def show_about(self) -> QMessageBox:
        return open_about(self)

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
        return ask_unsaved(
            self, self.model.name, doing, lambda button: self._on_unsaved_answer(button, proceed)
        )

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
        """Cancel runs, close the panels' databases (the queue's too), drain the event bus (sinks)."""
        self.graph_editor.stop_background_work()
        await self.runs.shutdown()
        for panel in (
            self.debug_controller,
            self.browser_controller,
            self.stepper_controller,
            self.inbox_controller,
            self.queue_controller,
        ):
            try:
                await panel.aclose()
            except Exception as exc:  # one panel failing to close must not keep the others open
                _log.warning("closing %s failed: %s", type(panel).__name__, exc, exc_info=exc)
        await self.bus.aclose()

    def add_node_at(self, type_name: str, x: float, y: float) -> str | None:
        return self.graph_editor.add_node_at(type_name, QPointF(x, y))
