"""The main window's menu bar (File, Edit, View, Run, Help) and main toolbar, built from the `Actions`, and
the edit and view actions bound to the graph editor. The File menu's example, recent-file and recent-database
submenus fill themselves through the callbacks given."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu

from studio.actions import Actions
from studio.canvas.editor_panel import GraphEditorPanel

__all__ = ["FileMenus", "bind_canvas_actions", "build_menus", "build_toolbar"]


class FileMenus(NamedTuple):
    """The File menu's submenus that list things: the bundled examples, recent files, recent databases."""

    examples: QMenu
    recent: QMenu
    recent_db: QMenu


def build_menus(
    window: QMainWindow,
    a: Actions,
    docks: Iterable[QDockWidget],
    *,
    open_example: Callable[[str], object],
    open_recent: Callable[[str], object],
    browse_database: Callable[[str], object],
    recent_files: Callable[[], list[str]],
    recent_databases: Callable[[], list[str]],
) -> FileMenus:
    """Fill `window`'s menu bar. `open_example`/`open_recent` open a name or path (after asking about unsaved
    changes); `browse_database` opens a URL in the checkpoint browser; View ▸ Panels toggles each dock."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a.new, a.open, a.open_code])
    examples = file_menu.addMenu("Open &Example")
    try:
        from engine.graph.document import example_names

        for name in example_names():
            examples.addAction(name, functools.partial(open_example, name))
    except Exception as exc:  # examples missing from a broken install must not stop the window
        examples.setTitle(f"Open Example (unavailable: {exc})")
    recent = file_menu.addMenu("Open &Recent")
    recent.aboutToShow.connect(lambda: _fill(recent, recent_files(), open_recent))
    recent_db = file_menu.addMenu("Browse Recent &Database")
    recent_db.aboutToShow.connect(
        lambda: _fill(
            recent_db, [u for u in recent_databases() if not u.startswith("memory")], browse_database
        )
    )
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
    for dock in docks:
        panels.addAction(dock.toggleViewAction())
    run = bar.addMenu("&Run")
    run.addActions([a.run, a.step, a.continue_, a.stop])
    run.addSeparator()
    run.addAction(a.trust)
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.getting_started, a.open_example])
    help_menu.addSeparator()
    help_menu.addAction(a.about)
    return FileMenus(examples, recent, recent_db)


def build_toolbar(window: QMainWindow, a: Actions) -> None:
    """The main toolbar: document, undo, run and view actions."""
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("mainToolBar")
    toolbar.addActions([a.new, a.open, a.save])
    toolbar.addSeparator()
    toolbar.addActions([a.undo, a.redo])
    toolbar.addSeparator()
    toolbar.addActions([a.run, a.step, a.continue_, a.stop])
    toolbar.addSeparator()
    toolbar.addActions([a.fit, a.auto_layout])


def bind_canvas_actions(a: Actions, editor: GraphEditorPanel) -> None:
    """The edit and view actions act on the graph editor. The edit actions are added to it, scoped to it, so
    text fields keep their own Ctrl+Z/C/V/Del."""
    for action in a.canvas_actions():
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        editor.addAction(action)
    canvas = editor.controller
    a.delete.triggered.connect(canvas.delete_selection)
    a.cut.triggered.connect(canvas.cut_selection)
    a.copy.triggered.connect(canvas.copy_selection)
    a.paste.triggered.connect(canvas.paste)
    a.select_all.triggered.connect(canvas.select_all)
    a.fit.triggered.connect(editor.view.fit)
    a.zoom_in.triggered.connect(lambda: editor.view.zoom_by(1.2))
    a.zoom_out.triggered.connect(lambda: editor.view.zoom_by(1 / 1.2))
    a.auto_layout.triggered.connect(editor.auto_layout)


def _fill(menu: QMenu, entries: list[str], chosen: Callable[[str], object]) -> None:
    """`menu` lists `entries` (each calls `chosen` with itself), or a disabled "(none)"."""
    menu.clear()
    for entry in entries:
        menu.addAction(entry, functools.partial(chosen, entry))
    if not menu.actions():
        menu.addAction("(none)").setEnabled(False)
