"""`weavegraph migrate`'s queue part: PgQueuer's schema, installed by PgQueuer's own installer after our
migrations (which create `weavegraph_jobs` and `weavegraph_workers`)."""

from __future__ import annotations

import engine.queue.schema as schema
from engine.errors import CheckpointerError
from engine.queue.models import QueueError


async def install_queue_schema(url: str) -> list[str]:
    """["pgqueuer"] when PgQueuer's tables were installed now, [] when they were there (or PgQueuer is not
    installed: then there is no queue mode, and nothing to do)."""
    try:
        import pgqueuer  # noqa: F401
    except ImportError:
        return []
    try:
        conn = await schema.connect(url)
    except QueueError as exc:
        raise CheckpointerError(str(exc)) from None
    try:
        return ["pgqueuer"] if await schema.install_pgqueuer(conn) else []
    finally:
        await conn.close()
