"""Shared SQL of the SQLite checkpointer: the step columns its reads select and the session statistics query.
(Saves are in `sqlite_save`, reads in `sqlite_reads`, browsing in `sqlite_browse`.)"""

from __future__ import annotations

from typing import Any

from engine.persistence.base import SessionStats
from engine.persistence.serde import parse_timestamp
from engine.persistence.sqlite_schema import COUNTS_TABLE

STEP_COLUMNS = (
    "t.step, t.created_at, t.state_json, t.frontier_json, t.versions_seen_json, t.ran_nodes_json, "
    "t.skipped_nodes_json, t.updated_channels_json, s.concurrency_limit, s.graph_hash, t.parent_step"
)

SESSION_STATS = (
    "SELECT s.id, s.last_step, s.created_at, s.updated_at, s.graph_hash, COALESCE(c.steps, 0),"
    f" COALESCE(c.bytes, 0) FROM sessions s LEFT JOIN {COUNTS_TABLE} c ON c.session_id = s.id"
)


def session_stats(row: Any) -> SessionStats:
    sid, last_step, created, updated, graph_hash, steps, size = row
    return SessionStats(
        sid,
        int(steps),
        int(size),
        int(last_step),
        parse_timestamp(created) if created else None,
        parse_timestamp(updated) if updated else None,
        graph_hash,
    )
