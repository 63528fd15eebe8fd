"""Small shared widgets (JSON editor with validation, schema-generated forms)."""

from __future__ import annotations

from studio.widgets.json_editor import JsonEditor, JsonInvalid, monospace_font, parse_json

__all__ = ["JsonEditor", "JsonInvalid", "monospace_font", "parse_json"]
