"""Running a step's nodes: `run_node` runs one (a plain async node's function awaited inline, recorded
around that call when node records are on; a guarded or replayed node through its wrappers) and `run_nodes`
runs several in one `asyncio.TaskGroup` (at most the session's concurrency limit at a time). `StepEnv` is
what they need from the runner; `node_table` what they need of the graph, built once per graph. The
executor (`engine.executor`) runs a whole step with these."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from engine import plan
from engine.clock import Clock
from engine.errors import NodeError
from engine.events.event import Event
from engine.events.observer import (
    RunObserver,
    notify_node_finished,
    notify_node_started,
    notify_record,
)
from engine.events.records import LifecycleRecord, NodeFinish, NodeRetry, NodeStart
from engine.graph.compiled import CompiledGraph, ConditionalEdge, per_graph
from engine.hitl_types import NodeInterrupted, StepInterrupted
from engine.node import NodeContext, NodeInvoker
from engine.node_records import NodeRecorder, StepRecords, duration_ms
from engine.partial import NodePartial
from engine.plan import Session
from engine.policies import Emit, NodePolicy, run_attempts
from engine.state import StateSnapshot
from engine.types import NodeKind

_tuple_new = tuple.__new__
_perf_counter = time.perf_counter


class NodeFailure(Exception):
    """Internal: carries the failing node and its `NodeError` out of the task group."""

    def __init__(self, index: int, kind: NodeKind, error: NodeError) -> None:
        super().__init__(str(error))
        self.index = index
        self.kind = kind
        self.error = error


def as_node_error(kind: NodeKind, exc: BaseException) -> NodeError:
    """Keep a NodeError; wrap anything else in one that names the node, chained to the original."""
    if isinstance(exc, NodeError):
        return exc
    detail = str(exc) or type(exc).__name__
    err = NodeError(f"node '{kind.name}' raised {type(exc).__name__}: {detail}")
    err.__cause__ = exc
    return err


NodeEntry = tuple[NodeInvoker, tuple[plan.RoutedEdge, ...], tuple[ConditionalEdge, ...], NodePolicy | None]
"""What a step needs of a custom node: its invoker, its unconditional edges as the routed-edge records they
produce (built once per graph), its conditional edges, and its policy when it runs guarded."""


def node_table(graph: CompiledGraph) -> dict[NodeKind, NodeEntry]:
    """Each custom node's `NodeEntry` (one lookup per node and step instead of four)."""
    edges, conds, guarded = graph.edge_map, graph.conditional_by_source, graph.guarded
    return {
        kind: (
            invoker,
            tuple(_tuple_new(plan.RoutedEdge, (kind, t, False)) for t in edges.get(kind, ())),
            conds.get(kind, ()),
            guarded.get(kind),
        )
        for kind, invoker in graph.invokers.items()
    }


class StepEnv:
    """What a step needs from the runner: the graph, event publishing, the clock, the lifecycle switch
    (publish lifecycle events) and the run observers (called directly, no events: tracing and metrics)."""

    __slots__ = (
        "clock",
        "graph",
        "lifecycle",
        "loop",
        "observers",
        "publish",
        "recorder",
        "resuming",
        "starts",
        "table",
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
        self.table = per_graph(graph, node_table)
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


async def run_node(
    env: StepEnv, kind: NodeKind, entry: NodeEntry, snapshot: StateSnapshot, session: Session, step: int
) -> NodePartial | None:
    """One node's run on `snapshot`. A plain node (no policy, no recorder that wraps calls) has its invoker
    called inline (`NodeInvoker.call_inline`'s fast path) and, with node records on (issue 15), is recorded
    around that call: a `node_records` raw tuple, built into a `NodeRecord` only when read. A guarded node,
    or any node under a recorder that overrides `call` (replay), runs through `_run_wrapped`."""
    invoker, _routes, _conds, policy = entry
    sid = session.session_id
    name = kind.name
    ctx = NodeContext(name, step, sid, env.publish, env.clock, env.loop)
    if env.resuming and sid in env.resuming:  # hitl: the answers to this node's interrupts
        ctx.interrupt_answers = env.resuming[sid].answers.get(name, [])
    recorder = env.recorder
    if policy is not None or (recorder is not None and recorder.wraps):
        return await _run_wrapped(env, policy, invoker, kind, snapshot, ctx, session, step)
    if recorder is None:
        if env.watching:
            return await _run_watched(env, invoker, snapshot, ctx, sid, step, name)
        if invoker.is_async:  # the invoker's own fast path, without its coroutine
            result = await invoker.fn(snapshot, ctx)
            if result is None or type(result) is NodePartial:
                return result
            return await invoker.check(result, ctx)
        return await invoker(snapshot, ctx)
    watching = env.watching
    if watching:
        _started(env, sid, step, name)
    start = recorder.wall()
    started = _perf_counter()
    try:
        if invoker.is_async:
            result = await invoker.fn(snapshot, ctx)
            if result is not None and type(result) is not NodePartial:
                result = await invoker.check(result, ctx)
        else:
            result = await invoker(snapshot, ctx)
    except Exception as exc:
        recorder.failed(sid, step, kind, start, started, exc)
        raise
    ended = _perf_counter()
    key = (sid, step)
    recs = recorder.pending.get(key)
    if recs is None:
        recorder.pending[key] = recs = StepRecords()
    recs.append((sid, step, name, 1, start, started, ended, result))  # node_records.StepRecords' raw form
    if watching:
        _finished(env, sid, step, name, duration_ms(started, ended))
    return result


def _started(env: StepEnv, sid: str, step: int, name: str) -> None:
    if env.lifecycle:
        env.emit(NodeStart(step, name), sid)
    elif env.starts:  # observers only: no record is built for a node's start and end
        notify_node_started(env.starts, sid, step, name, env.now_ns())


def _finished(env: StepEnv, sid: str, step: int, name: str, ms: float) -> None:
    if env.lifecycle:
        env.emit(NodeFinish(step, name, ms), sid)
    elif env.observers:
        notify_node_finished(env.observers, sid, step, name, env.now_ns(), ms, None)


async def _run_watched(
    env: StepEnv,
    invoker: NodeInvoker,
    snapshot: StateSnapshot,
    ctx: NodeContext,
    sid: str,
    step: int,
    name: str,
) -> NodePartial | None:
    """A plain node with lifecycle records or observers and no node records: `node.start`, `node.finish`."""
    _started(env, sid, step, name)
    started = _perf_counter()
    result = await invoker(snapshot, ctx)
    _finished(env, sid, step, name, duration_ms(started, _perf_counter()))
    return result


def _run_wrapped(
    env: StepEnv,
    policy: NodePolicy | None,
    invoker: NodeInvoker,
    kind: NodeKind,
    snapshot: StateSnapshot,
    ctx: NodeContext,
    session: Session,
    step: int,
) -> Coroutine[Any, Any, NodePartial | None]:
    """A guarded node (`_run_guarded`), recorded by `NodeRecorder.run` when records are on; or a plain node
    under a recorder that overrides `call` (replay)."""
    recorder = env.recorder
    if recorder is None:
        assert policy is not None
        return _run_guarded(env, policy, invoker, kind, snapshot, ctx, session, step)
    sid = session.session_id

    def call() -> Coroutine[Any, Any, NodePartial | None]:
        if policy is not None:
            return _run_guarded(env, policy, invoker, kind, snapshot, ctx, session, step)
        if env.watching:
            return _run_watched(env, invoker, snapshot, ctx, sid, step, kind.name)
        return invoker(snapshot, ctx)

    return recorder.run(sid, step, kind, call)


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

    started = _perf_counter()
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
        env.emit(NodeFinish(step, name, duration_ms(started, _perf_counter()), attempts), sid)
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
    entry = env.table[kind]
    try:
        if sem is None:
            results[index] = await run_node(env, kind, entry, snapshot, session, step)
        else:
            async with sem:
                results[index] = await run_node(env, kind, entry, snapshot, session, step)
    except NodeInterrupted as exc:  # hitl: not a failure; the other nodes go on
        results[index] = exc
    except Exception as exc:
        raise NodeFailure(index, kind, as_node_error(kind, exc)) from exc


async def run_nodes(
    env: StepEnv, run: Sequence[NodeKind], snapshot: StateSnapshot, session: Session, step: int
) -> list[NodePartial | None]:
    """Run `run` concurrently on one snapshot, each node in a task; on the first failure cancel the rest and
    raise NodeFailure for the failing node that comes first in frontier order. (`execute` runs a step of
    one node itself, without a task.)"""
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
