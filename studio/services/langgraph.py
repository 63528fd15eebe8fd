"""The studio's one door to LangGraph checkpoint databases (`engine.foreign.langgraph`, README "LangGraph
databases"): opening read-only, the records the views show, states for the viewer and diff, and the prune.

Only this module imports `engine.foreign`; controllers call these functions and panels import the record
types re-exported here.
"""

from __future__ import annotations

from engine.foreign.langgraph import (
    CheckpointDetail,
    CheckpointInfo,
    CheckpointTree,
    LangGraphReader,
    PendingWrite,
    PrunePlan,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    ThreadPage,
    ThreadQuery,
    Value,
    is_langgraph_database,
    open_langgraph,
    prune_langgraph,
    serializer_available,
    versioned_state,
)
from engine.state import VersionedState

__all__ = [
    "KEEP_LAST_ESTIMATES",
    "CheckpointDetail",
    "CheckpointInfo",
    "CheckpointTree",
    "LangGraphReader",
    "PendingWrite",
    "PrunePlan",
    "StorageReport",
    "ThreadInfo",
    "ThreadKey",
    "ThreadPage",
    "ThreadQuery",
    "Value",
    "apply_prune",
    "is_langgraph",
    "open_reader",
    "serializer_available",
    "state_of",
    "tree_rows",
    "value_text",
]

KEEP_LAST_ESTIMATES = (1, 10, 100)


async def is_langgraph(url: str) -> bool:
    """Whether `url` is a LangGraph saver's database (a read-only look at its tables)."""
    return await is_langgraph_database(url)


async def open_reader(url: str) -> LangGraphReader:
    """Open a LangGraph database read-only (never writes; errors are one-line `CheckpointerError`s)."""
    return await open_langgraph(url)


def state_of(detail: CheckpointDetail) -> VersionedState:
    """The checkpoint as our state, for the state viewer and the per-channel diff (undecodable values show
    as `{"$undecodable": why, "size": n}` under `extra`)."""
    return versioned_state(detail)


async def apply_prune(url: str, keep_last: int, thread_ids: list[str] | None, vacuum: bool) -> PrunePlan:
    """The one write: keep-last-N on its own read-write connection, then VACUUM when asked."""
    return await prune_langgraph(url, keep_last, thread_ids=thread_ids, vacuum=vacuum)


def value_text(value: Value, limit: int = 200) -> str:
    """One line for a stored value: its decoded JSON, or why it is undecodable, with type and size."""
    import json

    if not value.decoded:
        return f"<undecodable {value.type or '?'}, {value.size} bytes: {value.error or 'unknown'}>"
    text = json.dumps(value.value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tree_rows(tree: CheckpointTree) -> list[tuple[CheckpointInfo, str]]:
    """Rows for drawing the checkpoint tree newest first: (checkpoint, rails). The rails have one cell per
    lane (lane 0 leads to the newest checkpoint, each fork opens the next): "●" the checkpoint, "│" a lane
    that passes this row (it goes on to an older checkpoint), "┘" where a branch leaves from (its first
    checkpoint's parent, in another lane)."""
    nodes = list(reversed(tree.nodes))
    row_of = {n.checkpoint_id: i for i, n in enumerate(nodes)}
    lanes = [tree.lanes.get(n.checkpoint_id, 0) for n in nodes]
    width = max(lanes, default=0) + 1
    spans: dict[int, tuple[int, int]] = {}  # lane -> (first row, last row incl. the parent it leaves from)
    for i, (node, lane) in enumerate(zip(nodes, lanes, strict=True)):
        first, last = spans.get(lane, (i, i))
        parent = row_of.get(node.parent_checkpoint_id or "")
        spans[lane] = (min(first, i), max(last, i, parent if parent is not None else i))
    rows: list[tuple[CheckpointInfo, str]] = []
    for i, (node, lane) in enumerate(zip(nodes, lanes, strict=True)):
        cells = []
        for col in range(width):
            first, last = spans.get(col, (-1, -1))
            if col == lane:
                cells.append("●")
            elif first <= i < last:
                cells.append("│")
            elif i == last and first >= 0 and last > first:
                cells.append("┘")
            else:
                cells.append(" ")
        rows.append((node, " ".join(cells).rstrip()))
    return rows
