"""Open a checkpointer from a URL, and resolve the URL a `CheckpointerType` means (env, `.env`, defaults)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.persistence.base import Checkpointer, CheckpointerType
from engine.persistence.errors import InvalidCheckpointerUrl
from engine.persistence.urls import redact_url

__all__ = ["default_url", "load_dotenv_file", "migrate", "open_checkpointer", "redact_url", "resolve_url"]

DEFAULT_SQLITE_URL = "sqlite://weavegraph.db"
DEFAULT_POSTGRES_URL = "postgresql://localhost/weavegraph"


def load_dotenv_file(directory: str | os.PathLike[str] | None = None) -> bool:
    """Load `.env` from `directory` (default: the working directory) without overriding real env vars."""
    path = Path(directory if directory is not None else Path.cwd()) / ".env"
    if not path.is_file():
        return False
    from dotenv import load_dotenv

    return bool(load_dotenv(path, override=False))


def _as_sqlite_url(name: str) -> str:
    return name if name.startswith("sqlite:") else f"sqlite://{name}"


def resolve_url(kind: CheckpointerType, sqlite_db_name: str | None = None) -> str:
    """The URL for a backend type, after loading `.env` from the working directory.

    SQLite: `WEAVEGRAPH_SQLITE_URL`, then `sqlite_db_name` (e.g. `RuntimeConfig.sqlite_db_name`), then
    `SQLITE_DB_NAME`, then `sqlite://weavegraph.db`. Postgres: `WEAVEGRAPH_POSTGRES_URL`, then `DATABASE_URL`,
    then `postgresql://localhost/weavegraph`. In-memory: "memory:".
    """
    load_dotenv_file()
    if kind is CheckpointerType.IN_MEMORY:
        return "memory:"
    if kind is CheckpointerType.SQLITE:
        if os.environ.get("WEAVEGRAPH_SQLITE_URL"):
            return os.environ["WEAVEGRAPH_SQLITE_URL"]
        if sqlite_db_name:
            return _as_sqlite_url(sqlite_db_name)
        if os.environ.get("SQLITE_DB_NAME"):
            return _as_sqlite_url(os.environ["SQLITE_DB_NAME"])
        return DEFAULT_SQLITE_URL
    if kind is CheckpointerType.POSTGRES:
        for var in ("WEAVEGRAPH_POSTGRES_URL", "DATABASE_URL"):
            if os.environ.get(var):
                return os.environ[var]
        return DEFAULT_POSTGRES_URL
    raise InvalidCheckpointerUrl(f"unknown checkpointer type {kind!r}")


def default_url(kind: CheckpointerType) -> str:
    """`resolve_url(kind)`; kept for callers that have no `sqlite_db_name`."""
    return resolve_url(kind)


async def open_checkpointer(url: str, *, migrate: bool = True) -> Checkpointer:
    """Open the checkpointer a URL names: "memory:", "sqlite://path", "sqlite::memory:", "postgresql://...".

    Raises `InvalidCheckpointerUrl` for other schemes and the other `CheckpointerError`s when the storage
    cannot be opened; messages never contain a password.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidCheckpointerUrl(
            "empty checkpointer URL (use memory:, sqlite://file.db or postgresql://...)"
        )
    url = url.strip()
    if url in ("memory:", "memory://", "memory"):
        from engine.persistence.memory import InMemoryCheckpointer

        return InMemoryCheckpointer()
    if url.startswith("sqlite:"):
        from engine.persistence.sqlite import SQLiteCheckpointer

        return await SQLiteCheckpointer.connect(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from engine.persistence.postgres import PostgresCheckpointer
        except ImportError as exc:  # the optional dependency is missing
            raise InvalidCheckpointerUrl(
                "PostgreSQL URLs need asyncpg: pip install 'weavegraph-studio[postgres]'"
            ) from exc
        return await PostgresCheckpointer.connect(url, migrate=migrate)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise InvalidCheckpointerUrl(
        f"unsupported checkpointer URL scheme '{redact_url(scheme)}' in '{redact_url(url)}'; "
        "use memory:, sqlite://relative.db, sqlite:///absolute/path.db, sqlite::memory: or postgresql://..."
    )


async def migrate(url: str) -> list[str]:
    """Bring the database at `url` up to date (what `weavegraph migrate` runs); return what was applied.

    PostgreSQL: the shipped SQL migrations not yet recorded in `schema_migrations`. SQLite: "sqlite-schema"
    when the tables had to be created or extended, else nothing. In-memory: nothing.
    """
    url = url.strip()
    if url.startswith(("postgresql://", "postgres://")):
        from engine.persistence.postgres import migrate as pg_migrate

        return await pg_migrate(url)
    if url.startswith("sqlite:"):
        from engine.persistence.sqlite import SQLiteCheckpointer

        cp = await SQLiteCheckpointer.connect(url)
        try:
            return ["sqlite-schema"] if cp.schema_changed else []
        finally:
            await cp.aclose()
    if url in ("memory:", "memory://", "memory"):
        return []
    raise InvalidCheckpointerUrl(
        f"cannot migrate '{redact_url(url)}': not a memory:, sqlite: or postgresql: URL"
    )
