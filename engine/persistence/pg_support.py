"""Postgres plumbing for the checkpointer: driver error mapping and applying the versioned migrations
(`migrations/postgres/*.sql`, see `schema`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import asyncpg

import engine.persistence.schema as schema
from engine.errors import CheckpointerError
from engine.persistence.errors import (
    AuthenticationFailed,
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageFull,
    StorageNotFound,
    StorageReadOnly,
    StorageUnavailable,
)
from engine.persistence.urls import DatabaseURL, scrub

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
def map_pg_errors(url: DatabaseURL, action: str, *, connected: bool = False) -> Iterator[None]:
    """Turn asyncpg and socket errors into `CheckpointerError`s naming the server, never the password.

    `connected`: the caller had a working pool, so a server that cannot be reached now is a lost
    connection ("connection to PostgreSQL at H:P/DB was lost while saving session 's'"); the driver's
    words stay in `__cause__` (shown by `--debug`)."""
    target, user = url.target, url.user or ""
    try:
        yield
    except CheckpointerError:
        raise
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise AuthenticationFailed(
            scrub(
                f"PostgreSQL at {target} refused user '{user}' while {action}: {exc}; "
                "check the user name and password in the URL",
                url,
            )
        ) from exc
    except asyncpg.InvalidCatalogNameError as exc:
        raise StorageNotFound(
            scrub(f"PostgreSQL at {target}: {exc}; create the database first (createdb)", url)
        ) from exc
    except asyncpg.UndefinedTableError as exc:
        raise NotACheckpointDatabase(
            scrub(
                f"PostgreSQL database {target} has no checkpoint tables ({exc}); run `weavegraph migrate`",
                url,
            )
        ) from exc
    except asyncpg.UntranslatableCharacterError as exc:
        raise CheckpointDataError(
            scrub(
                f"PostgreSQL at {target} cannot store this checkpoint while {action}: {exc} (JSONB cannot "
                "hold the NUL character \\u0000; remove it from the state)",
                url,
            )
        ) from exc
    except asyncpg.DiskFullError as exc:
        raise StorageFull(
            scrub(f"the disk of PostgreSQL at {target} is full while {action}: {exc}", url)
        ) from exc
    except asyncpg.ReadOnlySQLTransactionError as exc:
        raise StorageReadOnly(
            scrub(f"PostgreSQL at {target} is read-only while {action}: {exc}", url)
        ) from exc
    except _LOST as exc:
        raise StorageUnavailable(f"connection to PostgreSQL at {target} was lost while {action}") from exc
    except (OSError, TimeoutError) as exc:
        if connected:
            raise StorageUnavailable(f"connection to PostgreSQL at {target} was lost while {action}") from exc
        raise StorageUnavailable(
            scrub(f"cannot reach PostgreSQL at {target} while {action}: {exc or type(exc).__name__}", url)
        ) from exc
    except asyncpg.PostgresError as exc:
        raise CheckpointerError(scrub(f"PostgreSQL error at {target} while {action}: {exc}", url)) from exc
    except (ValueError, TypeError, KeyError) as exc:
        if connected:  # a stored row that does not decode (JSON, timestamps, node names)
            raise CheckpointDataError(
                scrub(
                    f"a stored row of PostgreSQL database {target} cannot be read while {action}: {exc!r}",
                    url,
                )
            ) from exc
        if isinstance(exc, ValueError):  # asyncpg's DSN parser
            raise InvalidCheckpointerUrl(f"invalid PostgreSQL URL '{url}': {scrub(str(exc), url)}") from None
        raise


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


async def schema_version(conn: Any) -> int:
    """The recorded schema version: `weavegraph_schema_version`, else (a database migrated before versioning)
    the highest file number in the old `schema_migrations` table, else 0."""
    if await conn.fetchval(f"SELECT to_regclass('{schema.VERSION_TABLE}') IS NOT NULL"):
        found = await conn.fetchval(f"SELECT version FROM {schema.VERSION_TABLE} WHERE id = 1")
        return int(found or 0)
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        names = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        numbers = [int(n[:4]) for n in names if n[:4].isdigit()]
        return max(numbers, default=0)
    return 0


async def apply_migrations(conn: Any, target: str) -> list[str]:
    """Apply the migrations above the recorded version under an advisory lock, in one transaction; return
    their names. Raises `SchemaTooNew` (touching nothing) for a database newer than this code."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await check_not_foreign(conn, target)
        todo = schema.pending("postgres", await schema_version(conn), f"PostgreSQL database {target}")
        for migration in todo:
            await conn.execute(migration.sql)
        if todo or not await conn.fetchval(f"SELECT to_regclass('{schema.VERSION_TABLE}') IS NOT NULL"):
            await conn.execute(schema.CREATE_VERSION_TABLE)
            await conn.execute(schema.SET_VERSION["postgres"], schema.latest("postgres"))
    return [m.name for m in todo]


async def pending_migrations(conn: Any, target: str) -> list[str]:
    """Migrations the database lacks (`SchemaTooNew` when it is newer than this code)."""
    return [m.name for m in schema.pending("postgres", await schema_version(conn), target)]
