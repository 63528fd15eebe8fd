"""`weavegraph export` and `import`: a session as one JSON document (the codec's session format, with the
session's node records, stored events and lineage beside its steps), and back into any database (converting
between full and compact storage). Documents written before records existed import as they are."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import engine.cli.langgraph as langgraph
import engine.persistence.transfer as transfer
from engine.cli.support import (
    EXIT_OK,
    CliError,
    Progress,
    db_url,
    emit_json,
    opened_checkpointer,
    require_session,
    say,
    shown_url,
)
from engine.errors import CheckpointerError
from engine.persistence.base import Checkpoint, StepQuery
from engine.persistence.codec import session_from_json, session_to_json
from engine.persistence.errors import CheckpointDataError
from engine.types import JSON

EXPORT_PAGE = 200


async def export_session(cp: Any, session_id: str, *, progress: bool | None = None) -> dict[str, JSON]:
    """Every step of a session, ascending, as the codec's session document
    `{"format": "weavegraph.session", "version": 1, "session_id", "graph_hash", "steps": [...],
    "node_records": [...], "events": [...], "parent", "graph_name"}`; pages by step number so concurrent
    writers never shift a page."""
    pages: list[Checkpoint] = []
    max_step: int | None = None
    with Progress("exporting", None, enabled=progress) as bar:
        while True:
            result = await cp.query_steps(session_id, StepQuery(limit=EXPORT_PAGE, max_step=max_step))
            if bar.total is None:
                bar.set_total(result.total_count)
            if not result.checkpoints:
                break
            pages.extend(result.checkpoints)
            bar.advance(len(result.checkpoints))
            max_step = min(c.step for c in result.checkpoints) - 1
            if not result.has_next_page or max_step < 0:
                break
    graph_hash = await cp.graph_hash(session_id) if hasattr(cp, "graph_hash") else None
    doc = session_to_json(session_id, graph_hash, reversed(pages))
    extras = await transfer.read_extras(cp, session_id)
    kept = {c.step for c in pages}  # records of steps pruned while paging have nowhere to go
    doc["node_records"] = transfer.records_to_json(
        r for step in sorted(extras.records) if step in kept for r in extras.records[step]
    )
    doc["events"] = [e.to_json_value() for e in extras.events]
    doc.update(transfer.lineage_to_json(extras))
    return doc


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def cmd_export(args: argparse.Namespace) -> int:
    url = db_url(args)
    if await langgraph.is_langgraph(url):  # a LangGraph thread as JSON Lines that `import` reads
        text, count, label = await langgraph.export_text(args, url)
        _write_output(args.output, text, f"exported {count} checkpoints of LangGraph thread {label}")
        return EXIT_OK
    if args.ns is not None or args.checkpoint is not None:
        raise CliError("--ns and --checkpoint apply to LangGraph databases only")
    async with opened_checkpointer(url, create=False) as cp:
        await require_session(cp, args.session, url)
        value = await export_session(cp, args.session, progress=args.progress or None)
    text = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    steps = value["steps"]
    count = len(steps) if isinstance(steps, list) else 0
    _write_output(args.output, text, f"exported {count} steps of session {args.session}")
    return EXIT_OK


def _write_output(output: str | None, text: str, done: str) -> None:
    """`text` to `-o FILE` atomically (saying `done` to FILE), or to stdout."""
    if output and output != "-":
        target = Path(output)
        try:
            _write_atomic(target, text)
        except OSError as exc:
            raise CliError(f"-o {target}: cannot write: {exc.strerror or exc}") from exc
        say(f"{done} to {target}")
    else:
        sys.stdout.write(text)


def _import_records(
    path: Path, text: str, rename: str | None
) -> dict[str, tuple[list[Checkpoint], transfer.SessionExtras]]:
    """Sessions (checkpoints oldest first, with their records, events and lineage) from a `weavegraph export`
    document or an `export_jsonl` file; decoded whole before anything is written."""
    stripped = text.lstrip()
    sessions: dict[str, tuple[list[Checkpoint], transfer.SessionExtras]] = {}
    try:
        if stripped.startswith("{") and '"weavegraph.session"' in stripped[:200]:
            doc = json.loads(text)
            steps = session_from_json(doc, f"{path}: $", rename=rename)
            extras = transfer.SessionExtras()
            for rec in transfer.records_from_json(doc.get("node_records", []), f"{path}: $.node_records"):
                extras.records.setdefault(rec.step, []).append(rec)
            extras.events = transfer.events_from_json(doc.get("events", []), f"{path}: $.events")
            transfer.lineage_from_json(doc, extras, f"{path}: $")
            if steps:
                sessions[steps[0].session_id] = (steps, extras)
        else:
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    transfer.decode_line(json.loads(line), f"{path}:{number}", sessions, rename)
    except (CheckpointerError, CheckpointDataError) as exc:  # the message names the place and the field
        raise CliError(f"{path}: not a weavegraph export ({exc})") from exc
    except ValueError as exc:  # JSON syntax
        raise CliError(f"{path}: not a weavegraph export ({exc})") from exc
    for steps, extras in sessions.values():
        steps.sort(key=lambda c: c.step)
        transfer.attach(steps, extras)
    return sessions


async def cmd_import(args: argparse.Namespace) -> int:
    """Save every step of an export into a database (converting between full and compact storage)."""
    source = Path(args.file)
    try:
        text = await asyncio.to_thread(source.read_text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    found = _import_records(source, text, args.session)
    checkpoints = [c for steps, _ in found.values() for c in steps]
    url = db_url(args)
    async with opened_checkpointer(url, create=True) as cp:
        sessions = {c.session_id for c in checkpoints}
        if not args.replace:
            for sid in sorted(sessions):
                if await cp.load_latest(sid) is not None:
                    raise CliError(
                        f"session '{sid}' already exists in {shown_url(url)} "
                        "(use --replace, or --session NEW_ID)"
                    )
        else:
            for sid in sessions:
                await cp.delete_session(sid)
        with Progress("importing", len(checkpoints), enabled=args.progress or None) as bar:
            for steps, extras in found.values():
                for checkpoint in steps:
                    await cp.save(checkpoint)
                    bar.advance(1)
                if extras.events and steps:  # stored events after the steps, in their order
                    await cp.append_events(steps[0].session_id, extras.events)
    if args.json:
        emit_json({"imported_steps": len(checkpoints), "sessions": sorted(sessions)})
    else:
        say(f"imported {len(checkpoints)} steps of {len(sessions)} session(s) into {shown_url(url)}")
    return EXIT_OK
