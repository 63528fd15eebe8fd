"""`weavegraph sessions`, `steps`, `stats`, `prune`, `migrate` and `export`: checkpoint databases from the
command line (SQLite resolution of ENGINE.md section 6 unless `--db`)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine.cli_support import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Progress,
    default_db_url,
    emit_json,
    opened_checkpointer,
    say,
    shown_url,
)
from engine.errors import CheckpointerError
from engine.persistence.base import Checkpoint, PrunePolicy, SessionQuery, SessionStats, StepQuery
from engine.persistence.serde import nodes_to_json, state_to_json, versions_seen_to_json
from engine.types import JSON

PRUNE_BATCH = 100
EXPORT_PAGE = 200


def _url(args: argparse.Namespace) -> str:
    return str(args.db) if args.db else default_db_url()


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _when(value: _dt.datetime | None) -> str:
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def session_json(s: SessionStats) -> dict[str, JSON]:
    return {
        "session_id": s.session_id,
        "created_at": s.created_at.isoformat() if s.created_at else None,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
        "last_step": s.last_step,
        "steps": s.steps,
        "bytes": s.bytes,
    }


def checkpoint_json(cp: Checkpoint, *, with_state: bool = True) -> dict[str, JSON]:
    """One step in the stored JSON shapes (the export format shared with the studio)."""
    out: dict[str, JSON] = {
        "step": cp.step,
        "created_at": cp.created_at.isoformat() if cp.created_at else None,
    }
    if with_state:
        out["state"] = state_to_json(cp.state)
    out["frontier"] = nodes_to_json(cp.frontier)
    out["versions_seen"] = versions_seen_to_json(cp.versions_seen)
    out["concurrency_limit"] = cp.concurrency_limit
    out["ran_nodes"] = nodes_to_json(cp.ran_nodes)
    out["skipped_nodes"] = nodes_to_json(cp.skipped_nodes)
    out["updated_channels"] = list(cp.updated_channels)
    return out


async def _require_session(cp: Any, session_id: str, url: str) -> None:
    if await cp.load_latest(session_id) is None:
        raise CliError(f"no session '{session_id}' in {shown_url(url)}")


async def cmd_sessions(args: argparse.Namespace) -> int:
    url = _url(args)
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
            _when(s.created_at),
            _when(s.updated_at),
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
    url = _url(args)
    async with opened_checkpointer(url, create=False) as cp:
        await _require_session(cp, args.session, url)
        result = await cp.query_steps(
            args.session, StepQuery(limit=args.limit, offset=args.offset, ran_node=args.node)
        )
    if args.json:
        emit_json(
            {
                "session_id": args.session,
                "total_count": result.total_count,
                "has_next_page": result.has_next_page,
                "steps": [checkpoint_json(c, with_state=False) for c in result.checkpoints],
            }
        )
        return EXIT_OK
    rows = [
        [
            str(c.step),
            _when(c.created_at),
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
    url = _url(args)
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


async def cmd_prune(args: argparse.Namespace) -> int:
    if args.keep_last is None and args.older_than is None:
        raise CliError("prune needs --keep-last N and/or --older-than DAYS")
    if args.keep_last is not None and args.keep_last < 1:
        raise CliError(f"--keep-last must be at least 1, got {args.keep_last}")
    if args.older_than is not None and args.older_than < 0:
        raise CliError(f"--older-than must not be negative, got {args.older_than}")
    older = _dt.timedelta(days=args.older_than) if args.older_than is not None else None
    url = _url(args)
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
    from engine.cli_support import SECRETS
    from engine.persistence.factory import migrate

    url = _url(args)
    SECRETS.add_url(url)
    try:
        applied = await migrate(url)
    except CheckpointerError as exc:
        raise CliError(f"migrating {shown_url(url)} failed: {SECRETS.scrub(str(exc))}", EXIT_FAILED) from exc
    if args.json:
        emit_json({"database": shown_url(url), "applied": applied})
    elif applied:
        say(f"{shown_url(url)}: applied {', '.join(applied)}")
    else:
        say(f"{shown_url(url)}: up to date")
    return EXIT_OK


async def export_session(cp: Any, session_id: str, *, progress: bool | None = None) -> dict[str, JSON]:
    """Every step of a session, ascending, in the export format
    `{"format": "weavegraph.session", "version": 1, "session_id", "graph_hash", "steps": [...]}`; pages by
    step number so concurrent writers never shift a page."""
    steps: list[JSON] = []
    max_step: int | None = None
    with Progress("exporting", None, enabled=progress) as bar:
        while True:
            result = await cp.query_steps(session_id, StepQuery(limit=EXPORT_PAGE, max_step=max_step))
            if bar.total is None:
                bar.set_total(result.total_count)
            if not result.checkpoints:
                break
            steps.extend(checkpoint_json(c) for c in result.checkpoints)
            bar.advance(len(result.checkpoints))
            max_step = min(c.step for c in result.checkpoints) - 1
            if not result.has_next_page or max_step < 0:
                break
    steps.reverse()
    graph_hash = await cp.graph_hash(session_id) if hasattr(cp, "graph_hash") else None
    return {
        "format": "weavegraph.session",
        "version": 1,
        "session_id": session_id,
        "graph_hash": graph_hash,
        "steps": steps,
    }


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
    url = _url(args)
    async with opened_checkpointer(url, create=False) as cp:
        await _require_session(cp, args.session, url)
        value = await export_session(cp, args.session, progress=args.progress or None)
    text = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    if args.output and args.output != "-":
        target = Path(args.output)
        try:
            _write_atomic(target, text)
        except OSError as exc:
            raise CliError(f"-o {target}: cannot write: {exc.strerror or exc}") from exc
        steps = value["steps"]
        count = len(steps) if isinstance(steps, list) else 0
        say(f"exported {count} steps of session {args.session} to {target}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _import_records(path: Path, text: str, rename: str | None) -> list[Checkpoint]:
    """Checkpoints from a `weavegraph export` document or an `export_jsonl` file, oldest first."""
    from engine.persistence.serde import decode_checkpoint
    from engine.persistence.transfer import record_to_checkpoint

    stripped = text.lstrip()
    try:
        if stripped.startswith("{") and '"weavegraph.session"' in stripped[:200]:
            doc = json.loads(text)
            sid = rename or str(doc["session_id"])
            graph_hash = doc.get("graph_hash")
            out = []
            for i, step in enumerate(doc["steps"]):
                where = f"{path}: $.steps[{i}]"
                try:
                    out.append(
                        decode_checkpoint(
                            sid,
                            int(step["step"]),
                            step.get("created_at"),
                            step["state"],
                            step.get("frontier", []),
                            step.get("versions_seen", {}),
                            step.get("ran_nodes", []),
                            step.get("skipped_nodes", []),
                            step.get("updated_channels", []),
                            step.get("concurrency_limit"),
                            graph_hash,
                        )
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise CliError(f"{where}: not a checkpoint step ({exc})") from exc
            return sorted(out, key=lambda c: c.step)
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                cp = record_to_checkpoint(json.loads(line), f"{path}:{number}")
                if rename:
                    cp.session_id = rename
                records.append(cp)
        return records
    except ValueError as exc:  # JSON errors and CheckpointDataError's message name the line
        raise CliError(f"{path}: not a weavegraph export ({exc})") from exc
    except KeyError as exc:
        raise CliError(f"{path}: not a weavegraph export (missing {exc})") from exc


async def cmd_import(args: argparse.Namespace) -> int:
    """Save every step of an export into a database (converting between full and compact storage)."""
    source = Path(args.file)
    try:
        text = await asyncio.to_thread(source.read_text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    checkpoints = _import_records(source, text, args.session)
    url = _url(args)
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
            for checkpoint in checkpoints:
                await cp.save(checkpoint)
                bar.advance(1)
    if args.json:
        emit_json({"imported_steps": len(checkpoints), "sessions": sorted(sessions)})
    else:
        say(f"imported {len(checkpoints)} steps of {len(sessions)} session(s) into {shown_url(url)}")
    return EXIT_OK
