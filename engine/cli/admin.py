"""`weavegraph prune` and `migrate`: maintain a checkpoint database."""

from __future__ import annotations

import argparse
import datetime as _dt

import engine.cli.langgraph as langgraph
from engine.cli.support import (
    EXIT_FAILED,
    EXIT_OK,
    SECRETS,
    CliError,
    Progress,
    db_url,
    emit_json,
    human_bytes,
    opened_checkpointer,
    say,
    shown_url,
)
from engine.errors import CheckpointerError
from engine.persistence.base import PrunePolicy

PRUNE_BATCH = 100


async def cmd_prune(args: argparse.Namespace) -> int:
    if args.keep_last is None and args.older_than is None:
        raise CliError("prune needs --keep-last N and/or --older-than DAYS")
    if args.keep_last is not None and args.keep_last < 1:
        raise CliError(f"--keep-last must be at least 1, got {args.keep_last}")
    if args.older_than is not None and args.older_than < 0:
        raise CliError(f"--older-than must not be negative, got {args.older_than}")
    older = _dt.timedelta(days=args.older_than) if args.older_than is not None else None
    url = db_url(args)
    if await langgraph.is_langgraph(url):  # LangGraph's keep-last-N (README "LangGraph databases")
        return await langgraph.prune(args, url)
    steps = size = sessions = 0
    async with opened_checkpointer(url, create=False) as cp:
        ids = list(args.session) if args.session else await cp.list_sessions()
        label = "checking" if args.dry_run else "pruning"
        with Progress(label, len(ids), enabled=args.progress or None) as bar:
            for start in range(0, len(ids), PRUNE_BATCH):
                batch = ids[start : start + PRUNE_BATCH]
                policy = PrunePolicy(keep_last=args.keep_last, older_than=older, session_ids=batch)
                report = await cp.prune(policy, dry_run=args.dry_run)
                steps, size, sessions = steps + report.steps, size + report.bytes, sessions + report.sessions
                bar.advance(len(batch))
        if args.vacuum and not args.dry_run:
            await cp.vacuum()
    if args.json:
        emit_json({"steps": steps, "bytes": size, "sessions": sessions, "dry_run": args.dry_run})
    else:
        verb = "would delete" if args.dry_run else "deleted"
        say(f"{verb} {steps} steps ({human_bytes(size)}) from {sessions} sessions in {shown_url(url)}")
    return EXIT_OK


async def cmd_migrate(args: argparse.Namespace) -> int:
    from engine.persistence.factory import migrate

    url = db_url(args)
    SECRETS.add_url(url)
    try:
        applied = await migrate(url)
        if url.startswith(("postgres://", "postgresql://")):  # queue mode (issue 18): PgQueuer's own schema
            from engine.queue.migrate import install_queue_schema

            applied += await install_queue_schema(url)
    except CheckpointerError as exc:
        raise CliError(f"migrating {shown_url(url)} failed: {SECRETS.scrub(str(exc))}", EXIT_FAILED) from exc
    if args.json:
        emit_json({"database": shown_url(url), "applied": applied})
    elif applied:
        say(f"{shown_url(url)}: applied {', '.join(applied)}")
    else:
        say(f"{shown_url(url)}: up to date")
    return EXIT_OK
