"""The two writers of a LangGraph Postgres database, each on its own read-write connection and only when
asked: keep-last-N prune and VACUUM. Everything else in this package only reads."""

from __future__ import annotations

from typing import Any

from engine.foreign.langgraph.pg_reader import check_schema, read_nodes
from engine.foreign.langgraph.plan import PrunePlan, plan_prune
from engine.persistence.urls import DatabaseURL


async def apply_prune(
    url: str, keep_last: int, thread_ids: list[str] | None, vacuum: bool, connect_timeout: float = 10.0
) -> PrunePlan:
    """Keep-last-N for real on a separate read-write connection, planned and applied in one transaction that
    holds a lock against the saver's writers; then VACUUM the three tables when asked."""
    import asyncpg

    from engine.persistence.pg_support import map_pg_errors

    parsed = DatabaseURL.parse(url)
    target = parsed.target
    with map_pg_errors(parsed, "opening for prune"):
        conn = await asyncpg.connect(parsed.dsn(), timeout=connect_timeout)
    try:
        with map_pg_errors(parsed, "pruning"):
            async with conn.transaction(isolation="repeatable_read"):
                await check_schema(conn, target)
                await conn.execute(
                    "LOCK TABLE checkpoints, checkpoint_blobs, checkpoint_writes IN SHARE ROW EXCLUSIVE MODE"
                )

                async def fetch(sql: str, *args: Any) -> list[Any]:
                    return list(await conn.fetch(sql, *args))

                nodes, sizes = await read_nodes(fetch)
                plan = plan_prune(nodes, keep_last, thread_ids, sizes)
                doomed = [(k.thread_id, k.checkpoint_ns, c) for k, ids in plan.delete.items() for c in ids]
                cols = [list(x) for x in zip(*doomed, strict=True)] if doomed else [[], [], []]
                for table in ("checkpoint_writes", "checkpoints"):
                    await conn.execute(
                        f"DELETE FROM {table} WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
                        "(SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
                        *cols,
                    )
                blobs = [
                    (k.thread_id, k.checkpoint_ns, c, v) for k, refs in plan.blobs.items() for c, v in refs
                ]
                bcols = [list(x) for x in zip(*blobs, strict=True)] if blobs else [[], [], [], []]
                await conn.execute(
                    "DELETE FROM checkpoint_blobs WHERE (thread_id, checkpoint_ns, channel, version) IN "
                    "(SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]))",
                    *bcols,
                )
            if vacuum:
                await conn.execute("VACUUM (ANALYZE) checkpoints, checkpoint_blobs, checkpoint_writes")
        return plan
    finally:
        await conn.close()


async def vacuum(url: str, connect_timeout: float = 10.0) -> None:
    """VACUUM (ANALYZE) the saver's tables on a separate read-write connection (after checking the schema)."""
    import asyncpg

    from engine.persistence.pg_support import map_pg_errors

    parsed = DatabaseURL.parse(url)
    target = parsed.target
    with map_pg_errors(parsed, "opening for VACUUM"):
        conn = await asyncpg.connect(parsed.dsn(), timeout=connect_timeout)
    try:
        with map_pg_errors(parsed, "vacuuming"):
            async with conn.transaction(readonly=True):
                await check_schema(conn, target)
            await conn.execute("VACUUM (ANALYZE) checkpoints, checkpoint_blobs, checkpoint_writes")
    finally:
        await conn.close()
