"""Human in the loop (ENGINE.md 8.3): what the runner does when nodes interrupt, and `resume`.

A step in which a node raises `NodeInterrupted` is not committed: `pause_for_interrupt` saves the partials of
the nodes that finished as pending writes and the new `PendingInterrupt`s, and the session keeps its step.
`resume` records the answers (checked against each interrupt's JSON Schema first; a bad one changes nothing),
then runs that step again with a `ResumePlan` in the executor: only the interrupted nodes run (with their
answers), the others' partials come from the pending writes, and the step commits like any other."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError, SessionNotFound
from engine.hitl_types import (
    STILL_WAITING,
    InvalidAnswer,
    NodeInterrupted,
    NothingToResume,
    PendingInterrupt,
    StepInterrupted,
    UnknownInterrupt,
)
from engine.partial import FrontierCommand, NodePartial
from engine.persistence.interrupts_store import InterruptStore
from engine.plan import Session, StepGate
from engine.reports import PausedReport, StepOptions, StepReport
from engine.sessions import SessionKeeper
from engine.types import ErrorEvent, Message, NodeKind

if TYPE_CHECKING:
    from engine.executor import StepEnv
    from engine.state import StateSnapshot

_NO_ANSWERS = object()


# ------------------------------------------------------------------ pending writes as JSON


def partial_to_json(partial: NodePartial | None) -> Any:
    """A node's partial as JSON (None stays None)."""
    if partial is None:
        return None
    frontier = partial.frontier
    return {
        "messages": None if partial.messages is None else [m.to_json_value() for m in partial.messages],
        "extra": partial.extra,
        "errors": None if partial.errors is None else [e.to_json_value() for e in partial.errors],
        "frontier": None
        if frontier is None
        else {"mode": frontier.mode, "targets": [t.encode() for t in frontier.targets]},
    }


def partial_from_json(value: Any) -> NodePartial | None:
    if value is None:
        return None
    frontier, messages, errors = value.get("frontier"), value["messages"], value["errors"]
    return NodePartial(
        messages=None if messages is None else [Message.from_json_value(m) for m in messages],
        extra=value["extra"],
        errors=None if errors is None else [ErrorEvent.from_json_value(e) for e in errors],
        frontier=None
        if frontier is None
        else FrontierCommand(frontier["mode"], [NodeKind.decode(t) for t in frontier["targets"]]),
    )


# ------------------------------------------------------------------ the executor's side


@dataclass
class ResumePlan:
    """A paused step being run again: answers by node (in call order), the pending writes of the nodes that
    finished, and the nodes whose interrupts are still unanswered (they do not run)."""

    answers: dict[str, list[Any]]
    writes: dict[str, NodePartial | None]
    waiting: set[str] = field(default_factory=set)

    async def run_nodes(
        self,
        run_nodes: Callable[..., Any],
        env: StepEnv,
        run: list[NodeKind],
        snapshot: StateSnapshot,
        session: Session,
        step: int,
    ) -> list[NodePartial | None]:
        results: list[Any] = [None] * len(run)
        todo: list[int] = []
        for i, kind in enumerate(run):
            if kind.name in self.writes:
                results[i] = self.writes[kind.name]
            elif kind.name in self.waiting:
                results[i] = STILL_WAITING
            else:
                todo.append(i)
        interrupted = bool(self.waiting)
        if todo:
            try:
                done = await run_nodes(env, [run[i] for i in todo], snapshot, session, step)
            except StepInterrupted as exc:
                done, interrupted = exc.results, True
            for i, result in zip(todo, done, strict=True):
                results[i] = result
        if interrupted:
            raise StepInterrupted(results)
        return results


# ------------------------------------------------------------------ the runner's side


class InterruptsMixin(SessionKeeper):
    """`AppRunner`'s interrupt methods: `pending_interrupts`, `resume`, the pause of an interrupted step."""

    if TYPE_CHECKING:

        async def run_step(
            self, session_id: str, options: StepOptions | None = None
        ) -> StepReport | PausedReport: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._paused_at: dict[str, int] = {}
        """Sessions of this runner paused at an interrupt: the step waiting for answers."""

    def _interrupt_store(self) -> InterruptStore:
        get = getattr(self.checkpointer, "interrupt_store", None)
        if get is None:
            raise EngineError(
                f"interrupts need a checkpointer that stores them (in-memory, SQLite or Postgres), "
                f"not {type(self.checkpointer).__name__}"
            )
        store: InterruptStore = get()
        return store

    async def _pause_for_interrupt(
        self, session: Session, gate: StepGate, interrupted: StepInterrupted
    ) -> PausedReport:
        """The step did not commit: save the pending writes and the new interrupts; the session keeps its step
        (a session whose live state differs from its latest checkpoint, as after `invoke_next`, is saved
        first so that any process can resume it)."""
        store = self._interrupt_store()
        sid, step, now = session.session_id, gate.step, self._now_dt()
        await self._save_live_state(session)
        writes: dict[str, Any] = {}
        new: list[PendingInterrupt] = []
        first: NodeKind | None = None
        for kind, result in zip(gate.run, interrupted.results, strict=True):
            if isinstance(result, NodeInterrupted):
                new.append(
                    PendingInterrupt(
                        uuid.uuid4().hex,
                        sid,
                        step,
                        kind.name,
                        result.index,
                        result.payload,
                        result.schema,
                        now,
                    )
                )
            elif result is not STILL_WAITING:
                writes[kind.name] = partial_to_json(result)
                continue
            if first is None:
                first = kind
        known = {(i.node, i.index) for i in await store.session_interrupts(sid, step)}
        new = [i for i in new if (i.node, i.index) not in known]  # the same question is asked once
        await store.save_paused(sid, step, writes, new)
        self._paused_at[sid] = step
        pending = [i for i in await store.session_interrupts(sid, step) if i.pending]
        return PausedReport("interrupt", first, step, self._copy_of(session), pending)

    async def _still_paused(self, session: Session) -> PausedReport:
        """`run_step` on a session waiting for answers: its paused step again, nothing run."""
        step = self._paused_at[session.session_id]
        pending = [i for i in await self.pending_interrupts(session.session_id) if i.step == step]
        first = NodeKind.coerce(pending[0].node) if pending else None
        return PausedReport("interrupt", first, step, self._copy_of(session), pending)

    async def _save_live_state(self, session: Session) -> None:
        if self.checkpointer is None:
            return
        cp = await self.checkpointer.load_latest(session.session_id)
        state = session.state
        if (
            cp is not None
            and cp.step == session.step
            and cp.frontier == session.frontier
            and cp.versions_seen == session.versions_seen
            and (cp.state.messages_version, cp.state.extra_version, cp.state.errors_version)
            == (state.messages_version, state.extra_version, state.errors_version)
        ):
            return
        ran, skipped, updated = (cp.ran_nodes, cp.skipped_nodes, cp.updated_channels) if cp else ([], [], [])
        await self._save(session, ran, skipped, updated, force=True)

    async def pending_interrupts(self, session_id: str) -> list[PendingInterrupt]:
        """The session's interrupts waiting for an answer (oldest first)."""
        rows = await self._interrupt_store().session_interrupts(session_id, 0)
        return [i for i in rows if i.pending]

    async def _live_or_restored(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            session = await self._restore(session_id)
            if session is None:
                raise SessionNotFound(session_id)
            self._sessions[session_id] = session
        return session

    async def resume(
        self, session_id: str, answers: Any = _NO_ANSWERS, *, by_id: bool | None = None
    ) -> StepReport | PausedReport:
        """Answer interrupts of the session's paused step and run that step again: only the interrupted nodes
        run; the step commits (its `StepReport`) or pauses again (a new `PausedReport`). `answers` maps
        interrupt ids to answers; a bare value answers the only pending interrupt (`by_id=True` / `False` says
        which one `answers` is when a mapping could be either). A bad answer raises (`InvalidAnswer`,
        `UnknownInterrupt`) and changes nothing."""
        session = await self._live_or_restored(session_id)
        store = self._interrupt_store()
        step = session.step + 1
        rows = await store.session_interrupts(session_id, step)
        if not rows:
            # say why the named interrupt cannot be answered
            if isinstance(answers, Mapping) and len(answers) == 1 and by_id is not False:
                (key,) = answers
                if isinstance(key, str):
                    raise UnknownInterrupt(session_id, key, await self._whose(session_id, key))
            raise NothingToResume(session_id, f"no interrupt is waiting at step {step}")
        pending = [i for i in rows if i.pending]
        given = await self._answers_by_id(session_id, rows, pending, answers, by_id)
        for iid, value in given.items():
            check_answer(next(i for i in rows if i.id == iid), value)
        if given and await store.answer(session_id, given, self._now_dt()) != len(given):
            raise UnknownInterrupt(session_id, next(iter(given)), "it was answered meanwhile")
        rows = await store.session_interrupts(session_id, step)
        by_node: dict[str, list[PendingInterrupt]] = {}
        for row in sorted(rows, key=lambda r: r.index):
            by_node.setdefault(row.node, []).append(row)
        plan = ResumePlan(
            {n: [r.answer for r in rs if not r.pending] for n, rs in by_node.items()},
            {n: partial_from_json(v) for n, v in (await store.pending_writes(session_id, step)).items()},
            {n for n, rs in by_node.items() if any(r.pending for r in rs)},
        )
        self._env.resuming[session_id] = plan
        try:
            report = await self.run_step(session_id)
        finally:
            self._env.resuming.pop(session_id, None)
        if isinstance(report, StepReport):
            self._paused_at.pop(session_id, None)
            await store.clear_writes(session_id, step)
        return report

    async def _answers_by_id(
        self,
        session_id: str,
        rows: list[PendingInterrupt],
        pending: list[PendingInterrupt],
        answers: Any,
        by_id: bool | None,
    ) -> dict[str, Any]:
        if answers is _NO_ANSWERS:
            if pending:
                raise NothingToResume(session_id, f"{len(pending)} interrupt(s) wait for an answer")
            return {}
        ids = {i.id: i for i in rows}
        mapping = isinstance(answers, Mapping) and answers and all(isinstance(k, str) for k in answers)
        if mapping and by_id is not False:
            if by_id or all(k in ids for k in answers) or len(pending) != 1:
                for key in answers:
                    row = ids.get(key)
                    if row is None:
                        raise UnknownInterrupt(session_id, key, await self._whose(session_id, key))
                    if not row.pending:
                        raise UnknownInterrupt(
                            session_id, key, f"it was already answered at {row.answered_at}"
                        )
                return dict(answers)
        if len(pending) != 1:
            raise NothingToResume(
                session_id, f"{len(pending)} interrupts are pending: map interrupt ids to answers"
            )
        return {pending[0].id: answers}

    async def _whose(self, session_id: str, interrupt_id: str) -> str:
        """Why `interrupt_id` cannot be answered in `session_id` (another session's, answered, or unknown)."""
        store = self._interrupt_store()
        offset = 0
        while True:
            page = await store.list_interrupts(False, 500, offset)
            for row in page:
                if row.id == interrupt_id and row.session_id != session_id:
                    return f"it belongs to session '{row.session_id}'"
                if row.id == interrupt_id:
                    return f"already answered at {row.answered_at}"
            if len(page) < 500:
                return "no such interrupt"
            offset += 500


def check_answer(interrupt: PendingInterrupt, value: Any) -> None:
    """`InvalidAnswer` naming the interrupt and the JSON path unless `value` is JSON that fits the schema."""
    import json

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidAnswer(interrupt.id, "$", f"not JSON: {exc}") from None
    if interrupt.schema is None:
        return
    error = best_match(Draft202012Validator(interrupt.schema).iter_errors(value))
    if error is not None:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise InvalidAnswer(interrupt.id, path, error.message)
