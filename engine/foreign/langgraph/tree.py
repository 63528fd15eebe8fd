"""Pure helpers shared by both readers: paging the thread list and laying out a checkpoint tree."""

from __future__ import annotations

from engine.foreign.langgraph.records import (
    CheckpointInfo,
    CheckpointTree,
    ThreadInfo,
    ThreadKey,
    ThreadPage,
    ThreadQuery,
)


def page_threads(threads: list[ThreadInfo], query: ThreadQuery) -> ThreadPage:
    items = threads
    if not query.subgraphs:
        items = [t for t in items if not t.key.checkpoint_ns]
    if query.search:
        needle = query.search.casefold()
        items = [
            t
            for t in items
            if needle in t.key.thread_id.casefold() or needle in t.key.checkpoint_ns.casefold()
        ]
    sort_key = {
        "updated": lambda t: (t.latest_checkpoint_id, t.key),
        "thread_id": lambda t: (t.key,),
        "checkpoints": lambda t: (t.checkpoints, t.key),
        "bytes": lambda t: (t.bytes, t.key),
    }[query.order_by]
    ordered = sorted(items, key=sort_key, reverse=query.descending)
    return ThreadPage(ordered[query.offset : query.offset + query.limit], len(ordered))


def build_tree(key: ThreadKey, nodes: list[CheckpointInfo]) -> CheckpointTree:
    """`nodes` oldest first. Lane 0 is the path from the newest checkpoint back to its root; every other
    branch tip (newest first) walks back to the first checkpoint that already has a lane and opens the next
    lane.     A parent that is not in the chain (pruned) makes its child a root."""
    ids = {n.checkpoint_id for n in nodes}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    parent_of: dict[str, str | None] = {}
    for n in nodes:
        parent = n.parent_checkpoint_id if n.parent_checkpoint_id in ids else None
        parent_of[n.checkpoint_id] = parent
        if parent is None:
            roots.append(n.checkpoint_id)
        else:
            children.setdefault(parent, []).append(n.checkpoint_id)
    lanes: dict[str, int] = {}
    tips = sorted((n.checkpoint_id for n in nodes if n.checkpoint_id not in children), reverse=True)
    for lane, tip in enumerate(tips):
        cid: str | None = tip
        while cid is not None and cid not in lanes:
            lanes[cid] = lane
            cid = parent_of[cid]
    return CheckpointTree(key, nodes, children, roots, lanes)
