"""The `Checkpointer` protocol, the checkpoint record and the query/prune/stat records every backend shares."""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.state import VersionedState
from engine.types import NodeKind


class CheckpointerType(enum.Enum):
    """Which built-in backend the runner builds."""

    IN_MEMORY = "in-memory"
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(slots=True)
class Checkpoint:
    """The state of a session after one superstep (or step 0 at creation)."""

    session_id: str
    step: int
    state: VersionedState
    frontier: list[NodeKind]
    versions_seen: dict[str, dict[str, int]]
    concurrency_limit: int
    created_at: _dt.datetime
    ran_nodes: list[NodeKind] = field(default_factory=list)
    skipped_nodes: list[NodeKind] = field(default_factory=list)
    updated_channels: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepQuery:
    """Paging and filters for `query_steps`. `ran_node` matches a node that ran in the step exactly."""

    limit: int = 100
    offset: int = 0
    min_step: int | None = None
    max_step: int | None = None
    ran_node: str | None = None


@dataclass(frozen=True, slots=True)
class StepQueryResult:
    checkpoints: list[Checkpoint]
    total_count: int
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class PrunePolicy:
    """What to delete: steps beyond the last `keep_last` of a session, steps older than `older_than`, limited
    to `session_ids` when given. A session's latest step is never deleted."""

    keep_last: int | None = None
    older_than: _dt.timedelta | None = None
    session_ids: tuple[str, ...] | list[str] | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(f"PrunePolicy.keep_last must be at least 1, got {self.keep_last}")
        if self.older_than is not None and not isinstance(self.older_than, _dt.timedelta):
            raise ValueError("PrunePolicy.older_than must be a datetime.timedelta")


@dataclass(frozen=True, slots=True)
class PruneReport:
    steps: int
    bytes: int
    sessions: int = 0
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class SessionStats:
    session_id: str
    steps: int
    bytes: int
    last_step: int
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class StorageStats:
    backend: str
    sessions: list[SessionStats]
    total_steps: int
    total_bytes: int
    file_bytes: int | None = None
    wal_bytes: int | None = None
    free_bytes: int | None = None
    tables: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class Checkpointer(Protocol):
    """What the runner and the studio need from a checkpoint store."""

    backend_name: str

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None: ...

    async def load_latest(self, session_id: str) -> Checkpoint | None: ...

    async def list_sessions(self) -> list[str]: ...

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult: ...

    async def delete_session(self, session_id: str) -> None: ...

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport: ...

    async def storage_stats(self) -> StorageStats: ...

    async def vacuum(self) -> None: ...

    async def aclose(self) -> None: ...

    def watch(self) -> AsyncIterator[tuple[str, int]]: ...
