"""Wait-for-all joins (`add_node(..., wait_for=[...])`): the pure readiness rule, the join progress kept in
the checkpoint, and the compile-time checks of joins.

A join runs only once every node it waits for has run since the join's own last run; until then it is
skipped with reason "waiting" and stays in the frontier. A ready join runs even when version gating would skip
it: every source having run again is its new input.

Where progress is kept: inside `versions_seen`, under one reserved key per join,
`"__weavegraph_join__:<join>"`, mapping each source that has run since the join's last run to the step it ran
in. That value has the type of every other `versions_seen` entry (node -> name -> positive integer), so it
rides in the `versions_seen_json` column of Weavegraph 0.6's `steps` and `sessions` tables unchanged: the same
text in compact and full storage mode, in session exports and forks; a 0.6 reader sees one more entry for a
node its graph does not have (gating looks entries up by node name only). Nothing else stores it;
`invoke_next` clears `versions_seen`, so each invocation of an iterative session starts its joins afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

import networkx as nx

from engine.errors import InvalidJoin, UnknownNode
from engine.types import NodeKind

SKIP_WAITING = "waiting"
PROGRESS_PREFIX = "__weavegraph_join__:"
"""Prefix of the reserved `versions_seen` keys; no node may be named with it."""

VersionsSeen = MutableMapping[str, dict[str, int]]


def progress_key(join: str) -> str:
    """The reserved `versions_seen` key holding the progress of `join`."""
    return PROGRESS_PREFIX + join


@dataclass(frozen=True, slots=True)
class Joins:
    """A compiled graph's joins: `wait_for` (join -> the nodes it waits for, in registration order) and
    `feeds` (node -> the progress keys of the joins waiting for it)."""

    wait_for: Mapping[str, tuple[str, ...]]
    feeds: Mapping[str, tuple[str, ...]]
    keys: Mapping[str, str]
    """join -> its progress key, built once (the hot path never concatenates)."""

    @classmethod
    def build(cls, wait_for: Mapping[str, Sequence[str]]) -> Joins | None:
        """The joins of a graph, or None when it has none (the executor's fast path)."""
        table = {join: tuple(sources) for join, sources in wait_for.items() if sources}
        if not table:
            return None
        feeds: dict[str, list[str]] = {}
        for join, sources in table.items():
            for source in sources:
                feeds.setdefault(source, []).append(join)
        keys = {join: progress_key(join) for join in table}
        return cls(table, {source: tuple(keys[j] for j in js) for source, js in feeds.items()}, keys)


class JoinProgress:
    """A view (no copy) of the join progress stored in a session's `versions_seen`: which sources of each
    join have run since the join last ran, and in which step."""

    __slots__ = ("_seen",)

    def __init__(self, versions_seen: VersionsSeen) -> None:
        self._seen = versions_seen

    def arrived(self, join: str) -> Mapping[str, int]:
        """Source -> step it ran in, for the sources of `join` that ran since the join last ran."""
        return self._seen.get(progress_key(join)) or {}

    def after_barrier(self, ran: Iterable[NodeKind], step: int, joins: Joins) -> None:
        """Update progress once a step's barrier is passed: each join that ran starts a new round, then each
        node that ran is recorded for the joins waiting on it (a source running beside its join in the same
        step counts for the join's next round: the join did not see its output)."""
        seen, keys, feeds = self._seen, joins.keys, joins.feeds
        # `kind._name` rather than the `name` property: this runs for every node of every step.
        for kind in ran:
            key = keys.get(kind._name)
            if key is not None:
                seen.pop(key, None)
        for kind in ran:
            name = kind._name
            sinks = feeds.get(name)
            if sinks is not None:
                for key in sinks:
                    entry = seen.get(key)
                    if entry is None:
                        entry = seen[key] = {}
                    entry[name] = step

    def to_json(self) -> dict[str, dict[str, int]]:
        """The stored form: the reserved `versions_seen` entries, join key -> {source: step}."""
        return {k: dict(v) for k, v in self._seen.items() if k.startswith(PROGRESS_PREFIX)}

    @staticmethod
    def from_json(value: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        """Check a stored form (see `to_json`) and return it as `versions_seen` entries; ValueError names the
        first bad entry."""
        out: dict[str, dict[str, int]] = {}
        for key, sources in value.items():
            if not key.startswith(PROGRESS_PREFIX) or len(key) == len(PROGRESS_PREFIX):
                raise ValueError(f"join progress key {key!r} does not name a join")
            if not isinstance(sources, Mapping):
                raise ValueError(f"join progress {key!r} must map node names to steps")
            entry: dict[str, int] = {}
            for source, step in sources.items():
                if not isinstance(step, int) or isinstance(step, bool) or step < 1:
                    raise ValueError(f"join progress {key!r}: step of '{source}' must be a positive integer")
                entry[str(source)] = step
            out[key] = entry
        return out


def ready(
    node: str, wait_for: Sequence[str], progress: JoinProgress | Mapping[str, Mapping[str, int]]
) -> bool:
    """Whether join `node` may run: every node in `wait_for` has run since its last run. `progress` is a
    `JoinProgress` or the `versions_seen` mapping that holds it."""
    if isinstance(progress, JoinProgress):
        arrived = progress.arrived(node)
    else:
        arrived = progress.get(progress_key(node)) or {}
    for source in wait_for:  # a plain loop: this runs for every join in every frontier
        if source not in arrived:
            return False
    return True


def carry_waiting(next_frontier: list[NodeKind], skipped: Iterable[tuple[NodeKind, str]]) -> None:
    """Waiting joins stay in the frontier: append those the routing did not bring back already. Call only
    when something ran in the step; when nothing ran nothing can change, and the run completes."""
    present: set[NodeKind] | None = None
    for kind, reason in skipped:
        if reason != SKIP_WAITING:
            continue
        if present is None:
            present = set(next_frontier)
        if kind not in present:
            present.add(kind)
            next_frontier.append(kind)


# ---------------------------------------------------------------- compile-time checks


def check_joins(
    nodes: Iterable[NodeKind],
    edges: Sequence[tuple[NodeKind, NodeKind]],
    conditional: Sequence[tuple[NodeKind, Sequence[NodeKind] | None]],
    wait_for: Mapping[str, Sequence[str]],
) -> None:
    """Raise for the first join that cannot work: a listed name that is not a node (`UnknownNode`); the join
    itself, Start or End, or a node that can never run before the join (`InvalidJoin`). The last is judged
    over unconditional edges and declared conditional targets, and skipped when a conditional edge declares
    none (like the reachability checks)."""
    names = {k.name for k in nodes}
    for join, sources in wait_for.items():
        for source in sources:
            if source == join:
                raise InvalidJoin(join, [source], "a join cannot wait for itself")
            if source in ("Start", "End"):
                raise InvalidJoin(join, [source], "Start and End are not nodes a join can wait for")
            if source not in names:
                raise UnknownNode(source, f"wait_for of join '{join}'")
    if not wait_for or any(targets is None for _, targets in conditional):
        return
    flow = nx.DiGraph()
    flow.add_nodes_from(["Start", "End", *names])
    flow.add_edges_from((s.name, d.name) for s, d in edges)
    for origin, targets in conditional:
        flow.add_edges_from((origin.name, t.name) for t in targets or ())
    for join, sources in wait_for.items():
        before = nx.ancestors(flow, join)
        never = [s for s in sources if s not in before]
        if never:
            raise InvalidJoin(
                join,
                never,
                "they can never run before it (no path of edges or declared conditional targets leads "
                "from them to the join)",
            )
