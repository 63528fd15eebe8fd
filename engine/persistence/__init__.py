"""Checkpoint storage: the `Checkpointer` protocol, in-memory, SQLite and PostgreSQL backends, factory."""

from __future__ import annotations

from engine.persistence.base import (
    Checkpoint,
    Checkpointer,
    CheckpointerType,
    PrunePolicy,
    PruneReport,
    SessionPage,
    SessionQuery,
    SessionStats,
    StepQuery,
    StepQueryResult,
    StorageStats,
)
from engine.persistence.errors import (
    AuthenticationFailed,
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    StorageLocked,
    StorageNotFound,
    StorageUnavailable,
)
from engine.persistence.factory import migrate, open_checkpointer, redact_url, resolve_url
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.persistence.transfer import copy_checkpoints, export_jsonl, import_jsonl

__all__ = [
    "AuthenticationFailed",
    "Checkpoint",
    "CheckpointDataError",
    "Checkpointer",
    "CheckpointerType",
    "InMemoryCheckpointer",
    "InvalidCheckpointerUrl",
    "NotACheckpointDatabase",
    "PrunePolicy",
    "PruneReport",
    "SQLiteCheckpointer",
    "SessionPage",
    "SessionQuery",
    "SessionStats",
    "StepQuery",
    "StepQueryResult",
    "StorageLocked",
    "StorageNotFound",
    "StorageStats",
    "StorageUnavailable",
    "copy_checkpoints",
    "export_jsonl",
    "import_jsonl",
    "migrate",
    "open_checkpointer",
    "redact_url",
    "resolve_url",
]
