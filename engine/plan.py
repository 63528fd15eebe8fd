"""Pure, synchronous superstep planning: partition the frontier, merge partials at the barrier, bump
versions, record what nodes saw, and collect the next frontier. No awaits here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.joins import SKIP_WAITING, Joins, ready
from engine.partial import NodePartial
from engine.reducers import Reducer
from engine.state import VersionedState
from engine.types import ErrorEvent, NodeKind

VersionsSeen = dict[str, dict[str, int]]

SKIP_VIRTUAL = "virtual"
SKIP_GATED = "gated"


def partition(
    frontier: Sequence[NodeKind],
    versions_seen: Mapping[str, Mapping[str, int]],
    messages_version: int,
    extra_version: int,
    joins: Joins | None = None,
) -> tuple[list[NodeKind], list[tuple[NodeKind, str]]]:
    """Split the frontier into nodes to run and (node, reason) pairs to skip, keeping frontier order.
    A join runs when ready (whatever the versions) and is skipped as "waiting" otherwise."""
    run: list[NodeKind] = []
    skipped: list[tuple[NodeKind, str]] = []
    for kind in frontier:
        if not kind.is_custom:
            skipped.append((kind, SKIP_VIRTUAL))
            continue
        name = kind.name
        if joins is not None and name in joins.wait_for:
            if ready(name, joins.wait_for[name], versions_seen):
                run.append(kind)
            else:
                skipped.append((kind, SKIP_WAITING))
            continue
        seen = versions_seen.get(name)
        if seen is None or messages_version > seen.get("messages", 0) or extra_version > seen.get("extra", 0):
            run.append(kind)
        else:
            skipped.append((kind, SKIP_GATED))
    return run, skipped


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


def add_targets(
    next_frontier: list[NodeKind],
    seen: set[NodeKind],
    targets: Iterable[NodeKind],
    nodes: Mapping[NodeKind, Any],
    dropped: list[NodeKind],
) -> None:
    """Append each known target once (first occurrence wins); unregistered custom targets go to `dropped`."""
    for t in targets:
        if t in seen:
            continue
        if t.is_custom and t not in nodes:
            dropped.append(t)
            continue
        seen.add(t)
        next_frontier.append(t)


def is_complete(frontier: Sequence[NodeKind]) -> bool:
    """Complete when the frontier is empty or holds only End."""
    for k in frontier:  # a plain loop: called several times per step, cheaper than all(<genexpr>)
        if not k.is_end:
            return False
    return True
