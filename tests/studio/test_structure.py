"""The studio's shape (issue 14): panels are views that import nothing from `engine.persistence`, only the
storage service does, and controllers own no widgets."""

from __future__ import annotations

import ast
from pathlib import Path

STUDIO = Path(__file__).resolve().parents[2] / "studio"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_the_storage_service_imports_engine_persistence() -> None:
    offenders = {
        str(path.relative_to(STUDIO)): sorted(
            m for m in imported_modules(path) if m.startswith("engine.persistence")
        )
        for path in STUDIO.rglob("*.py")
        if path != STUDIO / "services" / "storage.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_controllers_hold_no_widgets() -> None:
    for path in (STUDIO / "controllers").glob("*.py"):
        assert "PySide6.QtWidgets" not in imported_modules(path), path.name


def test_panels_get_their_controller_in_the_constructor() -> None:
    import inspect

    from studio.controllers.browser import BrowserController
    from studio.controllers.run import RunController
    from studio.controllers.stepper import StepperController
    from studio.panels.checkpoint_browser import CheckpointBrowserPanel
    from studio.panels.run_console import RunConsolePanel
    from studio.panels.stepper import SessionStepperPanel

    for panel, controller in (
        (CheckpointBrowserPanel, BrowserController),
        (SessionStepperPanel, StepperController),
        (RunConsolePanel, RunController),
    ):
        first = list(inspect.signature(panel.__init__).parameters.values())[1]
        assert first.annotation in (controller.__name__, controller), panel.__name__
