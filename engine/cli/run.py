"""`weavegraph run`, `step` and `validate`: load a graph document, check trust, run it (a whole session or
one iterative invocation) with an optional JSON Lines event file, and print the result."""

from __future__ import annotations

import argparse
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from engine.cli.hitl_report import report_interrupted
from engine.cli.support import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    SECRETS,
    CliError,
    Progress,
    default_db_url,
    emit_json,
    parse_input_option,
    say,
    shown_url,
    warn,
)
from engine.errors import CheckpointerError, RunnerError
from engine.graph.document import (
    DocumentError,
    GraphDocument,
    TrustStore,
    document_callables,
    document_input_state,
    document_to_app,
    load_document,
    validate_document,
)
from engine.hitl_types import SessionInterrupted
from engine.observability.cli import RunControl
from engine.observability.shutdown import Stopped
from engine.state import VersionedState
from engine.types import JSON

EVENT_BUFFER = 1 << 16
"""Per-sink queue of the CLI's event bus: large, so the events file never drops an event."""


def resolve_doc_path(text: str) -> str:
    """A file path as given, or the bundled example of that name ("market_ticks") when no such file exists."""
    from pathlib import Path

    from engine.graph.document import example_names, example_path

    if not Path(text).exists() and text.removesuffix(".wgraph.json") in example_names():
        return str(example_path(text))
    return text


def _document(path: str) -> GraphDocument:
    try:
        return load_document(resolve_doc_path(path))
    except DocumentError as exc:
        raise CliError(str(exc), EXIT_USAGE, [str(p) for p in exc.problems]) from exc


def _check_trust(doc: GraphDocument, trust_flag: bool) -> None:
    """Exit 2 listing every callable unless `--trust` was given or trust is remembered for this content."""
    callables = document_callables(doc)
    if not callables:
        return
    store = TrustStore()
    if trust_flag:
        try:
            store.trust(doc)
        except OSError as exc:
            warn(f"weavegraph: warning: could not remember trust in {store.path}: {exc.strerror or exc}")
        return
    if store.is_trusted(doc):
        return
    # Exactly one line per callable (the contract); --help explains --trust.
    lines = [f"{path}: {ref}" for path, ref in callables]
    raise CliError("untrusted document: run again with --trust to allow its imports", EXIT_USAGE, lines)


def _app(doc: GraphDocument) -> Any:
    try:
        return document_to_app(doc, trusted=True)
    except DocumentError as exc:
        raise CliError(str(exc), EXIT_USAGE, [str(p) for p in exc.problems]) from exc


@asynccontextmanager
async def _runner(
    app: Any, url: str, events: str | None, progress: Progress, control: RunControl
) -> AsyncIterator[Any]:
    """A runner over the checkpointer at `url` (`engine.open_runner`); lifecycle events go to the `--events`
    file, move the step counter on stderr and feed tracing/metrics (`control`). Storage failures become one
    line (exit 1)."""
    from engine.events.bus import EventBus
    from engine.events.sinks import FunctionSink, JsonLinesSink
    from engine.launch import open_runner

    try:
        sinks: list[Any] = [JsonLinesSink.to_file(events)] if events else []
    except OSError as exc:
        raise CliError(f"--events {events}: cannot write: {exc.strerror or exc}") from exc
    if progress.enabled:
        sinks.append(
            FunctionSink(lambda e: progress.advance() if e.scope == "step.end" else None, name="progress")
        )
    bus = EventBus(buffer_capacity=EVENT_BUFFER, sinks=sinks)
    observed = control.attach(bus, app)  # tracing (OTEL_*) and --metrics-port sinks
    SECRETS.add_url(url)
    try:
        try:
            runner = await open_runner(
                app, url, event_bus=bus, lifecycle_events=bool(events) or progress.enabled or observed
            )
        except CheckpointerError as exc:
            raise CliError(f"cannot open {shown_url(url)}: {SECRETS.scrub(str(exc))}") from exc
        try:
            yield runner
        except CheckpointerError as exc:
            raise _storage_failed(exc) from exc
        finally:
            with contextlib.suppress(CheckpointerError):  # already failing: the first error is the one
                await runner.aclose()
    finally:
        await bus.aclose()


def _storage_failed(exc: CheckpointerError) -> CliError:
    """Storage failed during the run: exactly one line (`--debug` adds the traceback)."""
    text = SECRETS.scrub(str(exc))
    return CliError(text, EXIT_FAILED, [f"weavegraph: error: {text}"])


async def _warn_if_other_graph(runner: Any, session_id: str) -> None:
    """A session written by another graph may not resume sensibly: say so on stderr (and go on)."""
    lookup = getattr(runner.checkpointer, "graph_hash", None)
    if lookup is None:
        return
    stored = await lookup(session_id)
    current = runner.app.graph_definition_hash()
    if stored and stored != current:
        warn(
            f"weavegraph: warning: session '{session_id}' was written by another graph "
            f"(hash {stored}, this document {current})"
        )


def _result(session_id: str, step: int, state: VersionedState) -> dict[str, JSON]:
    from engine.persistence.serde import state_to_json

    return {"session_id": session_id, "step": step, "state": state_to_json(state)}


def _print_result(
    args: argparse.Namespace, session_id: str, step: int, state: VersionedState, what: str
) -> None:
    if args.json:
        emit_json(_result(session_id, step, state))
        return
    say(f"session {session_id} {what} at step {step}")
    for message in state.messages:
        say(f"  {message.role}: {message.content}")
    if state.extra:
        say(f"  extra: {json.dumps(state.extra, ensure_ascii=False, default=str)}")
    for error in state.errors:
        say(f"  error ({error.scope.kind}): {error.error.message}")


def _run_failed(exc: BaseException) -> CliError:
    return CliError(f"run failed: {exc}", EXIT_FAILED, [f"weavegraph: run failed: {exc}"])


async def _whole_run(runner: Any, session_id: str, state: VersionedState) -> VersionedState:
    await runner.create_session(session_id, state)
    final: VersionedState = await runner.run_until_complete(session_id)
    return final


async def cmd_run(args: argparse.Namespace) -> int:
    """Run a whole session of the document (in memory unless --db)."""
    doc = _document(args.doc)
    state = document_input_state(parse_input_option(args.input) if args.input else doc)
    _check_trust(doc, args.trust)
    app = _app(doc)
    session_id = args.session or f"run-{uuid.uuid4()}"
    url = args.db or "memory:"
    control = RunControl(args, warn, graph_name=doc.name)
    with Progress("run: steps", None, enabled=args.progress or None) as bar, control:
        async with _runner(app, url, args.events, bar, control) as runner:
            await _warn_if_other_graph(runner, session_id)
            try:
                final = await control.run(
                    _whole_run(runner, session_id, state), runner=runner, session_id=session_id
                )
            except SessionInterrupted as exc:  # hitl: waits for answers (exit 3)
                return report_interrupted(args, session_id, exc.interrupts)
            except RunnerError as exc:
                raise _run_failed(exc) from exc
            except Stopped as exc:  # SIGTERM/SIGINT: saved, sinks drained and storage closed on the way out
                raise CliError(exc.line, exc.code) from exc
            step = runner.get_session(session_id).step
    _print_result(args, session_id, step, final, "completed")
    return EXIT_OK


async def cmd_step(args: argparse.Namespace) -> int:
    """One iterative invocation: a new session starts from the document's input; --input is merged at the
    barrier and the session runs from Start; an existing session (in --db) continues."""
    from engine.partial import NodePartial

    doc = _document(args.doc)
    patch = parse_input_option(args.input)
    _check_trust(doc, args.trust)
    app = _app(doc)
    patch_state = document_input_state(patch)
    partial = NodePartial(
        messages=patch_state.messages or None,
        extra=patch_state.extra if "extra" in patch else None,
    )
    url = args.db or default_db_url()
    control = RunControl(args, warn, graph_name=doc.name)
    with Progress("step: steps", None, enabled=args.progress or None) as bar, control:
        async with _runner(app, url, args.events, bar, control) as runner:
            await _warn_if_other_graph(runner, args.session)
            try:
                await runner.create_iterative_session(args.session, document_input_state(doc), "Start")
                final = await control.run(
                    runner.invoke_next(args.session, partial, "Start"), runner=runner, session_id=args.session
                )
            except SessionInterrupted as exc:  # hitl: waits for answers (exit 3)
                return report_interrupted(args, args.session, exc.interrupts)
            except RunnerError as exc:
                raise _run_failed(exc) from exc
            except Stopped as exc:
                raise CliError(exc.line, exc.code) from exc
            step = runner.get_session(args.session).step
    _print_result(args, args.session, step, final, "invoked")
    return EXIT_OK


async def cmd_validate(args: argparse.Namespace) -> int:
    """Print one line per problem (`$.path: message`) and exit 2, or confirm the document and exit 0."""
    try:
        doc = load_document(resolve_doc_path(args.doc), strict=False)
        problems = validate_document(doc)
    except DocumentError as exc:
        problems = exc.problems
        doc = None
    callables = document_callables(doc) if doc is not None and not problems else []
    if args.json:
        emit_json(
            {
                "valid": not problems,
                "problems": [{"path": p.path, "message": p.message} for p in problems],
                "callables": [{"path": p, "callable": ref} for p, ref in callables],
            }
        )
    elif problems:
        for problem in problems:
            say(str(problem))
    else:
        assert doc is not None
        counts = (
            f"{len(doc.nodes)} nodes, {len(doc.edges)} edges, {len(doc.conditional_edges)} conditional edges"
        )
        say(f"{args.doc}: valid ({counts})")
        for path, ref in callables:
            say(f"  imports {ref} at {path} (running it needs --trust)")
    return EXIT_USAGE if problems else EXIT_OK
