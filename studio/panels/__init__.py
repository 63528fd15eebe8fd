"""The studio's dock panels; each gets its models and signals in its constructor."""

from __future__ import annotations

from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from studio.panels.palette import NodePalettePanel
from studio.panels.problems import ProblemsPanel
from studio.panels.properties import PropertiesPanel
from studio.panels.run_console import RunConsolePanel
from studio.panels.sink_health import SinkHealthPanel
from studio.panels.stepper import SessionStepperPanel

__all__ = [
    "CheckpointBrowserPanel",
    "NodePalettePanel",
    "ProblemsPanel",
    "PropertiesPanel",
    "RunConsolePanel",
    "SessionStepperPanel",
    "SinkHealthPanel",
]
