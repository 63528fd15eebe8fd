"""`weavegraph worker`, `submit`, `jobs` and `cancel`: queue mode (ENGINE.md 8.5) from the command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
from typing import IO, Any

from engine.cli.support import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    SECRETS,
    CliError,
    emit_json,
    parse_input_option,
    say,
    shown_url,
    table,
    warn,
)
from engine.queue.models import STATUSES, Job, QueueError


def _url(args: argparse.Namespace) -> str:
    if not args.db:
        raise CliError("--db postgresql://... is required: queue mode needs PostgreSQL", EXIT_USAGE)
    SECRETS.add_url(args.db)
    return str(args.db)


def _queue_error(exc: QueueError, code: int = EXIT_FAILED) -> CliError:
    return CliError(SECRETS.scrub(str(exc)), code)


def load_graph(spec: str, trust: bool) -> tuple[str, Any]:
    """(graph name, App) of a `*.wgraph.json` document (or bundled example name) or a `module:attr` (an App,
    or a GraphBuilder that is compiled); `CliError` (one line) when it cannot be loaded."""
    from engine.cli.run import _app, _check_trust, _document

    if ":" in spec and not spec.endswith(".json"):
        module_name, _, attr = spec.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # a broken module: any error while importing it
            raise CliError(f"graph {spec}: cannot import: {type(exc).__name__}: {exc}", EXIT_USAGE) from None
        compile_ = getattr(value, "compile", None)
        app = compile_() if callable(compile_) and not hasattr(value, "graph_definition_hash") else value
        if not hasattr(app, "graph_definition_hash"):
            raise CliError(f"graph {spec}: {attr} is not an App or a GraphBuilder", EXIT_USAGE)
        return attr, app
    doc = _document(spec)
    _check_trust(doc, trust)
    return str(doc.name), _app(doc)


def graph_name_of(spec: str) -> str | None:
    """The graph name a spec that failed to load would have served: the attribute of `module:attr`, the
    `name` of a document that is JSON at least; None when even that is unknown."""
    if ":" in spec and not spec.endswith(".json"):
        return spec.partition(":")[2] or None
    try:
        with open(spec, encoding="utf-8") as f:
            name = json.load(f).get("name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name else None


async def cmd_worker(args: argparse.Namespace) -> int:
    """Serve the graphs until SIGTERM/SIGINT, then finish the running jobs (up to --grace-s) and exit."""
    from engine.cli.run import EVENT_BUFFER
    from engine.events.bus import EventBus
    from engine.observability.cli import RunControl
    from engine.queue import Worker

    url = _url(args)
    apps: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for spec in args.graphs:
        try:
            name, app = load_graph(spec, args.trust)
        except CliError as exc:  # one bad graph: say so, mark its queued jobs, serve the others
            reason = str(exc.lines[0] if exc.lines else exc)
            warn(f"weavegraph: worker: skipping {spec}: {reason}")
            guess = graph_name_of(spec)
            if guess:
                unavailable[guess] = reason
            continue
        apps[name] = app
    if not apps:
        raise CliError("worker: no graph to serve (give documents or module:attr names)", EXIT_USAGE)
    loop = asyncio.get_running_loop()
    control = RunControl(args, warn)
    with control:
        # Tracing (OTEL_*) and --metrics-port: one event bus per graph with the sinks RunControl attaches;
        # each job continues the trace context its submitter sent.
        buses: dict[str, Any] = {}
        options: dict[str, dict[str, Any]] = {}
        tracers: dict[str, Any] = {}
        for name, app in apps.items():
            buses[name] = EventBus(buffer_capacity=EVENT_BUFFER)
            control.attach(buses[name], app)  # jobs publish lifecycle events anyway: they are stored
            options[name] = {"event_bus": buses[name], "lifecycle_events": True}
            tracers[name] = control.instrumentation
        try:
            worker = Worker(
                url,
                apps,
                concurrency=args.concurrency,
                heartbeat_s=args.heartbeat_s,
                lease_timeout_s=args.lease_timeout_s,
                runner_options=options,
                unavailable=unavailable,
                before_job=lambda graph, sid, trace: tracers[graph].continue_trace(sid, trace),
            )
        except QueueError as exc:
            raise _queue_error(exc, EXIT_USAGE) from exc
        task = asyncio.create_task(worker.run())
        stop: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            if stop:  # a second signal: stop now
                task.cancel()
                return
            stop.append(sig)
            warn(f"weavegraph: worker: {sig.name}: finishing the running jobs (up to {args.grace_s:g}s)")
            drain = asyncio.ensure_future(worker.drain())
            loop.call_later(args.grace_s, lambda: None if drain.done() else task.cancel())

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        say(f"worker {worker.id} serving {', '.join(sorted(apps))} from {shown_url(url)}")
        try:
            await task
        except QueueError as exc:
            raise _queue_error(exc) from exc
        except asyncio.CancelledError:
            if not stop:
                raise
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            for bus in buses.values():
                await bus.aclose()
    warn(f"weavegraph: worker {worker.id} stopped ({worker.jobs_done} jobs done)")
    return 128 + stop[0].value if stop else EXIT_OK


async def stream_events(client: Any, job_id: int, after: int, out: IO[str]) -> int:
    """Write the job's session's events as JSON Lines while its workers store them (`QueueClient.events`),
    until the job ends; return how many."""
    count = 0
    async for event in client.events(job_id, after=after):
        out.write(event.to_json_string() + "\n")
        out.flush()
        count += 1
    return count


async def follow(
    client: Any,
    job: Job,
    args: argparse.Namespace,
    after: int,
    out: IO[str] | None,
) -> int:
    """Wait for a submitted job (streaming its events to `out` when given); print it; exit 0 completed, 3
    interrupted (with the pending interrupts), 1 otherwise."""
    if out is not None:
        await stream_events(client, job.id, after, out)
    job = await client.wait(job.id)
    if job.status == "interrupted":
        from engine.cli.hitl_report import report_interrupted

        _print_job(args, job, job.status, quiet=bool(getattr(args, "json", False)))
        return report_interrupted(args, job.session_id, await pending_of(args.db, job.session_id))
    _print_job(args, job, job.status)
    return EXIT_OK if job.status == "completed" else EXIT_FAILED


async def pending_of(url: str, session_id: str) -> list[Any]:
    """The session's pending interrupts (what an interrupted job waits on)."""
    from engine.persistence.factory import open_checkpointer

    cp: Any = await open_checkpointer(url, create=False)
    try:
        rows = await cp.interrupt_store().session_interrupts(session_id, 0)
    finally:
        await cp.aclose()
    return [i for i in rows if i.pending]


async def cmd_submit(args: argparse.Namespace) -> int:
    """Queue a job; with --wait (or --events) wait for it and exit 0 when it completed, 3 when it stopped at
    an interrupt, 1 otherwise."""
    from engine.queue import QueueClient

    url = _url(args)
    value = parse_input_option(args.input) if args.input else None
    try:
        client = await QueueClient.connect(url)
    except QueueError as exc:
        raise _queue_error(exc) from exc
    async with client:
        return await submit_and_follow(client, args, args.graph, args.session, value, None)


async def submit_and_follow(
    client: Any,
    args: argparse.Namespace,
    graph: str,
    session: str | None,
    value: dict[str, Any] | None,
    resume: dict[str, Any] | None,
) -> int:
    """`submit` and `resume --queue`: queue the job, then (with --wait or --events) follow it."""
    import uuid

    out: IO[str] | None = None
    if args.events:
        try:
            out = sys.stdout if args.events == "-" else _open_events(args.events)
        except OSError as exc:
            raise CliError(f"--events {args.events}: cannot write: {exc.strerror or exc}") from exc
    try:
        session = session or f"job-{uuid.uuid4()}"
        after = await client.event_mark(session) if out is not None else 0  # only this job's events
        try:
            job = await client.submit(graph, session_id=session, input=value, resume=resume)
        except QueueError as exc:
            raise _queue_error(exc, EXIT_USAGE) from exc
        if not (args.wait or out is not None):
            _print_job(args, job, "queued")
            return EXIT_OK
        return await follow(client, job, args, after, out)
    finally:
        if out is not None and out is not sys.stdout:
            out.close()


def _open_events(path: str) -> IO[str]:
    return open(path, "w", encoding="utf-8")  # the command's own output file, opened once


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _print_job(args: argparse.Namespace, job: Job, what: str, *, quiet: bool = False) -> None:
    if quiet:
        return
    if args.json or args.events == "-":
        emit_json({"type": "job", **job.to_json()}, sys.stdout if args.json else sys.stderr)
        return
    tail = f" at step {job.step}" if job.step is not None else ""
    say(f"job {job.id} ({job.graph_name}, session {job.session_id}) {what}{tail}")
    if job.error:
        say(f"  error: {job.error}")


async def cmd_jobs(args: argparse.Namespace) -> int:
    from engine.queue import QueueClient

    url = _url(args)
    try:
        async with await QueueClient.connect(url) as client:
            jobs = await client.jobs(status=args.status, limit=args.limit)
    except QueueError as exc:
        raise _queue_error(exc) from exc
    if args.json:
        emit_json([j.to_json() for j in jobs])
        return EXIT_OK
    rows = [
        [str(j.id), j.graph_name, j.session_id, j.status, j.worker or "", _text(j.step), j.error or ""]
        for j in jobs
    ]
    for line in table(["id", "graph", "session", "status", "worker", "step", "error"], rows):
        say(line)
    return EXIT_OK


async def cmd_cancel(args: argparse.Namespace) -> int:
    from engine.queue import QueueClient

    url = _url(args)
    try:
        async with await QueueClient.connect(url) as client:
            job = await client.cancel(args.job)
    except QueueError as exc:
        raise _queue_error(exc) from exc
    say(f"job {job.id}: {job.status}" + (f" ({job.error})" if job.error else ""))
    return EXIT_OK


def add_queue_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The queue subcommands (called from `engine.cli.parser.build_parser`)."""
    from engine.observability.cli import add_run_options

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="the PostgreSQL database of the queue (postgresql://...)")

    p = sub.add_parser("worker", parents=[common], help="serve graphs from the queue (queue mode)")
    p.add_argument("graphs", nargs="+", metavar="GRAPH", help="*.wgraph.json documents or module:attr apps")
    db(p)
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs run at once (default 4)")
    p.add_argument(
        "--lease-timeout-s",
        type=float,
        default=30.0,
        metavar="S",
        help="a job whose worker sent no heartbeat for S seconds is taken over (default 30)",
    )
    p.add_argument(
        "--heartbeat-s",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between the worker's registry heartbeats and idle queue checks (default 5)",
    )
    p.add_argument("--trust", action="store_true", help="allow (and remember) the documents' Python imports")
    add_run_options(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("submit", parents=[common], help="queue a run of a graph's session")
    p.add_argument("graph", metavar="GRAPH", help="the graph name a worker serves")
    db(p)
    p.add_argument("--session", metavar="ID", help="session id (default: job-<uuid4>); resumes")
    p.add_argument("--input", metavar="JSON", help='{"messages": [...], "extra": {...}} or @file')
    p.add_argument(
        "--wait", action="store_true", help="wait for the job; exit 0 completed, 3 interrupted, 1 otherwise"
    )
    p.add_argument(
        "--events", metavar="FILE", help="stream the session's events live as JSON Lines (-: stdout); waits"
    )
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("jobs", parents=[common], help="list the queue's jobs, newest first")
    db(p)
    p.add_argument("--status", choices=STATUSES, help="only jobs with this status")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("cancel", parents=[common], help="cancel a queued or running job")
    p.add_argument("job", type=int, metavar="JOB")
    db(p)
    p.set_defaults(func=cmd_cancel)
