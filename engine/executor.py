"""The executor: runs one step plan. Its nodes through `engine.node_exec` on one snapshot (a step of one node
awaited here, several in a task group), then the barrier and routing from `engine.plan`. It awaits nodes and
predicates; every decision is `plan`'s."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from engine import plan
from engine.errors import EngineError, RoutingError
from engine.events.observer import notify_step_finished
from engine.graph.compiled import CompiledGraph
from engine.hitl_types import NodeInterrupted, StepInterrupted
from engine.joins import JoinProgress, carry_waiting
from engine.node_exec import NodeFailure, StepEnv, as_node_error, run_node, run_nodes
from engine.partial import NodePartial
from engine.plan import Routing, Session, StepGate, StepPlan
from engine.state import StateSnapshot, VersionedState
from engine.types import NodeKind

_tuple_new = tuple.__new__

__all__ = ["NodeFailure", "RouteFailure", "StepEnv", "call_predicate", "execute", "route_start"]


class RouteFailure(Exception):
    """Internal: routing failed after the barrier was applied; carries the `RoutingError` and what the
    barrier updated, so the runner can record and save the step before re-raising."""

    def __init__(self, error: RoutingError, updated_channels: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.updated_channels = updated_channels


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
    table = env.table
    partials: list[NodePartial | None] = []
    updated: list[str] = []
    if run:
        snapshot = state.snapshot()
        if env.loop is None:
            env.loop = asyncio.get_running_loop()
        resume = env.resuming.get(session.session_id) if env.resuming else None  # hitl: a paused step
        if resume is not None:
            partials = await resume.run_nodes(run_nodes, env, run, snapshot, session, step)
        elif len(run) == 1:  # one node: awaited here, no task
            kind = run[0]
            try:
                partials = [await run_node(env, kind, table[kind], snapshot, session, step)]
            except NodeInterrupted as exc:  # hitl
                raise StepInterrupted([exc]) from None
            except Exception as exc:
                raise NodeFailure(0, kind, as_node_error(kind, exc)) from exc
        else:
            partials = await run_nodes(env, run, snapshot, session, step)
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
    nodes = table
    post: StateSnapshot | None = None
    for kind, partial in zip(run, partials, strict=True):
        _invoker, routes, conds, _policy = table[kind]
        command = partial.frontier if partial is not None else None
        if command is not None and command.mode == "replace":
            add(frontier, seen, routed, dropped, nodes, kind, command.targets, True)
            continue
        if routes:
            plan.add_edges(frontier, seen, routed, routes)
        if command is not None:
            add(frontier, seen, routed, dropped, nodes, kind, command.targets, True)
        if conds:
            for cond in conds:
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
