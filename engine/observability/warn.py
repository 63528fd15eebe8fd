"""The warning callback every observability piece takes (one line on stderr in the CLI)."""

from __future__ import annotations

from collections.abc import Callable

Warn = Callable[[str], None]

__all__ = ["Warn"]
