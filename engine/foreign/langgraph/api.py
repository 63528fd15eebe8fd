"""Opening a LangGraph database by URL or path, pruning it, and exporting a thread as a Weavegraph session.

`open_langgraph` is the entry point of the studio's browser and of `weavegraph stats` / `prune` / `export`;
`is_langgraph_database` lets them choose between our reader and this one without raising.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import engine.foreign.langgraph.sqlite_scan as sqlite_scan
from engine.foreign.langgraph.convert import export_record
from engine.foreign.langgraph.pg_reader import PostgresLangGraphReader
from engine.foreign.langgraph.plan import PrunePlan
from engine.foreign.langgraph.records import ThreadKey
from engine.foreign.langgraph.sqlite_reader import SQLiteLangGraphReader
from engine.persistence.errors import InvalidCheckpointerUrl, map_sqlite_errors

LangGraphReader = SQLiteLangGraphReader | PostgresLangGraphReader


def split_target(url: str | os.PathLike[str]) -> tuple[str, str]:
    """("sqlite", path) or ("postgres", url) for `sqlite://a.db`, `sqlite:///abs.db`, a plain file path, or a
    `postgres://` / `postgresql://` URL."""
    text = os.fspath(url)
    if text.startswith(("postgres://", "postgresql://")):
        return "postgres", text
    if text.startswith("sqlite:"):
        path = text.split("?", 1)[0].removeprefix("sqlite://")
        if not path or path.startswith(":memory:") or text.startswith("sqlite::memory:"):
            raise InvalidCheckpointerUrl(
                f"'{text}' names no file: a LangGraph database is a file or a server"
            )
        return "sqlite", path
    if "://" in text:
        raise InvalidCheckpointerUrl(
            f"cannot open '{text}' as a LangGraph database: use a file path, sqlite://file.db or postgresql://..."
        )
    return "sqlite", text


async def open_langgraph(
    url: str | os.PathLike[str],
    *,
    trust_types: bool = False,
    busy_timeout: float = 2.0,
    connect_timeout: float = 10.0,
) -> LangGraphReader:
    """Open a LangGraph checkpoint database read-only (SQLite file or Postgres URL).

    Raises `StorageNotFound` (no such file), `NotALangGraphDatabase` (no LangGraph tables),
    `LangGraphSchemaTooNew` (Postgres schema newer than known), `StorageLocked` (SQLite locked longer than
    `busy_timeout`), `StorageUnavailable` / `AuthenticationFailed` (Postgres) - all one-line messages."""
    backend, target = split_target(url)
    if backend == "postgres":
        return await PostgresLangGraphReader.open(
            target, connect_timeout=connect_timeout, trust_types=trust_types
        )
    return await SQLiteLangGraphReader.open(target, busy_timeout=busy_timeout, trust_types=trust_types)


async def is_langgraph_database(url: str | os.PathLike[str]) -> bool:
    """Whether `url` opens as a LangGraph database (False for ours, for other files and for errors that
    `open_langgraph` would report; a schema too new counts as LangGraph's)."""
    from engine.errors import CheckpointerError
    from engine.foreign.langgraph.errors import LangGraphSchemaTooNew

    try:
        reader = await open_langgraph(url)
    except LangGraphSchemaTooNew:
        return True
    except (CheckpointerError, OSError):
        return False
    await reader.aclose()
    return True


async def prune_langgraph(
    url: str | os.PathLike[str],
    keep_last: int,
    *,
    thread_ids: list[str] | None = None,
    vacuum: bool = False,
    busy_timeout: float = 5.0,
) -> PrunePlan:
    """Apply keep-last-N (the only code that writes to a LangGraph database): a separate read-write open,
    planned again inside the write transaction so a run saving meanwhile is never cut; VACUUM when asked.
    Preview first with `reader.plan_prune(keep_last)`; the returned plan says what was removed."""
    backend, target = split_target(url)
    if backend == "postgres":
        from engine.foreign.langgraph.pg_write import apply_prune

        return await apply_prune(target, keep_last, thread_ids, vacuum)
    reader = await SQLiteLangGraphReader.open(target)  # checks it is LangGraph's before anything is written
    await reader.aclose()
    with map_sqlite_errors(target, "pruning"):
        return await asyncio.to_thread(
            sqlite_scan.apply_prune, target, keep_last, thread_ids, vacuum, busy_timeout
        )


async def vacuum_langgraph(url: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
    """VACUUM a LangGraph database on its own read-write connection (SQLite: returns free pages to the file
    system; Postgres: `VACUUM (ANALYZE)` of the saver's tables). Writes, so only when the user asks."""
    backend, target = split_target(url)
    if backend == "postgres":
        from engine.foreign.langgraph.pg_write import vacuum

        await vacuum(target)
        return
    reader = await SQLiteLangGraphReader.open(target)
    await reader.aclose()
    with map_sqlite_errors(target, "vacuuming"):
        await asyncio.to_thread(sqlite_scan.vacuum, target, busy_timeout)


async def export_thread(
    reader: LangGraphReader,
    key: ThreadKey,
    *,
    checkpoint_id: str | None = None,
    session_id: str | None = None,
) -> list[dict[str, Any]]:
    """The branch ending at `checkpoint_id` (default: the newest checkpoint) as Weavegraph export records,
    oldest first, steps renumbered 0, 1, ...; raises `ThreadNotExportable` naming the first channel and
    checkpoint that does not map (see `engine.foreign.langgraph.convert`)."""
    tree = await reader.checkpoint_tree(key)
    if not tree.nodes:
        raise LookupError(f"thread '{key.label}' has no checkpoints in {reader.location}")
    by_id = {n.checkpoint_id: n for n in tree.nodes}
    cid: str | None = checkpoint_id or tree.nodes[-1].checkpoint_id
    if cid not in by_id:
        raise LookupError(f"checkpoint '{cid}' not found in thread '{key.label}'")
    chain: list[str] = []
    while cid is not None and cid in by_id:
        chain.append(cid)
        cid = by_id[cid].parent_checkpoint_id
    sid = session_id or (key.thread_id if not key.checkpoint_ns else f"{key.thread_id}/{key.checkpoint_ns}")
    records = []
    for step, cid in enumerate(reversed(chain)):
        records.append(export_record(await reader.load_checkpoint(key, cid), sid, step))
    return records


async def export_thread_jsonl(
    reader: LangGraphReader, key: ThreadKey, path: str | os.PathLike[str], **options: Any
) -> int:
    """Write `export_thread` to a JSON Lines file that `weavegraph import` reads; returns the record count.
    Nothing is written when the thread is refused."""
    records = await export_thread(reader, key, **options)
    text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    await asyncio.to_thread(Path(path).write_text, text, encoding="utf-8")
    return len(records)
