"""Errors of the LangGraph database reader; all are `CheckpointerError`s with a `kind` (contract C2).

::

    CheckpointerError (engine.errors)
    ├── NotACheckpointDatabase (engine.persistence.errors)
    │   └── NotALangGraphDatabase      the file or database holds no LangGraph saver tables
    ├── SchemaTooNew (engine.persistence.errors)
    │   └── LangGraphSchemaTooNew      a Postgres saver schema newer than the reader knows (kind schema_newer)
    └── CheckpointDataError (engine.persistence.errors)
        └── ThreadNotExportable        a thread whose state does not map onto our channels
"""

from __future__ import annotations

from engine.errors import CheckpointerError, StorageErrorKind
from engine.persistence.errors import CheckpointDataError, NotACheckpointDatabase, SchemaTooNew


class NotALangGraphDatabase(NotACheckpointDatabase):
    """The file or database has none of the tables a LangGraph saver creates."""

    kind = StorageErrorKind.NOT_OURS


class LangGraphSchemaTooNew(SchemaTooNew):
    """The Postgres saver's `checkpoint_migrations` holds a version this reader does not know."""

    kind = StorageErrorKind.SCHEMA_NEWER

    def __init__(self, where: str, found: int, known: int) -> None:
        self.found = found
        self.known = self.supported = known
        CheckpointerError.__init__(  # SchemaTooNew's own wording names our schema, not LangGraph's
            self,
            f"LangGraph database {where} has schema version {found}, newer than the newest this reader knows "
            f"({known}); nothing was read or written (update weavegraph-studio)",
        )


class ThreadNotExportable(CheckpointDataError):
    """A LangGraph thread whose state cannot become a Weavegraph session (the message says why)."""

    kind = StorageErrorKind.DATA
