"""Copy checkpoints between databases, and to or from JSON Lines (what `weavegraph export`/`import` run).

Copying through the public checkpointer API converts between storage modes: export a full-mode database and
import it into a new (compact) one, or the other way round. Steps are copied oldest first per session, so the
latest pointer ends where it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.persistence.base import Checkpoint, Checkpointer, StepQuery
from engine.persistence.errors import CheckpointDataError
from engine.persistence.serde import (
    decode_checkpoint,
    dumps,
    format_timestamp,
    nodes_to_json,
    state_to_json,
    versions_seen_to_json,
)

FORMAT = "weavegraph.checkpoint"
PAGE = 200


async def _ordered_steps(cp: Checkpointer, session_id: str) -> list[Checkpoint]:
    """Oldest first; pages are read newest first (keyset on max_step), so collect then reverse."""
    pages: list[list[Checkpoint]] = []
    upper: int | None = None
    while True:
        page = await cp.query_steps(session_id, StepQuery(limit=PAGE, max_step=upper))
        if not page.checkpoints:
            break
        pages.append(page.checkpoints)
        lowest = page.checkpoints[-1].step
        if not page.has_next_page or lowest <= 0:
            break
        upper = lowest - 1
    return [c for chunk in reversed(pages) for c in reversed(chunk)]


async def copy_checkpoints(
    source: Checkpointer, target: Checkpointer, session_ids: Iterable[str] | None = None
) -> int:
    """Copy every step of the given sessions (default: all) from `source` to `target`; returns the count."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await source.list_sessions()))
    count = 0
    for sid in ids:
        for checkpoint in await _ordered_steps(source, sid):
            await target.save(checkpoint)
            count += 1
    return count


def checkpoint_to_record(cp: Checkpoint) -> dict[str, Any]:
    """One JSON Lines record: the stored JSON shapes plus the session id and step."""
    return {
        "format": FORMAT,
        "session_id": cp.session_id,
        "step": cp.step,
        "created_at": format_timestamp(cp.created_at),
        "state": state_to_json(cp.state),
        "frontier": nodes_to_json(cp.frontier),
        "versions_seen": versions_seen_to_json(cp.versions_seen),
        "ran_nodes": nodes_to_json(cp.ran_nodes),
        "skipped_nodes": nodes_to_json(cp.skipped_nodes),
        "updated_channels": list(cp.updated_channels),
        "concurrency_limit": cp.concurrency_limit,
        "graph_hash": cp.graph_hash,
    }


def record_to_checkpoint(record: dict[str, Any], where: str = "<record>") -> Checkpoint:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointDataError(f"{where}: not a {FORMAT} record")
    try:
        return decode_checkpoint(
            str(record["session_id"]),
            int(record["step"]),
            record.get("created_at"),
            record["state"],
            record.get("frontier", []),
            record.get("versions_seen", {}),
            record.get("ran_nodes", []),
            record.get("skipped_nodes", []),
            record.get("updated_channels", []),
            record.get("concurrency_limit"),
            record.get("graph_hash"),
        )
    except KeyError as exc:
        raise CheckpointDataError(f"{where}: record lacks {exc}") from exc


async def export_jsonl(cp: Checkpointer, path: str | Path, session_ids: Iterable[str] | None = None) -> int:
    """Write every step of the given sessions (default: all) to a JSON Lines file; returns the count."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await cp.list_sessions()))
    count = 0
    with open(path, "w", encoding="utf-8") as out:  # noqa: ASYNC230  # local file, one line per step
        for sid in ids:
            for checkpoint in await _ordered_steps(cp, sid):
                out.write(dumps(checkpoint_to_record(checkpoint)) + "\n")
                count += 1
    return count


async def import_jsonl(cp: Checkpointer, path: str | Path) -> int:
    """Save every record of a JSON Lines file made by `export_jsonl`; returns the count."""
    count = 0
    with open(path, encoding="utf-8") as src:  # noqa: ASYNC230  # local file, read line by line
        for number, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CheckpointDataError(f"{path}:{number}: not JSON ({exc})") from exc
            await cp.save(record_to_checkpoint(record, f"{path}:{number}"))
            count += 1
    return count
