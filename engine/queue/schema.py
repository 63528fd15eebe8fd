"""Queue-mode plumbing shared by the worker and the client: the Postgres URL check, connecting, and installing
PgQueuer's own schema (what `weavegraph migrate` runs after our migrations)."""

from __future__ import annotations

from typing import Any

from engine.persistence.urls import DatabaseURL, scrub
from engine.queue.models import QueueError


def postgres_url(url: str | DatabaseURL) -> DatabaseURL:
    """The parsed URL; `QueueError` for SQLite and in-memory (queue mode needs Postgres)."""
    parsed = DatabaseURL.parse(url)
    if parsed.backend != "postgres":
        raise QueueError(
            f"queue mode needs a PostgreSQL database (postgresql://...), not {parsed.redacted()}: "
            "SQLite and in-memory have no queue"
        )
    return parsed


async def connect(url: str | DatabaseURL) -> Any:
    """One asyncpg connection; an unreachable server or a bad password is one `QueueError` line."""
    import asyncpg

    parsed = postgres_url(url)
    try:
        return await asyncpg.connect(parsed.dsn(), timeout=10)
    except (OSError, asyncpg.PostgresError, ValueError) as exc:
        detail = scrub(str(exc), parsed)
        raise QueueError(f"cannot connect to {parsed.redacted()}: {type(exc).__name__}: {detail}") from None


async def install_pgqueuer(conn: Any) -> bool:
    """Install PgQueuer's tables, functions and trigger when they are missing (through PgQueuer's own
    installer); return whether it installed them."""
    from pgqueuer.queries import Queries

    queries = Queries.from_asyncpg_connection(conn)
    if await queries.schema_is_installed():
        return False
    await queries.install()
    return True


async def check_installed(conn: Any, shown: str) -> None:
    """`QueueError` naming `weavegraph migrate` when our queue tables or PgQueuer's are missing."""
    from pgqueuer.queries import Queries

    ours = await conn.fetchval("SELECT to_regclass('weavegraph_jobs') IS NOT NULL")
    theirs = await Queries.from_asyncpg_connection(conn).schema_is_installed()
    if not (ours and theirs and await has_lease_column(conn)):
        raise QueueError(f"{shown} has no queue tables: run `weavegraph migrate --db URL` first")


async def has_lease_column(conn: Any) -> bool:
    """Whether `weavegraph_workers` has the `lease_timeout_s` column (added by `weavegraph migrate`)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('weavegraph_workers')"
        " AND attname = 'lease_timeout_s' AND NOT attisdropped)"
    )
    return found
