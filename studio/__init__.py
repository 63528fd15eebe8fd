"""Weavegraph Studio: a PySide6 desktop app to build, run, step and inspect engine graphs."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
