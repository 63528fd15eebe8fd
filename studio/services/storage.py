"""The studio's one door to storage: opening databases and runners, database URLs (parse, redact, passwords),
checkpoints as JSON, and what kind of storage error an exception is.

Every controller calls these functions and nothing else of `engine.persistence`, so the storage branch's
contracts (C2 error kinds, C3 `DatabaseURL`, C4 `open_checkpointer`/`open_runner`, C5 codec) replace the
bodies here and nowhere else. Panels import only the record types re-exported below.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from engine.errors import CheckpointerError
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
from engine.persistence.errors import NotACheckpointDatabase
from engine.persistence.serde import nodes_to_json, state_from_json, state_to_json, versions_seen_to_json
from engine.persistence.urls import redact_url, url_password
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
    "sqlite_url_for_path",
    "state_from_stored_json",
    "state_json",
    "step_sizes",
    "storage_error_kind",
    "strip_password",
    "with_password",
]


# ---------------------------------------------------------------------- URLs (C3: DatabaseURL)


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def backend_of(url: str) -> str:
    """ "memory", "sqlite" or "postgres" (C3: `DatabaseURL.parse(url).backend`)."""
    if is_postgres_url(url):
        return "postgres"
    if url.startswith("sqlite"):
        return "sqlite"
    return "memory"


def sqlite_url_for_path(path: str | Path) -> str:
    """`sqlite://` + the file path (absolute paths give `sqlite:///...`)."""
    return "sqlite://" + Path(path).as_posix()


def normalize_location(text: str) -> str:
    """A URL from what the user typed: a plain file path becomes an absolute `sqlite://` URL."""
    text = text.strip()
    if not text or "://" in text or text.startswith(("sqlite:", "memory")):
        return text
    return sqlite_url_for_path(Path(text).expanduser().resolve())


def redact(url: str) -> str:
    """How a URL is shown: any password becomes *** (C3: `DatabaseURL.parse(url).redacted()`)."""
    return redact_url(url)


def password_of(url: str) -> str:
    """The password a URL carries ("" when none; C3: `DatabaseURL.parse(url).password`)."""
    return url_password(url) or ""


def with_password(url: str, password: str) -> str:
    """Put `password` into a Postgres URL's user info (C3: `.with_password(pw).dsn()`); others unchanged."""
    if not password or not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def strip_password(url: str) -> str:
    """The URL without any password (user info or a `password=` parameter), fit to be remembered or shown
    in an editable field (C3: `str(DatabaseURL)` without the *** marker)."""
    if not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host_part = netloc.rsplit("@", 1)[1]
        netloc = f"{user}@{host_part}" if user else host_part
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# ---------------------------------------------------------------------- errors (C2: kinds)

KINDS = frozenset(
    {
        "invalid_url",
        "not_found",
        "not_ours",
        "locked",
        "unavailable",
        "auth",
        "data",
        "conflict",
        "disk_full",
        "read_only",
        "schema_newer",
        "checkpoint_missing",
        "exists",
        "other",
    }
)
"""The C2 `StorageErrorKind` values."""

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
    """The C2 kind of a storage error ("other" for anything else). The one place that reads `exc.kind`:
    other engine errors (a node's `NodeRunError.kind` is the node) are never mistaken for one."""
    if not isinstance(exc, CheckpointerError):
        return "other"
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str) and str(kind) in KINDS:
        return str(kind)
    return _legacy_kind(exc)


def _legacy_kind(exc: CheckpointerError) -> str:
    # Until the storage branch gives every CheckpointerError a `kind`, the class tells it (never the text).
    from engine.persistence import errors as perr

    for cls, kind in (
        (perr.InvalidCheckpointerUrl, "invalid_url"),
        (perr.StorageNotFound, "not_found"),
        (perr.NotACheckpointDatabase, "not_ours"),
        (perr.StorageLocked, "locked"),
        (perr.StorageUnavailable, "unavailable"),
        (perr.AuthenticationFailed, "auth"),
        (perr.CheckpointDataError, "data"),
    ):
        if isinstance(exc, cls):
            return kind
    return "other"


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
    """Open (creating when needed) the checkpointer `url` names, for runs and the stepper
    (C4: `engine.persistence.open_checkpointer(url, create=True)`)."""
    from engine.persistence.factory import open_checkpointer

    return await open_checkpointer(url)


async def open_browsable(url: str, *, busy_timeout: float = 1.0) -> BrowsableCheckpointer:
    """Open an existing checkpoint database for browsing without creating one
    (C4: `open_checkpointer(url, create=False)`).

    A missing SQLite file, a foreign file and an unreachable server raise `CheckpointerError`s naming the
    database. A Weavegraph 0.6 file gets our additive columns (as the runner would add them); a file or
    database without checkpoint tables is refused rather than initialised.
    """
    if is_postgres_url(url):
        from engine.persistence.factory import open_checkpointer

        cp: Any = await open_checkpointer(url, migrate=False)
    else:
        from engine.persistence.sqlite import SQLiteCheckpointer

        cp = await SQLiteCheckpointer.connect(url, create=False, busy_timeout=busy_timeout)
    for attempt in range(2):
        try:
            await cp.session_page(SessionQuery(limit=1))
            return cast(BrowsableCheckpointer, cp)
        except Exception as exc:
            text = str(exc).lower()
            await cp.aclose()
            if attempt == 0 and "no such column" in text and not is_postgres_url(url):
                from engine.persistence.sqlite import SQLiteCheckpointer

                cp = await SQLiteCheckpointer.connect(url, create=True, busy_timeout=busy_timeout)
                continue
            if "no such table" in text or ("does not exist" in text and "relation" in text):
                raise NotACheckpointDatabase(
                    f"{strip_password(url)} holds no checkpoint tables (sessions, steps); "
                    "open a database written by Weavegraph, or run `weavegraph migrate` first"
                ) from exc
            raise
    raise AssertionError("unreachable")


async def build_runner(
    app: Any, checkpointer: Checkpointer, *, bus: Any = None, max_steps: int | None = None
) -> Any:
    """An `AppRunner` over an open checkpointer with lifecycle events on (C4: `engine.open_runner`)."""
    from engine.runner import AppRunner

    builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer).lifecycle_events(True)
    if bus is not None:
        builder = builder.event_bus(bus)
    if max_steps:
        builder = builder.max_steps(max_steps)
    return await builder.build()


# ---------------------------------------------------------------------- checkpoints as JSON (C5)


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    """One step in the stored JSON shapes (ENGINE.md section 6), for export
    (C5: `codec.checkpoint_to_json`)."""
    return {
        "step": cp.step,
        "created_at": cp.created_at.isoformat() if cp.created_at else None,
        "state": state_to_json(cp.state),
        "frontier": nodes_to_json(cp.frontier),
        "versions_seen": versions_seen_to_json(cp.versions_seen),
        "concurrency_limit": cp.concurrency_limit,
        "ran_nodes": nodes_to_json(cp.ran_nodes),
        "skipped_nodes": nodes_to_json(cp.skipped_nodes),
        "updated_channels": list(cp.updated_channels),
    }


def state_json(state: Any) -> dict[str, Any]:
    """A state as stored in checkpoints (C5: `codec.state_to_json`)."""
    return state_to_json(state)


def state_from_stored_json(value: Any) -> VersionedState:
    """A state from its stored JSON (C5: `codec.state_from_json`)."""
    return state_from_json(value)


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
    steps: list[dict[str, Any]] = []
    async for page in iter_steps_desc(cp, session_id):
        steps.extend(checkpoint_to_json(c) for c in page)
    steps.reverse()
    doc = {"format": "weavegraph.session", "version": 1, "session_id": session_id, "graph_hash": graph_hash}
    doc["steps"] = steps

    def _write() -> None:
        tmp = Path(str(path) + ".part")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    await asyncio.to_thread(_write)
    return len(steps)


async def step_sizes(cp: Checkpointer, session_id: str, limit: int = 1000) -> list[tuple[int, int]]:
    """(step, state JSON bytes) for the latest `limit` steps, ascending by step (the growth chart)."""
    out: list[tuple[int, int]] = []
    async for page in iter_steps_desc(cp, session_id, page_size=250, limit=limit):
        for c in page:
            out.append((c.step, len(json.dumps(state_to_json(c.state), separators=(",", ":")).encode())))
    out.sort()
    return out
