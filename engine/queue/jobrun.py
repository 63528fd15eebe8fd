"""What a worker does with one job: check its input and the session's graph hash, then run the session to
completion over the Postgres checkpointer, resuming from its latest checkpoint when it exists."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from engine.queue.models import QueueError
from engine.state import VersionedState


def input_state(value: Any, where: str) -> VersionedState:
    """The initial state from a job's `input` (`{"messages": [{"role", "content"}], "extra": {...}}`, both
    optional); `QueueError` naming the first thing wrong."""
    from engine.graph.convert import document_input_state

    if value is None:
        return VersionedState([], {})
    if not isinstance(value, dict):
        raise QueueError(f"{where}: the input must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - {"messages", "extra"})
    if unknown:
        raise QueueError(f"{where}: unknown input key(s) {', '.join(unknown)}; use messages and extra")
    messages = value.get("messages", [])
    if not isinstance(messages, list):
        raise QueueError(f"{where}: input.messages must be a list")
    for i, item in enumerate(messages):
        if not isinstance(item, dict) or not isinstance(item.get("content", ""), str):
            raise QueueError(f"{where}: input.messages[{i}] must be an object with a string content")
    if "extra" in value and not isinstance(value["extra"], dict):
        raise QueueError(f"{where}: input.extra must be a JSON object")
    return document_input_state(value)


async def check_graph_hash(checkpointer: Any, app: Any, graph_name: str, session_id: str) -> None:
    """`QueueError` naming both hashes when the session was written by another version of the graph."""
    stored = await checkpointer.graph_hash(session_id)
    current = app.graph_definition_hash()
    if stored and stored != current:
        raise QueueError(
            f"session '{session_id}' was written by graph hash {stored}, but this worker's graph "
            f"'{graph_name}' has hash {current}"
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a job's run ended: the session's last saved step, and the interrupts it waits on (empty when it
    completed)."""

    step: int
    interrupts: list[Any]


class SharedBus:
    """The worker's event bus as one job's runner sees it: a runner closes its bus when it closes, but this
    one serves every job of the graph (its tracing and metrics sinks too), so closing only flushes it."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)

    async def aclose(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (the bus's signature)
        await self._bus.flush(5.0 if timeout is None else timeout)


async def open_job_runner(app: Any, checkpointer: Any, **builder: Any) -> Any:
    """A runner over the worker's shared checkpointer with stored events on (ENGINE.md 8.1/8.5: a client on
    another machine streams the session's events live) and lifecycle events (node starts and ends) unless the
    worker's builder options say otherwise, node records on."""
    from engine.runner import AppRunner

    options = {"lifecycle_events": True, **builder}
    if options.get("event_bus") is not None:
        options["event_bus"] = SharedBus(options["event_bus"])
    b = AppRunner.builder().app(app).checkpointer_custom(checkpointer).persist_events(True)
    for name, value in options.items():
        getattr(b, name)(value)
    return await b.build()


async def run_session(
    app: Any,
    checkpointer: Any,
    graph_name: str,
    session_id: str,
    value: Any,
    resume: dict[str, Any] | None = None,
    **builder: Any,
) -> Outcome:
    """Run the session to completion or to its next interrupt (resuming it when it exists; answering its
    interrupts first when `resume` maps interrupt ids to answers)."""
    from engine.hitl_types import NothingToResume, SessionInterrupted
    from engine.reports import PausedReport

    state = input_state(value, f"job input of session '{session_id}'")
    if resume is not None and not (isinstance(resume, dict) and resume):
        raise QueueError(f"job of session '{session_id}': resume must map interrupt ids to answers")
    await check_graph_hash(checkpointer, app, graph_name, session_id)
    if resume is not None and await checkpointer.load_latest(session_id) is None:
        raise QueueError(f"job of session '{session_id}': no such session to resume")
    runner = await open_job_runner(app, checkpointer, **builder)
    async with runner:
        init = await runner.create_session(session_id, state)
        step = runner.get_session(session_id).step
        # A new session has nothing waiting (one read less per job); an existing one may be paused.
        store = checkpointer.interrupt_store()
        paused = [] if init.fresh else await store.session_interrupts(session_id, step + 1)
        try:
            if resume is not None:
                report = await _answer(runner, session_id, paused, resume)
                if isinstance(report, PausedReport):
                    return Outcome(runner.get_session(session_id).step, report.interrupts)
            elif any(i.pending for i in paused):  # waiting for answers: nothing runs
                return Outcome(step, [i for i in paused if i.pending])
            elif paused:  # answered by a job whose worker died before the step committed: finish it
                with contextlib.suppress(NothingToResume):
                    report = await runner.resume(session_id)
                    if isinstance(report, PausedReport):
                        return Outcome(runner.get_session(session_id).step, report.interrupts)
            await runner.run_until_complete(session_id)
        except SessionInterrupted as exc:
            return Outcome(runner.get_session(session_id).step, exc.interrupts)
        return Outcome(runner.get_session(session_id).step, [])


async def _answer(runner: Any, session_id: str, paused: list[Any], answers: dict[str, Any]) -> Any:
    """`runner.resume` with the answers not recorded yet. A job taken over from a worker that died after
    recording them (the step not committed) finishes the paused step with the recorded answers; when that
    step committed already, the run just goes on (None)."""
    from engine.hitl_types import NothingToResume

    known = {i.id: i for i in await runner.checkpointer.interrupt_store().session_interrupts(session_id, 0)}
    fresh = {
        key: answer
        for key, answer in answers.items()
        if not (key in known and not known[key].pending and known[key].answer == answer)
    }
    if fresh:
        return await runner.resume(session_id, fresh, by_id=True)
    if not paused:
        return None
    try:
        return await runner.resume(session_id)
    except NothingToResume:
        return None
