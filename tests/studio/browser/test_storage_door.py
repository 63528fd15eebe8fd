"""The studio's storage door delegates to the engine's owners (DatabaseURL, exc.kind, codec)."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.errors import CheckpointerError
from engine.persistence.errors import NotACheckpointDatabase, StorageLocked
from engine.persistence.urls import DatabaseURL
from studio.services import storage

URL = "postgresql://alice:s3cr%40t@db.example:5433/wg?storage=compact"


def test_urls_come_from_database_url() -> None:
    assert storage.backend_of(URL) == "postgres" and storage.backend_of("sqlite:///x.db") == "sqlite"
    assert storage.password_of(URL) == "s3cr@t"
    assert storage.redact(URL) == str(DatabaseURL.parse(URL)) and "s3cr" not in storage.redact(URL)
    stripped = storage.strip_password(URL)
    assert "s3cr" not in stripped and "***" not in stripped and "storage=compact" in stripped
    assert DatabaseURL.parse(storage.with_password(stripped, "n3w")).password == "n3w"
    # text that is no URL: shown scrubbed, never raises
    assert storage.redact("ftp://bob:pw@x/y") == "ftp://bob:***@x/y"
    assert storage.with_password("ftp://x", "pw") == "ftp://x"


def test_error_kind_is_the_exceptions_kind() -> None:
    assert storage.storage_error_kind(StorageLocked("x")) == "locked"
    assert storage.storage_error_kind(NotACheckpointDatabase("x")) == "not_ours"
    assert storage.storage_error_kind(CheckpointerError("x", kind="exists")) == "exists"  # type: ignore[arg-type]
    assert storage.storage_error_kind(ValueError("database is locked")) == "other"


def test_no_error_text_matching_in_the_studio() -> None:
    """No studio module decides anything by searching an exception's message."""
    root = Path(storage.__file__).resolve().parents[1]
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
                for side in (node.left, *node.comparators):
                    text = ast.unparse(side)
                    assert "str(exc)" not in text and "str(e)" not in text, f"{path}: {ast.unparse(node)}"
