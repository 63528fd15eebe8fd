"""The prune planner (pure): which checkpoints keep-last-N removes, never one a kept checkpoint depends on.

Rules, per thread:

- Each chain (a thread's namespace) keeps its `keep_last` newest checkpoints (ids are time-ordered).
  A subgraph call's namespace (`"<node>:<task id>"`) belongs to the root checkpoint it started from
  (`metadata["parents"][""]`): it is kept (its newest `keep_last`) only while that root checkpoint is
  kept, and goes whole otherwise. Namespaces without a task id (a subgraph with its own checkpointer) are
  chains of their own.
- Dependencies are kept too: a checkpoint of a thread that uses a `DeltaChannel` (its value is rebuilt from
  ancestors' writes) keeps its whole parent chain; a checkpoint of format version < 4 keeps its parent when
  the parent holds pending sends (`__pregel_tasks` writes), which LangGraph reads from there.
- A kept checkpoint keeps all its pending writes; the writes of a removed checkpoint go with it. Postgres
  blobs go when no kept checkpoint of their namespace references their (channel, version).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.foreign.langgraph.records import PruneSummary, ThreadKey


@dataclass(slots=True)
class Node:
    """What the planner needs of one checkpoint (not frozen: 100,000 of them are built per scan, and a frozen
    dataclass's __init__ is several times slower; treat it as read-only)."""

    key: ThreadKey
    checkpoint_id: str
    parent_id: str | None
    bytes: int
    writes: int = 0
    write_bytes: int = 0
    format_version: int = 4
    has_sends: bool = False
    delta: bool = False
    root_parent: str | None = None
    blob_refs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """A dry-run result: what would go, and the summary counts."""

    summary: PruneSummary
    delete: dict[ThreadKey, list[str]] = field(default_factory=dict)
    blobs: dict[ThreadKey, list[tuple[str, str]]] = field(default_factory=dict)
    """Postgres only: the (channel, version) blobs no kept checkpoint references."""
    kept: int = 0


def _is_call(ns: str) -> bool:
    return ":" in ns


def plan_prune(
    nodes: Iterable[Node],
    keep_last: int,
    thread_ids: Iterable[str] | None = None,
    blob_sizes: Mapping[tuple[ThreadKey, str, str], int] | None = None,
) -> PrunePlan:
    """Plan keep-last-`keep_last` over `nodes` (all checkpoints, or at least all of the threads named)."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1, got {keep_last}")
    wanted = set(thread_ids) if thread_ids is not None else None
    by_thread: dict[str, dict[str, list[Node]]] = defaultdict(lambda: defaultdict(list))
    for node in nodes:
        if wanted is None or node.key.thread_id in wanted:
            by_thread[node.key.thread_id][node.key.checkpoint_ns].append(node)
    delete: dict[ThreadKey, list[str]] = {}
    blobs: dict[ThreadKey, list[tuple[str, str]]] = {}
    n_ckpt = n_writes = n_blobs = size = kept_total = 0
    touched: set[str] = set()
    for thread_id, chains in by_thread.items():
        thread_delta = any(n.delta for chain in chains.values() for n in chain)
        kept_ids: dict[str, set[str]] = {}
        # independent chains first (root and own-checkpointer subgraphs), then subgraph calls
        for ns in sorted(chains, key=_is_call):
            chain = chains[ns]
            if _is_call(ns):
                roots = {n.root_parent for n in chain} - {None}
                known = {n.checkpoint_id for n in chains.get("", [])}
                # a call whose root checkpoint is unknown (not saved) is treated as a chain of its own
                alive = not roots or not roots <= known or bool(roots & kept_ids.get("", set()))
                keep = _keep(chain, keep_last, thread_delta) if alive else set()
            else:
                keep = _keep(chain, keep_last, thread_delta)
            kept_ids[ns] = keep
            gone = [n for n in chain if n.checkpoint_id not in keep]
            kept_total += len(chain) - len(gone)
            if not gone:
                continue
            key = ThreadKey(thread_id, ns)
            delete[key] = [n.checkpoint_id for n in gone]
            touched.add(thread_id)
            n_ckpt += len(gone)
            n_writes += sum(n.writes for n in gone)
            size += sum(n.bytes + n.write_bytes for n in gone)
            if any(n.blob_refs for n in chain):
                still = {ref for n in chain if n.checkpoint_id in keep for ref in n.blob_refs}
                freed = sorted({ref for n in gone for ref in n.blob_refs} - still)
                if freed:
                    blobs[key] = freed
                    n_blobs += len(freed)
                    if blob_sizes is not None:
                        size += sum(blob_sizes.get((key, c, v), 0) for c, v in freed)
    summary = PruneSummary(keep_last, n_ckpt, n_writes, n_blobs, size, len(touched))
    return PrunePlan(summary, delete, blobs, kept_total)


def _keep(chain: list[Node], keep_last: int, delta: bool) -> set[str]:
    by_id = {n.checkpoint_id: n for n in chain}
    newest = sorted(by_id, reverse=True)[:keep_last]
    keep: set[str] = set()
    todo = list(newest)
    while todo:
        cid = todo.pop()
        if cid in keep or cid not in by_id:
            continue
        keep.add(cid)
        node = by_id[cid]
        parent = by_id.get(node.parent_id) if node.parent_id else None
        if parent is None:
            continue
        if delta or (node.format_version < 4 and parent.has_sends):
            todo.append(parent.checkpoint_id)
    return keep
