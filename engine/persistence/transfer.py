"""Copy checkpoints between databases, and to or from JSON Lines (what `weavegraph export`/`import` run).

Copying through the public checkpointer API converts between storage modes: export a full-mode database and
import it into a new (compact) one, or the other way round. Steps are copied oldest first per session, so the
latest pointer ends where it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from engine.persistence.base import Checkpoint, Checkpointer, CheckpointStore, StepQuery
from engine.persistence.codec import checkpoint_from_json, checkpoint_to_json
from engine.persistence.errors import CheckpointDataError
from engine.persistence.serde import dumps

PAGE = 200


async def ordered_steps(cp: CheckpointStore, session_id: str) -> list[Checkpoint]:
    """Every step of a session, oldest first; pages are read newest first (keyset on max_step), so collect
    then reverse."""
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
    source: CheckpointStore, target: Checkpointer, session_ids: Iterable[str] | None = None
) -> int:
    """Copy every step of the given sessions (default: all) from `source` to `target`; returns the count."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await source.list_sessions()))
    count = 0
    for sid in ids:
        for checkpoint in await ordered_steps(source, sid):
            await target.save(checkpoint)
            count += 1
    return count


async def export_jsonl(
    cp: CheckpointStore, path: str | Path, session_ids: Iterable[str] | None = None
) -> int:
    """Write every step of the given sessions (default: all) to a JSON Lines file; returns the count."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await cp.list_sessions()))
    count = 0
    with open(path, "w", encoding="utf-8") as out:  # noqa: ASYNC230  # local file, one line per step
        for sid in ids:
            for checkpoint in await ordered_steps(cp, sid):
                out.write(dumps(checkpoint_to_json(checkpoint)) + "\n")
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
            await cp.save(checkpoint_from_json(record, f"{path}:{number}"))
            count += 1
    return count
