"""Checkpointer error subclasses and `map_exceptions`, the one place driver exceptions become engine errors.

::

    CheckpointerError (engine.errors)
    ├── CheckpointConflict (engine.errors)   another writer moved the session on
    ├── InvalidCheckpointerUrl               the URL cannot be used (scheme, syntax)
    ├── StorageNotFound                      a missing directory, file or database
    ├── NotACheckpointDatabase               the file or database holds something else
    ├── StorageLocked                        another process holds the database lock
    ├── StorageUnavailable                   the server cannot be reached or went away
    ├── AuthenticationFailed                 the server refused the credentials
    └── CheckpointDataError                  a stored row or a checkpoint is not valid JSON of the right shape
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from engine.errors import CheckpointerError


class InvalidCheckpointerUrl(CheckpointerError):
    """The checkpointer URL is malformed or names an unsupported backend."""


class StorageNotFound(CheckpointerError):
    """A directory, database file or server database that the URL names does not exist."""


class NotACheckpointDatabase(CheckpointerError):
    """The file or database exists but is not a Weavegraph checkpoint database."""


class StorageLocked(CheckpointerError):
    """Another connection holds a lock on the database for longer than the busy timeout."""


class StorageUnavailable(CheckpointerError):
    """The database server cannot be reached, or the connection was lost."""


class AuthenticationFailed(CheckpointerError):
    """The database server refused the user name or password."""


class CheckpointDataError(CheckpointerError):
    """A checkpoint could not be encoded, or a stored row could not be decoded."""


@contextlib.contextmanager
def map_sqlite_errors(path: str, action: str) -> Iterator[None]:
    """Turn `sqlite3` errors raised while doing `action` on the file at `path` into `CheckpointerError`s."""
    try:
        yield
    except CheckpointerError:
        raise
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StorageLocked(
                f"SQLite database '{path}' is locked by another connection ({action}): {text}; "
                "wait for the other process or raise the busy timeout"
            ) from exc
        if "unable to open" in text:
            raise StorageNotFound(f"cannot open SQLite database '{path}' ({action}): {text}") from exc
        raise CheckpointerError(f"SQLite error on '{path}' while {action}: {text}") from exc
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "not a database" in text or "malformed" in text or "encrypted" in text:
            raise NotACheckpointDatabase(
                f"'{path}' is not a usable SQLite checkpoint database ({text})"
            ) from exc
        raise CheckpointerError(f"SQLite error on '{path}' while {action}: {text}") from exc
