"""Remembered settings (QSettings, organisation "Weavegraph", app "Weavegraph Studio"): window layout,
recent files, recent databases (always redacted: a password is never stored), theme and console choices."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from studio.services.storage import redact, strip_password

__all__ = ["APPLICATION", "ORGANISATION", "Settings", "default_database_url"]

ORGANISATION = "Weavegraph"
APPLICATION = "Weavegraph Studio"
MAX_RECENT = 10


def default_database_url() -> str:
    """A SQLite file in the user's data directory (AppDataLocation/weavegraph.db)."""
    from pathlib import Path

    folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite://{(folder / 'weavegraph.db').as_posix()}"


class Settings:
    """Typed accessors over QSettings. Tests point QSettings at a temporary directory."""

    def __init__(self) -> None:
        self._s = QSettings()

    def _list(self, key: str) -> list[str]:
        value = self._s.value(key, [])
        if isinstance(value, str):
            return [value] if value else []
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    def _push(self, key: str, item: str) -> list[str]:
        items = [item, *(i for i in self._list(key) if i != item)][:MAX_RECENT]
        self._s.setValue(key, items)
        return items

    # ------------------------------------------------------------------ documents and databases

    def recent_files(self) -> list[str]:
        return self._list("recent/files")

    def add_recent_file(self, path: str) -> list[str]:
        self._s.setValue("document/last", path)
        return self._push("recent/files", path)

    def last_document(self) -> str:
        return str(self._s.value("document/last", "") or "")

    def recent_databases(self) -> list[str]:
        return self._list("recent/databases")

    def add_recent_database(self, url: str) -> list[str]:
        return self._push("recent/databases", strip_password(url))

    # ------------------------------------------------------------------ window

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)
        self._s.setValue("window/state", state)

    def window_geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def theme(self) -> str:
        """ "system", "light" or "dark"."""
        value = str(self._s.value("view/theme", "system"))
        return value if value in ("system", "light", "dark") else "system"

    def set_theme(self, theme: str) -> None:
        self._s.setValue("view/theme", theme)

    # ------------------------------------------------------------------ run console

    def console(self) -> dict[str, Any]:
        return {
            "kind": str(self._s.value("console/kind", "sqlite")),
            "location": str(self._s.value("console/location", "")),
        }

    def set_console(self, kind: str, location: str) -> None:
        self._s.setValue("console/kind", kind)
        self._s.setValue("console/location", redact(strip_password(location)))

    def sync(self) -> None:
        self._s.sync()
