"""`weavegraph inbox` and `weavegraph resume` (ENGINE.md 8.3/8.5)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.hitl_report import interrupt_json, line_of, report_interrupted
from engine.cli.support import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Progress,
    db_url,
    emit_json,
    opened_checkpointer,
    say,
    warn,
)
from engine.errors import RunnerError, SessionNotFound
from engine.hitl_types import InterruptError, PendingInterrupt, SessionInterrupted


async def cmd_inbox(args: argparse.Namespace) -> int:
    """The pending interrupts of every session of the database, newest first."""
    url = db_url(args)
    async with opened_checkpointer(url, create=False) as cp:
        lister = getattr(cp, "list_interrupts", None)
        if lister is None:
            raise CliError(f"{type(cp).__name__} stores no interrupts")
        rows: list[PendingInterrupt] = await lister(
            pending=not args.all, limit=args.limit, offset=args.offset
        )
    if args.json:
        emit_json({"interrupts": [interrupt_json(i) for i in rows]})
    elif not rows:
        say("no pending interrupts")
    else:
        for i in rows:
            say(line_of(i) + ("" if i.pending else f"  answered: {json.dumps(i.answer, ensure_ascii=False)}"))
    return EXIT_OK


def parse_answer(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--answer is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


async def cmd_resume(args: argparse.Namespace) -> int:
    """Answer the session's interrupt(s) and run on locally (exit 3 when it stops at an interrupt again)."""
    import engine.cli.run as run
    from engine.observability.cli import RunControl
    from engine.reports import PausedReport

    answer = parse_answer(args.answer)
    if args.queue:
        return await resume_queued(args, answer)
    if args.events:
        raise CliError("--events goes with --queue (a local resume writes no events file)", EXIT_USAGE)
    answers = {args.interrupt: answer} if args.interrupt else answer
    doc = run._document(args.doc)
    run._check_trust(doc, args.trust)
    app = run._app(doc)
    url = db_url(args)
    control = RunControl(args, warn, graph_name=doc.name)
    with Progress("resume: steps", None, enabled=False) as bar, control:
        async with run._runner(app, url, None, bar, control) as runner:
            try:
                report = await runner.resume(args.session, answers, by_id=bool(args.interrupt))
                if isinstance(report, PausedReport):
                    return report_interrupted(args, args.session, report.interrupts)
                final = await runner.run_until_complete(args.session)
            except SessionInterrupted as exc:
                return report_interrupted(args, args.session, exc.interrupts)
            except (InterruptError, SessionNotFound) as exc:
                raise CliError(str(exc), EXIT_USAGE) from exc
            except RunnerError as exc:
                raise run._run_failed(exc) from exc
            step = runner.get_session(args.session).step
    run._print_result(args, args.session, step, final, "completed")
    return EXIT_OK


async def resume_queued(args: argparse.Namespace, answer: Any) -> int:
    """`resume --queue`: check the answer here (nothing is queued for a bad one), then queue a job that
    answers and runs on; wait for it like `submit --wait` (exit 3 when it stops at an interrupt again)."""
    import engine.cli.queue as queue_cli
    from engine.interrupts import check_answer
    from engine.queue import QueueClient, QueueError

    url = queue_cli._url(args)
    graph = args.doc
    if graph.endswith(".json"):  # a document: its name is the graph name the workers serve
        import engine.cli.run as run

        graph = str(run._document(graph).name)
    pending = await queue_cli.pending_of(url, args.session)
    if args.interrupt:
        chosen = [i for i in pending if i.id == args.interrupt]
        if not chosen:
            raise CliError(
                f"interrupt '{args.interrupt}' is not waiting in session '{args.session}'", EXIT_USAGE
            )
    elif len(pending) == 1:
        chosen = pending
    else:
        detail = "nothing waits" if not pending else f"{len(pending)} wait: give --interrupt ID"
        raise CliError(f"cannot resume session '{args.session}': {detail}", EXIT_USAGE)
    try:
        check_answer(chosen[0], answer)
    except InterruptError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    try:
        client = await QueueClient.connect(url)
    except QueueError as exc:
        raise queue_cli._queue_error(exc) from exc
    args.wait = True
    async with client:
        return await queue_cli.submit_and_follow(
            client, args, graph, args.session, None, {chosen[0].id: answer}
        )


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The `inbox` and `resume` subcommands."""
    p = sub.add_parser(
        "inbox", parents=[common], help="list the interrupts waiting for an answer, newest first"
    )
    p.add_argument("--db", metavar="URL", help="checkpoint database (default: the SQLite resolution)")
    p.add_argument("--all", action="store_true", help="answered interrupts too")
    p.add_argument("--limit", type=int, default=100, metavar="N")
    p.add_argument("--offset", type=int, default=0, metavar="N")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_inbox)

    p = sub.add_parser("resume", parents=[common], help="answer a session's interrupt(s) and run on")
    p.add_argument(
        "doc", metavar="GRAPH", help="the session's *.wgraph.json file or a bundled example's name"
    )
    p.add_argument("--session", metavar="ID", required=True, help="the waiting session")
    p.add_argument("--db", metavar="URL", help="checkpoint database (default: the SQLite resolution)")
    p.add_argument("--answer", metavar="JSON", required=True, help="the answer (JSON)")
    p.add_argument("--interrupt", metavar="ID", help="the interrupt answered (needed when several wait)")
    p.add_argument("--trust", action="store_true", help="allow (and remember) the document's Python imports")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--queue",
        action="store_true",
        help="run on as a queue job (GRAPH: the graph name the workers serve, or its document); waits for it",
    )
    p.add_argument(
        "--events", metavar="FILE", help="with --queue: stream the session's events live (-: stdout)"
    )
    p.set_defaults(func=cmd_resume)
