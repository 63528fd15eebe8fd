"""Copy checkpoints between databases, and to or from JSON Lines (what `weavegraph export`/`import` run).

Copying through the public checkpointer API converts between storage modes: export a full-mode database and
import it into a new (compact) one, or the other way round. Steps are copied oldest first per session, so the
latest pointer ends where it was. Each step carries its node records, the session its lineage (parent session
and step, graph name) and its stored events (issue 15); files written before records existed import as they
are.

JSON Lines: one `weavegraph.checkpoint` record per step (with `node_records` and, on a session's first line,
`parent` and `graph_name`), then one `weavegraph.events` record per session that has stored events.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.persistence.base import Checkpoint, Checkpointer, CheckpointStore, StepQuery
from engine.persistence.codec import checkpoint_from_json, checkpoint_to_json
from engine.persistence.errors import CheckpointDataError
from engine.persistence.serde import dumps
from engine.types import JSON

PAGE = 200
EVENTS_FORMAT = "weavegraph.events"


@dataclasses.dataclass(slots=True)
class SessionExtras:
    """What a session has beside its checkpoints: node records by step, stored events in order, lineage."""

    records: dict[int, list[NodeRecord]] = dataclasses.field(default_factory=dict)
    events: list[Event] = dataclasses.field(default_factory=list)
    parent: tuple[str, int] | None = None
    graph_name: str | None = None


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


async def read_extras(cp: Any, session_id: str) -> SessionExtras:
    """A session's node records, stored events and lineage (empty for a store without them)."""
    extras = SessionExtras()
    reader = getattr(cp, "node_records", None)
    if reader is not None:
        for rec in await reader(session_id):
            extras.records.setdefault(rec.step, []).append(rec)
    events = getattr(cp, "events", None)
    if events is not None:
        extras.events = list(await events(session_id))
    info_of = getattr(cp, "session_info", None)
    info = await info_of(session_id) if info_of is not None else None
    if info is not None:
        if info.parent_session is not None and info.parent_step is not None:
            extras.parent = (info.parent_session, info.parent_step)
        extras.graph_name = info.graph_name
    return extras


def attach(checkpoints: Sequence[Checkpoint], extras: SessionExtras) -> None:
    """Put the records of each step on its checkpoint, and the lineage on the first (what `save` writes)."""
    for checkpoint in checkpoints:
        records = extras.records.get(checkpoint.step)
        if records is not None:
            checkpoint.node_records = [
                dataclasses.replace(r, session_id=checkpoint.session_id) for r in records
            ]
    if checkpoints:
        checkpoints[0].parent = extras.parent
        checkpoints[0].graph_name = extras.graph_name


async def save_session(
    target: Checkpointer, checkpoints: Sequence[Checkpoint], events: Sequence[Event]
) -> None:
    """Save a session's checkpoints oldest first, then its stored events in their order."""
    for checkpoint in checkpoints:
        await target.save(checkpoint)
    if events and checkpoints:
        append = getattr(target, "append_events", None)
        if append is not None:
            await append(checkpoints[0].session_id, list(events))


# ---- JSON shapes of the extras (also used by `weavegraph export`'s session document)


def records_to_json(records: Iterable[NodeRecord]) -> list[JSON]:
    return [r.to_json_value() for r in records]


def records_from_json(value: Any, where: str) -> list[NodeRecord]:
    if not isinstance(value, list):
        raise CheckpointDataError(f"{where}: must be a list of node records")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(NodeRecord.from_json_value(item))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CheckpointDataError(f"{where}[{i}]: not a node record ({exc!r})") from exc
    return out


def events_from_json(value: Any, where: str) -> list[Event]:
    if not isinstance(value, list):
        raise CheckpointDataError(f"{where}: must be a list of events")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(Event.from_json(item))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CheckpointDataError(f"{where}[{i}]: not an event ({exc!r})") from exc
    return out


def lineage_to_json(extras: SessionExtras) -> dict[str, JSON]:
    parent: JSON = None
    if extras.parent is not None:
        parent = {"session_id": extras.parent[0], "step": extras.parent[1]}
    return {"parent": parent, "graph_name": extras.graph_name}


def lineage_from_json(value: Mapping[str, Any], extras: SessionExtras, where: str) -> None:
    parent = value.get("parent")
    if parent is not None:
        sid, step = (parent.get("session_id"), parent.get("step")) if isinstance(parent, Mapping) else (0, 0)
        if not isinstance(sid, str) or not isinstance(step, int) or isinstance(step, bool):
            raise CheckpointDataError(f"{where}.parent: must be {{'session_id': str, 'step': int}}")
        extras.parent = (sid, step)
    name = value.get("graph_name")
    if name is not None and not isinstance(name, str):
        raise CheckpointDataError(f"{where}.graph_name: must be a string or null")
    extras.graph_name = name


# ---- copying


async def copy_checkpoints(
    source: CheckpointStore, target: Checkpointer, session_ids: Iterable[str] | None = None
) -> int:
    """Copy every step of the given sessions (default: all) from `source` to `target`, with their node
    records, stored events and lineage; returns the count of steps."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await source.list_sessions()))
    count = 0
    for sid in ids:
        steps = await ordered_steps(source, sid)
        extras = await read_extras(source, sid)
        attach(steps, extras)
        await save_session(target, steps, extras.events)
        count += len(steps)
    return count


async def export_jsonl(
    cp: CheckpointStore, path: str | Path, session_ids: Iterable[str] | None = None
) -> int:
    """Write every step of the given sessions (default: all) to a JSON Lines file; returns the count."""
    ids = list(session_ids) if session_ids is not None else list(reversed(await cp.list_sessions()))
    count = 0
    with open(path, "w", encoding="utf-8") as out:  # noqa: ASYNC230  # local file, one line per step
        for sid in ids:
            extras = await read_extras(cp, sid)
            for i, checkpoint in enumerate(await ordered_steps(cp, sid)):
                line = checkpoint_to_json(checkpoint)
                line["node_records"] = records_to_json(extras.records.get(checkpoint.step, ()))
                if i == 0:
                    line.update(lineage_to_json(extras))
                out.write(dumps(line) + "\n")
                count += 1
            if extras.events:
                events: list[JSON] = [e.to_json_value() for e in extras.events]
                out.write(dumps({"format": EVENTS_FORMAT, "session_id": sid, "events": events}) + "\n")
    return count


def decode_line(
    value: Any,
    where: str,
    sessions: dict[str, tuple[list[Checkpoint], SessionExtras]],
    rename: str | None = None,
) -> None:
    """One JSON Lines record into `sessions` (id -> checkpoints and extras); an old line (no records) too."""
    if isinstance(value, Mapping) and value.get("format") == EVENTS_FORMAT:
        sid = rename or value.get("session_id")
        if not isinstance(sid, str) or not sid:
            raise CheckpointDataError(f"{where}.session_id: must be a non-empty string")
        sessions.setdefault(sid, ([], SessionExtras()))[1].events.extend(
            events_from_json(value.get("events"), f"{where}.events")
        )
        return
    checkpoint = checkpoint_from_json(value, where)
    if rename:
        checkpoint.session_id = rename
    steps, extras = sessions.setdefault(checkpoint.session_id, ([], SessionExtras()))
    if "node_records" in value:
        extras.records[checkpoint.step] = records_from_json(value["node_records"], f"{where}.node_records")
    if not steps:
        lineage_from_json(value, extras, where)
    steps.append(checkpoint)


async def import_jsonl(cp: Checkpointer, path: str | Path) -> int:
    """Save every record of a JSON Lines file made by `export_jsonl` (records, events and lineage too; older
    files without them as well); returns the count of steps. The whole file is decoded before anything is
    written."""
    sessions: dict[str, tuple[list[Checkpoint], SessionExtras]] = {}
    with open(path, encoding="utf-8") as src:  # noqa: ASYNC230  # local file, read line by line
        for number, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CheckpointDataError(f"{path}:{number}: not JSON ({exc})") from exc
            decode_line(record, f"{path}:{number}", sessions)
    count = 0
    for steps, extras in sessions.values():
        steps.sort(key=lambda c: c.step)
        attach(steps, extras)
        await save_session(cp, steps, extras.events)
        count += len(steps)
    return count
