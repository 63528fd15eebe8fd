"""Open a checkpointer from a URL, and resolve the URL a `CheckpointerType` means (env, `.env`, defaults)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.persistence.base import CheckpointerType, CheckpointStore
from engine.persistence.errors import InvalidCheckpointerUrl
from engine.persistence.urls import DatabaseURL, redact_url

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


async def open_checkpointer(
    url: str | DatabaseURL, *, create: bool = True, read_only: bool = False, migrate: bool = True
) -> CheckpointStore:
    """Open the checkpointer a URL names: "memory:", "sqlite://path", "sqlite::memory:", "postgresql://...".

    `create=False` refuses to make a new SQLite file (`StorageNotFound`) or initialise an empty database
    (`NotACheckpointDatabase`). `read_only=True` writes nothing at all (SQLite `mode=ro`; Postgres skips
    migrations); writes then raise `StorageReadOnly`. Raises `InvalidCheckpointerUrl` for other schemes and
    the other `CheckpointerError`s when the storage cannot be opened; messages never contain a password.
    """
    parsed = DatabaseURL.parse(url)
    if parsed.backend == "memory":
        from engine.persistence.memory import InMemoryCheckpointer

        return InMemoryCheckpointer()
    if parsed.backend == "sqlite":
        from engine.persistence.sqlite import SQLiteCheckpointer

        return await SQLiteCheckpointer.connect(parsed, create=create, read_only=read_only)
    try:
        from engine.persistence.postgres import PostgresCheckpointer
    except ImportError as exc:  # the optional dependency is missing
        raise InvalidCheckpointerUrl(
            "PostgreSQL URLs need asyncpg: pip install 'weavegraph-studio[postgres]'"
        ) from exc
    return await PostgresCheckpointer.connect(parsed, migrate=migrate, read_only=read_only)


async def migrate(url: str | DatabaseURL) -> list[str]:
    """Bring the database at `url` up to date (what `weavegraph migrate` runs); return the migrations applied
    (file names without ".sql", the same way for SQLite and PostgreSQL). In-memory: nothing."""
    parsed = DatabaseURL.parse(url)
    if parsed.backend == "postgres":
        from engine.persistence.postgres import migrate as pg_migrate

        return await pg_migrate(parsed)
    if parsed.backend == "sqlite":
        from engine.persistence.sqlite import SQLiteCheckpointer

        cp = await SQLiteCheckpointer.connect(parsed)
        try:
            return list(cp.applied)
        finally:
            await cp.aclose()
    return []
