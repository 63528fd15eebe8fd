"""Postgres plumbing for the checkpointer: driver error mapping and the SQL migrations in the package."""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Iterator
from typing import Any

import asyncpg

from engine.errors import CheckpointerError
from engine.persistence.errors import (
    AuthenticationFailed,
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageNotFound,
    StorageUnavailable,
)
from engine.persistence.urls import postgres_target, redact_url, scrub, url_password

_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.ConnectionRejectionError,
)

_LOCK_KEY = 0x5745_4156_4547  # advisory lock that serialises concurrent migrations ("WEAVEG")


@contextlib.contextmanager
def map_pg_errors(url: str, action: str) -> Iterator[None]:
    """Turn asyncpg and socket errors into `CheckpointerError`s naming the server, never the password."""
    target, user = postgres_target(url)
    secret = url_password(url)
    try:
        yield
    except CheckpointerError:
        raise
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise AuthenticationFailed(
            scrub(
                f"PostgreSQL at {target} refused user '{user}' while {action}: {exc}; "
                "check the user name and password in the URL",
                secret,
            )
        ) from exc
    except asyncpg.InvalidCatalogNameError as exc:
        raise StorageNotFound(
            scrub(f"PostgreSQL at {target}: {exc}; create the database first (createdb)", secret)
        ) from exc
    except asyncpg.UndefinedTableError as exc:
        raise NotACheckpointDatabase(
            scrub(
                f"PostgreSQL database {target} has no checkpoint tables ({exc}); run `weavegraph migrate`",
                secret,
            )
        ) from exc
    except asyncpg.UntranslatableCharacterError as exc:
        raise CheckpointDataError(
            scrub(
                f"PostgreSQL at {target} cannot store this checkpoint while {action}: {exc} (JSONB cannot "
                "hold the NUL character \\u0000; remove it from the state)",
                secret,
            )
        ) from exc
    except _LOST as exc:
        raise StorageUnavailable(
            scrub(f"connection to PostgreSQL at {target} was lost while {action}: {exc}", secret)
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise StorageUnavailable(
            scrub(f"cannot reach PostgreSQL at {target} while {action}: {exc or type(exc).__name__}", secret)
        ) from exc
    except asyncpg.PostgresError as exc:
        raise CheckpointerError(scrub(f"PostgreSQL error at {target} while {action}: {exc}", secret)) from exc
    except ValueError as exc:  # asyncpg's DSN parser
        raise InvalidCheckpointerUrl(
            f"invalid PostgreSQL URL '{redact_url(url)}': {scrub(str(exc), secret)}"
        ) from None


def migration_files() -> list[tuple[str, str]]:
    """(version, SQL) of every shipped migration, in order; the version is the file name without ".sql"."""
    folder = importlib.resources.files("engine.persistence").joinpath("migrations")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            out.append((entry.name[: -len(".sql")], entry.read_text(encoding="utf-8")))
    return out


_REQUIRED = {
    "sessions": {"id", "created_at", "updated_at", "concurrency_limit", "last_step", "last_state_json"},
    "steps": {"session_id", "step", "state_json", "frontier_json", "versions_seen_json", "ran_nodes_json"},
}


async def check_not_foreign(conn: Any, target: str) -> set[str]:
    """Raise `NotACheckpointDatabase` when `sessions` or `steps` lack our columns; return the tables."""
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name IN ('sessions', 'steps')"
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    for table, have in columns.items():
        lacking = _REQUIRED[table] - have
        if lacking:
            raise NotACheckpointDatabase(
                f"PostgreSQL database {target} has a '{table}' table without the checkpoint columns "
                f"{', '.join(sorted(lacking))}; it is not a checkpoint database"
            )
    return set(columns)


async def apply_migrations(conn: Any, target: str) -> list[str]:
    """Apply the shipped migrations not yet in `schema_migrations`, under an advisory lock; return them."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await check_not_foreign(conn, target)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
    return applied


async def pending_migrations(conn: Any) -> list[str]:
    """Shipped migrations the database lacks (all of them when it has no `schema_migrations` table)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[str] = set()
    if exists:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [v for v, _ in migration_files() if v not in done]
