"""Forks and replay (ENGINE.md 8.2): `TimeTravel`, the runner mixin with `fork_session` and
`replay_session`, and replay's recorded outputs (`ReplayPlan`, served by the runner's `NodeRecorder`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import plan
from engine.errors import CheckpointerError, StorageErrorKind
from engine.node_records import NodeRecord, NodeRecorder
from engine.partial import NodePartial
from engine.plan import Session
from engine.reports import SessionInit, StepReport
from engine.sessions import SessionKeeper
from engine.state import VersionedState
from engine.types import NodeKind, NodeLike


class CheckpointNotFound(CheckpointerError):
    """No stored checkpoint of `session_id` at `step` (missing, pruned, or not kept by in-memory storage)."""

    kind = StorageErrorKind.CHECKPOINT_MISSING

    def __init__(self, session_id: str, step: int) -> None:
        super().__init__(
            f"session '{session_id}' has no stored checkpoint at step {step} (missing or pruned)"
        )
        self.session_id = session_id
        self.step = step


class SessionExists(CheckpointerError):
    """A new session id that is already taken."""

    kind = StorageErrorKind.EXISTS

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session '{session_id}' already exists; choose another id")
        self.session_id = session_id


class RecordUndecodable(CheckpointerError):
    """A recorded node output that no longer decodes as a `NodePartial`."""

    kind = StorageErrorKind.DATA

    def __init__(self, session_id: str, step: int, node: str, reason: str) -> None:
        super().__init__(
            f"session '{session_id}' step {step}: the recorded output of node '{node}'"
            f" no longer decodes ({reason})"
        )
        self.session_id = session_id
        self.step = step


@dataclass(frozen=True, slots=True)
class ReplayResult:
    session_id: str
    final_state: VersionedState
    recorded: list[tuple[int, str]]
    ran_live: list[tuple[int, str]]
    diverged_at: int | None


@dataclass(slots=True)
class ReplayPlan:
    """One replay in progress: the source's decoded `done` outputs by (step, node) and what happened."""

    outputs: dict[tuple[int, str], NodePartial | None]
    live: frozenset[str]
    recorded: list[tuple[int, str]] = field(default_factory=list)
    ran_live: list[tuple[int, str]] = field(default_factory=list)
    diverged_at: int | None = None

    async def call(
        self, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        key = (step, kind.name)
        if kind.name not in self.live and key in self.outputs:
            self.recorded.append(key)
            return self.outputs[key]
        if kind.name not in self.live and self.diverged_at is None:
            self.diverged_at = step
        self.ran_live.append(key)
        return await call()


class ReplayingRecorder(NodeRecorder):
    """A `NodeRecorder` that serves replayed sessions' recorded outputs instead of running their nodes."""

    __slots__ = ("replays",)

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.replays: dict[str, ReplayPlan] = {}

    async def call(
        self, session_id: str, step: int, kind: NodeKind, call: Callable[[], Awaitable[NodePartial | None]]
    ) -> NodePartial | None:
        replay = self.replays.get(session_id)
        if replay is None:
            return await call()
        return await replay.call(step, kind, call)


def decode_outputs(source_id: str, records: Iterable[NodeRecord], after: int) -> dict[tuple[int, str], Any]:
    """The `done` outputs of steps after `after`, decoded; `RecordUndecodable` names the first bad one."""
    out: dict[tuple[int, str], NodePartial | None] = {}
    for rec in records:
        if rec.status != "done" or rec.step <= after:
            continue
        try:
            out[(rec.step, rec.node)] = rec.output_partial()
        except (ValueError, TypeError, KeyError) as exc:
            raise RecordUndecodable(source_id, rec.step, rec.node, str(exc)) from exc
    return out


class TimeTravel(SessionKeeper):
    """`AppRunner`'s forks and replays (a mixin over `SessionKeeper`)."""

    async def _taken(self, session_id: str) -> bool:
        if session_id in self._sessions:
            return True
        return self.checkpointer is not None and await self.checkpointer.load_latest(session_id) is not None

    async def fork_session(
        self,
        source_id: str,
        at_step: int,
        new_id: str,
        update: NodePartial | None = None,
        frontier: Iterable[NodeLike] | None = None,
    ) -> SessionInit:
        """A new session `new_id` starting from `source_id`'s checkpoint at `at_step`, with `update` merged
        through the barrier and `frontier` replacing the frontier when given. The source never changes."""
        cp = self.checkpointer
        if await self._taken(new_id):
            raise SessionExists(new_id)
        load_step = getattr(cp, "load_step", None)
        src = await load_step(source_id, at_step) if load_step is not None else None
        if src is None:
            raise CheckpointNotFound(source_id, at_step)
        state = src.state.copy()
        updated: list[str] = []
        if update is not None:
            updated = plan.apply_barrier(state, plan.merge_partials([update]), self.graph.reducers)
        nodes = [NodeKind.coerce(n) for n in frontier] if frontier is not None else list(src.frontier)
        session = Session(
            new_id,
            state,
            at_step,
            nodes,
            {k: dict(v) for k, v in src.versions_seen.items()},
            src.concurrency_limit or self.concurrency_limit,
        )
        self._sessions[new_id] = session
        self._fork_parents[new_id] = (source_id, at_step)
        try:
            await self._save(session, None, None, updated, force=True)
        except BaseException:
            del self._sessions[new_id]
            self._fork_parents.pop(new_id, None)
            raise
        return SessionInit(True, at_step)

    async def replay_session(
        self,
        source_id: str,
        new_id: str,
        from_step: int = 0,
        live: Iterable[str] = (),
        until_step: int | None = None,
    ) -> ReplayResult:
        """Fork `source_id` at `from_step` into `new_id` and run it: nodes in `live` run for real, every other
        node returns its recorded output of the same step (a node without a `done` record runs live, and the
        first such step is `diverged_at`). Stops after `until_step` when given."""
        reader = getattr(self.checkpointer, "node_records", None)
        records = await reader(source_id) if reader is not None else []
        outputs = decode_outputs(source_id, records, from_step)  # before anything is written
        recorder = original = self._env.recorder
        if not isinstance(recorder, ReplayingRecorder):
            replacing = ReplayingRecorder(self.clock)
            if recorder is not None:
                replacing.pending = recorder.pending
                replacing.attempts = recorder.attempts
            self._env.recorder = recorder = replacing
        await self.fork_session(source_id, from_step, new_id)
        replay = ReplayPlan(outputs, frozenset(live))
        recorder.replays[new_id] = replay
        try:
            session = self._get(new_id)
            count = 0
            while not plan.is_complete(session.frontier):
                if until_step is not None and session.step >= until_step:
                    break
                if count >= self.max_steps:
                    break
                report = await self.run_step(new_id)  # type: ignore[attr-defined]
                count += 1
                if isinstance(report, StepReport) and report.completed:
                    break
        finally:
            del recorder.replays[new_id]
            if original is None and not recorder.replays:  # records were off: they stay off
                self._env.recorder = None
        return ReplayResult(
            new_id, session.state.copy(), replay.recorded, replay.ran_live, replay.diverged_at
        )


@dataclass(frozen=True, slots=True)
class ForkPreview:
    """What `fork_session` would write, computed without writing (the studio's "Fork from this step..."):
    the first checkpoint's state, the channels the update changes with their versions before and after,
    its frontier, who runs in the fork's first step and who is skipped (and why), and frontier names the
    graph does not know."""

    state: VersionedState
    updated_channels: list[str]
    versions: dict[str, tuple[int, int]]
    frontier: list[NodeKind]
    will_run: list[NodeKind]
    skipped: list[tuple[NodeKind, str]]
    unknown: list[str]


def preview_fork(
    source: Any, graph: Any, update: NodePartial | None = None, frontier: Iterable[NodeLike] | None = None
) -> ForkPreview:
    """The fork of checkpoint `source` (as `load_step` returns it) with `update` merged through the barrier of
    `graph` (an `App.graph`: its reducers and joins) and `frontier` replacing the frontier; pure: `source`
    is not changed and nothing is written. Same rules as `fork_session` (one version bump per changed
    channel)."""
    state = source.state.copy()
    before = {"messages": state.messages_version, "extra": state.extra_version}
    updated: list[str] = []
    if update is not None:
        updated = plan.apply_barrier(state, plan.merge_partials([update]), graph.reducers)
    after = {"messages": state.messages_version, "extra": state.extra_version}
    nodes = [NodeKind.coerce(n) for n in frontier] if frontier is not None else list(source.frontier)
    seen = {k: dict(v) for k, v in source.versions_seen.items()}
    session = Session(source.session_id, state, source.step, nodes, seen, source.concurrency_limit or 1)
    gate = plan.gate(session, getattr(graph, "joins", None))
    unknown = [k.name for k in nodes if k.is_custom and not graph.has_node(k)]
    return ForkPreview(
        state,
        updated,
        {ch: (before[ch], after[ch]) for ch in before},
        nodes,
        [k for k in gate.run if k.name not in unknown],
        [(s.node, s.reason) for s in gate.skipped],
        unknown,
    )
