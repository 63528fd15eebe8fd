"""The executor: runs one step plan. Node tasks in one `asyncio.TaskGroup` on one snapshot (at most the
session's concurrency limit at a time; plain callables in worker threads via `NodeInvoker`), then the barrier
and routing from `engine.plan`. It awaits nodes and predicates; every decision is `plan`'s."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from engine import plan
from engine.clock import Clock
from engine.errors import EngineError, NodeError, RoutingError
from engine.events.event import Event
from engine.events.observer import (
    RunObserver,
    notify_node_finished,
    notify_node_started,
    notify_record,
    notify_step_finished,
)
from engine.events.records import LifecycleRecord, NodeFinish, NodeRetry, NodeStart
from engine.graph.compiled import CompiledGraph, plain_tables
from engine.hitl_types import NodeInterrupted, StepInterrupted
from engine.joins import JoinProgress, carry_waiting
from engine.node import NodeContext, NodeInvoker
from engine.node_records import NodeRecorder
from engine.partial import NodePartial
from engine.plan import Routing, Session, StepGate, StepPlan
from engine.policies import Emit, NodePolicy, run_attempts
from engine.state import StateSnapshot, VersionedState
from engine.types import NodeKind


class NodeFailure(Exception):
    """Internal: carries the failing node and its `NodeError` out of the task group."""

    def __init__(self, index: int, kind: NodeKind, error: NodeError) -> None:
        super().__init__(str(error))
        self.index = index
        self.kind = kind
        self.error = error


class RouteFailure(Exception):
    """Internal: routing failed after the barrier was applied; carries the `RoutingError` and what the
    barrier updated, so the runner can record and save the step before re-raising."""

    def __init__(self, error: RoutingError, updated_channels: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.updated_channels = updated_channels


def as_node_error(kind: NodeKind, exc: BaseException) -> NodeError:
    """Keep a NodeError; wrap anything else in one that names the node, chained to the original."""
    if isinstance(exc, NodeError):
        return exc
    detail = str(exc) or type(exc).__name__
    err = NodeError(f"node '{kind.name}' raised {type(exc).__name__}: {detail}")
    err.__cause__ = exc
    return err


class StepEnv:
    """What a step needs from the runner: the graph, event publishing, the clock, the lifecycle switch
    (publish lifecycle events) and the run observers (called directly, no events: tracing and metrics)."""

    __slots__ = (
        "clock",
        "conds",
        "edges",
        "graph",
        "guarded",
        "invokers",
        "lifecycle",
        "loop",
        "observers",
        "publish",
        "recorder",
        "resuming",
        "starts",
        "watching",
    )

    def __init__(
        self,
        graph: CompiledGraph,
        publish: Callable[[Event], object],
        clock: Clock | None,
        lifecycle: bool,
        observers: tuple[RunObserver, ...] = (),
    ) -> None:
        self.graph = graph
        self.invokers, self.edges, self.conds, self.guarded = plain_tables(graph)
        self.publish = publish
        self.clock = clock
        self.lifecycle = lifecycle
        self.observers = observers
        self.watching = lifecycle or bool(observers)  # someone wants lifecycle records
        # the observers told of node starts (metrics is not: it counts a run when it ends)
        self.starts = tuple(o for o in observers if getattr(o, "wants_node_starts", True))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.resuming: dict[str, Any] = {}  # hitl: the paused steps being resumed, by session id
        self.recorder: NodeRecorder | None = None  # node records (issue 15): set by the runner when on

    def now_ns(self) -> int:
        """Observer time: the clock's when there is one (like event timestamps), else the wall clock."""
        return self.clock.now_unix_ms() * 1_000_000 if self.clock is not None else time.time_ns()

    def emit(self, record: LifecycleRecord, session_id: str, error: str | None = None) -> None:
        """Publish a lifecycle record (with lifecycle events on) and hand it to the observers (the caller
        checks `watching` first)."""
        if self.lifecycle:
            now = self.clock.now_unix_ms() if self.clock is not None else None
            self.publish(record.to_event(session_id, now))
        if self.observers:
            notify_record(self.observers, session_id, record, self.now_ns(), error)


def _run_one(
    env: StepEnv, invoker: NodeInvoker, kind: NodeKind, snapshot: StateSnapshot, session: Session, step: int
) -> Coroutine[Any, Any, NodePartial | None]:
    """One node's run, to await. With node records on (issue 15), a plain node is recorded by `_run_node`
    itself, around the invoker (no coroutine of ours in between); a guarded node, or any node under a
    recorder that overrides `call` (replay), runs inside `NodeRecorder.run`."""
    recorder = env.recorder
    if recorder is not None and (recorder.wraps or (env.guarded and kind in env.guarded)):
        call = lambda: _run_node(env, invoker, kind, snapshot, session, step, None)  # noqa: E731
        return recorder.run(session.session_id, step, kind, call)
    return _run_node(env, invoker, kind, snapshot, session, step, recorder)


async def _run_node(
    env: StepEnv,
    invoker: NodeInvoker,
    kind: NodeKind,
    snapshot: StateSnapshot,
    session: Session,
    step: int,
    recorder: NodeRecorder | None,
) -> NodePartial | None:
    sid = session.session_id
    name = kind.name
    ctx = NodeContext(name, step, sid, env.publish, env.clock, env.loop)
    if env.resuming and sid in env.resuming:  # hitl: the answers to this node's interrupts
        ctx.interrupt_answers = env.resuming[sid].answers.get(name, [])
    guarded = env.guarded
    if guarded and kind in guarded:  # (never with `recorder`: see _run_one)
        return await _run_guarded(env, guarded[kind], invoker, kind, snapshot, ctx, session, step)
    watching = env.watching
    if recorder is None and not watching:
        return await invoker(snapshot, ctx)
    if env.lifecycle:
        env.emit(NodeStart(step, name), sid)
    elif env.starts:  # observers only: no record is built for a node's start and end
        notify_node_started(env.starts, sid, step, name, env.now_ns())
    if recorder is None:
        started = time.perf_counter()
        result = await invoker(snapshot, ctx)
        ms = round((time.perf_counter() - started) * 1000.0, 3)
    else:  # node records: its start time and duration, its own partial or its error
        start = recorder.now()
        started = _perf_counter()
        try:
            result = await invoker(snapshot, ctx)
        except Exception as exc:
            recorder.failed(sid, step, kind, start, started, exc)
            raise
        ms = round((_perf_counter() - started) * 1e6) / 1000.0  # to the µs, cheaper than round(x, 3)
        recorder.done(sid, step, name, 1, start, ms, result)
        if not watching:
            return result
    if env.lifecycle:
        env.emit(NodeFinish(step, name, ms), sid)
    elif env.observers:
        notify_node_finished(env.observers, sid, step, name, env.now_ns(), ms, None)
    return result


async def _run_guarded(
    env: StepEnv,
    policy: NodePolicy,
    invoker: NodeInvoker,
    kind: NodeKind,
    snapshot: StateSnapshot,
    ctx: NodeContext,
    session: Session,
    step: int,
) -> NodePartial | None:
    """A node with a retry policy or a timeout: its calls go through `run_attempts` (`node.retry` events
    between attempts), and `node.finish` tells the attempts made."""
    name, sid = kind.name, session.session_id
    emit: Emit | None = None
    if env.watching:
        env.emit(NodeStart(step, name), sid)

        def emit(scope: str, message: str, **meta: Any) -> None:
            env.emit(
                NodeRetry(
                    step,
                    name,
                    meta["attempt"],
                    meta["max_attempts"],
                    meta["delay_s"],
                    meta["error"],
                    meta.get("retry_at_unix_ms"),
                ),
                sid,
            )

    started = time.perf_counter()
    result, attempts = await run_attempts(
        lambda: invoker(snapshot, ctx),
        node=name,
        step=step,
        retry=policy.retry,
        timeout=policy.timeout,
        clock=env.clock,
        emit=emit,
    )
    if env.recorder is not None:  # node records (issue 15): the attempts made
        env.recorder.attempts[(sid, step, name)] = attempts
    if env.watching:
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        env.emit(NodeFinish(step, name, ms, attempts), sid)
    return result


async def _guarded(
    env: StepEnv,
    index: int,
    kind: NodeKind,
    snapshot: StateSnapshot,
    session: Session,
    step: int,
    results: list[Any],
    sem: asyncio.Semaphore | None,
) -> None:
    invoker = env.invokers[kind]
    try:
        if sem is None:
            results[index] = await _run_one(env, invoker, kind, snapshot, session, step)
        else:
            async with sem:
                results[index] = await _run_one(env, invoker, kind, snapshot, session, step)
    except NodeInterrupted as exc:  # hitl: not a failure; the other nodes go on
        results[index] = exc
    except Exception as exc:
        raise NodeFailure(index, kind, as_node_error(kind, exc)) from exc


async def run_nodes(
    env: StepEnv, run: Sequence[NodeKind], snapshot: StateSnapshot, session: Session, step: int
) -> list[NodePartial | None]:
    """Run `run` concurrently on one snapshot; on the first failure cancel the rest and raise NodeFailure
    for the failing node that comes first in frontier order."""
    if len(run) == 1:
        kind = run[0]
        try:
            return [await _run_one(env, env.invokers[kind], kind, snapshot, session, step)]
        except NodeInterrupted as exc:  # hitl
            raise StepInterrupted([exc]) from None
        except Exception as exc:
            raise NodeFailure(0, kind, as_node_error(kind, exc)) from exc
    results: list[Any] = [None] * len(run)
    limit = session.concurrency_limit
    sem = asyncio.Semaphore(limit) if 0 < limit < len(run) else None
    try:
        async with asyncio.TaskGroup() as tg:
            for i, kind in enumerate(run):
                tg.create_task(_guarded(env, i, kind, snapshot, session, step, results, sem))
    except BaseExceptionGroup as group:
        failures = [e for e in _flatten(group) if isinstance(e, NodeFailure)]
        if not failures:
            raise
        raise min(failures, key=lambda f: f.index) from None
    if any(isinstance(r, NodeInterrupted) for r in results):  # hitl: the step is not committed
        raise StepInterrupted(results)
    return results


def _flatten(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_flatten(exc))
        else:
            out.append(exc)
    return out


async def call_predicate(pred: Any, snapshot: StateSnapshot, source: NodeKind, step: int) -> list[NodeKind]:
    """Call a routing predicate (sync or async) and check it returned a list of node names/kinds."""
    try:
        result = pred(snapshot)
        if type(result) is not list and inspect.isawaitable(result):  # skip the ABC check for lists
            result = await result
    except EngineError:
        raise
    except Exception as exc:
        raise RoutingError(source, step, f"predicate raised {type(exc).__name__}: {exc}") from exc
    if isinstance(result, str | NodeKind):
        result = [result]
    if not isinstance(result, list | tuple):
        raise RoutingError(
            source, step, f"predicate returned {type(result).__name__}; expected a list of node names"
        )
    out = []
    for item in result:
        if not isinstance(item, str | NodeKind):
            raise RoutingError(
                source, step, f"predicate returned {item!r} ({type(item).__name__}); expected node names"
            )
        out.append(NodeKind.coerce(item))
    return out


async def route_start(graph: CompiledGraph, state: VersionedState) -> Routing:
    """Start's routing: its unconditional edges, then its conditional edges on `state` (the initial state)."""
    frontier: list[NodeKind] = []
    routed: list[plan.RoutedEdge] = []
    dropped: list[plan.RoutedEdge] = []
    seen: set[NodeKind] = set()
    nodes = graph.invokers
    start = NodeKind.START
    plan.add_route(frontier, seen, routed, dropped, nodes, start, graph.edge_map.get(start, ()), False)
    conds = graph.conditional_by_source.get(start, ())
    if conds:
        snap = state.snapshot()
        for cond in conds:
            targets = await call_predicate(cond.predicate, snap, start, 0)
            plan.add_route(frontier, seen, routed, dropped, nodes, start, targets, True)
    return Routing(frontier, routed, dropped)


async def execute(env: StepEnv, session: Session, gate: StepGate) -> StepPlan:
    """Run `gate`'s nodes, apply the barrier to the session's state, record what they saw (and the joins'
    progress), route (waiting joins stay in the frontier), and return the whole step plan. Raises
    NodeFailure (nothing merged) or RouteFailure (barrier applied).

    Routing, for each node that ran in frontier order: a Replace command instead of its edges and
    predicates; otherwise its edges, an Append command's targets, then its predicates (in registration
    order) on the post-barrier snapshot. (One coroutine for the whole step: this is the hot path.)"""
    state = session.state
    step, run, skipped = gate
    graph = env.graph
    partials: list[NodePartial | None] = []
    updated: list[str] = []
    if run:
        snapshot = state.snapshot()
        if env.loop is None:
            env.loop = asyncio.get_running_loop()
        resume = env.resuming.get(session.session_id) if env.resuming else None  # hitl: a paused step
        if resume is None:
            partials = await run_nodes(env, run, snapshot, session, step)
        else:
            partials = await resume.run_nodes(run_nodes, env, run, snapshot, session, step)
        merged = plan.merge_partials(partials)
        updated = plan.apply_barrier(state, merged, graph.reducers)
        plan.record_seen(session.versions_seen, run, snapshot.messages_version, snapshot.extra_version)
        if graph.joins is not None:
            JoinProgress(session.versions_seen).after_barrier(run, step, graph.joins)
    frontier: list[NodeKind] = []
    routed: list[plan.RoutedEdge] = []
    dropped: list[plan.RoutedEdge] = []
    seen: set[NodeKind] = set()
    add = plan.add_route
    nodes = env.invokers
    edges = env.edges
    conds = env.conds
    post: StateSnapshot | None = None
    for kind, partial in zip(run, partials, strict=True):
        command = partial.frontier if partial is not None else None
        if command is not None and command.mode == "replace":
            add(frontier, seen, routed, dropped, nodes, kind, command.targets, True)
            continue
        targets = edges.get(kind)
        if targets is not None:
            add(frontier, seen, routed, dropped, nodes, kind, targets, False)
        if command is not None:
            add(frontier, seen, routed, dropped, nodes, kind, command.targets, True)
        kind_conds = conds.get(kind)
        if kind_conds is not None:
            for cond in kind_conds:
                if post is None:
                    post = state.snapshot()
                try:
                    chosen = await call_predicate(cond.predicate, post, kind, step)
                except RoutingError as exc:
                    raise RouteFailure(exc, updated) from exc
                add(frontier, seen, routed, dropped, nodes, kind, chosen, True)
    if graph.joins is not None and run:
        carry_waiting(frontier, skipped)  # waiting joins stay in the frontier
    if env.observers:
        notify_step_finished(env.observers, session.session_id, step, env.now_ns())
    return _tuple_new(StepPlan, (step, run, skipped, updated, routed, dropped, frontier))


_tuple_new = tuple.__new__
_perf_counter = time.perf_counter
