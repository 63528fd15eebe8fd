"""Checkpoint storage: the `Checkpointer` protocol, in-memory, SQLite and PostgreSQL backends, factory."""

from __future__ import annotations

from engine.persistence.base import (
    Checkpoint,
    Checkpointer,
    CheckpointerType,
    CheckpointStore,
    PrunePolicy,
    PruneReport,
    SessionPage,
    SessionQuery,
    SessionStats,
    StepQuery,
    StepQueryResult,
    StepSummary,
    StorageStats,
)
from engine.persistence.errors import (
    AuthenticationFailed,
    CheckpointDataError,
    InvalidCheckpointerUrl,
    NotACheckpointDatabase,
    SchemaTooNew,
    StorageFull,
    StorageLocked,
    StorageNotFound,
    StorageReadOnly,
    StorageUnavailable,
)
from engine.persistence.factory import migrate, open_checkpointer, redact_url, resolve_url
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.persistence.transfer import copy_checkpoints, export_jsonl, import_jsonl
from engine.persistence.urls import DatabaseURL, scrub

__all__ = [
    "AuthenticationFailed",
    "Checkpoint",
    "CheckpointDataError",
    "CheckpointStore",
    "Checkpointer",
    "CheckpointerType",
    "DatabaseURL",
    "InMemoryCheckpointer",
    "InvalidCheckpointerUrl",
    "NotACheckpointDatabase",
    "PrunePolicy",
    "PruneReport",
    "SQLiteCheckpointer",
    "SchemaTooNew",
    "SessionPage",
    "SessionQuery",
    "SessionStats",
    "StepQuery",
    "StepQueryResult",
    "StepSummary",
    "StorageFull",
    "StorageLocked",
    "StorageNotFound",
    "StorageReadOnly",
    "StorageStats",
    "StorageUnavailable",
    "copy_checkpoints",
    "export_jsonl",
    "import_jsonl",
    "migrate",
    "open_checkpointer",
    "redact_url",
    "resolve_url",
    "scrub",
]
