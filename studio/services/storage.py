"""The studio's one door to storage: opening databases and runners, database URLs (parse, redact, passwords),
checkpoints as JSON, and what kind of storage error an exception is.

Every controller calls these functions and nothing else of `engine.persistence`. Each is a thin door to the
engine's single owner: C2 error kinds (`exc.kind`), C3 `DatabaseURL`/`scrub`, C4 `open_checkpointer`/
`engine.open_runner`, C5 `engine.persistence.codec`. Panels import only the record types re-exported below.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, cast

from engine.errors import CheckpointerError
from engine.persistence import codec
from engine.persistence.base import (
    Checkpoint,
    CheckpointStore,
    PrunePolicy,
    PruneReport,
    SessionQuery,
    SessionStats,
    StepQuery,
    StorageStats,
)
from engine.persistence.errors import InvalidCheckpointerUrl
from engine.persistence.factory import open_checkpointer
from engine.persistence.urls import DatabaseURL, scrub
from engine.state import VersionedState

__all__ = [
    "BrowsableCheckpointer",
    "Checkpoint",
    "Checkpointer",
    "PrunePolicy",
    "PruneReport",
    "SessionQuery",
    "SessionStats",
    "StepQuery",
    "StorageStats",
    "backend_of",
    "checkpoint_to_json",
    "describe_storage_error",
    "is_postgres_url",
    "iter_steps_desc",
    "normalize_location",
    "open_browsable",
    "open_storage",
    "password_of",
    "redact",
    "sqlite_file_exists",
    "sqlite_url_for_path",
    "state_from_stored_json",
    "state_json",
    "step_sizes",
    "storage_error_kind",
    "strip_password",
    "with_password",
]


# ---------------------------------------------------------------------- URLs (C3: DatabaseURL)


def _parsed(url: str) -> DatabaseURL | None:
    try:
        return DatabaseURL.parse(url)
    except InvalidCheckpointerUrl:
        return None


def is_postgres_url(url: str) -> bool:
    return backend_of(url) == "postgres"


def backend_of(url: str) -> str:
    """ "memory", "sqlite" or "postgres" (`DatabaseURL.backend`; "memory" for text that is no URL)."""
    parsed = _parsed(url)
    return parsed.backend if parsed is not None else "memory"


def sqlite_url_for_path(path: str | Path) -> str:
    """`sqlite://` + the file path (absolute paths give `sqlite:///...`)."""
    return "sqlite://" + Path(path).as_posix()


def sqlite_file_exists(url: str) -> bool:
    """Whether the SQLite file `url` names exists (False for memory, Postgres and text that is no URL)."""
    parsed = _parsed(url)
    return parsed is not None and parsed.path is not None and Path(parsed.path).expanduser().exists()


def normalize_location(text: str) -> str:
    """A URL from what the user typed: a plain file path becomes an absolute `sqlite://` URL."""
    text = text.strip()
    if not text or "://" in text or text.startswith(("sqlite:", "memory")):
        return text
    return sqlite_url_for_path(Path(text).expanduser().resolve())


def redact(url: str) -> str:
    """How a URL is shown: any password becomes *** (`str(DatabaseURL)`; text that does not parse is
    scrubbed instead)."""
    parsed = _parsed(url)
    return str(parsed) if parsed is not None else scrub(url, None)


def password_of(url: str) -> str:
    """The password a URL carries ("" when none)."""
    parsed = _parsed(url)
    return (parsed.password or "") if parsed is not None else ""


def with_password(url: str, password: str) -> str:
    """The driver text of `url` with `password` (`DatabaseURL.parse(url, password=pw).dsn()`); unchanged when
    no password is given or the text does not parse (opening it then names the problem)."""
    if not password:
        return url
    try:
        return DatabaseURL.parse(url, password=password).dsn()
    except InvalidCheckpointerUrl:
        return url


def strip_password(url: str) -> str:
    """The URL without any password (user info or a `password=` parameter), fit to be remembered or shown
    in an editable field (the URL's own options are kept)."""
    parsed = _parsed(url)
    return str(parsed.with_password(None)) if parsed is not None else scrub(url, None)


# ---------------------------------------------------------------------- errors (C2: kinds)

KIND_HINTS = {
    "invalid_url": "check the URL (memory:, sqlite:///path.db or postgresql://user@host/db)",
    "not_found": "the file or folder does not exist",
    "not_ours": "this is not a Weavegraph checkpoint database; it was left unchanged",
    "locked": "another program holds a lock on it; try again when it is done",
    "unavailable": "the server did not answer; check the host, port and network",
    "auth": "the server refused the user name or password",
    "read_only": "the database is read-only: browsing works, writing does not",
    "disk_full": "the disk is full",
    "schema_newer": "it was written by a newer Weavegraph; upgrade the studio",
}


def storage_error_kind(exc: BaseException) -> str:
    """The C2 kind of a storage error (`exc.kind`), "other" for anything that is no `CheckpointerError`
    (a node's `NodeRunError.kind` is the node and is never mistaken for one)."""
    return str(exc.kind) if isinstance(exc, CheckpointerError) else "other"


def describe_storage_error(exc: BaseException) -> str:
    """One line for the panel: the error's own message (it names the database), whitespace folded."""
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    return text


# ---------------------------------------------------------------------- opening (C4)

# The studio browses and administers storage, so it always holds the whole store, never the runner's minimal
# save/load `Checkpointer`.
Checkpointer = CheckpointStore


class BrowsableCheckpointer(Checkpointer, Protocol):
    """A checkpointer with the studio's extra read methods (the SQLite and Postgres backends)."""

    async def session_page(self, query: Any) -> Any: ...

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None: ...

    async def graph_hash(self, session_id: str) -> str | None: ...


async def open_storage(url: str) -> Checkpointer:
    """Open (creating when needed) the checkpointer `url` names, for runs and the stepper."""
    return await open_checkpointer(url)


async def open_browsable(url: str) -> BrowsableCheckpointer:
    """Open an existing checkpoint database for browsing without creating one (`create=False`): a missing
    SQLite file, a foreign file, a database without checkpoint tables and an unreachable server raise
    `CheckpointerError`s naming the database and telling their `kind`."""
    if is_postgres_url(url):  # never migrate a server database just by looking at it (it may be LangGraph's)
        return cast(BrowsableCheckpointer, await open_checkpointer(url, create=False, migrate=False))
    return cast(BrowsableCheckpointer, await open_checkpointer(url, create=False))


async def build_runner(
    app: Any, checkpointer: Checkpointer, *, bus: Any = None, max_steps: int | None = None
) -> Any:
    """An `AppRunner` over an open checkpointer (not closed by the runner) with lifecycle events on."""
    from engine.launch import open_runner

    options: dict[str, Any] = {"checkpointer": checkpointer, "lifecycle_events": True}
    if bus is not None:
        options["event_bus"] = bus
    if max_steps:
        options["max_steps"] = max_steps
    return await open_runner(app, **options)


# ---------------------------------------------------------------------- checkpoints as JSON (C5)


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    """One step as `weavegraph export` writes it (`codec.step_to_json`)."""
    return codec.step_to_json(cp)


def state_json(state: Any) -> dict[str, Any]:
    """A state as stored in checkpoints (`codec.state_to_json`)."""
    return codec.state_to_json(state)


def state_from_stored_json(value: Any) -> VersionedState:
    """A state from its stored JSON (`codec.state_from_json`; `CheckpointDataError` naming the field)."""
    return codec.state_from_json(value)


async def iter_steps_desc(
    cp: Checkpointer, session_id: str, *, page_size: int = 500, limit: int | None = None
) -> AsyncIterator[list[Checkpoint]]:
    """Pages of a session's steps, newest first, by key (`max_step`), so concurrent writes never shift
    a page; stops after `limit` steps when given."""
    max_step: int | None = None
    seen = 0
    while limit is None or seen < limit:
        size = page_size if limit is None else min(page_size, limit - seen)
        result = await cp.query_steps(session_id, StepQuery(limit=size, max_step=max_step))
        if not result.checkpoints:
            return
        seen += len(result.checkpoints)
        yield result.checkpoints
        max_step = min(c.step for c in result.checkpoints) - 1
        if not result.has_next_page or max_step < 0:
            return


async def export_session_json(
    cp: Checkpointer, session_id: str, path: str | Path, graph_hash: str | None = None
) -> int:
    """Write every step of a session (ascending) to `path` as one JSON document; returns the step count."""
    checkpoints: list[Checkpoint] = []
    async for page in iter_steps_desc(cp, session_id):
        checkpoints.extend(page)
    checkpoints.reverse()
    doc = codec.session_to_json(session_id, graph_hash, checkpoints)

    def _write() -> None:
        tmp = Path(str(path) + ".part")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    await asyncio.to_thread(_write)
    return len(checkpoints)


async def step_sizes(cp: Checkpointer, session_id: str, limit: int = 1000) -> list[tuple[int, int]]:
    """(step, state JSON bytes) for the latest `limit` steps, ascending by step (the growth chart)."""
    out: list[tuple[int, int]] = []
    async for page in iter_steps_desc(cp, session_id, page_size=250, limit=limit):
        for c in page:
            out.append(
                (c.step, len(json.dumps(codec.state_to_json(c.state), separators=(",", ":")).encode()))
            )
    out.sort()
    return out
