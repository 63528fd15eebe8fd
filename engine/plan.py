"""Pure, synchronous superstep planning: who runs and who is skipped (and why), merging partials at the
barrier and bumping versions, what each node saw, and routing - which `(source, target)` edges were taken,
which targets were dropped, and the next frontier. No awaits here: the executor (`engine.executor`) calls the
async parts (nodes, predicates) and hands their results to these functions.

Hot-path records are NamedTuples, built with `tuple.__new__` (immutable and several times cheaper than frozen
dataclasses; a whole superstep of a trivial node costs under 10 microseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.joins import SKIP_WAITING, Joins, ready
from engine.partial import NodePartial
from engine.reducers import Reducer
from engine.state import VersionedState
from engine.types import ErrorEvent, NodeKind

VersionsSeen = dict[str, dict[str, int]]
_tuple_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)

SKIP_VIRTUAL = "virtual"
"""Skip reason of Start and End in a frontier."""
SKIP_GATED = "gated"
"""Skip reason of a node that already saw the current messages and extra versions."""


@dataclass(slots=True)
class Session:
    """A session's live data, owned by the runner; the executor updates state, step and versions_seen."""

    session_id: str
    state: VersionedState
    step: int
    frontier: list[NodeKind]
    versions_seen: VersionsSeen
    concurrency_limit: int
    last_saved_step: int | None = None


class Skip(NamedTuple):
    """A frontier entry that does not run this step, and why ("virtual", "gated" or "waiting")."""

    node: NodeKind
    reason: str


class RoutedEdge(NamedTuple):
    """An edge taken by routing: `conditional` when a predicate or a frontier command chose the target."""

    source: NodeKind
    target: NodeKind
    conditional: bool


class StepGate(NamedTuple):
    """The first half of a step plan, known before anything runs: the step number, who runs (frontier
    order) and who is skipped."""

    step: int
    run: list[NodeKind]
    skipped: list[Skip]


class StepPlan(NamedTuple):
    """A whole step: who ran, who was skipped and why, the barrier's updated channels, the routed edges in
    routing order, the dropped (unregistered) targets and the next frontier."""

    step: int
    run: list[NodeKind]
    skipped: list[Skip]
    updated_channels: list[str]
    routed: list[RoutedEdge]
    dropped: list[RoutedEdge]
    next_frontier: list[NodeKind]

    @property
    def skipped_nodes(self) -> list[NodeKind]:
        return [s[0] for s in self.skipped]

    @property
    def completed(self) -> bool:
        return is_complete(self.next_frontier)


def gate(session: Session, joins: Joins | None = None) -> StepGate:
    """Who runs in the session's next step and who is skipped, in frontier order: Start and End are skipped
    ("virtual"); a join (see `engine.joins`) runs when ready, whatever the versions, and is skipped as
    "waiting" otherwise; any other custom node runs if it never ran or `messages`/`extra` moved past the
    versions it last saw, else it is skipped ("gated"). The errors channel never gates."""
    state = session.state
    messages_version = state.messages_version
    extra_version = state.extra_version
    versions_seen = session.versions_seen
    run: list[NodeKind] = []
    skipped: list[Skip] = []
    for kind in session.frontier:
        if not kind.is_custom:
            skipped.append(_tuple_new(Skip, (kind, SKIP_VIRTUAL)))
            continue
        name = kind.name
        if joins is not None and name in joins.wait_for:
            if ready(name, joins.wait_for[name], versions_seen):
                run.append(kind)
            else:
                skipped.append(_tuple_new(Skip, (kind, SKIP_WAITING)))
            continue
        seen = versions_seen.get(name)
        if seen is None or messages_version > seen.get("messages", 0) or extra_version > seen.get("extra", 0):
            run.append(kind)
        else:
            skipped.append(_tuple_new(Skip, (kind, SKIP_GATED)))
    return _tuple_new(StepGate, (session.step + 1, run, skipped))


def merge_partials(partials: Iterable[NodePartial | None]) -> NodePartial:
    """Merge in the given (frontier) order: messages and errors concatenate, extra applies key by key so the
    later node wins; errors are then sorted by (scope rank, kind/session, step, when, message)."""
    messages: list[Any] = []
    extra: dict[str, Any] | None = None
    errors: list[ErrorEvent] = []
    for p in partials:
        if p is None:
            continue
        if p.messages:
            messages.extend(p.messages)
        if p.extra:
            if extra is None:
                extra = dict(p.extra)
            else:
                extra.update(p.extra)
        if p.errors:
            errors.extend(p.errors)
    if len(errors) > 1:
        errors.sort(key=ErrorEvent.sort_key)
    return NodePartial(messages or None, extra, errors or None)


def _extra_changes(extra: Mapping[str, Any], update: Mapping[str, Any]) -> bool:
    for key, value in update.items():
        if value is None:
            if key in extra:
                return True
        elif key not in extra or extra[key] != value:
            return True
    return False


def apply_barrier(
    state: VersionedState, merged: NodePartial, reducers: Mapping[str, Sequence[Reducer]]
) -> list[str]:
    """Apply `merged` through each channel's reducers and bump versions (by at most 1) for channels that
    changed. Returns `updated_channels` ("messages" then "extra")."""
    updated: list[str] = []
    if merged.messages:
        chain = reducers["messages"]
        if len(chain) == 1:
            chain[0].apply(state, merged)
            changed = True
        else:
            before = list(state.messages)
            for r in chain:
                r.apply(state, merged)
            changed = state.messages != before
        if changed:
            state.messages_version += 1
            updated.append("messages")
    if merged.extra:
        chain = reducers["extra"]
        if len(chain) == 1:
            changed = _extra_changes(state.extra, merged.extra)
            chain[0].apply(state, merged)
        else:
            before_extra = dict(state.extra)
            for r in chain:
                r.apply(state, merged)
            changed = state.extra != before_extra
        if changed:
            state.extra_version += 1
            updated.append("extra")
    if merged.errors:
        for r in reducers["errors"]:
            r.apply(state, merged)
    return updated


def record_seen(
    versions_seen: VersionsSeen, ran: Iterable[NodeKind], messages_version: int, extra_version: int
) -> None:
    """Each node that ran saw the versions of the snapshot it was given."""
    for kind in ran:
        versions_seen[kind.name] = {"messages": messages_version, "extra": extra_version}


class Routing(NamedTuple):
    """Where routing went: the next frontier, the edges taken (routing order) and the dropped targets."""

    frontier: list[NodeKind]
    routed: list[RoutedEdge]
    dropped: list[RoutedEdge]


def add_route(
    frontier: list[NodeKind],
    seen: set[NodeKind],
    routed: list[RoutedEdge],
    dropped: list[RoutedEdge],
    nodes: Mapping[NodeKind, Any],
    source: NodeKind,
    targets: Iterable[NodeKind],
    conditional: bool,
) -> None:
    """Route `source` to `targets` (the lists are a `Routing`'s; `seen` is the set of `frontier`): each
    target enters the frontier once (first occurrence wins), every taken edge is recorded once per source,
    unregistered custom targets are dropped."""
    for t in targets:
        if t in seen:
            # Already in the next frontier: still an edge taken, unless this source took it before. A
            # source's edges are added together, so only the tail of `routed` can hold them. (Sources are
            # compared by identity: NodeKinds are interned, and this loop runs for every fan-in edge.)
            taken = False
            for edge in reversed(routed):
                if edge[0] is not source:
                    break
                if edge[1] == t:
                    taken = True
                    break
            if not taken:
                routed.append(_tuple_new(RoutedEdge, (source, t, conditional)))
            continue
        if t.is_custom and t not in nodes:
            dropped.append(_tuple_new(RoutedEdge, (source, t, conditional)))
            continue
        seen.add(t)
        frontier.append(t)
        routed.append(_tuple_new(RoutedEdge, (source, t, conditional)))


def add_edges(
    frontier: list[NodeKind], seen: set[NodeKind], routed: list[RoutedEdge], edges: Iterable[RoutedEdge]
) -> None:
    """Route a source's unconditional edges, given as the routed-edge records they produce (built once per
    graph): `add_route` for a source's first targets, which compile-time checks make registered (or End)
    and distinct, so none is dropped and none was taken by this source before."""
    for edge in edges:
        t = edge[1]
        if t not in seen:
            seen.add(t)
            frontier.append(t)
        routed.append(edge)


def is_complete(frontier: Sequence[NodeKind]) -> bool:
    """Complete when the frontier is empty or holds only End."""
    for k in frontier:  # a plain loop: called several times per step, cheaper than all(<genexpr>)
        if not k.is_end:
            return False
    return True
