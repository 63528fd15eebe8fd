"""`weavegraph records`, `events`, `fork` and `replay` (issue 15): node records and stored events of a
session, a new session forked from a stored step, and a replay with recorded outputs. Errors are one line
naming the session and step; nothing is written when they happen."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.run import _app, _check_trust, _document, _print_result
from engine.cli.support import EXIT_FAILED, EXIT_OK, CliError, db_url, emit_json, opened_checkpointer, say
from engine.errors import CheckpointerError
from engine.partial import NodePartial
from engine.timetravel import CheckpointNotFound, RecordUndecodable, SessionExists
from engine.types import JSON


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()] if text else []


async def cmd_records(args: argparse.Namespace) -> int:
    url = db_url(args)
    async with opened_checkpointer(url, create=False) as cp:
        records = await cp.node_records(args.session, step=args.step)
    if args.json:
        emit_json([r.to_json_value() for r in records])
        return EXIT_OK
    for r in records:
        extra = f" error={r.error['error']['message']}" if isinstance(r.error, dict) else ""
        say(f"step {r.step}  {r.node}  {r.status}  attempts={r.attempts}  {r.duration_ms:.3f} ms{extra}")
    say(f"{len(records)} node records of session {args.session}")
    return EXIT_OK


async def cmd_events(args: argparse.Namespace) -> int:
    url = db_url(args)
    async with opened_checkpointer(url, create=False) as cp:
        events = await cp.events(args.session, args.min_step, args.max_step, args.limit)
    if args.json:
        emit_json([e.to_json_value() for e in events])
        return EXIT_OK
    for e in events:
        say(f"{e.seq}  step={e.step}  {e.type}  {e.scope}  {e.message}")
    say(f"{len(events)} stored events of session {args.session}")
    return EXIT_OK


def _update(text: str | None) -> NodePartial | None:
    if not text:
        return None
    try:
        return NodePartial.from_json_value(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise CliError(f"--update: not a node partial: {exc}") from exc


async def _with_runner(args: argparse.Namespace, work: Any) -> Any:
    from engine.runner import AppRunner

    doc = _document(args.doc)
    _check_trust(doc, args.trust)
    app = _app(doc)
    url = db_url(args)
    async with opened_checkpointer(url, create=False) as cp:
        async with await AppRunner.builder().app(app).checkpointer_custom(cp).build() as runner:
            try:
                return await work(runner, cp)
            except (CheckpointNotFound, SessionExists, RecordUndecodable) as exc:
                raise CliError(str(exc), EXIT_FAILED) from exc
            except CheckpointerError as exc:
                raise CliError(str(exc), EXIT_FAILED) from exc


async def cmd_fork(args: argparse.Namespace) -> int:
    update = _update(args.update)

    async def work(runner: Any, cp: Any) -> Any:
        await runner.fork_session(args.session, args.step, args.new_id, update, _names(args.frontier) or None)
        return await cp.load_latest(args.new_id)

    cp = await _with_runner(args, work)
    if args.json:
        emit_json({"session_id": args.new_id, "parent_session": args.session, "parent_step": args.step})
    else:
        say(f"forked session {args.session} at step {args.step} into {args.new_id}")
        _print_result(args, args.new_id, cp.step, cp.state, "forked")
    return EXIT_OK


async def cmd_replay(args: argparse.Namespace) -> int:
    live = _names(args.live)

    async def work(runner: Any, cp: Any) -> Any:
        records = [r for r in await cp.node_records(args.session) if r.step > args.from_step]
        if not records and not live:
            raise CliError(
                f"session '{args.session}' has no node records after step {args.from_step} (made before "
                "records or with records off); replay it live with --live NODE[,NODE...]",
                EXIT_FAILED,
            )
        return await runner.replay_session(args.session, args.new_id, args.from_step, live, args.until_step)

    result = await _with_runner(args, work)
    if args.json:
        out: dict[str, JSON] = {
            "session_id": result.session_id,
            "recorded": [list(p) for p in result.recorded],
            "ran_live": [list(p) for p in result.ran_live],
            "diverged_at": result.diverged_at,
        }
        emit_json(out)
        return EXIT_OK
    say(
        f"replayed {args.session} into {result.session_id}: {len(result.recorded)} recorded, "
        f"{len(result.ran_live)} live, diverged at {result.diverged_at}"
    )
    return EXIT_OK


def add_commands(sub: Any, common: argparse.ArgumentParser, db: Any, as_json: Any) -> None:
    """The four subcommands (parser.py calls this in one line)."""
    p = sub.add_parser("records", parents=[common], help="list the node records of a session")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--step", type=int, help="only this step")
    db(p)
    as_json(p)
    p.set_defaults(func=cmd_records)

    p = sub.add_parser("events", parents=[common], help="list the stored events of a session")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--min-step", type=int)
    p.add_argument("--max-step", type=int)
    p.add_argument("--limit", type=int)
    db(p)
    as_json(p)
    p.set_defaults(func=cmd_events)

    for name, help_text in (
        ("fork", "start a new session from a stored step of another"),
        ("replay", "re-run a session with its recorded node outputs"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("doc", metavar="DOC", help="the session's graph document")
        p.add_argument("session", metavar="SESSION")
        if name == "fork":
            p.add_argument("step", metavar="STEP", type=int)
        p.add_argument("new_id", metavar="NEW_ID")
        if name == "fork":
            p.add_argument("--update", metavar="JSON", help="a node partial merged through the barrier")
            p.add_argument("--frontier", metavar="NODES", help="comma-separated nodes replacing the frontier")
            p.set_defaults(func=cmd_fork)
        else:
            p.add_argument("--from-step", type=int, default=0)
            p.add_argument("--until-step", type=int)
            p.add_argument("--live", metavar="NODES", help="comma-separated nodes that run for real")
            p.set_defaults(func=cmd_replay)
        p.add_argument("--trust", action="store_true", help="allow (and remember) the document's imports")
        db(p)
        as_json(p)
