"""`weavegraph sessions`, `steps` and `stats`: look into a checkpoint database (SQLite resolution of
ENGINE.md section 6 unless `--db`)."""

from __future__ import annotations

import argparse
import dataclasses

import engine.cli.langgraph as langgraph
from engine.cli.support import (
    EXIT_OK,
    db_url,
    emit_json,
    human_bytes,
    opened_checkpointer,
    require_session,
    say,
    shown_url,
    table,
    when,
)
from engine.persistence.base import SessionQuery, SessionStats, StepQuery
from engine.persistence.codec import step_to_json
from engine.types import JSON


def session_json(s: SessionStats) -> dict[str, JSON]:
    return {
        "session_id": s.session_id,
        "created_at": s.created_at.isoformat() if s.created_at else None,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
        "last_step": s.last_step,
        "steps": s.steps,
        "bytes": s.bytes,
    }


async def cmd_sessions(args: argparse.Namespace) -> int:
    url = db_url(args)
    if await langgraph.is_langgraph(url):  # a LangGraph saver's database: its threads, read-only
        return await langgraph.sessions(args, url)
    async with opened_checkpointer(url, create=False) as cp:
        if hasattr(cp, "session_page"):
            page = await cp.session_page(
                SessionQuery(limit=args.limit, offset=args.offset, search=args.search)
            )
            items, total = list(page.items), page.total_count
        else:
            stats = await cp.storage_stats()
            found = [
                s for s in stats.sessions if not args.search or args.search.lower() in s.session_id.lower()
            ]
            items, total = found[args.offset : args.offset + args.limit], len(found)
    if args.json:
        emit_json(
            {"database": shown_url(url), "total_count": total, "sessions": [session_json(s) for s in items]}
        )
        return EXIT_OK
    rows = [
        [
            s.session_id,
            when(s.created_at),
            when(s.updated_at),
            str(s.last_step),
            str(s.steps),
            human_bytes(s.bytes),
        ]
        for s in items
    ]
    for line in table(["SESSION", "CREATED", "UPDATED", "LAST STEP", "STEPS", "BYTES"], rows):
        say(line)
    say(f"{len(items)} of {total} sessions in {shown_url(url)}")
    return EXIT_OK


async def cmd_steps(args: argparse.Namespace) -> int:
    url = db_url(args)
    async with opened_checkpointer(url, create=False) as cp:
        await require_session(cp, args.session, url)
        result = await cp.query_steps(
            args.session, StepQuery(limit=args.limit, offset=args.offset, ran_node=args.node)
        )
    if args.json:
        emit_json(
            {
                "session_id": args.session,
                "total_count": result.total_count,
                "has_next_page": result.has_next_page,
                "steps": [step_to_json(c, with_state=False) for c in result.checkpoints],
            }
        )
        return EXIT_OK
    rows = [
        [
            str(c.step),
            when(c.created_at),
            ",".join(k.name for k in c.ran_nodes) or "-",
            ",".join(k.name for k in c.skipped_nodes) or "-",
            ",".join(c.updated_channels) or "-",
            ",".join(k.name for k in c.frontier) or "-",
        ]
        for c in result.checkpoints
    ]
    for line in table(["STEP", "TIME", "RAN", "SKIPPED", "UPDATED", "FRONTIER"], rows):
        say(line)
    more = " (more: --offset)" if result.has_next_page else ""
    say(f"{len(rows)} of {result.total_count} steps of session {args.session}{more}")
    return EXIT_OK


async def cmd_stats(args: argparse.Namespace) -> int:
    url = db_url(args)
    if await langgraph.is_langgraph(url):  # a LangGraph saver's database: its storage analytics
        return await langgraph.stats(args, url)
    async with opened_checkpointer(url, create=False) as cp:
        stats = await cp.storage_stats()
    if args.json:
        value = dataclasses.asdict(stats)
        value["sessions"] = [session_json(s) for s in stats.sessions]
        value["database"] = shown_url(url)
        emit_json(value)
        return EXIT_OK
    say(f"database  {shown_url(url)} ({stats.backend})")
    say(f"sessions  {len(stats.sessions)}")
    say(f"steps     {stats.total_steps}")
    say(f"bytes     {human_bytes(stats.total_bytes)} of state")
    if stats.file_bytes is not None:
        say(
            f"file      {human_bytes(stats.file_bytes)} (WAL {human_bytes(stats.wal_bytes)}, "
            f"free {human_bytes(stats.free_bytes)})"
        )
    biggest = sorted(stats.sessions, key=lambda s: s.bytes, reverse=True)[:10]
    if biggest:
        say("largest sessions:")
        rows = [[s.session_id, str(s.steps), human_bytes(s.bytes)] for s in biggest]
        for line in table(["SESSION", "STEPS", "BYTES"], rows):
            say("  " + line)
    return EXIT_OK
