"""Checkpointer error subclasses (each with its `kind`) and `map_sqlite_errors` for SQLite driver errors.

::

    CheckpointerError (engine.errors)
    ├── CheckpointConflict (engine.errors)   another writer moved the session on
    ├── InvalidCheckpointerUrl               the URL cannot be used (scheme, syntax)
    ├── StorageNotFound                      a missing directory, file or database
    ├── NotACheckpointDatabase               the file or database holds something else
    ├── StorageLocked                        another process holds the database lock
    ├── StorageUnavailable                   the server cannot be reached or went away
    ├── AuthenticationFailed                 the server refused the credentials
    ├── CheckpointDataError                  a stored row or a checkpoint is not valid JSON of the right shape
    ├── StorageFull                          the disk is full (what was saved stays saved)
    ├── StorageReadOnly                      opened read-only, or the file cannot be written
    └── SchemaTooNew                         migrated by a newer version than this one

Each fixes its `kind` (a `StorageErrorKind`); `map_sqlite_errors` here and `pg_support.map_pg_errors` are
the one context manager per driver that turns driver errors into these.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from engine.errors import CheckpointerError, StorageErrorKind


class InvalidCheckpointerUrl(CheckpointerError):
    """The checkpointer URL is malformed or names an unsupported backend."""

    kind = StorageErrorKind.INVALID_URL


class StorageNotFound(CheckpointerError):
    """A directory, database file or server database that the URL names does not exist."""

    kind = StorageErrorKind.NOT_FOUND


class NotACheckpointDatabase(CheckpointerError):
    """The file or database exists but is not a Weavegraph checkpoint database."""

    kind = StorageErrorKind.NOT_OURS


class StorageLocked(CheckpointerError):
    """Another connection holds a lock on the database for longer than the busy timeout."""

    kind = StorageErrorKind.LOCKED


class StorageUnavailable(CheckpointerError):
    """The database server cannot be reached, or the connection was lost."""

    kind = StorageErrorKind.UNAVAILABLE


class AuthenticationFailed(CheckpointerError):
    """The database server refused the user name or password."""

    kind = StorageErrorKind.AUTH


class CheckpointDataError(CheckpointerError):
    """A checkpoint could not be encoded, or a stored row could not be decoded."""

    kind = StorageErrorKind.DATA


class StorageFull(CheckpointerError):
    """The disk (or the server's storage) is full; what was saved before stays saved."""

    kind = StorageErrorKind.DISK_FULL


class StorageReadOnly(CheckpointerError):
    """The database was opened read-only, or its file or directory cannot be written."""

    kind = StorageErrorKind.READ_ONLY


class SchemaTooNew(CheckpointerError):
    """The database was migrated by a newer version than this one knows; it is left untouched."""

    kind = StorageErrorKind.SCHEMA_NEWER

    def __init__(self, where: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"{where} has schema version {found}, newer than this version supports ({supported}); "
            "upgrade weavegraph-studio to open it"
        )


def disk_full(path: str, session_id: str, last_step: int | None) -> StorageFull:
    """The StorageFull of a failed save: which disk, and what of the session is safely stored."""
    saved = (
        f"every step up to {last_step} of session '{session_id}' is saved"
        if last_step is not None
        else f"no step of session '{session_id}' was saved"
    )
    return StorageFull(f"the disk holding '{path}' is full; {saved}; free some space and run again")


# Primary SQLite result codes (sqlite3.h); `sqlite_errorcode & 0xFF` gives the primary code.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26


@contextlib.contextmanager
def map_sqlite_errors(path: str, action: str) -> Iterator[None]:
    """Turn `sqlite3` errors raised while doing `action` on the file at `path` into `CheckpointerError`s,
    by SQLite result code (never by message text)."""
    try:
        yield
    except CheckpointerError:
        raise
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        text = str(exc)
        if code in (SQLITE_BUSY, SQLITE_LOCKED):
            raise StorageLocked(
                f"SQLite database '{path}' is locked by another connection ({action}): {text}; "
                "wait for the other process or raise the busy timeout"
            ) from exc
        if code == SQLITE_FULL:
            raise StorageFull(f"the disk holding '{path}' is full ({action})") from exc
        if code == SQLITE_READONLY:
            raise StorageReadOnly(
                f"SQLite database '{path}' is read-only ({action}): {text}; "
                "check the permissions of the file and its directory"
            ) from exc
        if code == SQLITE_CANTOPEN:
            raise StorageNotFound(f"cannot open SQLite database '{path}' ({action}): {text}") from exc
        if code in (SQLITE_NOTADB, SQLITE_CORRUPT):
            raise NotACheckpointDatabase(
                f"'{path}' is not a usable SQLite checkpoint database ({text})"
            ) from exc
        raise CheckpointerError(f"SQLite error on '{path}' while {action}: {text}") from exc
