"""`weavegraph migrate`'s queue part: PgQueuer's schema, installed by PgQueuer's own installer after our
migrations (which create `weavegraph_jobs` and `weavegraph_workers`), and the workers' `lease_timeout_s`
column the heartbeat-expiry sweep reads (`engine/queue/sweep.py`; idempotent)."""

from __future__ import annotations

import engine.queue.schema as schema
import engine.queue.sweep as sweep
from engine.errors import CheckpointerError
from engine.queue.models import QueueError


async def install_queue_schema(url: str) -> list[str]:
    """["pgqueuer"] when PgQueuer's tables were installed now, [] when they were there (or PgQueuer is not
    installed: then there is no queue mode, and nothing to do); "queue_lease" when the workers' lease
    column was added now."""
    try:
        import pgqueuer  # noqa: F401
    except ImportError:
        return []
    try:
        conn = await schema.connect(url)
    except QueueError as exc:
        raise CheckpointerError(str(exc)) from None
    try:
        installed = await schema.install_pgqueuer(conn)
        lease = not await schema.has_lease_column(conn)
        if lease:
            await conn.execute(sweep.LEASE_COLUMN)
        return (["pgqueuer"] if installed else []) + (["queue_lease"] if lease else [])
    finally:
        await conn.close()
