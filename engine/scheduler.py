"""One superstep: gate the frontier, run nodes concurrently on one snapshot, merge at the barrier, route."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import plan
from engine.clock import Clock
from engine.errors import EngineError, NodeError, RoutingError
from engine.events.event import Event
from engine.node import NodeContext, NodeInvoker
from engine.partial import NodePartial
from engine.policies import Emit, run_attempts
from engine.state import StateSnapshot, VersionedState
from engine.types import NodeKind

if TYPE_CHECKING:
    from engine.app import App

log = logging.getLogger("engine.scheduler")


@dataclass(slots=True)
class Session:
    """A session's live data, owned by the runner."""

    session_id: str
    state: VersionedState
    step: int
    frontier: list[NodeKind]
    versions_seen: dict[str, dict[str, int]]
    concurrency_limit: int
    last_saved_step: int | None = None
    iterative_entry: list[NodeKind] | None = None


@dataclass(slots=True)
class StepOutcome:
    step: int
    ran: list[NodeKind]
    skipped: list[NodeKind]
    updated_channels: list[str]
    next_frontier: list[NodeKind]
    completed: bool
    skip_reasons: list[tuple[NodeKind, str]] = field(default_factory=list)


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
    if isinstance(exc, TypeError) and f"node '{kind.name}' returned" in str(exc):
        err = NodeError(str(exc))
    else:
        detail = str(exc) or type(exc).__name__
        err = NodeError(f"node '{kind.name}' raised {type(exc).__name__}: {detail}")
    err.__cause__ = exc
    return err


class StepEnv:
    """What a superstep needs from the runner: the app, event publishing, clock and options."""

    __slots__ = ("app", "clock", "lifecycle", "loop", "publish")

    def __init__(
        self,
        app: App,
        publish: Callable[[Event], object],
        clock: Clock | None,
        lifecycle: bool,
    ) -> None:
        self.app = app
        self.publish = publish
        self.clock = clock
        self.lifecycle = lifecycle
        self.loop: asyncio.AbstractEventLoop | None = None

    def now_ms(self) -> int | None:
        return self.clock.now_unix_ms() if self.clock is not None else None

    def lifecycle_event(
        self, scope: str, message: str, session: Session, step: int | None, **meta: Any
    ) -> None:
        node_id = meta.pop("node_id", None)
        self.publish(
            Event.create(
                "lifecycle",
                scope,
                message,
                node_id=node_id,
                step=step,
                invocation_id=session.session_id,
                now_unix_ms=self.now_ms(),
                metadata=meta,
            )
        )


async def _run_one(
    env: StepEnv, invoker: NodeInvoker, kind: NodeKind, snapshot: StateSnapshot, session: Session, step: int
) -> NodePartial | None:
    ctx = NodeContext(kind.name, step, session.session_id, env.publish, env.clock, env.loop)
    if env.lifecycle:
        env.lifecycle_event("node.start", f"{kind.name} started", session, step, node_id=kind.name)
        started = time.perf_counter()
    policies = env.app._policies
    policy = policies.get(kind) if policies else None
    if policy is None:
        result = await invoker(snapshot, ctx)
    else:  # retry and/or timeout (engine.policies); node.finish then also tells the attempts made
        emit = _retry_emitter(env, session, step, kind) if env.lifecycle else None
        result, attempts = await run_attempts(
            lambda: invoker(snapshot, ctx),
            node=kind.name,
            step=step,
            retry=policy.retry,
            timeout=policy.timeout,
            clock=env.clock,
            emit=emit,
        )
    if env.lifecycle:
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        more = {} if policy is None else {"attempts": attempts}
        env.lifecycle_event(
            "node.finish",
            f"{kind.name} finished in {ms} ms",
            session,
            step,
            node_id=kind.name,
            duration_ms=ms,
            **more,
        )
    return result


def _retry_emitter(env: StepEnv, session: Session, step: int, kind: NodeKind) -> Emit:
    def emit(scope: str, message: str, **metadata: Any) -> None:
        env.lifecycle_event(scope, message, session, step, node_id=kind.name, **metadata)

    return emit


async def _guarded(
    env: StepEnv,
    index: int,
    invoker: NodeInvoker,
    kind: NodeKind,
    snapshot: StateSnapshot,
    session: Session,
    step: int,
    results: list[NodePartial | None],
    sem: asyncio.Semaphore | None,
) -> None:
    try:
        if sem is None:
            results[index] = await _run_one(env, invoker, kind, snapshot, session, step)
        else:
            async with sem:
                results[index] = await _run_one(env, invoker, kind, snapshot, session, step)
    except Exception as exc:
        raise NodeFailure(index, kind, as_node_error(kind, exc)) from exc


async def execute_nodes(
    env: StepEnv, run: Sequence[NodeKind], snapshot: StateSnapshot, session: Session, step: int
) -> list[NodePartial | None]:
    """Run `run` concurrently on one snapshot; on the first failure cancel the rest and raise NodeFailure
    for the failing node that comes first in frontier order."""
    invokers = env.app._invokers
    if len(run) == 1:
        kind = run[0]
        try:
            return [await _run_one(env, invokers[kind], kind, snapshot, session, step)]
        except Exception as exc:
            raise NodeFailure(0, kind, as_node_error(kind, exc)) from exc
    results: list[NodePartial | None] = [None] * len(run)
    limit = session.concurrency_limit
    sem = asyncio.Semaphore(limit) if 0 < limit < len(run) else None
    try:
        async with asyncio.TaskGroup() as tg:
            for i, kind in enumerate(run):
                tg.create_task(_guarded(env, i, invokers[kind], kind, snapshot, session, step, results, sem))
    except BaseExceptionGroup as group:
        failures = [e for e in _flatten(group) if isinstance(e, NodeFailure)]
        if not failures:
            raise
        raise min(failures, key=lambda f: f.index) from None
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


async def route(
    env: StepEnv,
    session: Session,
    step: int,
    ran: Sequence[NodeKind],
    partials: Sequence[NodePartial | None],
) -> tuple[list[NodeKind], list[tuple[NodeKind, NodeKind]]]:
    """The next frontier from the nodes that ran, in frontier order; returns it and the dropped targets."""
    app = env.app
    edges = app._edge_map
    conds = app._conditional_by_source
    nodes = app._invokers
    next_frontier: list[NodeKind] = []
    seen: set[NodeKind] = set()
    dropped_all: list[tuple[NodeKind, NodeKind]] = []
    post: StateSnapshot | None = None
    for kind, partial in zip(ran, partials, strict=True):
        dropped: list[NodeKind] = []
        command = partial.frontier if partial is not None else None
        if command is not None and command.mode == "replace":
            plan.add_targets(next_frontier, seen, command.targets, nodes, dropped)
        else:
            plan.add_targets(next_frontier, seen, edges.get(kind, ()), nodes, dropped)
            if command is not None:
                plan.add_targets(next_frontier, seen, command.targets, nodes, dropped)
            for cond in conds.get(kind, ()):
                if post is None:
                    post = session.state.snapshot()
                targets = await call_predicate(cond.predicate, post, kind, step)
                plan.add_targets(next_frontier, seen, targets, nodes, dropped)
        dropped_all.extend((kind, t) for t in dropped)
    return next_frontier, dropped_all
