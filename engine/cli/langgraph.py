"""`weavegraph sessions / stats / prune / export` on a LangGraph checkpoint database (README "LangGraph
databases"): detected by its tables before our checkpointer opens the database, so nothing is ever written
(our Postgres open would run migrations; the LangGraph reader is read-only). Prune is the one writer."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from engine.cli.support import (
    EXIT_FAILED,
    EXIT_OK,
    SECRETS,
    CliError,
    emit_json,
    human_bytes,
    say,
    shown_url,
    table,
    when,
)
from engine.errors import CheckpointerError
from engine.types import JSON

KEEP_LAST_ESTIMATES = (1, 10, 100)


async def is_langgraph(url: str) -> bool:
    """Whether `url` is a LangGraph saver's database (read-only check; False for ours and for errors)."""
    from engine.foreign.langgraph import is_langgraph_database

    SECRETS.add_url(url)
    return await is_langgraph_database(url)


def _fail(url: str, exc: BaseException, code: int = EXIT_FAILED) -> CliError:
    return CliError(f"{shown_url(url)}: {SECRETS.scrub(str(exc))}", code)


async def _open(url: str) -> Any:
    from engine.foreign.langgraph import open_langgraph

    try:
        return await open_langgraph(url)
    except CheckpointerError as exc:
        raise CliError(f"cannot open {shown_url(url)}: {SECRETS.scrub(str(exc))}") from exc


def thread_json(t: Any) -> dict[str, JSON]:
    return {
        "thread_id": t.key.thread_id,
        "checkpoint_ns": t.key.checkpoint_ns,
        "checkpoints": t.checkpoints,
        "bytes": t.bytes,
        "latest_checkpoint_id": t.latest_checkpoint_id,
        "updated_at": t.updated_at.isoformat() if t.updated_at else None,
    }


async def sessions(args: argparse.Namespace, url: str) -> int:
    """Threads (one row per checkpoint namespace) as sessions, newest first."""
    from engine.foreign.langgraph import ThreadQuery

    async with await _open(url) as reader:
        try:
            page = await reader.list_threads(
                ThreadQuery(limit=args.limit, offset=args.offset, search=args.search)
            )
        except CheckpointerError as exc:
            raise _fail(url, exc) from exc
    if args.json:
        emit_json(
            {
                "database": shown_url(url),
                "format": "langgraph",
                "total_count": page.total_count,
                "threads": [thread_json(t) for t in page.items],
            }
        )
        return EXIT_OK
    rows = [
        [
            t.key.thread_id,
            t.key.checkpoint_ns or "-",
            when(t.updated_at),
            str(t.checkpoints),
            human_bytes(t.bytes),
        ]
        for t in page.items
    ]
    for line in table(["THREAD", "NAMESPACE", "UPDATED", "CHECKPOINTS", "BYTES"], rows):
        say(line)
    say(f"{len(rows)} of {page.total_count} threads in LangGraph database {shown_url(url)}")
    return EXIT_OK


async def stats(args: argparse.Namespace, url: str) -> int:
    """The storage analytics: bytes per thread and channel, repeated blobs, file/WAL/free, keep-last-N."""
    from engine.foreign.langgraph import report_lines

    async with await _open(url) as reader:
        try:
            report = await reader.analytics(keep_last=KEEP_LAST_ESTIMATES)
        except CheckpointerError as exc:
            raise _fail(url, exc) from exc
    if args.json:
        value = dataclasses.asdict(report)
        value["threads"] = [thread_json(t) for t in report.threads]
        value["largest_checkpoints"] = [
            {
                "thread_id": c.key.thread_id,
                "checkpoint_ns": c.key.checkpoint_ns,
                "checkpoint_id": c.checkpoint_id,
                "bytes": c.bytes,
            }
            for c in report.largest_checkpoints
        ]
        value["database"] = shown_url(url)
        value["format"] = "langgraph"
        emit_json(value)
        return EXIT_OK
    say(f"database  {shown_url(url)}")
    for line in report_lines(report):
        say(line)
    return EXIT_OK


async def prune(args: argparse.Namespace, url: str) -> int:
    """keep-last-N: `--dry-run` previews (nothing written); otherwise the prune runs, then VACUUM if asked."""
    from engine.foreign.langgraph import prune_langgraph, prune_lines

    if args.keep_last is None:
        raise CliError("prune of a LangGraph database needs --keep-last N")
    if args.older_than is not None:
        raise CliError("--older-than is not supported on a LangGraph database (use --keep-last N)")
    threads = list(args.session) if args.session else None
    try:
        if args.dry_run:
            async with await _open(url) as reader:
                plan = await reader.plan_prune(args.keep_last, threads)
        else:
            plan = await prune_langgraph(url, args.keep_last, thread_ids=threads, vacuum=args.vacuum)
    except CheckpointerError as exc:
        raise _fail(url, exc) from exc
    if args.json:
        value = dataclasses.asdict(plan.summary)
        value.update(
            {
                "database": shown_url(url),
                "format": "langgraph",
                "dry_run": args.dry_run,
                "vacuumed": bool(args.vacuum and not args.dry_run),
                "kept": plan.kept,
            }
        )
        emit_json(value)
        return EXIT_OK
    for line in prune_lines(plan, dry_run=args.dry_run):
        say(line)
    if args.vacuum and not args.dry_run:
        say(f"VACUUM done on {shown_url(url)}")
    return EXIT_OK


async def export_text(args: argparse.Namespace, url: str) -> tuple[str, int, str]:
    """A thread (the branch ending at `--checkpoint`, default the newest) as the JSON Lines that
    `weavegraph import` reads: (text, records, thread label).
    `ThreadNotExportable` is a one-line error with exit 1."""
    from engine.foreign.langgraph import ThreadKey, ThreadNotExportable, export_thread

    key = ThreadKey(args.session, args.ns or "")
    async with await _open(url) as reader:
        try:
            records = await export_thread(reader, key, checkpoint_id=args.checkpoint)
        except ThreadNotExportable as exc:
            raise _fail(url, exc) from exc
        except LookupError as exc:
            text = str(exc.args[0]) if exc.args else str(exc)
            raise CliError(f"{shown_url(url)}: {SECRETS.scrub(text)}") from exc
        except CheckpointerError as exc:
            raise _fail(url, exc) from exc
    text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    return text, len(records), key.label
