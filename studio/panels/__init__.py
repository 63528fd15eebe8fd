"""The studio's dock panels; each gets its models and signals in its constructor."""

from __future__ import annotations

__all__: list[str] = []
