"""The `weavegraph` argument parser and `main`: run, step and validate graph documents; list, inspect, prune,
migrate and export checkpoint databases. Exit codes: 0 ok, 1 the run (or the database work) failed, 2 bad
input."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from engine.cli.support import EXIT_FAILED, EXIT_USAGE, SECRETS, CliError, warn

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

EPILOG = (
    "exit codes: 0 ok, 1 the run failed, 2 bad input or an untrusted document, 3 waiting at an interrupt. "
    "Databases: memory:, sqlite://file.db, sqlite:///abs/path.db, postgresql://user@host/db; the default "
    "(every command but run) is WEAVEGRAPH_SQLITE_URL, SQLITE_DB_NAME or sqlite://weavegraph.db."
)


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parent


def _db(parser: argparse.ArgumentParser, what: str = "the SQLite resolution") -> None:
    parser.add_argument("--db", metavar="URL", help=f"checkpoint database (default: {what})")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", action="store_true", help="draw progress bars even when not on a terminal"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (each subparser's `func` is the coroutine to run)."""
    import engine.cli.admin as admin
    import engine.cli.browse as browse
    import engine.cli.debug as debug
    import engine.cli.run as run
    import engine.cli.transfer as transfer
    from engine.observability.cli import add_run_options

    common = _common()
    parser = argparse.ArgumentParser(
        prog="weavegraph", description="Run graph documents and manage checkpoint databases.", epilog=EPILOG
    )
    parser.add_argument("--version", action="version", version=f"weavegraph {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", parents=[common], help="run a graph document to completion")
    p.add_argument("doc", metavar="DOC", help="a *.wgraph.json file or a bundled example's name")
    p.add_argument(
        "--input", metavar="JSON", help='initial state {"messages": [...], "extra": {...}} or @file'
    )
    p.add_argument("--session", metavar="ID", help="session id (default: run-<uuid4>)")
    _db(p, "memory:")
    p.add_argument("--events", metavar="FILE", help="write every event as JSON Lines")
    p.add_argument("--trust", action="store_true", help="allow (and remember) the document's Python imports")
    _progress(p)
    _json(p)
    add_run_options(p)  # --metrics-port, --grace-s (engine/observability/cli.py)
    p.set_defaults(func=run.cmd_run)

    p = sub.add_parser("step", parents=[common], help="run one iterative invocation of a session")
    p.add_argument("doc", metavar="DOC")
    p.add_argument("--session", metavar="ID", required=True, help="created from the document's input if new")
    p.add_argument("--input", metavar="JSON", required=True, help="partial merged at the barrier, or @file")
    _db(p)
    p.add_argument("--events", metavar="FILE", help="write every event as JSON Lines")
    p.add_argument("--trust", action="store_true", help="allow (and remember) the document's Python imports")
    _progress(p)
    _json(p)
    add_run_options(p)
    p.set_defaults(func=run.cmd_step)

    p = sub.add_parser("validate", parents=[common], help="check a graph document (exit 0 valid, 2 not)")
    p.add_argument("doc", metavar="DOC")
    _json(p)
    p.set_defaults(func=run.cmd_validate)

    debug.add_commands(sub, common, _db, _json)  # records, events, fork, replay (issue 15)

    p = sub.add_parser("sessions", parents=[common], help="list the sessions of a database")
    _db(p)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--search", metavar="TEXT", help="only ids containing TEXT")
    _json(p)
    p.set_defaults(func=browse.cmd_sessions)

    p = sub.add_parser("steps", parents=[common], help="list the steps of a session, newest first")
    p.add_argument("session", metavar="SESSION")
    _db(p)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--node", metavar="NODE", help="only steps where NODE ran")
    _json(p)
    p.set_defaults(func=browse.cmd_steps)

    p = sub.add_parser("stats", parents=[common], help="storage statistics of a database")
    _db(p)
    _json(p)
    p.set_defaults(func=browse.cmd_stats)

    p = sub.add_parser("prune", parents=[common], help="delete old steps (never a session's latest)")
    _db(p)
    p.add_argument("--keep-last", type=int, metavar="N", help="keep the last N steps of each session")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="delete steps older than DAYS days")
    p.add_argument("--session", action="extend", nargs="+", metavar="ID", help="only these sessions")
    p.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    p.add_argument("--vacuum", action="store_true", help="reclaim the space afterwards")
    _progress(p)
    _json(p)
    p.set_defaults(func=admin.cmd_prune)

    p = sub.add_parser("migrate", parents=[common], help="create or update the database schema")
    _db(p)
    _json(p)
    p.set_defaults(func=admin.cmd_migrate)

    p = sub.add_parser("export", parents=[common], help="export a session's steps as one JSON document")
    p.add_argument("session", metavar="SESSION", help="session id (a LangGraph database: the thread id)")
    _db(p)
    _langgraph_export(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    _progress(p)
    p.set_defaults(func=transfer.cmd_export)

    p = sub.add_parser(
        "import",
        parents=[common],
        help="save the steps of an export into a database (full or compact storage: ?storage= in the URL)",
    )
    p.add_argument("file", metavar="FILE", help="a `weavegraph export` JSON document or a JSON Lines export")
    _db(p)
    p.add_argument("--session", metavar="ID", help="import under this session id instead")
    p.add_argument("--replace", action="store_true", help="replace sessions that already exist")
    _progress(p)
    _json(p)
    p.set_defaults(func=transfer.cmd_import)

    import engine.cli.hitl as hitl  # human in the loop: inbox, resume (ENGINE.md 8.3/8.5)

    hitl.add_commands(sub, common)

    # Queue mode (issue 18): worker, submit, jobs, cancel; bodies in engine/cli/queue.py.
    import engine.cli.queue as queue_cli

    queue_cli.add_queue_commands(sub, common)
    return parser


def _langgraph_export(parser: argparse.ArgumentParser) -> None:
    """LangGraph databases (engine/cli/langgraph.py): which chain and checkpoint of the thread to export."""
    parser.add_argument("--ns", metavar="NS", help="LangGraph: the checkpoint namespace (default: the root)")
    parser.add_argument(
        "--checkpoint", metavar="ID", help="LangGraph: export the branch ending here (default: newest)"
    )


def _version() -> str:
    from engine import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `weavegraph`; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (argparse exits 2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    func: Command = args.func
    debug = bool(getattr(args, "debug", False))
    if not debug:
        _quiet_drivers()
    try:
        from engine.logsetup import configure_logging

        configure_logging()  # WEAVEGRAPH_LOG directives; nothing when unset
    except Exception as exc:  # a bad WEAVEGRAPH_LOG must not stop the command
        warn(f"weavegraph: WEAVEGRAPH_LOG ignored: {exc}")
    try:
        return asyncio.run(func(args))
    except CliError as exc:
        if debug:
            _traceback()
        for line in exc.lines:
            warn(line if line.startswith(("$", "weavegraph:", "--")) else f"weavegraph: {line}")
        return exc.code
    except KeyboardInterrupt:
        warn("weavegraph: interrupted")
        return 130
    except Exception as exc:  # anything unexpected: one line, the traceback only with --debug
        if debug:
            _traceback()
        warn(f"weavegraph: error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _quiet_drivers() -> None:
    """Without `--debug`, driver chatter (asyncpg's pool reconnecting while the server is gone) never
    reaches stderr: the command's own one-line error says what happened. WEAVEGRAPH_LOG still routes
    these loggers to its handlers."""
    for name in ("asyncpg",):
        logging.getLogger(name).addHandler(logging.NullHandler())


def _traceback() -> None:
    sys.stderr.write(SECRETS.scrub(traceback.format_exc()))
